/**
 * The tcp tier's entry point: starts the clusters, the TCP listeners, the stats sinks and Envoy's admin
 * port for one compiled config; swaps in new configs without dropping connections (`reload`, see
 * reload/apply.ts); drains and stops on `drainAndClose()` (SIGTERM), stops at once on `close()` or
 * POST /quitquitquit.
 */
import type { BootstrapModel } from "../../shared/config/model.ts";
import type { Logger } from "../../shared/log.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { AdminServer } from "./admin/admin-server.ts";
import type { AdminContext, ServerState } from "./admin/handlers.ts";
import { RuntimeLayers } from "./admin/runtime-layers.ts";
import { ListenerManager } from "./listener/listener-manager.ts";
import { applyReload, type Generation, type ReloadOutcome } from "./reload/apply.ts";
import { Drainer } from "./reload/drain.ts";
import { ReloadBookkeeping } from "./reload/bookkeeping.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";
import type { EdsSource } from "./kv/endpoints-poller.ts";
import type { RuntimeLayer } from "../../shared/runtime/runtime.ts";
import { crypto } from "./node-builtins.ts";

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
   * Envoy's `--concurrency`. This server is one process with one event loop (`--concurrency 1`);
   * larger values run tcp-tier/src/workers/ instead (a primary and N worker processes), so this one
   * always reports `server.concurrency` 1.
   */
  concurrency?: number;
  /** `--drain-time-s` in ms: how long replaced, removed and (on SIGTERM) all listeners drain. Default 600 s, Envoy's. */
  drainTimeMs?: number;
  /** When set, every admin request needs `Authorization: Bearer <token>` (LEGATE_ADMIN_TOKEN; Envoy's admin has none). */
  adminToken?: string;
  /** The logger's name as /logging lists it (default `main`, the CLI logger's). */
  loggerName?: string;
  /** The KV runtime layer (tcp-tier/src/kv/runtime-poller.ts), layered between the static and admin layers. */
  kvRuntime?: RuntimeLayer;
  /** The EDS source of `type: EDS` clusters (tcp-tier/src/kv/endpoints-poller.ts); required when the config has one. */
  eds?: EdsSource;
}

export interface ServerHandle {
  stats: StatsStore;
  /** The admin port actually bound (`port_value: 0` gets the kernel's choice); absent without `admin.address`. */
  adminAddress?: { address: string; port: number };
  /** The address actually bound by each accepting tcp-tier listener, by listener name (live: follows reloads). */
  readonly listenerAddresses: Map<string, { address: string; port: number }>;
  /** Resolves when the server stops (close() or /quitquitquit). */
  done: Promise<void>;
  /**
   * Applies a new validated config (hot reload). Resolves with what changed; rejects, leaving the running
   * config serving, when the new one cannot run (the error is counted and shown by /server_info).
   * Reloads run one at a time.
   */
  reload(next: { model: BootstrapModel; canonical: Record<string, unknown> }): Promise<ReloadOutcome>;
  /** Records a reload refused before it reached the server (the config did not validate). */
  rejectReload(error: string): void;
  /** SIGTERM: stop accepting everywhere, wait up to the drain time for connections to finish, then close(). */
  drainAndClose(): Promise<void>;
  /** Stops listeners and admin, closes connections, clears timers. Idempotent. */
  close(): Promise<void>;
  /** What the admin endpoints act on (a worker process applies the primary's admin commands through it). */
  readonly adminContext: AdminContext;
}

/** How often on-demand server gauges (uptime, memory) are refreshed besides admin reads; Envoy's default stats flush interval. */
const STATS_FLUSH_MS = 5000;
/** Envoy's default `--drain-time-s`. */
export const DEFAULT_DRAIN_TIME_MS = 600_000;

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "localhost";
}

/**
 * Starts the server. Resolves once every DNS cluster has had its first resolution (as Envoy warms
 * clusters before listening) and every listener and the admin port are bound. Rejects with a
 * `TcpTierError` (`LEGATE_UNSUPPORTED_IN_TCP_TIER`, `LEGATE_BIND_FAILED`) after releasing whatever it had
 * started.
 */
