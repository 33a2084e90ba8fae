/**
 * The waits between retries, as Envoy computes them.
 *
 * - {@link ExponentialBackoff}: Envoy's fully jittered exponential back-off. Retry N (1-based) waits a
 *   uniformly random whole number of milliseconds in `[0, (2^N - 1) × base)`, capped at `max`
 *   (default base 25 ms, max 10 × base): the first retry waits 0–24 ms, the second 0–74 ms, the
 *   third 0–174 ms, then at most 250 ms. Once `(2^N - 1) × base` passes `max`, N stops growing.
 * - {@link rateLimitedBackoffMs}: `rate_limited_retry_back_off`: the wait an upstream asked for in a
 *   reset header (`Retry-After: 120` as SECONDS, `X-RateLimit-Reset: <unix time>` as UNIX_TIMESTAMP),
 *   jittered to `[interval, 1.5 × interval)`; a header that does not parse or asks for more than
 *   `max_interval` is skipped for the next one.
 */
import type { RetryPolicyModel } from "../config/model.ts";

/** One request's exponential back-off: each {@link next} is the wait before the next retry. */
export class ExponentialBackoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  /** Envoy's current_retry_: starts at 1, grows while the uncapped interval stays within max. */
  private retry = 1;

  /**
   * @param baseMs `retry_back_off.base_interval` (at least 1 ms).
   * @param maxMs `retry_back_off.max_interval` (at least baseMs).
   * @param random uniform in [0, 1).
   */
  constructor(baseMs: number, maxMs: number, random: () => number) {
    this.baseMs = Math.max(1, Math.floor(baseMs));
    this.maxMs = Math.max(this.baseMs, Math.floor(maxMs));
    this.random = random;
  }

  /** Milliseconds to wait before the next retry. Called once per retry. */
  next(): number {
    const span = (2 ** this.retry - 1) * this.baseMs;
    if (span <= this.maxMs) this.retry++;
    return Math.min(Math.floor(this.random() * span), this.maxMs);
  }
}

/**
 * The rate-limited back-off for a retried response, or undefined when none of the policy's reset
 * headers gives a usable interval (the exponential back-off applies then). Called once per retry
 * decided on response headers.
 * @param nowEpochMs wall-clock milliseconds (UNIX_TIMESTAMP headers are absolute).
 */
export function rateLimitedBackoffMs(
  policy: NonNullable<RetryPolicyModel["rateLimitedBackOff"]>,
  headers: Headers,
  nowEpochMs: number,
  random: () => number,
): number | undefined {
  for (const reset of policy.resetHeaders) {
    const raw = headers.get(reset.name);
    if (raw === null) continue;
    // Only the first value counts when the header is repeated.
    const text = raw.split(",")[0]!.trim();
    if (!/^\d+$/.test(text)) continue;
    const n = Number(text);
    let interval: number;
    if (reset.format === "SECONDS") interval = n * 1000;
    else {
      interval = n * 1000 - nowEpochMs;
      if (interval <= 0) continue;
    }
    if (interval > policy.maxMs) continue;
    return Math.floor(interval + random() * (interval / 2));
  }
  return undefined;
}
