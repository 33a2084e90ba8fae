/**
 * Binds the tcp tier's TCP listeners, chooses a filter chain for each accepted connection, builds its
 * filters and counts Envoy's listener stats (`listener.<address>_<port>.*`).
 */
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import type { FilterChainModel, ListenerModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../../../shared/stats/store.ts";
import { listenerFilterBuilder, networkFilterBuilder, networkFilterExtensionName, registeredNetworkFilters, type NetworkFilterFactoryContext } from "../extensions.ts";
import { SocketConnection } from "../network/connection.ts";
import { TcpTierError } from "../network/errors.ts";
import { UdpListener } from "../udp/udp-listener.ts";
import type { ConnectionInfo } from "../network/filter.ts";
import { type CompiledFilterChain, compileFilterChainSelector, type FilterChainSelector } from "./filter-chain.ts";
import type { ListenerFilterFactory, ListenerFilterState } from "./listener-filter.ts";
import { runListenerFilters } from "./listener-filter-runner.ts";
import { setStartTls } from "../tls/starttls.ts";
import { createDownstreamTransportSocket } from "../tls/transport-socket.ts";

interface ListenerStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_destroy: Counter;
  downstream_cx_length_ms: Histogram;
  no_filter_chain_match: Counter;
  downstream_pre_cx_timeout: Counter;
  downstream_pre_cx_active: Gauge;
  downstream_listener_filter_remote_close: Counter;
  downstream_listener_filter_error: Counter;
}

/** One bound listener. */
export class ActiveListener {
  readonly model: ListenerModel;
  readonly chains: CompiledFilterChain[];
  readonly defaultChain: CompiledFilterChain | undefined;
  readonly stats: ListenerStats;
  /** The address actually bound (the port is the kernel's choice when `port_value` is 0). */
  boundAddress: { address: string; port: number } | undefined;
  private server: Server | undefined;
  private readonly connections = new Set<SocketConnection>();
  private readonly totalConnections: Gauge;
  private readonly logger: Logger;
  /** Chain lookup, compiled once (filter-chain.ts). */
  private readonly selector: FilterChainSelector;
  /** Listener filter factories in config order (built once per listener). */
  private readonly listenerFilters: ListenerFilterFactory[];
  /** Sockets still in their listener filters: each entry aborts one. */
  private readonly pending = new Set<() => void>();

  constructor(model: ListenerModel, chains: CompiledFilterChain[], defaultChain: CompiledFilterChain | undefined, stats: StatsScope, logger: Logger) {
    this.model = model;
    this.chains = chains;
    this.defaultChain = defaultChain;
    this.selector = compileFilterChainSelector(chains, defaultChain);
    this.listenerFilters = (model.tcpListenerFilters ?? []).map((f) => {
      const builder = listenerFilterBuilder(f);
      if (!builder) throw new TcpTierError("LEGATE_UNSUPPORTED_IN_TCP_TIER", `listener "${model.name}": listener filter ${f.name} is not available in the tcp tier`);
      return builder(f, stats);
    });
    const scope = stats.scope(model.statPrefix);
    this.stats = {
      downstream_cx_total: scope.counter("downstream_cx_total"),
      downstream_cx_active: scope.gauge("downstream_cx_active"),
      downstream_cx_destroy: scope.counter("downstream_cx_destroy"),
      downstream_cx_length_ms: scope.histogram("downstream_cx_length_ms"),
      no_filter_chain_match: scope.counter("no_filter_chain_match"),
      downstream_pre_cx_timeout: scope.counter("downstream_pre_cx_timeout"),
      downstream_pre_cx_active: scope.gauge("downstream_pre_cx_active"),
      downstream_listener_filter_remote_close: scope.counter("downstream_listener_filter_remote_close"),
      downstream_listener_filter_error: scope.counter("downstream_listener_filter_error"),
    };
    this.totalConnections = stats.gauge("server.total_connections");
    this.logger = logger;
  }

