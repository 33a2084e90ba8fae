/**
 * A cluster at runtime, per isolate at the edge (the tcp tier adopts it with issue 4): its hosts, their health, the
 * load balancer over them (priorities, localities, panic threshold), the circuit breakers and the
 * outlier detector. The router's one entry point to "which host, may I send, how did it go".
 *
 * How the router uses it (shared/http/upstream-call.ts):
 *
 * ```ts
 * const cluster = getClusterRuntime(model, stats);        // once per config version (reuses state)
 * const host = cluster.chooseHost({ triedHosts, hashKey }); // per attempt; undefined → UH (no_healthy_upstream)
 * const attempt = cluster.startAttempt(host, priority);    // undefined → UO overflow (503, x-envoy-overloaded)
 * // fetch …
 * attempt.onHeaders(response.status);                      // or attempt.onFailure({ kind: "connect_failure" })
 * attempt.end();                                           // when the response body is done / the attempt abandoned
 * // before a retry: cluster.breakers.tryAcquireRetry(priority) … releaseRetry(priority) when it ends
 * ```
 *
 * Membership and health changes rebuild the load balancer whole (never patched): the config gives
 * the hosts; health comes from outlier detection and from {@link ClusterRuntime.setHealth} (the tcp
 * tier's active health checks, published to KV and applied at the edge).
 */
import type { ClusterModel, EndpointModel, RoutingPriority } from "../config/model.ts";
import type { Counter, Histogram, StatsScope } from "../stats/store.ts";
import type { Hash64 } from "../lb/types.ts";
import { evaluateFractionalPercent, type FractionalPercent, type Runtime } from "../runtime/runtime.ts";
import { CircuitBreakers } from "./circuit-breakers.ts";
import { reconcileHosts, UpstreamHost } from "./host.ts";
import { ClusterLoadBalancer } from "./load-balancing.ts";
import { type AttemptOutcome, OutlierDetector } from "./outlier-detection.ts";

export type { AttemptOutcome } from "./outlier-detection.ts";
export { UpstreamHost } from "./host.ts";

/** Per-pick context for {@link ClusterRuntime.chooseHost}. */
export interface ChooseHostContext {
  /**
   * Hosts already tried by this request (retries with `previous_hosts`, hedges). A host outside the
   * set is picked whenever the chosen priority has one; otherwise any host (a retry always has a target).
   */
  triedHosts?: ReadonlySet<UpstreamHost>;
  /**
   * The request's hash for RING_HASH and MAGLEV, from the route's `hash_policy`
   * (`computeHashKey` in ./hash-policy.ts gives a 64-bit bigint). A string is hashed with the
   * cluster's hash function; a number is used as is. Absent: a random host, as Envoy does without a
   * hash. Ignored by the other policies.
   */
  hashKey?: string | number | bigint;
  /**
   * A 64-bit hash already in two unsigned 32-bit halves, taken before `hashKey` (redis_proxy hashes its
   * keys in plain numbers; see Hash64 in shared/lb/types.ts).
   */
  hash64?: Hash64;
}

export interface ClusterRuntimeOptions {
  /** Monotonic milliseconds (outlier detection). Default `performance.now()`. */
  now?: () => number;
  /** Uniform in [0, 1) for load balancing and enforcement draws. Default `Math.random`. */
  random?: () => number;
  /**
   * The hosts, instead of one per `model.endpoints` entry: the tcp tier's DNS clusters pass the hosts
   * the names resolved to (keeping the objects of hosts that survive a refresh).
   */
  hosts?: readonly UpstreamHost[];
  /**
   * Circuit breakers to share instead of new ones: the tcp tier rebuilds a DNS cluster's runtime when
   * its hosts change, and connections in flight keep their slots across the rebuild.
   */
  breakers?: CircuitBreakers;
}

/**
 * One in-flight attempt to one host, admitted by the circuit breakers. Call {@link onHeaders} when
 * response headers arrive or {@link onFailure} when the attempt fails first (it may also follow
 * `onHeaders` when the response body then fails: a reset mid-body counts against the host too), and
 * {@link end} when the attempt is over (idempotent; `onFailure` ends it).
 */
