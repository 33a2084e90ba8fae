/**
 * A cluster at run time: its hosts (static, or kept fresh by DNS), its load balancer, its stats, and
 * the upstream connect path with `connect_timeout`.
 */
import { connect as netConnect, type Socket } from "node:net";
import type { ClusterModel } from "../../../shared/config/model.ts";
import { createLoadBalancer, type LbContext, type LoadBalancer } from "../../../shared/lb/index.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../../../shared/stats/store.ts";
import { SocketConnection } from "../network/connection.ts";
import { resolveAddresses } from "./dns.ts";
import { Host } from "./host.ts";

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
  };
}

/** Why an upstream connect attempt failed. */
export type ConnectFailureReason = "connect-fail" | "timeout";

/** Receives the outcome of {@link Cluster.connect}; exactly one member is called, once, unless cancelled. */
export interface UpstreamConnectHandler {
  /** The TCP handshake completed. The connection is not started: add a read filter, then `start()` it. */
  onConnected(connection: SocketConnection, host: Host): void;
  /** Refused, reset, unreachable, or `connect_timeout` elapsed. Counted in the cluster's stats already. */
  onFailure(reason: ConnectFailureReason, host: Host, error?: Error): void;
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
  private readonly lb: LoadBalancer<Host>;
  private readonly logger: Logger;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Sockets connecting or connected, so close() can end every one (some outlive their downstream while flushing). */
  private readonly sockets = new Set<Socket>();

  constructor(model: ClusterModel, stats: StatsScope, logger: Logger) {
    this.name = model.name;
    this.model = model;
    this.stats = clusterStats(stats.scope(`cluster.${model.name}.`));
    this.lb = createLoadBalancer<Host>(model.lbPolicy);
    this.logger = logger;
    this.setHosts([]);
  }

  /** The current hosts, in endpoint order (a new array whenever membership changes; do not mutate). */
  get hosts(): readonly Host[] {
    return this.currentHosts;
  }

  /**
   * Sets up the hosts: at once for STATIC; for STRICT_DNS and LOGICAL_DNS after the first resolution
   * (Envoy warms DNS clusters before its listeners start), then again every `dns_refresh_rate`.
   * Never rejects: a failed resolution is logged and counted, and retried at the refresh rate.
   */
  async initialize(): Promise<void> {
    if (this.model.type === "STATIC") {
      this.setHosts(this.model.endpoints.map((e) => new Host(e.address, e.port, e.weight)));
      this.stats.update_attempt.inc();
      this.stats.update_success.inc();
      return;
    }
    await this.refresh();
  }

  /** Stops DNS refreshes and destroys every upstream socket still open (server shutdown). */
  close(): void {
    this.closed = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    for (const socket of this.sockets) socket.destroy();
  }

  /** A host from the load balancer, or undefined when the cluster has none. */
  chooseHost(context?: LbContext<Host>): Host | undefined {
    return this.lb.chooseHost(context);
  }

  /**
   * Opens a TCP connection to `host` (half-close allowed, TCP_NODELAY as Envoy sets it), failing after
   * `connect_timeout`. Counts `upstream_cx_total` / `upstream_cx_active` at once, `upstream_cx_connect_fail`
   * (and `upstream_cx_connect_timeout`) on failure, and the byte and destroy stats for the connection's life.
   */
  connect(host: Host, handler: UpstreamConnectHandler): PendingConnect {
    const s = this.stats;
    s.upstream_cx_total.inc();
    s.upstream_cx_active.inc();
    host.cxTotal++;
    host.cxActive++;
    const started = performance.now();
    const socket = netConnect({ host: host.address, port: host.port, allowHalfOpen: true, noDelay: true });
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    let settled = false;
    const release = () => {
      s.upstream_cx_active.dec();
      s.upstream_cx_destroy.inc();
      host.cxActive--;
    };
    const fail = (reason: ConnectFailureReason, error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (reason === "timeout") s.upstream_cx_connect_timeout.inc();
      s.upstream_cx_connect_fail.inc();
      host.cxConnectFail++;
      socket.destroy();
      release();
      handler.onFailure(reason, host, error);
    };
    const onError = (err: Error) => fail("connect-fail", err);
    const timer = setTimeout(() => fail("timeout"), this.model.connectTimeoutMs);
    timer.unref();
    socket.on("error", onError);
    socket.once("connect", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
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
    return {
      cancel: () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        release();
        s.upstream_cx_destroy_local.inc();
      },
    };
  }

  /** Swaps in a new host list (and a freshly built load balancer schedule) and updates membership gauges. */
  private setHosts(hosts: Host[]): void {
    this.currentHosts = hosts;
    this.lb.build(hosts);
    this.stats.membership_total.set(hosts.length);
    this.stats.membership_healthy.set(hosts.length);
    this.stats.max_host_weight.set(hosts.reduce((m, h) => Math.max(m, h.weight), 0));
  }

  private async refresh(): Promise<void> {
    this.stats.update_attempt.inc();
    const family = this.model.dnsLookupFamily;
    const previous = this.currentHosts;
    const next: Host[] = [];
    let failed = false;
    const endpoints = this.model.type === "LOGICAL_DNS" ? this.model.endpoints.slice(0, 1) : this.model.endpoints;
    const results = await Promise.allSettled(endpoints.map((e) => resolveAddresses(e.address, family)));
    if (this.closed) return;
    endpoints.forEach((endpoint, i) => {
      const result = results[i]!;
      const mine = previous.filter((h) => h.hostname === endpoint.address && h.port === endpoint.port);
      if (result.status === "rejected") {
        failed = true;
        this.logger.warn(`cluster ${this.name}: cannot resolve ${endpoint.address}: ${(result.reason as Error).message}`);
        next.push(...mine);
        return;
      }
      if (this.model.type === "LOGICAL_DNS") {
        // One logical host whose address follows DNS: new connections use the latest answer.
        const address = result.value[0]!;
        const host = mine[0] ?? new Host(address, endpoint.port, endpoint.weight, endpoint.address);
        host.address = address;
        next.push(host);
        return;
      }
      for (const address of result.value) {
        next.push(mine.find((h) => h.address === address) ?? new Host(address, endpoint.port, endpoint.weight, endpoint.address));
      }
    });
    (failed ? this.stats.update_failure : this.stats.update_success).inc();
    if (next.length === previous.length && next.every((h, i) => h === previous[i])) {
      if (!failed) this.stats.update_no_rebuild.inc();
    } else {
      this.stats.membership_change.inc();
      this.setHosts(next);
      this.logger.debug(`cluster ${this.name}: hosts now ${next.map((h) => h.addressString).join(", ") || "(none)"}`);
    }
    this.scheduleRefresh();
  }

  private scheduleRefresh(): void {
    if (this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, this.model.dnsRefreshRateMs);
    this.refreshTimer.unref();
  }
}
