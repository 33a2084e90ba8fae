/**
 * The udp_proxy at run time, one per bound UDP listener: a session per downstream address (IP and port),
 * each with its own upstream socket, so replies find their way back. A session picks its cluster with the
 * route matcher and its host with the cluster's load balancer when its first datagram arrives, and keeps
 * the host for its life (unless `use_per_packet_load_balancing`). It ends after `idle_timeout` without a
 * datagram in either direction.
 *
 * UDP has no backpressure: nothing is queued here. A datagram that cannot be routed, has no host, fails
 * to send, or is larger than the receiving socket's `max_rx_datagram_size` is dropped and counted.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIP, isIPv6 } from "node:net";
import { parseIp } from "../../../../../../shared/config/compile-listener.ts";
import { xxHash64 } from "../../../../../../shared/lb/index.ts";
import type { Logger } from "../../../../../../shared/log.ts";
import type { UdpListenerFilter, UdpListenerWriter } from "../../../../udp/udp-listener.ts";
import type { Host } from "../../../../upstream/host.ts";
import type { UdpProxyConfig, UdpRouteTarget } from "./config.ts";

/** The same IP written two ways (`::1` and `0:0::1`); only reached when the texts differ. */
function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.bytes.length === y.bytes.length && x.bytes.every((v, i) => v === y.bytes[i]);
}

class Session {
  /** Upstream sockets by address family (two only when per-packet balancing meets a mixed-family cluster). */
  private readonly sockets = new Map<4 | 6, Socket>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastActivity = performance.now();
  closed = false;
  private readonly proxy: UdpProxyFilter;
  readonly key: string;
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly target: UdpRouteTarget;
  /** The session's host; undefined with per-packet load balancing. */
  private readonly host: Host | undefined;
  private readonly hash: bigint | undefined;

  /** Gives back the session's circuit-breaker slot; called once, on close. */
  private readonly release: () => void;

  constructor(proxy: UdpProxyFilter, key: string, peer: RemoteInfo, target: UdpRouteTarget, host: Host | undefined, hash: bigint | undefined, release: () => void) {
    this.proxy = proxy;
    this.release = release;
    this.key = key;
    this.peerAddress = peer.address;
    this.peerPort = peer.port;
    this.target = target;
    this.host = host;
    this.hash = hash;
    this.armIdle();
  }

  /** Forwards one downstream datagram upstream. */
  send(data: Buffer): void {
    this.lastActivity = performance.now();
    const host = this.host ?? this.target.cluster.chooseHost(this.hash === undefined ? undefined : { hashKey: this.hash });
    const ts = this.target.stats;
    if (!host) {
      ts.upstream_cx_none_healthy.inc();
      return;
    }
    const socket = this.socketFor(isIPv6(host.address) ? 6 : 4);
    socket.send(data, host.port, host.address, (err) => {
      if (err) ts.sess_tx_errors.inc();
      else ts.sess_tx_datagrams.inc();
    });
  }

  private socketFor(family: 4 | 6): Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = createSocket({ type: family === 6 ? "udp6" : "udp4" });
    const ts = this.target.stats;
    s.on("error", () => ts.sess_rx_errors.inc());
    s.on("message", (msg, rinfo) => this.onUpstreamDatagram(msg, rinfo));
    this.sockets.set(family, s);
    return s;
  }

  private onUpstreamDatagram(msg: Buffer, from: RemoteInfo): void {
    if (this.closed) return;
    // Envoy's session socket is connected to its host, so the kernel drops anything else; this socket is
    // not (per-packet balancing sends to several hosts), so a sticky session drops strangers itself.
    const h = this.host;
    if (h && (from.port !== h.port || (from.address !== h.address && isIP(h.address) !== 0 && !sameIp(from.address, h.address)))) return;
    const ts = this.target.stats;
    if (msg.length > this.proxy.config.model.upstreamMaxRxDatagramSize) {
      ts.sess_rx_datagrams_dropped.inc();
      return;
    }
    this.lastActivity = performance.now();
    ts.sess_rx_datagrams.inc();
    this.proxy.sendDownstream(msg, this.peerPort, this.peerAddress);
  }

  /**
   * One timer per session, re-armed only when it fires: activity just moves `lastActivity`, so a busy
   * session costs no timer work per datagram.
   */
  private armIdle(): void {
    const idle = this.proxy.config.model.idleTimeoutMs;
    if (idle <= 0) return;
    const wait = Math.max(1, this.lastActivity + idle - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      if (performance.now() - this.lastActivity >= idle) {
        this.proxy.config.stats.idle_timeout.inc();
        this.proxy.endSession(this);
      } else {
        this.armIdle();
      }
    }, wait);
    this.timer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

export class UdpProxyFilter implements UdpListenerFilter {
  readonly config: UdpProxyConfig;
  private readonly writer: UdpListenerWriter;
  private readonly logger: Logger;
  private readonly sessions = new Map<string, Session>();

  constructor(config: UdpProxyConfig, writer: UdpListenerWriter, logger: Logger) {
    this.config = config;
    this.writer = writer;
    this.logger = logger;
  }

  /** Open sessions (tests, admin). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  onData(data: Buffer, peer: RemoteInfo): void {
    const s = this.config.stats;
    s.downstream_sess_rx_datagrams.inc();
    s.downstream_sess_rx_bytes.inc(data.length);
    const key = `${peer.address}|${peer.port}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = this.newSession(key, peer);
      if (!session) return;
    }
    session.send(data);
  }

  private newSession(key: string, peer: RemoteInfo): Session | undefined {
    const { model, stats, route } = this.config;
    const local = this.writer.localAddress;
    const target = route({ sourceIp: peer.address, sourcePort: peer.port, destinationIp: local.address, destinationPort: local.port });
    if (!target) {
      stats.downstream_sess_no_route.inc();
      return undefined;
    }
    const hp = model.hashPolicy;
    const hash = hp === undefined ? undefined : xxHash64(hp.kind === "source_ip" ? peer.address : hp.key);
    let host: Host | undefined;
    if (!model.perPacketLoadBalancing) {
      host = target.cluster.chooseHost(hash === undefined ? undefined : { hashKey: hash });
      if (!host) {
        target.stats.upstream_cx_none_healthy.inc();
        return undefined;
      }
    }
    // Each session holds one of the cluster's `max_connections` slots, as in Envoy (overflow is counted
    // in `upstream_cx_overflow` by the breakers and the datagram dropped).
    const breakers = target.cluster.runtime.breakers;
    if (!breakers.tryAcquireConnection()) return undefined;
    const session = new Session(this, key, peer, target, host, hash, () => breakers.releaseConnection());
    this.sessions.set(key, session);
    stats.downstream_sess_total.inc();
    stats.downstream_sess_active.inc();
    this.logger.debug(`udp_proxy ${model.statPrefix}: new session from ${peer.address}:${peer.port} to cluster ${target.cluster.name}`);
    return session;
  }

  /** Sends a reply to the downstream peer through the listener's socket. */
  sendDownstream(data: Buffer, port: number, address: string): void {
    const s = this.config.stats;
    this.writer.send(data, port, address, (err) => {
      if (err) {
        s.downstream_sess_tx_errors.inc();
        return;
      }
      s.downstream_sess_tx_datagrams.inc();
      s.downstream_sess_tx_bytes.inc(data.length);
    });
  }

  endSession(session: Session): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    session.close();
    this.config.stats.downstream_sess_active.dec();
  }

  onReceiveError(): void {
    this.config.stats.downstream_sess_rx_errors.inc();
  }

  close(): void {
    for (const session of [...this.sessions.values()]) this.endSession(session);
  }
}
