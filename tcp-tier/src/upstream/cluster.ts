/**
 * A cluster at run time in the tcp tier: its hosts (static, or kept fresh by DNS) on shared/upstream's
 * {@link ClusterRuntime} (load balancing with priorities, localities and panic threshold, circuit
 * breakers, outlier detection), its stats, and the upstream connect path with `connect_timeout`.
 *
 * Circuit breakers for TCP, as Envoy's TCP connection pool applies them: each upstream connection holds
 * a `max_connections` slot for its whole life, and each attempt a `max_pending_requests` slot until it
 * connects or fails. No pending slot: the attempt fails at once (`upstream_rq_pending_overflow`; tcp_proxy
 * flag UO). No connection slot: `upstream_cx_overflow` is counted and the attempt waits for one of its
 * host's connections to close, except that a host without any connection always gets one.
 *
 * With `health_checks`, a {@link ClusterHealthChecker} checks every host (./health-check/checker.ts): new
 * hosts start `failed_active_hc`, {@link Cluster.initialize} waits for the first round, and results
 * set the hosts' health in the runtime's load balancer. `close()` stops it.
 *
 * `type: EDS`: the hosts come from KV through an {@link EdsSource} (tcp-tier/src/kv/endpoints-poller.ts),
 * with no DNS. {@link Cluster.initialize} waits for the first assignment up to `initial_fetch_timeout`
 * (Envoy's cluster warming; 0 waits without limit), then goes on with what it has. Each assignment is
 * applied in place ({@link Cluster.setAssignment}): hosts that stay keep their connections, stats and
 * health; DRAINING/UNHEALTHY/TIMEOUT hosts get no new connections, open ones are left alone.
 *
 * Membership changes (DNS or EDS) go to the one {@link ClusterRuntime} in place (`setHosts`), so the circuit
 * breakers, outlier-detection state and attempts in flight carry over.
 */
import type { Socket } from "node:net";
import type { ClusterModel, EndpointModel } from "../../../shared/config/model.ts";
import type { EdsAssignment, EdsSource, EdsUpdate } from "../kv/endpoints-poller.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Runtime } from "../../../shared/runtime/runtime.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../../../shared/stats/store.ts";
import { ClusterRuntime, type ChooseHostContext } from "../../../shared/upstream/cluster.ts";
import { SocketConnection } from "../network/connection.ts";
import { createResolver, resolveAddresses } from "./dns.ts";
import { Host } from "./host.ts";
import { createUpstreamTransport, type UpstreamTransport } from "../tls/upstream.ts";
import { ClusterHealthChecker } from "./health-check/checker.ts";

/** Envoy's cluster stats that the tcp tier keeps (`cluster.<name>.*`), looked up once per cluster. */
export interface ClusterStats {
  upstream_cx_total: Counter;
  upstream_cx_active: Gauge;
  upstream_cx_connect_fail: Counter;
  upstream_cx_connect_timeout: Counter;
  upstream_cx_connect_ms: Histogram;
  upstream_cx_length_ms: Histogram;
  upstream_cx_rx_bytes_total: Counter;
  upstream_cx_tx_bytes_total: Counter;
  upstream_cx_tx_bytes_buffered: Gauge;
  upstream_cx_none_healthy: Counter;
  upstream_cx_destroy: Counter;
  upstream_cx_destroy_local: Counter;
  upstream_cx_destroy_remote: Counter;
  upstream_flow_control_paused_reading_total: Counter;
  upstream_flow_control_resumed_reading_total: Counter;
  upstream_flow_control_backed_up_total: Counter;
  upstream_flow_control_drained_total: Counter;
  membership_total: Gauge;
  membership_healthy: Gauge;
  membership_degraded: Gauge;
  membership_change: Counter;
  max_host_weight: Gauge;
  update_attempt: Counter;
  update_success: Counter;
  update_failure: Counter;
  update_no_rebuild: Counter;
  /** EDS: a document that did not parse or compile. */
  update_rejected: Counter;
  /** EDS: an assignment with no endpoints (or the key removed). */
  update_empty: Counter;
  /** EDS: `initial_fetch_timeout` passed before the first assignment. */
  init_fetch_timeout: Counter;
  upstream_cx_connect_attempts_exceeded: Counter;
  upstream_cx_overflow: Counter;
}

