/**
 * Envoy's circuit breakers (`circuit_breakers.thresholds`) for one cluster: one resource manager per
 * routing priority (DEFAULT, HIGH), each with four resources: connections, pending requests,
 * requests, retries (or a retry budget instead of the retry limit).
 *
 * A resource is "open" (refusing) while its count is at or above its limit. Limits come from the
 * config, overridden per request by runtime keys `circuit_breakers.<cluster>.<default|high>.<field>`
 * when a runtime is given (Envoy's keys).
 *
 * What the resources mean at the edge, which has no connection pool of its own (the Workers runtime
 * pools connections behind `fetch`):
 * - requests: upstream attempts in flight, from the moment one is sent until its response body ends
 *   (or it fails). As Envoy's `max_requests`.
 * - pending requests: attempts sent whose response headers have not arrived yet. Envoy counts a
 *   request as pending while it waits for a pool connection; behind `fetch` that wait (and the
 *   connect) is only visible as "no headers yet", so this is the closest observable equivalent.
 * - connections: each in-flight HTTP/1.1 `fetch` occupies one upstream connection, so the edge counts
 *   one connection per attempt in flight; `max_connections` therefore caps concurrent attempts too.
 * - retries: retries in flight (the router acquires before sending a retry, releases when it ends).
 *
 * Per isolate: each Worker isolate has its own counts (as each Envoy process has its own), so a limit
 * of N allows up to N per isolate. Cluster-wide limits across isolates would need a Durable Object.
 *
 * Stats (Envoy's names, under `cluster.<name>.`): `upstream_rq_pending_overflow` (requests or pending
 * requests refused), `upstream_cx_overflow`, `upstream_rq_retry_overflow`; gauges
 * `circuit_breakers.<default|high>.{cx_open,rq_pending_open,rq_open,rq_retry_open}` (0 or 1) and, with
 * `track_remaining`, `circuit_breakers.<default|high>.{remaining_cx,remaining_pending,remaining_rq,remaining_retries}`.
 */
import type { CircuitBreakerThresholdsModel, CircuitBreakersModel, RoutingPriority } from "../config/model.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { Counter, Gauge, StatsScope } from "../stats/store.ts";

/** Envoy's defaults for a priority without configured thresholds. */
export const DEFAULT_THRESHOLDS: Readonly<CircuitBreakerThresholdsModel> = Object.freeze({
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  trackRemaining: false,
});

type ResourceName = "cx" | "pending" | "rq" | "retries";

/** One counted resource with its limit, open gauge and optional remaining gauge. */
class Resource {
  count = 0;
  private readonly open: Gauge;
  private readonly remaining: Gauge | undefined;
  private readonly limitFn: () => number;

  constructor(limit: () => number, open: Gauge, remaining: Gauge | undefined) {
    this.limitFn = limit;
    this.open = open;
    this.remaining = remaining;
    this.update();
  }

  get limit(): number {
    return this.limitFn();
  }

  canCreate(): boolean {
    return this.count < this.limitFn();
  }

  inc(): void {
    this.count++;
    this.update();
  }

  dec(): void {
    if (this.count > 0) this.count--;
    this.update();
  }

  /** Refreshes the gauges (also after a limit change, e.g. a retry budget whose base moved). */
  update(): void {
    const limit = this.limitFn();
    this.open.set(this.count >= limit ? 1 : 0);
    this.remaining?.set(Math.max(0, limit - this.count));
  }
}

/** The four resources of one routing priority (Envoy's ResourceManager). */
export class PriorityResources {
  readonly priority: RoutingPriority;
  readonly thresholds: CircuitBreakerThresholdsModel;
  readonly connections: Resource;
  readonly pending: Resource;
  readonly requests: Resource;
  readonly retries: Resource;

  constructor(priority: RoutingPriority, thresholds: CircuitBreakerThresholdsModel, clusterName: string, scope: StatsScope, runtime: Runtime | undefined) {
    this.priority = priority;
    this.thresholds = thresholds;
    const p = priority.toLowerCase();
    const cb = scope.scope(`circuit_breakers.${p}.`);
    const key = (field: string) => `circuit_breakers.${clusterName}.${p}.${field}`;
    const track = thresholds.trackRemaining;
    const remaining = (name: ResourceName) => (track ? cb.gauge(`remaining_${name}`) : undefined);
    const limit = (field: string, v: number) => {
      const k = key(field);
      return runtime ? () => runtime.getInteger(k, v) : () => v;
    };
    this.connections = new Resource(limit("max_connections", thresholds.maxConnections), cb.gauge("cx_open"), remaining("cx"));
    this.pending = new Resource(limit("max_pending_requests", thresholds.maxPendingRequests), cb.gauge("rq_pending_open"), remaining("pending"));
    this.requests = new Resource(limit("max_requests", thresholds.maxRequests), cb.gauge("rq_open"), remaining("rq"));
    const budget = thresholds.retryBudget;
    if (budget) {
      // Envoy: retries in flight may reach budget_percent of (active + pending requests), never less than
      // min_retry_concurrency. Remaining retries are not tracked with a budget (as Envoy documents).
      const budgetLimit = () => Math.max(budget.minRetryConcurrency, Math.floor((budget.budgetPercent / 100) * (this.requests.count + this.pending.count)));
      this.retries = new Resource(budgetLimit, cb.gauge("rq_retry_open"), undefined);
    } else {
      this.retries = new Resource(limit("max_retries", thresholds.maxRetries), cb.gauge("rq_retry_open"), remaining("retries"));
    }
  }
}

