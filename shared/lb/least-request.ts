import { untried } from "./random.ts";
import type { LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";

export interface LeastRequestOptions extends LbOptions {
  /** Envoy's `least_request_lb_config.choice_count`: hosts sampled per pick when weights are equal. Default 2. */
  choiceCount?: number;
  /** Envoy's `active_request_bias`: exponent applied to active requests when weights differ. Default 1. */
  activeRequestBias?: number;
}

/**
 * Envoy's LEAST_REQUEST.
 * - All weights equal: power of N choices (N = `choiceCount`, 2 by default): sample N hosts at random
 *   and take the one with the fewest active requests. O(N).
 * - Weights differ: each host's effective weight is `weight / (activeRequests + 1) ^ activeRequestBias`,
 *   computed at pick time; Envoy feeds these into its EDF schedule, Legate draws a weighted random
 *   host from them (the same proportions without keeping a schedule that goes stale as loads change). O(n).
 */
export class LeastRequestLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = "LEAST_REQUEST";
  private hosts: readonly H[] = [];
  private weighted = false;
  private readonly random: () => number;
  private readonly choiceCount: number;
  private readonly bias: number;

  constructor(options: LeastRequestOptions = {}) {
    this.random = options.random ?? Math.random;
    this.choiceCount = Math.max(1, options.choiceCount ?? 2);
    this.bias = options.activeRequestBias ?? 1;
  }

  build(hosts: readonly H[]): void {
    this.hosts = hosts;
    const first = hosts[0]?.weight;
    this.weighted = hosts.some((h) => h.weight !== first);
  }

  chooseHost(context?: LbContext<H>): H | undefined {
    const candidates = untried(this.hosts, context);
    const n = candidates.length;
    if (n === 0) return undefined;
    if (!this.weighted) {
      let best = candidates[this.index(n)]!;
      for (let i = 1; i < this.choiceCount; i++) {
        const other = candidates[this.index(n)]!;
        if (other.activeRequests < best.activeRequests) best = other;
      }
      return best;
    }
    let total = 0;
    const effective = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const h = candidates[i]!;
      const w = this.bias === 0 ? h.weight : h.weight / Math.pow(h.activeRequests + 1, this.bias);
      effective[i] = w;
      total += w;
    }
    let x = this.random() * total;
    for (let i = 0; i < n; i++) {
      x -= effective[i]!;
      if (x < 0) return candidates[i];
    }
    return candidates[n - 1];
  }

  private index(n: number): number {
    return Math.floor(this.random() * n) % n;
  }
}