function clusterStats(scope: StatsScope): ClusterStats {
  const c = (n: string) => scope.counter(n);
  const g = (n: string) => scope.gauge(n);
  return {
    upstream_cx_total: c("upstream_cx_total"),
    upstream_cx_active: g("upstream_cx_active"),
    upstream_cx_connect_fail: c("upstream_cx_connect_fail"),
    upstream_cx_connect_timeout: c("upstream_cx_connect_timeout"),
    upstream_cx_connect_ms: scope.histogram("upstream_cx_connect_ms"),
    upstream_cx_length_ms: scope.histogram("upstream_cx_length_ms"),
    upstream_cx_rx_bytes_total: c("upstream_cx_rx_bytes_total"),
    upstream_cx_tx_bytes_total: c("upstream_cx_tx_bytes_total"),
    upstream_cx_tx_bytes_buffered: g("upstream_cx_tx_bytes_buffered"),
    upstream_cx_none_healthy: c("upstream_cx_none_healthy"),
    upstream_cx_destroy: c("upstream_cx_destroy"),
    upstream_cx_destroy_local: c("upstream_cx_destroy_local"),
    upstream_cx_destroy_remote: c("upstream_cx_destroy_remote"),
    upstream_flow_control_paused_reading_total: c("upstream_flow_control_paused_reading_total"),
    upstream_flow_control_resumed_reading_total: c("upstream_flow_control_resumed_reading_total"),
    upstream_flow_control_backed_up_total: c("upstream_flow_control_backed_up_total"),
    upstream_flow_control_drained_total: c("upstream_flow_control_drained_total"),
    membership_total: g("membership_total"),
    membership_healthy: g("membership_healthy"),
    membership_degraded: g("membership_degraded"),
    membership_change: c("membership_change"),
    max_host_weight: g("max_host_weight"),
    update_attempt: c("update_attempt"),
    update_success: c("update_success"),
    update_failure: c("update_failure"),
    update_no_rebuild: c("update_no_rebuild"),
    update_rejected: c("update_rejected"),
    update_empty: c("update_empty"),
    init_fetch_timeout: c("init_fetch_timeout"),
    upstream_cx_connect_attempts_exceeded: c("upstream_cx_connect_attempts_exceeded"),
    upstream_cx_overflow: c("upstream_cx_overflow"),
  };
}

/** Why an upstream connect attempt failed: refused/reset/unreachable, `connect_timeout`, or `max_pending_requests`. */
export type ConnectFailureReason = "connect-fail" | "timeout" | "overflow";

/** Receives the outcome of {@link Cluster.connect}; exactly one member is called, once, unless cancelled. */
export interface UpstreamConnectHandler {
  /** The TCP handshake completed. The connection is not started: add a read filter, then `start()` it. */
  onConnected(connection: SocketConnection, host: Host): void;
  /**
   * Refused, reset, unreachable, `connect_timeout` elapsed, or `max_pending_requests` was reached
   * (`overflow`: called synchronously from {@link Cluster.connect}, no connection was tried). Counted already.
   */
  onFailure(reason: ConnectFailureReason, host: Host, error?: Error): void;
}

/** Per-pick context: shared/upstream's, plus `hash` (a 64-bit hash already computed, e.g. by udp_proxy's hash_policy). */
export interface TcpChooseHostContext extends ChooseHostContext {
  /** Used as the hash key when `hashKey` is not given. */
  hash?: bigint;
}

/** One admitted connect attempt: waiting for a connection slot, then connecting (`cancel` set). */
interface Attempt {
  host: Host;
  handler: UpstreamConnectHandler;
  /** The cluster's runtime (its circuit breakers). */
  runtime: ClusterRuntime;
  cancel: (() => void) | undefined;
}

/** An attempt in progress. */
export interface PendingConnect {
  /** Abandons the attempt (the downstream went away); no handler member is called afterwards. */
  cancel(): void;
}

