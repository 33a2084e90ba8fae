/**
 * A bound UDP listener (`address.socket_address.protocol: UDP`): one datagram socket at the configured
 * address, its listener filter (the udp_proxy) fed every datagram, and Envoy's UDP listener stats
 * (`listener.<address>_<port>.udp.*`). IPv6 addresses are bound IPv6-only, as the TCP listeners are.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { ListenerModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Counter } from "../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../extensions.ts";
import { createUdpProxyFactory, type UdpProxyFactory } from "../extensions/filters/udp/udp_proxy/config.ts";
import { TcpTierError } from "../network/errors.ts";

/** How a UDP listener filter answers: through the listener's own socket. */
export interface UdpListenerWriter {
  /** The bound address (the destination of every datagram the listener receives). */
  readonly localAddress: { address: string; port: number };
  /** Sends one datagram to a downstream peer; `done` gets the send error, if any. */
  send(data: Uint8Array, port: number, address: string, done: (err: Error | null) => void): void;
}

/** A UDP listener filter (Envoy's `Network::UdpListenerReadFilter`), one per bound listener. */
export interface UdpListenerFilter {
  /** Called for every datagram that passed the listener's size check, in arrival order. Synchronous. */
  onData(data: Buffer, peer: RemoteInfo): void;
  /** Called when the listener socket reports a receive error (the socket stays open). */
  onReceiveError(): void;
  /** Called once when the listener closes: end every session and release its sockets. */
  close(): void;
}

export class UdpListener {
  readonly model: ListenerModel;
  /** The address actually bound (the port is the kernel's choice when `port_value` is 0). */
  boundAddress: { address: string; port: number } | undefined;
  /** The running filter, once bound. */
  filter: UdpListenerFilter | undefined;
  private socket: Socket | undefined;
  private readonly factory: UdpProxyFactory | undefined;
  private readonly maxRxDatagramSize: number;
  private readonly dropped: Counter;
  private readonly logger: Logger;

  /** Builds the listener filter's factory once; throws `LEGATE_UNSUPPORTED_IN_TCP_TIER` for a listener that was not compiled as UDP. */
  constructor(model: ListenerModel, context: NetworkFilterFactoryContext) {
    if (!model.udp) throw new TcpTierError("LEGATE_UNSUPPORTED_IN_TCP_TIER", `listener "${model.name}": a UDP listener without a compiled udp_listener_config`);
    this.model = model;
    this.maxRxDatagramSize = model.udp.maxRxDatagramSize;
    this.factory = model.udp.proxy ? createUdpProxyFactory(model.udp.proxy, context) : undefined;
    this.dropped = context.stats.scope(model.statPrefix).counter("udp.downstream_rx_datagram_dropped");
    this.logger = context.logger;
  }

  /** Binds the address; rejects with `LEGATE_BIND_FAILED`. */
  async bind(): Promise<void> {
    const { address, port } = this.model.address;
    const v6 = isIPv6(address);
    const socket = createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6 });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.socket = undefined;
        socket.close();
        reject(new TcpTierError("LEGATE_BIND_FAILED", `listener "${this.model.name}" cannot bind ${address}:${port}/udp: ${err.message}`, { cause: err }));
      };
      socket.once("error", onError);
      socket.bind({ address, port }, () => {
        socket.off("error", onError);
        resolve();
      });
    });
    const a = socket.address();
    this.boundAddress = { address: a.address, port: a.port };
    const local = this.boundAddress;
    this.filter = this.factory?.({
      localAddress: local,
      send: (data, p, addr, done) => socket.send(data, p, addr, done),
    });
    socket.on("error", (err) => {
      this.filter?.onReceiveError();
      this.logger.warn(`listener "${this.model.name}": ${err.message}`);
    });
    socket.on("message", (msg, rinfo) => {
      // Envoy reads at most max_rx_datagram_size bytes; a larger datagram would be truncated, so it is dropped.
      if (msg.length > this.maxRxDatagramSize) {
        this.dropped.inc();
        return;
      }
      this.filter?.onData(msg, rinfo);
    });
  }

  /** Ends every session and closes the socket. */
  async close(): Promise<void> {
    this.filter?.close();
    this.filter = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