  /** Binds the address; rejects with `LEGATE_BIND_FAILED`. */
  async bind(): Promise<void> {
    const { address, port } = this.model.address;
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onAccept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        reject(new TcpTierError("LEGATE_BIND_FAILED", `listener "${this.model.name}" cannot bind ${address}:${port}: ${err.message}`, { cause: err }));
      };
      server.once("error", onError);
      // Envoy's IPv6 listeners are IPv6-only unless ipv4_compat is set (not supported yet).
      server.listen({ host: address, port, ipv6Only: isIPv6(address) }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.logger.error(`listener "${this.model.name}": ${err.message}`));
    const a = server.address();
    if (a && typeof a === "object") this.boundAddress = { address: a.address, port: a.port };
  }

  /** Stops accepting and closes every connection without flushing. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const abort of [...this.pending]) abort();
    for (const c of this.connections) c.close("no-flush");
    if (!server || !server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Open downstream connections (for tests and draining). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Sockets in their listener filters (for tests and draining). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Runs the listener filters (if any), then {@link onFiltersDone}. */
  private onAccept(socket: Socket): void {
    if (this.listenerFilters.length === 0) {
      this.onFiltersDone(socket, { socket, transportProtocol: "raw_buffer", applicationProtocols: [] }, undefined);
      return;
    }
    let settled = false;
    let abort: (() => void) | undefined = undefined;
    abort = runListenerFilters(socket, {
      factories: this.listenerFilters,
      timeoutMs: this.model.listenerFiltersTimeoutMs ?? 15_000,
      continueOnTimeout: this.model.continueOnListenerFiltersTimeout ?? false,
      stats: {
        timeout: this.stats.downstream_pre_cx_timeout,
        active: this.stats.downstream_pre_cx_active,
        remoteClose: this.stats.downstream_listener_filter_remote_close,
        error: this.stats.downstream_listener_filter_error,
      },
      // Either may run before runListenerFilters returns (`abort` is then not assigned yet).
      onDone: (state, head) => {
        settled = true;
        if (abort) this.pending.delete(abort);
        this.onFiltersDone(socket, state, head);
      },
      onClosed: () => {
        settled = true;
        if (abort) this.pending.delete(abort);
      },
    });
    if (!settled) this.pending.add(abort);
  }

  /**
   * Chooses the chain from what the listener filters learned and builds the connection. `head` (the
   * bytes the filters read and did not consume; the socket is then paused) goes to the chain's transport
   * socket, or back into the socket to be read again, byte-exact.
   */
  private onFiltersDone(socket: Socket, state: ListenerFilterState, head: Uint8Array | undefined): void {
    const localAddress = state.local?.address ?? socket.localAddress ?? "";
    const destinationPort = state.local?.port ?? socket.localPort ?? 0;
    const chain = this.selector.select({
      destinationPort,
      localAddress,
      remoteAddress: state.remote?.address ?? socket.remoteAddress ?? "",
      remotePort: state.remote?.port ?? socket.remotePort ?? 0,
      directRemoteAddress: socket.remoteAddress ?? "",
      serverName: state.requestedServerName,
      transportProtocol: state.transportProtocol,
      applicationProtocols: state.applicationProtocols,
    });
    if (!chain) {
      this.stats.no_filter_chain_match.inc();
      this.logger.debug(`listener "${this.model.name}": no filter chain matches a connection from ${socket.remoteAddress}:${socket.remotePort}`);
      socket.destroy();
      return;
    }
    const info: ConnectionInfo = {
      transportProtocol: state.transportProtocol,
      applicationProtocols: state.applicationProtocols,
      filterChainName: chain.model.name,
      ...(state.requestedServerName !== undefined ? { requestedServerName: state.requestedServerName } : {}),
    };
    const transportSocket = chain.transportSocket;
    if (transportSocket && chain.model.transportSocket?.startTls) {
      // envoy.transport_sockets.starttls: clear text until a filter calls startSecureTransport().
      setStartTls(socket, (plain, tlsHead, done) => transportSocket.accept(plain, tlsHead, info, done));
    } else if (transportSocket) {
      const remote = state.remote ?? { address: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
      const local = state.local ?? { address: socket.localAddress ?? "", port: socket.localPort ?? 0 };
      // A socket in its TLS handshake is not a connection yet: close() must still be able to end it.
      const abortHandshake = () => socket.destroy();
      this.pending.add(abortHandshake);
      transportSocket.accept(socket, head ?? new Uint8Array(0), info, (err, tls) => {
        this.pending.delete(abortHandshake);
        if (err || !tls) {
          this.logger.debug(`listener "${this.model.name}": TLS handshake with ${remote.address}:${remote.port} failed: ${err?.message ?? "no socket"}`);
          socket.destroy();
          return;
        }
        this.startConnection(tls, chain, info, remote, local, false);
      });
      return;
    }
    if (head && head.length) socket.unshift(head);
    this.startConnection(socket, chain, info, state.remote, state.local, head !== undefined);
  }

  /** Builds the chain's filters on a new connection and starts it; `resume`: the socket was paused for the listener filters. */
  private startConnection(
    socket: Socket,
    chain: CompiledFilterChain,
    info: ConnectionInfo,
    remote: { address: string; port: number } | undefined,
    local: { address: string; port: number } | undefined,
    resume: boolean,
  ): void {
    const conn = new SocketConnection(socket, { bufferLimit: this.model.perConnectionBufferLimitBytes, info, ...(remote ? { remote } : {}), ...(local ? { local } : {}) });
    this.stats.downstream_cx_total.inc();
    this.stats.downstream_cx_active.inc();
    this.totalConnections.inc();
    this.connections.add(conn);
    conn.addConnectionCallbacks({
      onEvent: (event) => {
        if (event === "connected") return;
        this.connections.delete(conn);
        this.stats.downstream_cx_active.dec();
        this.stats.downstream_cx_destroy.inc();
        this.stats.downstream_cx_length_ms.record(performance.now() - conn.startTime);
        this.totalConnections.dec();
      },
    });
    for (const factory of chain.factories) factory(conn.filterManager, conn);
    if (!conn.filterManager.hasReadFilters) {
      conn.close("no-flush");
      return;
    }
    conn.start();
    if (resume && conn.readEnabled && conn.state === "open") socket.resume();
  }

  // --- Draining and hot reload (tcp-tier/src/reload/) ---

  /** True while the listen socket is open (false after {@link stopAccepting} or {@link close}). */
  get accepting(): boolean {
    return this.server?.listening === true;
  }

  /** Closes the listen socket (new connections are refused at once); open connections carry on. */
  async stopAccepting(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // close() releases the listen socket synchronously; its callback would wait for every connection.
    if (server?.listening) server.close();
  }

  /**
   * Takes over `from`'s listen socket (same address), so a changed listener swaps in without a moment of
   * refused connections: from now on this listener accepts, while `from` keeps its open connections to drain.
   */
  adoptSocket(from: ActiveListener): void {
    const server = from.server;
    if (!server) throw new Error(`listener "${from.model.name}" has no listen socket to hand over`);
    from.server = undefined;
    server.removeAllListeners("connection");
    server.on("connection", (socket: Socket) => this.onAccept(socket));
    this.server = server;
    this.boundAddress = from.boundAddress;
  }
}