export interface UpstreamAttempt {
  readonly host: UpstreamHost;
  readonly priority: RoutingPriority;
  /**
   * Response headers arrived with `status`: releases the pending-request slot and reports the result
   * to outlier detection. Called at most once.
   */
  onHeaders(status: number): void;
  /**
   * The attempt failed before (or instead of) a usable response: connect failure, reset, per-try
   * timeout. Reports it to outlier detection and ends the attempt.
   */
  onFailure(outcome: Exclude<AttemptOutcome, { kind: "http" }>): void;
  /** Releases the request and connection slots and the host's active request. Idempotent. */
  end(): void;
}

/** Why {@link ClusterRuntime.startAttempt} refused: which breaker was open. */
export type OverflowReason = "max_connections" | "max_pending_requests" | "max_requests";

export class ClusterRuntime {
  readonly model: ClusterModel;
  readonly name: string;
  /** Every host, in config order (all priorities); replaced whole by {@link setHosts}. */
  private currentHosts: readonly UpstreamHost[];
  /** The cluster's stats scope, `cluster.<name>.`. */
  readonly stats: StatsScope;
  /** Circuit breakers; the router uses them directly for retries (`tryAcquireRetry`/`releaseRetry`). */
  readonly breakers: CircuitBreakers;
  /** Present when the cluster configures `outlier_detection`. */
  readonly outlierDetector: OutlierDetector | undefined;

  /** `upstream_rq_total`: requests that reached a host (charged by the router when headers arrive). */
  readonly rqTotal: Counter;
  /** `upstream_rq_completed`. */
  readonly rqCompleted: Counter;
  readonly cxConnectFail: Counter;
  /** `upstream_rq_maintenance_mode`. */
  private readonly rqMaintenanceMode: Counter;
  /** `upstream.maintenance_mode.<name>`, built once. */
  private readonly maintenanceKey: string;
  /** `upstream_cx_none_healthy`: picks that found no host. */
  readonly cxNoneHealthy: Counter;
  /** `upstream_rq_time`, ms. */
  readonly rqTime: Histogram;
  /** Why the last {@link startAttempt} refused (for the router's details and logs). */
  lastOverflow: OverflowReason | undefined;

  private readonly byCode = new Map<number, Counter>();
  private readonly byClass: Counter[] = [];
  private readonly byHostPort = new Map<string, UpstreamHost>();
  private readonly options: ClusterRuntimeOptions;
  private currentRuntime: Runtime | undefined;
  /** Reads the current runtime, so a new runtime snapshot applies without rebuilding the breakers. */
  private readonly runtimeView: Runtime = {
    getInteger: (key, d) => this.currentRuntime?.getInteger(key, d) ?? d,
    getBoolean: (key, d) => this.currentRuntime?.getBoolean(key, d) ?? d,
    featureEnabled: (key, d, r) => (this.currentRuntime ? this.currentRuntime.featureEnabled(key, d, r) : evaluateFractionalPercent(d, r)),
  };
  private lb: ClusterLoadBalancer;
  private healthDirty = false;
  /** Set by an EDS assignment's policy; replaces the config's factor when defined. */
  private overprovisioningFactor: number | undefined;

