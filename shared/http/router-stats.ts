/**
 * The router's per-cluster counters beyond the ones the cluster runtime keeps (shared/upstream), with
 * Envoy's names under `cluster.<name>.`. Looked up once per cluster per config version.
 *
 * - `upstream_rq_retry`: retries sent; `upstream_rq_retry_success`: retried requests whose next
 *   response needed no retry; `upstream_rq_retry_limit_exceeded`: retries wanted past the limit;
 *   `upstream_rq_retry_overflow` (the circuit breakers count it): retries refused by `max_retries` or
 *   the retry budget; `upstream_rq_retry_backoff_exponential` / `_ratelimited`: which back-off a retry
 *   waited.
 * - `upstream_rq_timeout` (route timeout), `upstream_rq_per_try_timeout`,
 *   `upstream_rq_per_try_idle_timeout`.
 * - `upstream_rq_rx_reset` (the upstream reset or dropped an attempt), `upstream_rq_tx_reset` (the
 *   router reset an attempt: timeout, hedge loser, cancelled).
 * - `retry_or_shadow_abandoned`: requests whose body outgrew the buffer limit, so they could be
 *   neither retried nor mirrored.
 * - `retry.upstream_rq_<code>`, `retry.upstream_rq_<N>xx`, `retry.upstream_rq_completed`: responses
 *   that were retried (they are not charged to `upstream_rq_<code>`, as in Envoy).
 */
import type { Counter, StatsScope } from "../stats/store.ts";

export class RouterClusterStats {
  readonly retry: Counter;
  readonly retrySuccess: Counter;
  readonly retryLimitExceeded: Counter;
  readonly backoffExponential: Counter;
  readonly backoffRateLimited: Counter;
  readonly timeout: Counter;
  readonly perTryTimeout: Counter;
  readonly perTryIdleTimeout: Counter;
  readonly rxReset: Counter;
  readonly txReset: Counter;
  readonly retryOrShadowAbandoned: Counter;
  /**
   * Counts retries the circuit breakers refused, beside the breakers' own `upstream_rq_retry_overflow`:
   * set only for a virtual cluster's view of these stats (virtual-clusters.ts).
   */
  readonly retryOverflow?: Counter;
  private readonly retryScope: StatsScope;
  private readonly retryByCode = new Map<number, Counter>();
  private readonly retryByClass: Counter[] = [];
  private readonly retryCompleted: Counter;

  /** @param scope the cluster's scope, `cluster.<name>.`. */
  constructor(scope: StatsScope) {
    this.retry = scope.counter("upstream_rq_retry");
    this.retrySuccess = scope.counter("upstream_rq_retry_success");
    this.retryLimitExceeded = scope.counter("upstream_rq_retry_limit_exceeded");
    this.backoffExponential = scope.counter("upstream_rq_retry_backoff_exponential");
    this.backoffRateLimited = scope.counter("upstream_rq_retry_backoff_ratelimited");
    this.timeout = scope.counter("upstream_rq_timeout");
    this.perTryTimeout = scope.counter("upstream_rq_per_try_timeout");
    this.perTryIdleTimeout = scope.counter("upstream_rq_per_try_idle_timeout");
    this.rxReset = scope.counter("upstream_rq_rx_reset");
    this.txReset = scope.counter("upstream_rq_tx_reset");
    this.retryOrShadowAbandoned = scope.counter("retry_or_shadow_abandoned");
    this.retryScope = scope.scope("retry.");
    this.retryCompleted = this.retryScope.counter("upstream_rq_completed");
  }

  /** Charges a response that is being retried: `retry.upstream_rq_<code>`, `<N>xx`, `completed`. */
  chargeRetriedCode(status: number): void {
    let c = this.retryByCode.get(status);
    if (!c) this.retryByCode.set(status, (c = this.retryScope.counter(`upstream_rq_${status}`)));
    c.inc();
    const cls = Math.floor(status / 100);
    (this.retryByClass[cls] ??= this.retryScope.counter(`upstream_rq_${cls}xx`)).inc();
    this.retryCompleted.inc();
  }
}