export async function startServer(opts: ServerOptions): Promise<ServerHandle> {
  const { model, logger } = opts;
  const drainTimeMs = opts.drainTimeMs ?? DEFAULT_DRAIN_TIME_MS;
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
  const refreshServerStats = () => {
    serverStats.uptime.set(Math.floor((Date.now() - state.startTime) / 1000));
    serverStats.state.set(state.healthCheckFailed || state.draining ? 1 : 0);
    const mem = process.memoryUsage();
    serverStats.memoryAllocated.set(mem.heapUsed);
    serverStats.memoryHeapSize.set(mem.heapTotal);
    serverStats.memoryPhysicalSize.set(mem.rss);
  };

  const runtimeLayers = new RuntimeLayers(opts.canonical, opts.kvRuntime);
  const clusters = new ClusterManager(model.clusters, stats, logger, opts.eds, runtimeLayers.live);
  let listeners: ListenerManager;
  try {
    listeners = new ListenerManager(model.listeners, { clusterManager: clusters, stats, logger, serverState: state, runtime: runtimeLayers.live });
  } catch (err) {
    clusters.close();
    throw err;
  }
  let gen: Generation = { model, canonical: opts.canonical, clusters, listeners: [...listeners.all()] };
  // UDP listeners live as long as the server: a reload that would change them is refused (reload/apply.ts).
  const udpListeners = listeners.udp();
  const drainer = new Drainer(drainTimeMs, stats, logger);
  const bookkeeping = new ReloadBookkeeping(stats, state, logger);

  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let closing: Promise<void> | undefined;
  let admin: AdminServer | undefined;
  const flushTimer = setInterval(refreshServerStats, STATS_FLUSH_MS);
  flushTimer.unref();
  const gracefulTimers = new Set<ReturnType<typeof setTimeout>>();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      serverStats.live.set(0);
      clearInterval(flushTimer);
      for (const t of gracefulTimers) clearTimeout(t);
      bookkeeping.closeSinks();
      gen.clusters.close();
      await Promise.all([...gen.listeners.map((l) => l.close()), ...udpListeners.map((l) => l.close()), drainer.closeAll(), admin?.close()]);
      logger.info("server stopped");
      resolveDone();
    })();
    return closing;
  };

  /** Stops accepting on `which` and drains them (their connections finish or are closed after the drain time). */
  const stopListeners = async (which: (l: Generation["listeners"][number]) => boolean) => {
    const stopping = gen.listeners.filter(which);
    if (!stopping.length) return;
    gen = { ...gen, listeners: gen.listeners.filter((l) => !stopping.includes(l)) };
    await Promise.all(stopping.map((l) => l.stopAccepting()));
    stats.counter("listener_manager.listener_stopped").inc(stopping.length);
    stats.gauge("listener_manager.total_listeners_active").set(gen.listeners.length);
    drainer.drain(stopping);
  };

  const ctx: AdminContext = {
    stats,
    state,
    model,
    canonical: opts.canonical,
    configTime: Date.now(),
    clusters: { all: () => gen.clusters.all() },
    listeners: { all: () => [...gen.listeners, ...udpListeners] },
    version: opts.version,
    commandLineOptions: opts.commandLineOptions ?? {},
    logger,
    loggerName: opts.loggerName ?? "main",
    runtime: runtimeLayers,
    refreshServerStats,
    shutdown: () => {
      logger.info("shutting down on /quitquitquit");
      void close();
    },
    drainListeners: ({ graceful, inboundOnly }) => {
      const inbound = new Set(
        ((gen.canonical.static_resources as { listeners?: { name?: string; traffic_direction?: string }[] } | undefined)?.listeners ?? [])
          .filter((l) => l.traffic_direction === "INBOUND")
          .map((l) => l.name),
      );
      const which = (l: Generation["listeners"][number]) => !inboundOnly || inbound.has(l.model.name);
      logger.info(`draining listeners${graceful ? ` after ${drainTimeMs / 1000}s` : ""}${inboundOnly ? " (inbound only)" : ""}`);
      if (!graceful) {
        void stopListeners(which);
        return;
      }
      const t = setTimeout(() => {
        gracefulTimers.delete(t);
        void stopListeners(which);
      }, drainTimeMs);
      gracefulTimers.add(t);
    },
  };

  try {
    await clusters.initialize();
    await listeners.start();
    bookkeeping.startSinks(model);
    if (model.admin) {
      const { address, port } = model.admin.address;
      if (!isLoopback(address) && !opts.adminToken) {
        logger.warn(`the admin port binds ${address}, not loopback, without a token (LEGATE_ADMIN_TOKEN): anyone who can reach it can stop the server`);
      }
      admin = new AdminServer(ctx, logger, opts.adminToken !== undefined ? tokenCheck(opts.adminToken) : undefined);
      await admin.listen(address, port, model.admin.accessLogPaths);
      logger.info(`admin listening on ${admin.address?.address}:${admin.address?.port}`);
    }
  } catch (err) {
    await close();
    throw err;
  }

  serverStats.live.set(1);
  refreshServerStats();

  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (next: { model: BootstrapModel; canonical: Record<string, unknown> }): Promise<ReloadOutcome> => {
    const run = async (): Promise<ReloadOutcome> => {
      if (closing || state.draining) throw new Error("the server is shutting down");
      bookkeeping.attempted();
      let outcome: ReloadOutcome;
      try {
        outcome = await applyReload(gen, next, { stats, logger, serverState: state, drain: (ls, cm) => drainer.drain(ls, cm), runtime: runtimeLayers.live, eds: opts.eds });
      } catch (err) {
        bookkeeping.rejected((err as Error).message);
        throw err;
      }
      gen = outcome.generation;
      bookkeeping.succeeded(ctx, next, opts.canonical.admin, outcome);
      return outcome;
    };
    const p = reloading.then(run, run);
    reloading = p.catch(() => {});
    return p;
  };

  const drainAndClose = async (): Promise<void> => {
    if (closing) return closing;
    state.draining = true;
    logger.info(`draining: listeners stop accepting; connections have up to ${drainTimeMs / 1000}s to finish`);
    await stopListeners(() => true);
    await drainer.idle();
    await close();
  };

  return {
    stats,
    adminAddress: admin?.address,
    get listenerAddresses() {
      const out = new Map<string, { address: string; port: number }>();
      for (const l of gen.listeners) if (l.boundAddress) out.set(l.model.name, l.boundAddress);
      for (const l of udpListeners) if (l.boundAddress) out.set(l.model.name, l.boundAddress);
      return out;
    },
    done,
    reload,
    rejectReload: (error) => {
      bookkeeping.attempted();
      bookkeeping.rejected(error);
    },
    drainAndClose,
    close,
    adminContext: ctx,
  };
}

/** A constant-time check of `Authorization: Bearer <token>`. */
export function tokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  return (authorization) => {
    if (authorization === undefined) return false;
    const got = Buffer.from(authorization);
    return got.length === expected.length && crypto().timingSafeEqual(got, expected);
  };
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