export class Cluster {
  readonly name: string;
  readonly model: ClusterModel;
  readonly stats: ClusterStats;
  private currentHosts: Host[] = [];
  private readonly runtimeState: ClusterRuntime;
  private readonly logger: Logger;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** `dns_resolvers`: queried directly; absent: the system resolver. */
  private readonly resolver: ReturnType<typeof createResolver> | undefined;
  private closed = false;
  /**
   * Per host, the attempts admitted by `max_pending_requests` that wait for a `max_connections` slot, in
   * arrival order; started when one of that host's connections closes (Envoy's per-host pool).
   */
  private readonly waiting = new Map<Host, Attempt[]>();
  /** Sockets connecting or connected, so close() can end every one (some outlive their downstream while flushing). */
  private readonly sockets = new Set<Socket>();
  /** Plaintext TCP, or TLS when the cluster has a transport_socket (tcp-tier/src/tls/upstream.ts). */
  private readonly transport: UpstreamTransport;
  /** Active health checking (`health_checks`; ./health-check/checker.ts); absent when not configured. */
  private readonly healthChecker: ClusterHealthChecker | undefined;
  /** `type: EDS`: where assignments come from, the service name, and the unsubscribe function. */
  private readonly eds: { source: EdsSource; service: string; unsubscribe: () => void } | undefined;
  /** EDS: the version applied; null after the key was removed; undefined before the first assignment. */
  private edsVersion: number | null | undefined;
  private edsOverprovisioning: number | undefined;
  /** EDS: `initialize()` calls waiting for the first assignment. */
  private edsWaiters: (() => void)[] = [];

  /**
   * @param eds the EDS source (tcp-tier/src/kv/endpoints-poller.ts); required for `type: EDS` (throws
   *   without one: EDS needs LEGATE_KV), unused otherwise.
   */
  constructor(model: ClusterModel, stats: StatsScope, logger: Logger, eds?: EdsSource, runtime?: Runtime) {
    this.name = model.name;
    this.model = model;
    this.stats = clusterStats(stats.scope(`cluster.${model.name}.`));
    this.logger = logger;
    this.transport = createUpstreamTransport(model.transportSocket, { stats: stats.scope(`cluster.${model.name}.`), logger });
    this.resolver = model.dnsResolvers?.length && (model.type === "STRICT_DNS" || model.type === "LOGICAL_DNS") ? createResolver(model.dnsResolvers) : undefined;
    if (model.type === "EDS" && !eds) throw new Error(`cluster '${model.name}' is type: EDS, and EDS needs LEGATE_KV: its endpoints come from KV`);
    this.runtimeState = new ClusterRuntime(model, stats, runtime, { hosts: [] });
    this.healthChecker = model.healthChecks?.length
      ? new ClusterHealthChecker(model.healthChecks, {
          clusterName: model.name,
          stats: stats.scope(`cluster.${model.name}.`),
          connector: this.transport,
          logger,
          hadTraffic: () => this.stats.upstream_cx_total.value > 0,
          onHealthChanged: (host) => this.runtimeState.setHealth(host, this.healthChecker!.isHealthy(host as Host)),
        })
      : undefined;
    this.setHosts([]);
    if (model.type === "EDS") {
      const service = model.eds?.serviceName ?? model.name;
      this.eds = { source: eds!, service, unsubscribe: eds!.subscribe(service, (u) => this.onEdsUpdate(u)) };
    }
  }

  /** The current hosts, in endpoint order (a new array whenever membership changes; do not mutate). */
  get hosts(): readonly Host[] {
    return this.currentHosts;
  }

  /** The shared cluster runtime over the current hosts (one per cluster; membership changes in place). */
  get runtime(): ClusterRuntime {
    return this.runtimeState;
  }

  /**
   * Sets up the hosts: at once for STATIC; for STRICT_DNS and LOGICAL_DNS after the first resolution
   * (Envoy warms DNS clusters before its listeners start), then again every `dns_refresh_rate`; for EDS
   * after the first assignment, or after `initial_fetch_timeout` without one (no hosts then).
   * Never rejects: a failed resolution is logged and counted, and retried at the refresh rate.
   */
  async initialize(): Promise<void> {
    if (this.model.type === "STATIC") {
      this.setHosts(this.model.endpoints.map((e) => new Host(e)));
      this.stats.update_attempt.inc();
      this.stats.update_success.inc();
    } else if (this.eds) {
      await this.initializeEds(this.eds.source, this.eds.service);
    } else {
      await this.refresh();
    }
    // Envoy's cluster warming waits for the first health check of every host (bounded by its timeout).
    await this.healthChecker?.firstRound();
  }

  /** Stops active health checking; hosts keep the health they last had. */
  stopHealthChecks(): void {
    this.healthChecker?.close();
  }

