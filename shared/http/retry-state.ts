/**
 * One request's retry decisions (Envoy's RetryStateImpl): which outcomes are retriable under the
 * route's policy plus a trusted client's request controls, how many retries remain, whether the
 * cluster's circuit breakers (`max_retries` or the retry budget) allow one more, and how long to wait.
 *
 * Created only when some retry condition is set ({@link createRetryState} returns undefined
 * otherwise), so a request without retries pays nothing here.
 *
 * The decision sequence, per outcome of an attempt, is Envoy's:
 * 1. would the outcome be retried (`wouldRetryFromHeaders` / `wouldRetryFromReset`)?
 * 2. {@link RetryState.shouldRetry}: if a retry was sent before and this outcome needs none, that
 *    retry succeeded (`upstream_rq_retry_success`); the retry slot held since then is released; then
 *    no retries left → `limit_exceeded` (`upstream_rq_retry_limit_exceeded`, flag URX); the breakers
 *    refuse → `overflow` (`upstream_rq_retry_overflow`, flag UO); else `yes` (`upstream_rq_retry`),
 *    holding a retry slot until the retry's own outcome is decided.
 */
import type { RoutingPriority } from "../config/model.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { ExponentialBackoff, rateLimitedBackoffMs } from "./backoff.ts";
import { compileHeaderMatcher, type HeaderMatch, type MatchRequest } from "./matchers.ts";
import type { RequestControls } from "./request-controls.ts";
import { type CompiledRetryPolicy, GRPC_STATUS_BITS, RETRY_ON } from "./retry-policy.ts";
import type { RouterClusterStats } from "./router-stats.ts";

/** How an attempt failed without a response, for {@link RetryState.wouldRetryFromReset}. */
export type ResetKind =
  /** No connection could be made (the request was not sent). */
  | "connect_failure"
  /** The connection was lost or reset after the request started, before response headers. */
  | "remote_reset"
  /** The router gave up on the attempt: per-try (idle) timeout. */
  | "timeout"
  /** A circuit breaker refused the attempt: never retried. */
  | "overflow";

export type RetryStatus = "yes" | "no" | "limit_exceeded" | "overflow";

/** The circuit-breaker side of retries (shared/upstream's CircuitBreakers fits). */
export interface RetryBreakers {
  /** False (counting `upstream_rq_retry_overflow`) when no retry may start now. */
  tryAcquireRetry(priority?: RoutingPriority): boolean;
  releaseRetry(priority?: RoutingPriority): void;
}

export interface RetryStateOptions {
  /** The route's policy (route level, else virtual host level), compiled. */
  policy: CompiledRetryPolicy | undefined;
  /** A trusted client's request controls, if any. */
  controls: RequestControls | undefined;
  /** The request, for `retriable_request_headers`. */
  request: MatchRequest;
  breakers: RetryBreakers;
  stats: RouterClusterStats;
  priority?: RoutingPriority;
  /** `upstream.use_retry` (percent of requests that may retry, default 100) and `upstream.base_retry_backoff_ms`. */
  runtime?: Runtime;
  random: () => number;
  /** Wall clock (ms since the epoch), for UNIX_TIMESTAMP reset headers. */
  epochNow: () => number;
}

const EMPTY_MATCHERS: readonly HeaderMatch[] = [];

/**
 * The retry state of a request, or undefined when nothing could ever be retried (no condition in the
 * policy or the request controls, or `retriable_request_headers` that the request does not match).
 * Called once per routed request.
 */
export function createRetryState(options: RetryStateOptions): RetryState | undefined {
  const { policy, controls } = options;
  const retryOn = (policy?.retryOn ?? 0) | (controls?.retryOn ?? 0);
  if (retryOn === 0) return undefined;
  if (policy && policy.retriableRequestHeaders.length > 0 && !policy.retriableRequestHeaders.some((m) => m(options.request))) return undefined;
  return new RetryState(options, retryOn);
}

export class RetryState {
  /** Retry conditions in force (route policy and request controls). */
  readonly retryOn: number;
  private retriesRemaining: number;
  private readonly statusCodes: readonly number[];
  private readonly headerMatchers: readonly HeaderMatch[];
  private readonly backoff: ExponentialBackoff;
  private readonly options: RetryStateOptions;
  /** A retry slot is held: a retry was decided and its outcome not yet. */
  private armed = false;