/**
 * A cluster's circuit breakers. One instance per cluster runtime (per isolate); every method is
 * O(1) and called on the request path.
 */
export class CircuitBreakers {
  private readonly byPriority: Record<RoutingPriority, PriorityResources>;
  private readonly rqPendingOverflow: Counter;
  private readonly cxOverflow: Counter;
  private readonly rqRetryOverflow: Counter;

  /**
   * @param model the cluster's `circuit_breakers` (absent: Envoy's defaults for both priorities).
   * @param scope the cluster's stats scope (`cluster.<name>.`).
   */
  constructor(model: CircuitBreakersModel | undefined, clusterName: string, scope: StatsScope, runtime?: Runtime) {
    this.byPriority = {
      DEFAULT: new PriorityResources("DEFAULT", model?.DEFAULT ?? DEFAULT_THRESHOLDS, clusterName, scope, runtime),
      HIGH: new PriorityResources("HIGH", model?.HIGH ?? DEFAULT_THRESHOLDS, clusterName, scope, runtime),
    };
    this.rqPendingOverflow = scope.counter("upstream_rq_pending_overflow");
    this.cxOverflow = scope.counter("upstream_cx_overflow");
    this.rqRetryOverflow = scope.counter("upstream_rq_retry_overflow");
  }

  /** The resources of a priority (for /clusters and tests). */
  resources(priority: RoutingPriority = "DEFAULT"): PriorityResources {
    return this.byPriority[priority];
  }

  /**
   * Takes a request slot (`max_requests`) for an attempt about to be sent. Returns false, counting
   * `upstream_rq_pending_overflow`, when the breaker is open: the caller then fails the attempt with
   * UO (503, `x-envoy-overloaded: true`). Every true must be paired with one {@link releaseRequest}.
   */
  tryAcquireRequest(priority: RoutingPriority = "DEFAULT"): boolean {
    const r = this.byPriority[priority];
    if (!r.requests.canCreate()) {
      this.rqPendingOverflow.inc();
      return false;
    }
    r.requests.inc();
    r.retries.update();
    return true;
  }

  /** Returns a slot from {@link tryAcquireRequest}, when the attempt ends (body done, failure, or abandoned). */
  releaseRequest(priority: RoutingPriority = "DEFAULT"): void {
    const r = this.byPriority[priority];
    r.requests.dec();
    r.retries.update();
  }

  /**
   * Takes a pending-request slot (`max_pending_requests`) for an attempt waiting for response headers.
   * False (counting `upstream_rq_pending_overflow`) means overflow: fail with UO. Pair each true with
   * one {@link releasePending} when headers arrive or the attempt fails first.
   */
  tryAcquirePending(priority: RoutingPriority = "DEFAULT"): boolean {
    const r = this.byPriority[priority];
    if (!r.pending.canCreate()) {
      this.rqPendingOverflow.inc();
      return false;
    }
    r.pending.inc();
    r.retries.update();
    return true;
  }

  releasePending(priority: RoutingPriority = "DEFAULT"): void {
    const r = this.byPriority[priority];
    r.pending.dec();
    r.retries.update();
  }

  /**
   * Takes a connection slot (`max_connections`; at the edge, one per attempt in flight). False
   * (counting `upstream_cx_overflow`) means overflow: fail with UO. Pair each true with one
   * {@link releaseConnection}.
   */
  tryAcquireConnection(priority: RoutingPriority = "DEFAULT"): boolean {
    const r = this.byPriority[priority];
    if (!r.connections.canCreate()) {
      this.cxOverflow.inc();
      return false;
    }
    r.connections.inc();
    return true;
  }

  releaseConnection(priority: RoutingPriority = "DEFAULT"): void {
    this.byPriority[priority].connections.dec();
  }

  /**
   * Takes a retry slot (`max_retries`, or the `retry_budget` when configured) before a retry is sent.
   * False (counting `upstream_rq_retry_overflow`) means the retry must not happen: the router returns
   * the response (or failure) it has. Pair each true with one {@link releaseRetry} when the retry ends.
   */
  tryAcquireRetry(priority: RoutingPriority = "DEFAULT"): boolean {
    const r = this.byPriority[priority];
    if (!r.retries.canCreate()) {
      this.rqRetryOverflow.inc();
      return false;
    }
    r.retries.inc();
    return true;
  }

  releaseRetry(priority: RoutingPriority = "DEFAULT"): void {
    this.byPriority[priority].retries.dec();
  }
}
