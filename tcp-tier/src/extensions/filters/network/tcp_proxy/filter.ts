/**
 * envoy.filters.network.tcp_proxy, per-connection half: picks a host through the cluster's load
 * balancer, connects within `connect_timeout`, then moves bytes both ways.
 *
 * Flow control (why this file has no pipes): each direction is a plain `write()` to the other side's
 * {@link Connection}. When that side's socket write buffer passes its high watermark (its
 * `per_connection_buffer_limit_bytes`), reading from the side that feeds it stops
 * (`readDisable(true)`); it resumes once the buffer is at half or less. Bytes read before the upstream
 * connects are kept here, up to the downstream's buffer limit, with reading paused beyond it.
 *
 * Half-close: a FIN from either side arrives as `endStream` and is written on as a FIN to the other;
 * each socket closes once both of its directions are done, and a close of either side closes the other
 * after flushing what is buffered for it.
 *
 * Connect attempts: up to `max_connect_attempts`, each to a host not tried yet when the cluster has one.
 * A refused, reset or timed-out connect (flag UF) or an open circuit breaker (UO) uses an attempt; when
 * none is left, `upstream_cx_connect_attempts_exceeded` is counted and the client closed. No cluster
 * (NC) or no host (UH) closes the client at once. The access log entry is written when the client's
 * connection closes.
 */
import type { AccessLogRecord } from "../../../../../../shared/access-log/record.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent, ConnectionStats, ReadFilter, ReadFilterCallbacks, FilterStatus } from "../../../../network/filter.ts";
import type { SocketConnection } from "../../../../network/connection.ts";
import { EMPTY } from "../../../../network/filter-manager.ts";
import type { Cluster, ConnectFailureReason, PendingConnect, UpstreamConnectHandler } from "../../../../upstream/cluster.ts";
import type { Host } from "../../../../upstream/host.ts";
import { pickTarget, type TcpProxyConfig } from "./config.ts";

/** `ip:port`, IPv6 in brackets. */
function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

export class TcpProxyFilter implements ReadFilter, UpstreamConnectHandler {
  private readonly config: TcpProxyConfig;
  private downstream!: Connection;
  /** The cluster this connection goes to (weighted clusters: drawn once per connection). */
  private cluster: Cluster | undefined;
  private clusterName = "";
  private host: Host | undefined;
  private readonly flags: string[] = [];
  private bytesReceived = 0;
  private bytesSent = 0;
  private durationTimer: ReturnType<typeof setTimeout> | undefined;
  private upstream: SocketConnection | undefined;
  private pending: PendingConnect | undefined;
  private triedHosts: Set<Host> | undefined;
  private attempts = 0;
  /** Downstream bytes read before the upstream connected. */
  private early: Uint8Array[] = [];
  private earlyBytes = 0;
  private earlyEnd = false;
  private earlyPaused = false;
  /** True while this filter holds a readDisable on the upstream because the downstream is backed up. */
  private upstreamPaused = false;
  /** True while this filter holds a readDisable on the downstream because the upstream is backed up. */
  private downstreamPaused = false;
  private downstreamClosed = false;
  private flushing = false;

  constructor(config: TcpProxyConfig) {
    this.config = config;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.downstream = callbacks.connection;
    const s = this.config.stats;
    const stats: ConnectionStats = this.config.accessLogs
      ? {
          // Per-connection byte counts only when an access log needs them.
          readTotal: { inc: (by: number) => (s.downstream_cx_rx_bytes_total.inc(by), (this.bytesReceived += by)) },
          writeTotal: { inc: (by: number) => (s.downstream_cx_tx_bytes_total.inc(by), (this.bytesSent += by)) },
          writeBuffered: s.downstream_cx_tx_bytes_buffered,
        }
      : { readTotal: s.downstream_cx_rx_bytes_total, writeTotal: s.downstream_cx_tx_bytes_total, writeBuffered: s.downstream_cx_tx_bytes_buffered };
    this.downstream.setConnectionStats(stats);
    this.downstream.addConnectionCallbacks(this.downstreamCallbacks);
  }