  /**
   * Builds the runtime for one cluster model. Called once per cluster per config version (prefer
   * {@link getClusterRuntime}, which keeps an unchanged cluster's state across config versions).
   * @param stats the ROOT stats scope (names are `cluster.<name>.…`).
   * @param runtime Envoy runtime overrides (`circuit_breakers.<cluster>.<priority>.max_*`,
   *   `upstream.healthy_panic_threshold`); e.g. `createStaticRuntime(bootstrap.runtime)`.
   */
  constructor(model: ClusterModel, stats: StatsScope, runtime?: Runtime, options: ClusterRuntimeOptions = {}) {
    this.model = model;
    this.name = model.name;
    this.currentRuntime = runtime;
    this.options = options;
    this.stats = stats.scope(`cluster.${model.name}.`);
    this.currentHosts = options.hosts ?? model.endpoints.map((e) => new UpstreamHost(e));
    for (const h of this.currentHosts) this.byHostPort.set(h.hostPort, h);
    this.breakers = options.breakers ?? new CircuitBreakers(model.circuitBreakers, model.name, this.stats, this.runtimeView);
    this.outlierDetector = model.outlierDetection
      ? new OutlierDetector(model.outlierDetection, this.currentHosts, this.stats, {
          now: options.now,
          random: options.random,
          onHealthChanged: () => (this.healthDirty = true),
        })
      : undefined;
    this.rqTotal = this.stats.counter("upstream_rq_total");
    this.rqCompleted = this.stats.counter("upstream_rq_completed");
    this.cxConnectFail = this.stats.counter("upstream_cx_connect_fail");
    this.cxNoneHealthy = this.stats.counter("upstream_cx_none_healthy");
    this.rqMaintenanceMode = this.stats.counter("upstream_rq_maintenance_mode");
    this.maintenanceKey = `upstream.maintenance_mode.${model.name}`;
    this.rqTime = this.stats.histogram("upstream_rq_time");
    this.stats.gauge("membership_total").set(this.currentHosts.length);
    this.lb = this.buildLb();
  }

  /** Every host, in config (or EDS) order, all priorities. */
  get hosts(): readonly UpstreamHost[] {
    return this.currentHosts;
  }

  /**
   * Replaces the membership (an EDS update, or the tcp tier's DNS refresh) in place: the breakers,
   * stats and outlier detector stay; hosts present in both lists keep their state (see
   * {@link reconcileHosts}); the load balancer is rebuilt. Attempts in flight to removed hosts finish
   * normally. Counts `membership_change` when the host set changed.
   */
  setHosts(hosts: readonly UpstreamHost[]): void {
    const changed = hosts.length !== this.currentHosts.length || hosts.some((h, i) => h !== this.currentHosts[i]);
    this.currentHosts = hosts;
    this.byHostPort.clear();
    for (const h of hosts) this.byHostPort.set(h.hostPort, h);
    this.outlierDetector?.setHosts(hosts);
    this.stats.gauge("membership_total").set(hosts.length);
    if (changed) this.stats.counter("membership_change").inc();
    this.rebuild();
  }

  /**
   * {@link setHosts} for a list of endpoints, keeping the hosts that stay ({@link reconcileHosts}).
   * `overprovisioningFactor`: an EDS assignment's `policy.overprovisioning_factor` (undefined: the
   * cluster's own). `make` builds the new hosts (the tcp tier's carry connection counts).
   */
  setEndpoints(endpoints: readonly EndpointModel[], overprovisioningFactor?: number, make: (e: EndpointModel) => UpstreamHost = (e) => new UpstreamHost(e)): void {
    this.overprovisioningFactor = overprovisioningFactor;
    this.setHosts(reconcileHosts(this.currentHosts, endpoints, make));
  }

  /**
   * Picks the host for one attempt: lazily runs a due outlier-detection sweep, chooses a priority by
   * health (spilling over with the overprovisioning factor; panic mode below
   * `healthy_panic_threshold`), a locality when locality-weighted, then a host with `lb_policy`.
   * Called once per attempt. `undefined` means the cluster has no host to offer: the router answers
   * 503 UH (`no_healthy_upstream`) and counts {@link cxNoneHealthy}.
   */
  chooseHost(ctx: ChooseHostContext = {}): UpstreamHost | undefined {
    this.outlierDetector?.tick();
    if (this.healthDirty) this.rebuild();
    return this.lb.chooseHost(ctx);
  }

