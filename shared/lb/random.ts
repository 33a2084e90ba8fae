import type { LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";

/** Envoy's RANDOM: a uniformly random host; weights are not considered (as in Envoy). */
export class RandomLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = "RANDOM";
  private hosts: readonly H[] = [];
  private readonly random: () => number;

  constructor(options: LbOptions = {}) {
    this.random = options.random ?? Math.random;
  }

  build(hosts: readonly H[]): void {
    this.hosts = hosts;
  }

  chooseHost(context?: LbContext<H>): H | undefined {
    const candidates = untried(this.hosts, context);
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.random() * candidates.length) % candidates.length];
  }
}

/** The hosts not yet tried, or all hosts when none is left (or nothing was tried). Allocates only when hosts were tried. */
export function untried<H extends LbHost>(hosts: readonly H[], context: LbContext<H> | undefined): readonly H[] {
  const tried = context?.triedHosts;
  if (!tried || tried.size === 0) return hosts;
  const rest = hosts.filter((h) => !tried.has(h));
  return rest.length ? rest : hosts;
}