/** Every TCP listener the tcp tier serves. */
export class ListenerManager {
  private readonly listeners: ActiveListener[] = [];
  /** UDP listeners (tcp-tier/src/udp/), in config order. */
  private readonly udpListeners: UdpListener[] = [];
  private readonly logger: Logger;

  /**
   * Builds each listener's filter chains (factories once per chain). Skips edge listeners (the Worker
   * serves them). Throws `LEGATE_UNSUPPORTED_IN_TCP_TIER`, naming every problem, when a listener cannot
   * run here.
   */
  constructor(models: readonly ListenerModel[], context: NetworkFilterFactoryContext) {
    this.logger = context.logger;
    const problems: string[] = [];
    for (const model of models) {
      if (model.edge) {
        this.logger.info(`listener "${model.name}" is served by the edge Worker; the tcp tier does not bind it`);
        continue;
      }
      if (model.address.protocol !== "TCP") {
        try {
          this.udpListeners.push(new UdpListener(model, context));
        } catch (err) {
          problems.push((err as Error).message);
        }
        continue;
      }
      const build = (fc: FilterChainModel): CompiledFilterChain => {
        const factories = fc.filters.flatMap((f) => {
          const builder = networkFilterBuilder(f);
          if (!builder) {
            problems.push(
              `listener "${model.name}": network filter ${networkFilterExtensionName(f)} is not available in the tcp tier yet (it runs: ${registeredNetworkFilters().join(", ")})`,
            );
            return [];
          }
          return [builder(f, context)];
        });
        if (!fc.transportSocket) return { model: fc, factories };
        const transportSocket = createDownstreamTransportSocket(fc.transportSocket, { stats: context.stats.scope(model.statPrefix), logger: context.logger });
        return { model: fc, factories, transportSocket };
      };
      const chains = model.filterChains.map(build);
      const defaultChain = model.defaultFilterChain ? build(model.defaultFilterChain) : undefined;
      this.listeners.push(new ActiveListener(model, chains, defaultChain, context.stats, context.logger));
    }
    if (problems.length) throw new TcpTierError("LEGATE_UNSUPPORTED_IN_TCP_TIER", problems.join("\n"));
    context.stats.gauge("listener_manager.total_listeners_active").set(this.listeners.length + this.udpListeners.length);
  }

  /** Binds every listener; on failure closes the ones already bound and rejects. */
  async start(): Promise<void> {
    try {
      for (const l of this.listeners) {
        await l.bind();
        const a = l.boundAddress;
        this.logger.info(`listener "${l.model.name}" listening on ${a?.address}:${a?.port}`);
      }
      for (const l of this.udpListeners) {
        await l.bind();
        const a = l.boundAddress;
        this.logger.info(`listener "${l.model.name}" listening on ${a?.address}:${a?.port}/udp`);
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Listeners in config order. */
  all(): readonly ActiveListener[] {
    return this.listeners;
  }

  /** UDP listeners in config order. */
  udp(): readonly UdpListener[] {
    return this.udpListeners;
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.map((l) => l.close()), ...this.udpListeners.map((l) => l.close())]);
  }
}