  /**
   * Asks the circuit breakers to admit one attempt to `host` (connection, pending request and request
   * slots of `priority`). Called once per attempt, after {@link chooseHost}. `undefined` means a
   * breaker is open (overflow, already counted: `upstream_cx_overflow` or `upstream_rq_pending_overflow`;
   * {@link lastOverflow} says which): the router fails the attempt with UO, 503 and
   * `x-envoy-overloaded: true`, and does not retry it.
   */
  startAttempt(host: UpstreamHost, priority: RoutingPriority = "DEFAULT"): UpstreamAttempt | undefined {
    const b = this.breakers;
    if (!b.tryAcquireConnection(priority)) {
      this.lastOverflow = "max_connections";
      return undefined;
    }
    if (!b.tryAcquirePending(priority)) {
      b.releaseConnection(priority);
      this.lastOverflow = "max_pending_requests";
      return undefined;
    }
    if (!b.tryAcquireRequest(priority)) {
      b.releasePending(priority);
      b.releaseConnection(priority);
      this.lastOverflow = "max_requests";
      return undefined;
    }
    host.activeRequests++;
    host.rqTotal++;
    let pending = true;
    let ended = false;
    const releasePending = () => {
      if (pending) {
        pending = false;
        b.releasePending(priority);
      }
    };
    const end = () => {
      if (ended) return;
      ended = true;
      releasePending();
      b.releaseRequest(priority);
      b.releaseConnection(priority);
      host.activeRequests--;
    };
    return {
      host,
      priority,
      onHeaders: (status: number) => {
        releasePending();
        this.onResult(host, { kind: "http", status });
      },
      onFailure: (outcome) => {
        this.onResult(host, outcome);
        end();
      },
      end,
    };
  }

  /**
   * Reports the outcome of one attempt to `host`: per-host success/error counts and outlier
   * detection (which may eject the host; the next pick sees the rebuilt healthy set). Called once per
   * attempt (by {@link UpstreamAttempt} when the router uses {@link startAttempt}).
   */
  onResult(host: UpstreamHost, outcome: AttemptOutcome): void {
    if (outcome.kind === "http" && outcome.status < 500) host.rqSuccess++;
    else host.rqError++;
    if (outcome.kind === "connect_failure") host.cxConnectFail++;
    else if (outcome.kind === "timeout") host.rqTimeout++;
    this.outlierDetector?.putResult(host, outcome);
    if (this.healthDirty) this.rebuild();
  }

  /**
   * Sets a host's active-health-check verdict (the tcp tier's health feed, through KV). `host` is the
   * host or its `address:port`. Returns false when the cluster has no such host. Rebuilds the load
   * balancer when the verdict changed. Called whenever a health feed update arrives.
   */
  setHealth(host: UpstreamHost | string, healthy: boolean): boolean {
    const h = typeof host === "string" ? this.byHostPort.get(host) : this.currentHosts.includes(host) ? host : undefined;
    if (!h) return false;
    if (h.failedActiveHc === !healthy) return true;
    h.failedActiveHc = !healthy;
    this.rebuild();
    return true;
  }

  /**
   * Envoy's `upstream.maintenance_mode.<cluster>` runtime key (a percentage, default 0): whether this
   * request or connection is refused at once (both tiers; `randomValue` a non-negative integer).
   * Counts `upstream_rq_maintenance_mode` when it is.
   */
  maintenanceMode(randomValue: number): boolean {
    if (!this.runtimeView.featureEnabled(this.maintenanceKey, NO_MAINTENANCE, randomValue)) return false;
    this.rqMaintenanceMode.inc();
    return true;
  }

  /** The cluster has `health_checks` (run by the tcp tier; the edge follows them through KV). */
  get activelyChecked(): boolean {
    return (this.model.healthChecks?.length ?? 0) > 0;
  }

  /**
   * Envoy's immediate health-check failure: a response from `host` carried
   * `x-envoy-immediate-health-check-fail` (the host is draining itself, e.g. Envoy's or Legate's
   * `/healthcheck/fail`). The host is `failed_active_hc` at once and `health_check.passive_failure` is
   * counted, as in Envoy; the mark holds until the active checks (a newer KV report, see
   * edge/src/kv-health.ts) find the host healthy again. Only for actively checked clusters.
   */
  immediateHealthCheckFail(host: UpstreamHost, now: number = Date.now()): void {
    if (!this.activelyChecked || !this.currentHosts.includes(host)) return;
    host.immediateHcFailAt = now;
    this.stats.counter("health_check.passive_failure").inc();
    if (host.failedActiveHc) return;
    host.failedActiveHc = true;
    this.rebuild();
  }

