/**
 * The tcp tier's entry point: starts the clusters, the TCP listeners and Envoy's admin port for one
 * compiled config, and stops them all on `close()` or POST /quitquitquit.
 */
import type { BootstrapModel } from "../../shared/config/model.ts";
import type { Logger } from "../../shared/log.ts";
import { AdminServer } from "./admin/admin-server.ts";
import type { AdminContext, ServerState } from "./admin/handlers.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { ListenerManager } from "./listener/listener-manager.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";

export interface ServerOptions {
  /** The validated config in canonical JSON form, served by /config_dump. */
  canonical: Record<string, unknown>;
  /** The compiled config (shared/config/compile.ts). */
  model: BootstrapModel;
  logger: Logger;
  /** Legate's version, for /server_info and the `server.version` gauge. */
  version: string;
  /** Shown by /server_info as `command_line_options`. */
  commandLineOptions?: Record<string, unknown>;
  /**
   * Envoy's `--concurrency`. Accepted, but the tcp tier runs one process with one event loop for now:
   * `server.concurrency` reports 1 and a larger value is logged at info.
   */
  concurrency?: number;
}

export interface ServerHandle {
  stats: StatsStore;
  /** The admin port actually bound (`port_value: 0` gets the kernel's choice); absent without `admin.address`. */
  adminAddress?: { address: string; port: number };
  /** The address actually bound by each tcp-tier listener, by listener name (edge listeners are not here). */
  listenerAddresses: Map<string, { address: string; port: number }>;
  /** Resolves when the server stops (close() or /quitquitquit). */
  done: Promise<void>;
  /** Stops listeners and admin, closes connections, clears timers. Idempotent. */
  close(): Promise<void>;
}

/** How often on-demand server gauges (uptime, memory) are refreshed besides admin reads; Envoy's default stats flush interval. */
const STATS_FLUSH_MS = 5000;

/**
 * Starts the server. Resolves once every DNS cluster has had its first resolution (as Envoy warms
 * clusters before listening) and every listener and the admin port are bound. Rejects with a
 * `TcpTierError` (`LEGATE_UNSUPPORTED_IN_TCP_TIER`, `LEGATE_BIND_FAILED`) after releasing whatever it had
 * started.
 */
export async function startServer(opts: ServerOptions): Promise<ServerHandle> {
  const { model, logger } = opts;
  const stats = new StatsStore();
  const state: ServerState = { startTime: Date.now(), healthCheckFailed: false };

  const serverStats = {
    live: stats.gauge("server.live"),
    state: stats.gauge("server.state"),
    uptime: stats.gauge("server.uptime"),
    concurrency: stats.gauge("server.concurrency"),
    version: stats.gauge("server.version"),
    hotRestartEpoch: stats.gauge("server.hot_restart_epoch"),
    memoryAllocated: stats.gauge("server.memory_allocated"),
    memoryHeapSize: stats.gauge("server.memory_heap_size"),
    memoryPhysicalSize: stats.gauge("server.memory_physical_size"),
  };
  stats.gauge("server.total_connections");
  serverStats.concurrency.set(1);
  serverStats.version.set(versionNumber(opts.version));
  if ((opts.concurrency ?? 1) > 1) {
    logger.info(`--concurrency ${opts.concurrency}: the tcp tier runs a single process for now; serving with concurrency 1`);
  }
  const refreshServerStats = () => {
    serverStats.uptime.set(Math.floor((Date.now() - state.startTime) / 1000));
    serverStats.state.set(state.healthCheckFailed ? 1 : 0);
    const mem = process.memoryUsage();
    serverStats.memoryAllocated.set(mem.heapUsed);
    serverStats.memoryHeapSize.set(mem.heapTotal);
    serverStats.memoryPhysicalSize.set(mem.rss);
  };

  const clusters = new ClusterManager(model.clusters, stats, logger);
  let listeners: ListenerManager;
  try {
    listeners = new ListenerManager(model.listeners, { clusterManager: clusters, stats, logger, serverState: state });
  } catch (err) {
    clusters.close();
    throw err;
  }

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let closing: Promise<void> | undefined;
  let admin: AdminServer | undefined;
  const flushTimer = setInterval(refreshServerStats, STATS_FLUSH_MS);
  flushTimer.unref();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serverStats.live.set(0);
      clearInterval(flushTimer);
      clusters.close();
      await Promise.all([listeners.close(), admin?.close()]);
      logger.info("server stopped");
      resolveDone();
    })();
    return closing;
  };

  try {
    await clusters.initialize();
    await listeners.start();
    if (model.admin) {
      const ctx: AdminContext = {
        stats,
        state,
        model,
        canonical: opts.canonical,
        clusters,
        listeners,
        version: opts.version,
        commandLineOptions: opts.commandLineOptions ?? {},
        refreshServerStats,
        shutdown: () => {
          logger.info("shutting down on /quitquitquit");
          void close();
        },
      };
      admin = new AdminServer(ctx, logger);
      const { address, port } = model.admin.address;
      await admin.listen(address, port, model.admin.accessLogPaths);
      logger.info(`admin listening on ${admin.address?.address}:${admin.address?.port}`);
    }
  } catch (err) {
    await close();
    throw err;
  }

  serverStats.live.set(1);
  refreshServerStats();

  const listenerAddresses = new Map<string, { address: string; port: number }>();
  for (const l of listeners.all()) if (l.boundAddress) listenerAddresses.set(l.model.name, l.boundAddress);
  return { stats, adminAddress: admin?.address, listenerAddresses, done, close };
}

/**
 * `server.version`, as Envoy computes it: the first 6 hex digits of the build revision (the first
 * `/`-separated field of the version string) as an integer; 0 when the revision is unknown.
 */
export function versionNumber(version: string): number {
  // Envoy's server.version is the first 6 hex digits of the build's revision, as an integer.
  const revision = version.trim().split("/")[0] ?? "";
  return /^[0-9a-f]{6}/i.test(revision) ? parseInt(revision.slice(0, 6), 16) : 0;
}
