/**
 * Binds the tcp tier's TCP listeners, chooses a filter chain for each accepted connection, builds its
 * filters and counts Envoy's listener stats (`listener.<address>_<port>.*`).
 */
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import type { FilterChainModel, ListenerModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../../../shared/stats/store.ts";
import { networkFilterBuilder, networkFilterExtensionName, registeredNetworkFilters, type NetworkFilterFactoryContext } from "../extensions.ts";
import { SocketConnection } from "../network/connection.ts";
import { TcpTierError } from "../network/errors.ts";
import { type CompiledFilterChain, selectFilterChain } from "./filter-chain.ts";

interface ListenerStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_destroy: Counter;
  downstream_cx_length_ms: Histogram;
  no_filter_chain_match: Counter;
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

  constructor(model: ListenerModel, chains: CompiledFilterChain[], defaultChain: CompiledFilterChain | undefined, stats: StatsScope, logger: Logger) {
    this.model = model;
    this.chains = chains;
    this.defaultChain = defaultChain;
    const scope = stats.scope(model.statPrefix);
    this.stats = {
      downstream_cx_total: scope.counter("downstream_cx_total"),
      downstream_cx_active: scope.gauge("downstream_cx_active"),
      downstream_cx_destroy: scope.counter("downstream_cx_destroy"),
      downstream_cx_length_ms: scope.histogram("downstream_cx_length_ms"),
      no_filter_chain_match: scope.counter("no_filter_chain_match"),
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
    for (const c of this.connections) c.close("no-flush");
    if (!server || !server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Open downstream connections (for tests and draining). */
  get connectionCount(): number {
    return this.connections.size;
  }

  private onAccept(socket: Socket): void {
    const chain = selectFilterChain(this.chains, this.defaultChain, {
      destinationPort: socket.localPort ?? 0,
      transportProtocol: "raw_buffer",
      applicationProtocols: [],
    });
    if (!chain) {
      this.stats.no_filter_chain_match.inc();
      this.logger.debug(`listener "${this.model.name}": no filter chain matches a connection from ${socket.remoteAddress}:${socket.remotePort}`);
      socket.destroy();
      return;
    }
    const conn = new SocketConnection(socket, { bufferLimit: this.model.perConnectionBufferLimitBytes });
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
  }
}

/** Every TCP listener the tcp tier serves. */
export class ListenerManager {
  private readonly listeners: ActiveListener[] = [];
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
        problems.push(`listener "${model.name}": ${model.address.protocol} listeners are not supported by the tcp tier yet`);
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
        return { model: fc, factories };
      };
      const chains = model.filterChains.map(build);
      const defaultChain = model.defaultFilterChain ? build(model.defaultFilterChain) : undefined;
      this.listeners.push(new ActiveListener(model, chains, defaultChain, context.stats, context.logger));
    }
    if (problems.length) throw new TcpTierError("LEGATE_UNSUPPORTED_IN_TCP_TIER", problems.join("\n"));
    context.stats.gauge("listener_manager.total_listeners_active").set(this.listeners.length);
  }

  /** Binds every listener; on failure closes the ones already bound and rejects. */
  async start(): Promise<void> {
    try {
      for (const l of this.listeners) {
        await l.bind();
        const a = l.boundAddress;
        this.logger.info(`listener "${l.model.name}" listening on ${a?.address}:${a?.port}`);
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

  async close(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.close()));
  }
}