  /** The Envoy runtime snapshot in use (may be undefined). */
  get runtime(): Runtime | undefined {
    return this.currentRuntime;
  }

  /**
   * Applies a new runtime snapshot (a new config version or a runtime push). Breaker limits read it
   * on the next admission; the panic threshold takes effect at once (the balancer is rebuilt).
   */
  setRuntime(runtime: Runtime | undefined): void {
    if (runtime === this.currentRuntime) return;
    this.currentRuntime = runtime;
    this.rebuild();
  }

  /** The host at `address:port` (IPv6 in brackets), if the cluster has it. */
  host(hostPort: string): UpstreamHost | undefined {
    return this.byHostPort.get(hostPort);
  }

  /** Runs a due outlier-detection sweep now (for /clusters, so it shows the current state). */
  refresh(): void {
    this.outlierDetector?.tick();
    if (this.healthDirty) this.rebuild();
  }

  /** Envoy's chargeUpstreamCode: `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed`. */
  chargeCode(status: number): void {
    let c = this.byCode.get(status);
    if (!c) this.byCode.set(status, (c = this.stats.counter(`upstream_rq_${status}`)));
    c.inc();
    const cls = Math.floor(status / 100);
    (this.byClass[cls] ??= this.stats.counter(`upstream_rq_${cls}xx`)).inc();
    this.rqCompleted.inc();
  }

  /** Whether priority `p` is in panic mode right now (for /clusters and tests). */
  inPanic(priority: number): boolean {
    return this.lb.inPanic(priority);
  }

  /** The percentage of traffic each priority gets now (for tests and /clusters). */
  get priorityLoad(): readonly number[] {
    return this.lb.priorityLoad;
  }

  private rebuild(): void {
    this.healthDirty = false;
    this.lb = this.buildLb();
    let healthy = 0;
    for (const h of this.currentHosts) if (h.healthy) healthy++;
    this.stats.gauge("membership_healthy").set(healthy);
  }

  private buildLb(): ClusterLoadBalancer {
    const f = this.overprovisioningFactor;
    const lbConfig = f === undefined || !this.model.lbConfig ? this.model.lbConfig : { ...this.model.lbConfig, overprovisioningFactor: f };
    return new ClusterLoadBalancer(this.currentHosts, this.model.lbPolicy, lbConfig, {
      random: this.options.random,
      runtime: this.runtimeView,
    });
  }
}

const NO_MAINTENANCE: FractionalPercent = { numerator: 0, denominator: "HUNDRED" };

/** Per-isolate registry: the runtimes built against one root stats scope, by cluster name. */
const registries = new WeakMap<object, Map<string, { key: string; runtime: ClusterRuntime }>>();

/**
 * The isolate's runtime for `model`: the existing one when the cluster's config is unchanged since
 * the last config version (its outlier state, breaker counts of in-flight requests and health carry
 * over, as Envoy keeps a cluster whose config did not change), else a new one that replaces it.
 * Called once per cluster per config version (by the router factory), and by /clusters. Keyed by the
 * root stats scope, which is per isolate. `runtime` replaces the reused runtime's snapshot when given;
 * undefined keeps it.
 */
export function getClusterRuntime(model: ClusterModel, stats: StatsScope, runtime?: Runtime, options?: ClusterRuntimeOptions): ClusterRuntime {
  let reg = registries.get(stats);
  if (!reg) registries.set(stats, (reg = new Map()));
  const key = JSON.stringify(model);
  const existing = reg.get(model.name);
  if (existing && existing.key === key) {
    if (runtime !== undefined) existing.runtime.setRuntime(runtime);
    return existing.runtime;
  }
  const created = new ClusterRuntime(model, stats, runtime, options);
  reg.set(model.name, { key, runtime: created });
  return created;
}

/** The runtimes registered against a root stats scope (what /clusters shows), by cluster name. */
export function clusterRuntimes(stats: StatsScope): ReadonlyMap<string, ClusterRuntime> {
  const reg = registries.get(stats);
  const out = new Map<string, ClusterRuntime>();
  if (reg) for (const [name, { runtime }] of reg) out.set(name, runtime);
  return out;
}