  /**
   * Stops following EDS updates (a reload's retired cluster while its connections drain: the new
   * cluster follows the same service under the same stat names). Hosts stay as they are.
   */
  stopEdsUpdates(): void {
    this.eds?.unsubscribe();
  }

  /** Stops DNS refreshes and EDS updates and destroys every upstream socket still open (server shutdown). */
  close(): void {
    this.closed = true;
    this.eds?.unsubscribe();
    for (const w of this.edsWaiters.splice(0)) w();
    this.healthChecker?.close();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.resolver?.cancel();
    this.waiting.clear();
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * A host from the load balancer (priority and locality by health, then `lb_policy`; `hashKey` for
   * RING_HASH and MAGLEV), or undefined when the cluster has none to offer. Once per connect attempt.
   */
  chooseHost(context?: TcpChooseHostContext): Host | undefined {
    if (context?.hash !== undefined && context.hashKey === undefined) context = { triedHosts: context.triedHosts, hashKey: context.hash };
    return this.runtimeState.chooseHost(context) as Host | undefined;
  }

  /**
   * Opens a TCP connection to `host` (half-close allowed, TCP_NODELAY as Envoy sets it), failing after
   * `connect_timeout`, with Envoy's TCP connection pool admission:
   * - `max_pending_requests` open: fails at once (`onFailure("overflow")`, synchronously;
   *   `upstream_rq_pending_overflow`). Otherwise the attempt holds a pending slot until it connects or fails.
   * - `max_connections` open: counts `upstream_cx_overflow` and waits (no connect, no timer) until one of
   *   this host's connections closes, unless the host has no connection at all, which Envoy always allows.
   * Counts `upstream_cx_total` / `upstream_cx_active` when the connect starts, `upstream_cx_connect_fail`
   * (and `upstream_cx_connect_timeout`) on failure, and the byte and destroy stats for the connection's life;
   * reports the connect outcome to outlier detection.
   */
  connect(host: Host, handler: UpstreamConnectHandler): PendingConnect {
    const breakers = this.runtimeState.breakers;
    if (!breakers.tryAcquirePending()) {
      handler.onFailure("overflow", host);
      return { cancel() {} };
    }
    const attempt: Attempt = { host, handler, runtime: this.runtimeState, cancel: undefined };
    const open = !breakers.resources().connections.canCreate();
    // Envoy counts the overflow even when it connects anyway (a host without connections).
    if (open) this.stats.upstream_cx_overflow.inc();
    if (!open || host.cxActive === 0) {
      this.startConnect(attempt);
    } else {
      const queue = this.waiting.get(host);
      if (queue) queue.push(attempt);
      else this.waiting.set(host, [attempt]);
    }
    return {
      cancel: () => {
        if (attempt.cancel) return attempt.cancel();
        const queue = this.waiting.get(host);
        const i = queue ? queue.indexOf(attempt) : -1;
        if (i < 0) return;
        queue!.splice(i, 1);
        if (queue!.length === 0) this.waiting.delete(host);
        breakers.releasePending();
      },
    };
  }

  /** Starts the connect of an admitted attempt: takes a connection slot (even above the limit, as Envoy's pool does). */
  private startConnect(attempt: Attempt): void {
    const { host, handler, runtime } = attempt;
    const s = this.stats;
    const breakers = runtime.breakers;
    breakers.resources().connections.inc();
    s.upstream_cx_total.inc();
    s.upstream_cx_active.inc();
    host.cxTotal++;
    host.cxActive++;
    host.activeRequests++;
    const started = performance.now();
    const socket = this.transport.connect(host.address, host.port);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    let settled = false;
    const release = () => {
      s.upstream_cx_active.dec();
      s.upstream_cx_destroy.inc();
      host.cxActive--;
      host.activeRequests--;
      breakers.releaseConnection();
      this.serveWaiting(host);
    };
    const fail = (reason: ConnectFailureReason, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      breakers.releasePending();
      s.upstream_cx_connect_fail.inc();
      if (reason === "timeout") {
        s.upstream_cx_connect_timeout.inc();
        host.cxConnectFail++;
        runtime.onResult(host, { kind: "timeout" });
      } else {
        // onResult counts the host's cx_connect_fail.
        runtime.onResult(host, { kind: "connect_failure" });
      }
      socket.destroy();
      release();
      handler.onFailure(reason, host, error);
    };
    const onError = (err: Error) => fail("connect-fail", err);
    const timer = setTimeout(() => fail("timeout"), this.model.connectTimeoutMs);
    timer.unref();
    socket.on("error", onError);
    socket.once(this.transport.readyEvent, () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      breakers.releasePending();
      // Envoy's LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL, which outlier detection reads as a 200 when local and
      // external errors are not split.
      runtime.onResult(host, { kind: "http", status: 200 });
      s.upstream_cx_connect_ms.record(performance.now() - started);
      const conn = new SocketConnection(socket, { bufferLimit: this.model.perConnectionBufferLimitBytes });
      socket.off("error", onError);
      conn.setConnectionStats({
        readTotal: s.upstream_cx_rx_bytes_total,
        writeTotal: s.upstream_cx_tx_bytes_total,
        writeBuffered: s.upstream_cx_tx_bytes_buffered,
      });
      conn.addConnectionCallbacks({
        onEvent: (event) => {
          if (event === "connected") return;
          release();
          (event === "local-close" ? s.upstream_cx_destroy_local : s.upstream_cx_destroy_remote).inc();
          s.upstream_cx_length_ms.record(performance.now() - conn.startTime);
        },
      });
      handler.onConnected(conn, host);
    });
    attempt.cancel = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      breakers.releasePending();
      socket.destroy();
      release();
      s.upstream_cx_destroy_local.inc();
    };
  }

  /** After one of `host`'s connections closed: starts the attempts waiting for it while the breaker allows. */
  private serveWaiting(host: Host): void {
    const queue = this.waiting.get(host);
    if (!queue) return;
    while (queue.length > 0) {
      const next = queue[0]!;
      if (!next.runtime.breakers.resources().connections.canCreate() && host.cxActive > 0) return;
      queue.shift();
      if (queue.length === 0) this.waiting.delete(host);
      this.startConnect(next);
    }
  }

  /**
   * Applies an EDS assignment: the new host list keeps the hosts that stay (same address, weight,
   * priority and locality; their `health_status` updated), so their connections, stats and health carry
   * over; new hosts of an actively checked cluster start failed_active_hc; the load balancer is rebuilt
   * and the health checker follows the membership. `overprovisioningFactor`: the assignment's policy
   * (undefined: the cluster's own).
   */
  setAssignment(endpoints: readonly EndpointModel[], overprovisioningFactor?: number): void {
    this.edsOverprovisioning = overprovisioningFactor;
    // A host new to an actively checked cluster is failed_active_hc until its first check passes.
    this.runtimeState.setEndpoints(endpoints, overprovisioningFactor, (e) => {
      const h = new Host(e);
      if (this.healthChecker) h.failedActiveHc = true;
      return h;
    });
    this.setHosts(this.runtimeState.hosts as Host[]);
  }

  private async initializeEds(source: EdsSource, service: string): Promise<void> {
    const known = source.current(service);
    if (known) this.onEdsUpdate({ kind: "assignment", assignment: known });
    if (this.edsVersion !== undefined || this.closed) return;
    const timeoutMs = this.model.eds?.initialFetchTimeoutMs ?? 15_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const first = new Promise<boolean>((resolve) => {
      this.edsWaiters.push(() => resolve(true));
      if (timeoutMs > 0) timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const got = await first;
    if (timer) clearTimeout(timer);
    if (!got && !this.closed) {
      this.stats.init_fetch_timeout.inc();
      this.logger.warn(`cluster ${this.name}: no endpoints for EDS service '${service}' within initial_fetch_timeout (${timeoutMs} ms); going on without them`);
    }
  }

  private onEdsUpdate(update: EdsUpdate): void {
    if (this.closed) return;
    const s = this.stats;
    if (update.kind === "rejected") {
      s.update_attempt.inc();
      s.update_rejected.inc();
      return;
    }
    let assignment: EdsAssignment | undefined;
    if (update.kind === "removed") {
      // Before the first assignment, a missing key is not one (the cluster keeps warming).
      if (this.edsVersion === null || this.edsVersion === undefined) return;
      this.edsVersion = null;
    } else {
      assignment = update.assignment;
      if (assignment.version === this.edsVersion) return;
      this.edsVersion = assignment.version;
    }
    const endpoints = assignment?.endpoints ?? [];
    const factor = assignment?.overprovisioningFactor;
    s.update_attempt.inc();
    s.update_success.inc();
    if (endpoints.length === 0) s.update_empty.inc();
    const before = this.currentHosts;
    const same = endpoints.length === before.length && factor === this.edsOverprovisioning
      && endpoints.every((e, i) => before[i]!.sameEndpoint(e) && before[i]!.edsHealthStatus === e.healthStatus);
    if (same) s.update_no_rebuild.inc();
    else {
      this.setAssignment(endpoints, factor);
      this.logger.debug(`cluster ${this.name}: EDS hosts now ${this.currentHosts.map((h) => `${h.addressString}${h.edsHealthStatus ? ` (${h.edsHealthStatus})` : ""}`).join(", ") || "(none)"}`);
    }
    for (const w of this.edsWaiters.splice(0)) w();
  }

  /**
   * Applies a new host list to the runtime in place (its load balancer rebuilt; circuit breakers, outlier
   * detection and attempts in flight carry over; `membership_change` counted there when the set changed);
   * updates the membership gauges and the health checker's hosts.
   */
  private setHosts(hosts: Host[]): void {
    if (this.healthChecker) {
      // A host new to an actively checked cluster is failed_active_hc until its first check passes.
      const known = new Set(this.currentHosts);
      for (const h of hosts) if (!known.has(h)) h.failedActiveHc = true;
    }
    this.currentHosts = hosts;
    if (this.runtimeState.hosts !== hosts) this.runtimeState.setHosts(hosts);
    this.stats.membership_total.set(hosts.length);
    this.stats.membership_healthy.set(hosts.reduce((n, h) => n + (h.healthy ? 1 : 0), 0));
    this.stats.max_host_weight.set(hosts.reduce((m, h) => Math.max(m, h.weight), 0));
    this.healthChecker?.setHosts(hosts);
  }

  private async refresh(): Promise<void> {
    this.stats.update_attempt.inc();
    const family = this.model.dnsLookupFamily;
    const previous = this.currentHosts;
    const next: Host[] = [];
    let failed = false;
    const endpoints = this.model.type === "LOGICAL_DNS" ? this.model.endpoints.slice(0, 1) : this.model.endpoints;
    const results = await Promise.allSettled(endpoints.map((e) => resolveAddresses(e.address, family, this.resolver)));
    if (this.closed) return;
    let ttlMs = Infinity;
    const resolved = (endpoint: EndpointModel, address: string) => new Host({ ...endpoint, address }, endpoint.address);
    endpoints.forEach((endpoint, i) => {
      const result = results[i]!;
      const mine = previous.filter((h) => h.hostname === endpoint.address && h.port === endpoint.port);
      if (result.status === "rejected") {
        failed = true;
        this.logger.warn(`cluster ${this.name}: cannot resolve ${endpoint.address}: ${(result.reason as Error).message}`);
        next.push(...mine);
        return;
      }
      if (result.value.ttlMs !== undefined) ttlMs = Math.min(ttlMs, result.value.ttlMs);
      if (this.model.type === "LOGICAL_DNS") {
        // One logical host following DNS: new connections use the latest answer; open ones are untouched.
        const address = result.value.addresses[0]!;
        next.push(mine[0]?.address === address ? mine[0] : resolved(endpoint, address));
        return;
      }
      for (const address of result.value.addresses) next.push(mine.find((h) => h.address === address) ?? resolved(endpoint, address));
    });
    (failed ? this.stats.update_failure : this.stats.update_success).inc();
    if (next.length === previous.length && next.every((h, i) => h === previous[i])) {
      if (!failed) this.stats.update_no_rebuild.inc();
    } else {
      this.setHosts(next);
      this.logger.debug(`cluster ${this.name}: hosts now ${next.map((h) => h.addressString).join(", ") || "(none)"}`);
    }
    // respect_dns_ttl: the answers' smallest TTL, when they had one above 0.
    this.scheduleRefresh(this.model.respectDnsTtl && ttlMs > 0 && ttlMs !== Infinity ? ttlMs : this.model.dnsRefreshRateMs);
  }

  private scheduleRefresh(delayMs: number): void {
    if (this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, delayMs);
    this.refreshTimer.unref();
  }
}
