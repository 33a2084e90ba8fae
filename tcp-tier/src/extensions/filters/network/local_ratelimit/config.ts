/**
 * `envoy.filters.network.local_ratelimit`: a token bucket on new connections, one bucket per filter
 * config (shared by every connection of the chain). Each new connection takes a token; one that finds the
 * bucket empty is closed at once and counted in `local_rate_limit.<stat_prefix>.rate_limited`.
 *
 * The bucket starts full (`max_tokens`) and gains `tokens_per_fill` every `fill_interval`, up to
 * `max_tokens`. Envoy refills on a timer; here the refills due are added when a connection arrives
 * (the same counts at every arrival, and no timer while idle).
 */
import type { LocalRateLimitNetworkModel } from "../../../../../../shared/config/model.ts";
import { createStaticRuntime } from "../../../../../../shared/runtime/runtime.ts";
import type { Counter } from "../../../../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { FilterStatus, NetworkFilterFactory, ReadFilter, ReadFilterCallbacks } from "../../../../network/filter.ts";

/** The bucket; `now` is injectable for tests. */
export class TokenBucket {
  private tokens: number;
  private lastFill: number;
  private readonly max: number;
  private readonly perFill: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(spec: LocalRateLimitNetworkModel["tokenBucket"], now: () => number = () => performance.now()) {
    this.max = spec.maxTokens;
    this.perFill = spec.tokensPerFill;
    this.intervalMs = spec.fillIntervalMs;
    this.now = now;
    this.tokens = spec.maxTokens;
    this.lastFill = now();
  }

  /** Takes one token; false when there is none. O(1). */
  consume(): boolean {
    const t = this.now();
    const fills = Math.floor((t - this.lastFill) / this.intervalMs);
    if (fills > 0) {
      this.tokens = Math.min(this.max, this.tokens + fills * this.perFill);
      this.lastFill += fills * this.intervalMs;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

class LocalRateLimitFilter implements ReadFilter {
  private callbacks!: ReadFilterCallbacks;
  private readonly check: () => boolean;
  private readonly rateLimited: Counter;

  constructor(check: () => boolean, rateLimited: Counter) {
    this.check = check;
    this.rateLimited = rateLimited;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  onNewConnection(): FilterStatus {
    if (this.check()) return "continue";
    this.rateLimited.inc();
    this.callbacks.connection.close("no-flush");
    return "stop";
  }

  onData(): FilterStatus {
    return "continue";
  }
}

/**
 * `runtime` reads `runtime_enabled`'s key; absent, the config's static runtime layers are not known here
 * and the flag's `default_value` applies.
 */
export function createLocalRateLimitFactory(model: LocalRateLimitNetworkModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const bucket = new TokenBucket(model.tokenBucket);
  const rateLimited = context.stats.scope(`local_rate_limit.${model.statPrefix}.`).counter("rate_limited");
  const runtime = context.runtime ?? createStaticRuntime();
  const flag = model.runtimeEnabled;
  // A disabled limit lets every connection through without taking a token, as in Envoy.
  const check = flag ? () => !runtime.getBoolean(flag.runtimeKey, flag.defaultValue) || bucket.consume() : () => bucket.consume();
  return (manager) => manager.addReadFilter(new LocalRateLimitFilter(check, rateLimited));
}