  onNewConnection(): FilterStatus {
    const s = this.config.stats;
    s.downstream_cx_total.inc();
    if (this.config.idleTimeoutMs > 0) {
      this.downstream.setIdleTimeout(this.config.idleTimeoutMs, () => s.idle_timeout.inc());
    }
    const maxDuration = this.config.maxDownstreamConnectionDurationMs;
    if (maxDuration > 0) {
      this.durationTimer = setTimeout(() => {
        this.durationTimer = undefined;
        if (this.downstreamClosed) return;
        s.max_downstream_connection_duration.inc();
        this.flags.push("DT");
        this.downstream.close("no-flush");
      }, maxDuration);
      this.durationTimer.unref();
    }
    const target = pickTarget(this.config);
    this.cluster = target.cluster;
    this.clusterName = target.name;
    this.connectNext();
    return "stop";
  }

  onData(data: Uint8Array, endStream: boolean): FilterStatus {
    if (this.upstream) {
      this.upstream.write(data, endStream);
      return "stop";
    }
    if (data.length > 0) {
      this.early.push(data);
      this.earlyBytes += data.length;
      this.config.stats.downstream_cx_rx_bytes_buffered.inc(data.length);
    }
    if (endStream) this.earlyEnd = true;
    const limit = this.downstream.bufferLimit;
    if (!this.earlyPaused && limit > 0 && this.earlyBytes > limit) {
      this.earlyPaused = true;
      this.downstream.readDisable(true);
    }
    return "stop";
  }

  /**
   * Switches the upstream connection to TLS (postgres_proxy `upstream_ssl`): possible once connected, when
   * the cluster's transport socket is starttls. Bytes written meanwhile go out encrypted after the handshake.
   */
  startUpstreamSecureTransport(onDone?: (ok: boolean) => void): boolean {
    return this.upstream?.startSecureTransport(undefined, onDone) ?? false;
  }