  constructor(options: RetryStateOptions, retryOn: number) {
    this.options = options;
    this.retryOn = retryOn;
    const { policy, controls, runtime, random } = options;
    let remaining = policy?.numRetries ?? 1;
    if (controls?.maxRetries !== undefined) remaining = controls.maxRetries;
    this.retriesRemaining = remaining;
    const codes = policy?.model.retriableStatusCodes ?? [];
    this.statusCodes = controls?.retriableStatusCodes ? [...codes, ...controls.retriableStatusCodes] : codes;
    const matchers = policy?.retriableHeaders ?? EMPTY_MATCHERS;
    this.headerMatchers = controls?.retriableHeaderNames
      ? [...matchers, ...controls.retriableHeaderNames.map((name) => compileHeaderMatcher({ name, match: { kind: "present", present: true }, invertMatch: false, treatMissingHeaderAsEmpty: false }))]
      : matchers;
    // A configured retry_back_off wins; otherwise the runtime's upstream.base_retry_backoff_ms (default 25 ms).
    const configured = policy?.model.backOff;
    const base = configured?.baseMs ?? runtime?.getInteger("upstream.base_retry_backoff_ms", 25) ?? 25;
    this.backoff = new ExponentialBackoff(base, configured?.maxMs ?? base * 10, random);
  }

  /** True when a response with these headers would be retried. Called once per response that arrives. */
  wouldRetryFromHeaders(status: number, headers: Headers): boolean {
    const on = this.retryOn;
    if (headers.has("x-envoy-overloaded")) return false;
    // An upstream Envoy's rate limit: retried only under envoy-ratelimited.
    if (headers.has("x-envoy-ratelimited")) return (on & RETRY_ON.ENVOY_RATE_LIMITED) !== 0;
    if (on & RETRY_ON.FIVE_XX && status >= 500 && status < 600) return true;
    if (on & RETRY_ON.GATEWAY_ERROR && (status === 502 || status === 503 || status === 504)) return true;
    if (on & RETRY_ON.RETRIABLE_4XX && status === 409) return true;
    if (on & RETRY_ON.RETRIABLE_STATUS_CODES && this.statusCodes.includes(status)) return true;
    if (on & RETRY_ON.RETRIABLE_HEADERS && this.headerMatchers.length > 0) {
      const view: MatchRequest = { method: "", authority: "", path: "", requestHeaders: headers };
      if (this.headerMatchers.some((m) => m(view))) return true;
    }
    if (on >= RETRY_ON.GRPC_CANCELLED) {
      const grpc = headers.get("grpc-status");
      if (grpc !== null && /^\d+$/.test(grpc)) {
        const bit = GRPC_STATUS_BITS.get(Number(grpc));
        if (bit !== undefined && on & bit) return true;
      }
    }
    return false;
  }

  /** True when an attempt that failed this way would be retried. */
  wouldRetryFromReset(kind: ResetKind): boolean {
    if (kind === "overflow") return false;
    const on = this.retryOn;
    if (on & RETRY_ON.RESET_BEFORE_REQUEST && kind === "connect_failure") return true;
    if (on & (RETRY_ON.FIVE_XX | RETRY_ON.GATEWAY_ERROR | RETRY_ON.RESET)) return true;
    if (on & RETRY_ON.CONNECT_FAILURE && kind === "connect_failure") return true;
    return false;
  }

  /** Applies the limit, the breakers and `upstream.use_retry` to an outcome (see the module doc). */
  shouldRetry(wouldRetry: boolean): RetryStatus {
    const { stats, breakers, priority } = this.options;
    if (this.armed) {
      if (!wouldRetry) stats.retrySuccess.inc();
      this.armed = false;
      breakers.releaseRetry(priority);
    }
    if (!wouldRetry) return "no";
    if (this.retriesRemaining === 0) {
      stats.retryLimitExceeded.inc();
      return "limit_exceeded";
    }
    this.retriesRemaining--;
    if (!breakers.tryAcquireRetry(priority)) return "overflow";
    const runtime = this.options.runtime;
    if (runtime && !runtime.featureEnabled("upstream.use_retry", { numerator: 100, denominator: "HUNDRED" }, Math.floor(this.options.random() * 100))) {
      breakers.releaseRetry(priority);
      return "no";
    }
    this.armed = true;
    stats.retry.inc();
    return "yes";
  }

  /**
   * Milliseconds to wait before the retry just decided. `headers`: the retried response's headers
   * (for `rate_limited_retry_back_off`), absent for a reset.
   */
  backoffMs(headers?: Headers): number {
    const { policy, stats, random, epochNow } = this.options;
    const limited = policy?.model.rateLimitedBackOff;
    if (limited && headers) {
      const ms = rateLimitedBackoffMs(limited, headers, epochNow(), random);
      if (ms !== undefined) {
        stats.backoffRateLimited.inc();
        return ms;
      }
    }
    stats.backoffExponential.inc();
    return this.backoff.next();
  }

  /** Releases a held retry slot. Called once when the request's upstream work ends. */
  release(): void {
    if (!this.armed) return;
    this.armed = false;
    this.options.breakers.releaseRetry(this.options.priority);
  }
}