  private connectNext(): void {
    const cluster = this.cluster;
    if (!cluster) {
      this.config.stats.downstream_cx_no_route.inc();
      this.flags.push("NC");
      this.downstream.close("no-flush");
      return;
    }
    // Runtime `upstream.maintenance_mode.<cluster>`: this share of new connections is refused (UO), as
    // Envoy's router refuses requests; decided once per connection.
    if (this.attempts === 0 && cluster.runtime.maintenanceMode(Math.floor(Math.random() * 2 ** 53))) {
      this.flags.push("UO");
      this.downstream.close("no-flush");
      return;
    }
    const hashKey = this.config.hashSourceIp ? this.downstream.remoteAddress : undefined;
    const host = cluster.chooseHost(this.triedHosts || hashKey !== undefined ? { triedHosts: this.triedHosts, hashKey } : undefined);
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.inc();
      this.flags.push("UH");
      this.downstream.close("no-flush");
      return;
    }
    const attempt = ++this.attempts;
    this.host = host;
    const pending = cluster.connect(host, this);
    // An open circuit breaker fails the attempt synchronously (and may have started the next one).
    if (this.attempts === attempt && !this.downstreamClosed && !this.upstream) this.pending = pending;
  }

  onFailure(reason: ConnectFailureReason, host: Host): void {
    this.pending = undefined;
    if (this.downstreamClosed) return;
    const flag = reason === "overflow" ? "UO" : "UF";
    if (!this.flags.includes(flag)) this.flags.push(flag);
    if (this.attempts < this.config.maxConnectAttempts) {
      (this.triedHosts ??= new Set()).add(host);
      this.connectNext();
      return;
    }
    if (this.config.maxConnectAttempts > 1) this.cluster?.stats.upstream_cx_connect_attempts_exceeded.inc();
    this.dropEarly();
    this.downstream.close("no-flush");
  }

  onConnected(upstream: SocketConnection): void {
    this.pending = undefined;
    if (this.downstreamClosed) {
      upstream.close("no-flush");
      return;
    }
    this.upstream = upstream;
    const downstream = this.downstream;
    upstream.filterManager.addReadFilter({
      initializeReadFilterCallbacks() {},
      onData(data: Uint8Array, endStream: boolean): FilterStatus {
        downstream.write(data, endStream);
        return "stop";
      },
    });
    upstream.addConnectionCallbacks(this.upstreamCallbacks);
    upstream.start();
    if (downstream.aboveHighWatermark) this.pauseUpstream();
    const early = this.early;
    const earlyEnd = this.earlyEnd;
    this.dropEarly();
    for (const chunk of early) upstream.write(chunk, false);
    if (earlyEnd) upstream.write(EMPTY, true);
  }

  private dropEarly(): void {
    this.config.stats.downstream_cx_rx_bytes_buffered.dec(this.earlyBytes);
    this.early = [];
    this.earlyBytes = 0;
    this.earlyEnd = false;
    if (this.earlyPaused) {
      this.earlyPaused = false;
      this.downstream.readDisable(false);
    }
  }

  private pauseUpstream(): void {
    if (this.upstreamPaused || !this.upstream) return;
    this.upstreamPaused = true;
    this.upstream.readDisable(true);
    this.cluster?.stats.upstream_flow_control_paused_reading_total.inc();
  }

  /** Writes this connection's access log entry (once, when the client's connection closes). */
  private log(): void {
    const d = this.downstream;
    const now = performance.now();
    const record: AccessLogRecord = {
      startTime: Date.now() - (now - d.startTime),
      durationMs: now - d.startTime,
      remoteAddress: hostPort(d.remoteAddress, d.remotePort),
      directRemoteAddress: hostPort(d.directRemoteAddress, d.directRemotePort),
      localAddress: hostPort(d.localAddress, d.localPort),
      requestedServerName: d.info.requestedServerName,
      downstreamPeerSubject: d.info.tls?.peerCertificate?.subject,
      connectionId: d.id,
      responseCode: 0,
      responseFlags: this.flags,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      upstreamHost: this.host?.hostPort,
      upstreamCluster: this.clusterName || undefined,
    };
    this.config.accessLogs!.log(record);
  }

  private readonly downstreamCallbacks: ConnectionCallbacks = {
    onEvent: (event: ConnectionEvent) => {
      if (event === "connected") return;
      this.downstreamClosed = true;
      if (this.durationTimer) clearTimeout(this.durationTimer);
      this.dropEarly();
      if (this.config.accessLogs) this.log();
      this.pending?.cancel();
      this.pending = undefined;
      const upstream = this.upstream;
      if (!upstream || upstream.state === "closed") return;
      if (event === "remote-close" && upstream.writeBufferedBytes > 0) {
        // The client is gone but bytes it sent are still on their way upstream: let them drain.
        this.flushing = true;
        this.config.stats.upstream_flush_total.inc();
        this.config.stats.upstream_flush_active.inc();
      }
      upstream.close(event === "remote-close" ? "flush-write" : "no-flush");
    },
    onAboveWriteBufferHighWatermark: () => this.pauseUpstream(),
    onBelowWriteBufferLowWatermark: () => {
      if (!this.upstreamPaused || !this.upstream) return;
      this.upstreamPaused = false;
      this.upstream.readDisable(false);
      this.cluster?.stats.upstream_flow_control_resumed_reading_total.inc();
    },
  };

  private readonly upstreamCallbacks: ConnectionCallbacks = {
    onEvent: (event: ConnectionEvent) => {
      if (event === "connected") return;
      if (this.flushing) {
        this.flushing = false;
        this.config.stats.upstream_flush_active.dec();
      }
      if (!this.downstreamClosed) this.downstream.close("flush-write");
    },
    onAboveWriteBufferHighWatermark: () => {
      if (this.downstreamPaused) return;
      this.downstreamPaused = true;
      this.downstream.readDisable(true);
      this.config.stats.downstream_flow_control_paused_reading_total.inc();
      this.cluster?.stats.upstream_flow_control_backed_up_total.inc();
    },
    onBelowWriteBufferLowWatermark: () => {
      if (!this.downstreamPaused) return;
      this.downstreamPaused = false;
      this.downstream.readDisable(false);
      this.config.stats.downstream_flow_control_resumed_reading_total.inc();
      this.cluster?.stats.upstream_flow_control_drained_total.inc();
    },
  };
}
