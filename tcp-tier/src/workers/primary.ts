/**
 * `--concurrency N` with N > 1: the primary process. It owns what Envoy's main thread owns — config
 * loading and reload decisions (serve.ts validates; the primary forwards only configs that passed), the
 * admin port, the stats sinks, signals — and forks N worker processes (worker.ts) that run the listeners,
 * clusters and filters.
 *
 * - Listeners: every TCP listener a worker binds goes through node:cluster's round-robin scheduling: the
 *   primary holds the one listen socket, accepts, and hands each new connection to the next worker in
 *   turn (SCHED_RR). Worker 0 alone runs the UDP listeners (a UDP session must stay in one process).
 * - Stats: workers report every second and on demand (admin reads); aggregate.ts folds the reports into
 *   the primary's store, which /stats, /stats/prometheus, /clusters and statsd show.
 * - Reload: the validated config goes to worker 0 first; if it refuses (bind failure, a UDP change), the
 *   reload is rejected and no other worker sees it. Otherwise the others apply it; one that fails is
 *   restarted, so it comes back on the new config.
 * - Admin commands that act on the data plane (/drain_listeners, /healthcheck/fail|ok, /logging) are
 *   forwarded to every worker; /reset_counters acts on the primary's figures.
 * - Runtime: the primary owns the layers that change at run time (the KV poller's layer, the admin layer
 *   /runtime_modify writes) and /runtime shows them; each change goes whole to every worker (and the
 *   current set to a worker that starts or restarts), whose live runtime the filters read.
 * - EDS (LEGATE_KV): the primary polls the endpoints of the config's EDS clusters (kv/endpoints-poller.ts)
 *   and sends each update to every worker; a worker starts with the current assignments and gets them
 *   again when it is ready (a worker's clusters skip a version they applied already).
 * - Health to KV (LEGATE_KV): the primary publishes the workers' checker verdicts merged as /clusters
 *   shows them ({@link PrimaryHandle.healthSources}).
 * - A worker that exits unexpectedly is counted (`legate.workers.restarts`), logged and forked again
 *   (after a growing back-off if it keeps failing); the other workers and their connections carry on.
 * - SIGTERM (drainAndClose): every worker drains (stops accepting, connections get the drain time) and
 *   exits; then the primary stops.
 */
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type { BootstrapModel } from "../../../shared/config/model.ts";
import type { LogLevel } from "../../../shared/log.ts";
import { StatsStore } from "../../../shared/stats/store.ts";
import { AdminServer } from "../admin/admin-server.ts";
import type { AdminContext, ServerState } from "../admin/handlers.ts";
import { RuntimeLayers } from "../admin/runtime-layers.ts";
import type { CliLogger } from "../cli/logger.ts";
import type { HealthSourceCluster } from "../kv/health-publisher.ts";
import type { ReloadOutcome } from "../reload/apply.ts";
import { DEFAULT_DRAIN_TIME_MS, isLoopback, type ServerHandle, type ServerOptions, tokenCheck, versionNumber } from "../server.ts";
import { ReloadBookkeeping } from "../reload/bookkeeping.ts";
import { StatsAggregator } from "./aggregate.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

export interface PrimaryOptions extends ServerOptions {
  /** The number of worker processes (> 1). */
  concurrency: number;
  logger: CliLogger;
  /** The log file the workers append to as well (absolute), when there is one. */
  logPath?: string;
  edgeListener?: string;
}

/** The primary's handle: a {@link ServerHandle} plus what only the primary has. */
export interface PrimaryHandle extends ServerHandle {
  /** The workers' active-health-check verdicts, merged (a host failed in any worker is failed), for KV. */
  healthSources(): HealthSourceCluster[];
}

/** How long an admin read waits for the workers' fresh figures before rendering what it has. */
const COLLECT_TIMEOUT_MS = 1000;
/** How long `close()` waits for workers to exit before killing them. */
const CLOSE_TIMEOUT_MS = 5000;
const STATS_FLUSH_MS = 5000;
/** The admin paths that render worker figures, so they collect fresh ones first. */
const COLLECTING_PATHS = new Set(["/stats", "/stats/prometheus", "/clusters", "/listeners"]);

interface Slot {
  index: number;
  worker?: Worker;
  ready: boolean;
  /** Unexpected exits in a row (reset once a worker has served for a while), for the restart back-off. */
  crashes: number;
  readySince?: number;
}

/** Forks the workers and serves the admin port. Resolves once every worker is serving; rejects (after stopping them) if one cannot start. */
export async function startPrimary(opts: PrimaryOptions): Promise<PrimaryHandle> {
  const { logger } = opts;
  const n = opts.concurrency;
  const drainTimeMs = opts.drainTimeMs ?? DEFAULT_DRAIN_TIME_MS;
  const stats = new StatsStore();
  const agg = new StatsAggregator(stats);
  let model: BootstrapModel = opts.model;
  let canonical = opts.canonical;

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
  const workerStats = { restarts: stats.counter("legate.workers.restarts"), active: stats.gauge("legate.workers.active") };
  stats.gauge("server.total_connections");
  serverStats.concurrency.set(n);
  serverStats.version.set(versionNumber(opts.version));

  // /healthcheck/fail and /healthcheck/ok set this; the workers' health-check filters read their copy.
  let healthCheckFailed = false;
  const state: ServerState = {
    startTime: Date.now(),
    get healthCheckFailed() {
      return healthCheckFailed;
    },
    set healthCheckFailed(v: boolean) {
      healthCheckFailed = v;
      broadcast({ t: "healthcheck", failed: v });
    },
  };
  const refreshServerStats = () => {
    serverStats.uptime.set(Math.floor((Date.now() - state.startTime) / 1000));
    serverStats.state.set(state.healthCheckFailed || state.draining ? 1 : 0);
    const mem = process.memoryUsage();
    const w = agg.memory();
    serverStats.memoryAllocated.set(mem.heapUsed + w.heapUsed);
    serverStats.memoryHeapSize.set(mem.heapTotal + w.heapTotal);
    serverStats.memoryPhysicalSize.set(mem.rss + w.rss);
  };

  // ---- the workers ----
  const slots: Slot[] = Array.from({ length: n }, (_, index) => ({ index, ready: false, crashes: 0 }));
  let stopping = false;
  let nextId = 1;
  const waiting = new Map<number, { worker: Worker; resolve: (m: FromWorker | undefined) => void }>();
  const startWaiters = new Map<Worker, { resolve: () => void; reject: (e: Error) => void }>();
  const restartTimers = new Set<ReturnType<typeof setTimeout>>();
  /** The /drain_listeners done so far (their `inboundonly`), replayed to a worker that starts later. */
  const drained: boolean[] = [];

  const sendTo = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m, (err: Error | null) => err && logger.debug(`worker ${w.process.pid}: ${err.message}`));
  };
  const live = (): Worker[] => slots.flatMap((s) => (s.worker && s.ready ? [s.worker] : []));
  function broadcast(m: ToWorker): void {
    for (const w of live()) sendTo(w, m);
  }
  /** Sends a request and waits for the reply carrying its id (undefined if the worker exits or `timeoutMs` passes first). */
  const ask = (w: Worker, make: (id: number) => ToWorker, timeoutMs?: number): Promise<FromWorker | undefined> => {
    const id = nextId++;
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (m: FromWorker | undefined) => {
        if (timer) clearTimeout(timer);
        waiting.delete(id);
        resolve(m);
      };
      waiting.set(id, { worker: w, resolve: done });
      if (timeoutMs !== undefined) timer = setTimeout(() => done(undefined), timeoutMs);
      sendTo(w, make(id));
    });
  };

  cluster.schedulingPolicy = cluster.SCHED_RR;
  // The worker's entry: the bundled one when Legate runs from its bundle (bin/bundle.js), else the source.
  const bundled = import.meta.url.endsWith(".mjs");
  cluster.setupPrimary({ exec: fileURLToPath(new URL(bundled ? "./worker-main.mjs" : "./worker-main.ts", import.meta.url)), args: [], silent: false });

  const fork = (slot: Slot): Promise<void> => {
    const worker = cluster.fork({ LEGATE_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    const started = new Promise<void>((resolve, reject) => startWaiters.set(worker, { resolve, reject }));
    worker.on("message", (m: FromWorker) => {
      switch (m.t) {
        case "hello":
          sendTo(worker, {
            t: "start",
            canonical,
            index: slot.index,
            drainTimeMs,
            logLevel: opts.logger.level as LogLevel,
            ...(opts.logPath !== undefined ? { logPath: opts.logPath } : {}),
            ...(opts.edgeListener !== undefined ? { edgeListener: opts.edgeListener } : {}),
            runtime: ctx.runtime.dynamicValues(),
            eds: opts.eds?.snapshot() ?? [],
          });
          break;
        case "ready":
          slot.ready = true;
          slot.readySince = Date.now();
          workerStats.active.set(live().length);
          if (healthCheckFailed) sendTo(worker, { t: "healthcheck", failed: true });
          // A runtime change made while it started missed it: the whole current set again.
          sendTo(worker, { t: "runtime", values: ctx.runtime.dynamicValues() });
          // Likewise an EDS update sent while it started.
          for (const [service, a] of opts.eds?.snapshot() ?? []) {
            sendTo(worker, { t: "eds", service, update: a ? { kind: "assignment", assignment: a } : { kind: "removed" } });
          }
          for (const inboundOnly of drained) sendTo(worker, { t: "drain_listeners", graceful: false, inboundOnly });
          startWaiters.get(worker)?.resolve();
          startWaiters.delete(worker);
          break;
        case "start_failed":
          startWaiters.get(worker)?.reject(new Error(m.error));
          startWaiters.delete(worker);
          break;
        case "report":
          agg.apply(worker.id, slot.index, m);
          if (m.id !== undefined) waiting.get(m.id)?.resolve(m);
          break;
        case "reloaded":
          waiting.get(m.id)?.resolve(m);
          break;
      }
    });
    worker.on("error", (err) => logger.debug(`worker ${slot.index}: ${err.message}`));
    worker.once("exit", (code, signal) => {
      slot.ready = false;
      if (slot.worker === worker) slot.worker = undefined;
      agg.remove(worker.id, slot.index);
      workerStats.active.set(live().length);
      for (const [, w] of waiting) if (w.worker === worker) w.resolve(undefined);
      const waiter = startWaiters.get(worker);
      startWaiters.delete(worker);
      waiter?.reject(new Error(`worker ${slot.index} exited (${signal ?? `code ${code}`}) before serving`));
      if (stopping) return;
      workerStats.restarts.inc();
      if (slot.readySince !== undefined && Date.now() - slot.readySince > 10_000) slot.crashes = 0;
      slot.crashes++;
      slot.readySince = undefined;
      const delay = Math.min(5000, 50 * 2 ** (slot.crashes - 1));
      logger.error(`worker ${slot.index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); restarting it in ${delay} ms`);
      const t = setTimeout(() => {
        restartTimers.delete(t);
        if (stopping) return;
        fork(slot).then(
          () => logger.info(`worker ${slot.index} restarted (pid ${slot.worker?.process.pid})`),
          (e: unknown) => logger.error(`worker ${slot.index} failed to restart: ${(e as Error).message}`),
        );
      }, delay);
      restartTimers.add(t);
    });
    return started;
  };

  /** Asks every live worker for its figures now (admin reads); resolves when all answered or after the timeout. */
  const collect = async (): Promise<void> => {
    await Promise.all(live().map((w) => ask(w, (id) => ({ t: "collect", id }), COLLECT_TIMEOUT_MS)));
  };

  /** Waits for every worker to exit, killing those still there after `timeoutMs`. */
  const stopWorkers = async (message: ToWorker, timeoutMs: number | undefined): Promise<void> => {
    stopping = true;
    for (const t of restartTimers) clearTimeout(t);
    const all = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    const exits = all.map((w) => (w.isDead() ? Promise.resolve() : new Promise<void>((r) => w.once("exit", () => r()))));
    for (const w of all) sendTo(w, message);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => all.forEach((w) => !w.isDead() && w.process.kill("SIGKILL")), timeoutMs);
    await Promise.all(exits);
    if (timer) clearTimeout(timer);
  };

  // ---- admin, sinks, lifecycle ----
  const bookkeeping = new ReloadBookkeeping(stats, state, logger);
  let admin: AdminServer | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let closing: Promise<void> | undefined;
  const flushTimer = setInterval(refreshServerStats, STATS_FLUSH_MS);
  flushTimer.unref();
  const gracefulTimers = new Set<ReturnType<typeof setTimeout>>();

  const finish = async (): Promise<void> => {
    serverStats.live.set(0);
    clearInterval(flushTimer);
    for (const t of gracefulTimers) clearTimeout(t);
    bookkeeping.closeSinks();
    await admin?.close();
    logger.info("server stopped");
    resolveDone();
  };
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await stopWorkers({ t: "close" }, CLOSE_TIMEOUT_MS);
      await finish();
    })();
    return closing;
  };

  // /logging changes the primary's level and every worker's.
  const adminLogger: CliLogger = {
    get level() {
      return logger.level;
    },
    set level(l: LogLevel) {
      logger.level = l;
      broadcast({ t: "log_level", level: l });
    },
    trace: (m) => logger.trace(m),
    debug: (m) => logger.debug(m),
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
    critical: (m) => logger.critical(m),
    close: () => {},
  };

  const ctx: AdminContext = {
    stats,
    state,
    model,
    canonical,
    configTime: Date.now(),
    clusters: { all: () => agg.clusters(ctx.model.clusters) },
    listeners: {
      all: () => {
        const bound = agg.listenerAddresses();
        return ctx.model.listeners.filter((l) => !l.edge && bound.has(l.name)).map((l) => ({ model: l, boundAddress: bound.get(l.name) }));
      },
    },
    version: opts.version,
    commandLineOptions: opts.commandLineOptions ?? {},
    logger: adminLogger,
    loggerName: opts.loggerName ?? "main",
    runtime: new RuntimeLayers(opts.canonical, opts.kvRuntime),
    refreshServerStats,
    shutdown: () => {
      logger.info("shutting down on /quitquitquit");
      void close();
    },
    drainListeners: ({ graceful, inboundOnly }) => {
      logger.info(`draining listeners${graceful ? ` after ${drainTimeMs / 1000}s` : ""}${inboundOnly ? " (inbound only)" : ""}`);
      const drainNow = () => {
        drained.push(inboundOnly);
        broadcast({ t: "drain_listeners", graceful: false, inboundOnly });
      };
      if (!graceful) {
        drainNow();
        return;
      }
      // The primary keeps the graceful timer, so a worker restarted meanwhile is drained too.
      const t = setTimeout(() => {
        gracefulTimers.delete(t);
        drainNow();
      }, drainTimeMs);
      gracefulTimers.add(t);
    },
  };

  // The primary owns the KV and admin runtime layers; every change goes to every worker whole.
  ctx.runtime.onChange = () => broadcast({ t: "runtime", values: ctx.runtime.dynamicValues() });
  // Every EDS update the poller reads goes to every worker.
  opts.eds?.onUpdate((service, update) => broadcast({ t: "eds", service, update }));

  logger.info(`starting ${n} worker processes (--concurrency ${n})`);
  try {
    await Promise.all(slots.map((s) => fork(s)));
    await collect();
    bookkeeping.startSinks(model);
    if (model.admin) {
      const { address, port } = model.admin.address;
      if (!isLoopback(address) && !opts.adminToken) {
        logger.warn(`the admin port binds ${address}, not loopback, without a token (LEGATE_ADMIN_TOKEN): anyone who can reach it can stop the server`);
      }
      admin = new AdminServer(ctx, logger, opts.adminToken !== undefined ? tokenCheck(opts.adminToken) : undefined, (path) =>
        COLLECTING_PATHS.has(path) ? collect() : undefined,
      );
      await admin.listen(address, port, model.admin.accessLogPaths);
      logger.info(`admin listening on ${admin.address?.address}:${admin.address?.port}`);
    }
  } catch (err) {
    closing = (async () => {
      await stopWorkers({ t: "close" }, CLOSE_TIMEOUT_MS);
      await finish();
    })();
    await closing;
    throw err;
  }
  serverStats.live.set(1);
  refreshServerStats();

  // ---- reload ----
  let reloading: Promise<unknown> = Promise.resolve();
  type Applied = Omit<ReloadOutcome, "generation">;
  const applyIn = async (w: Worker, next: Record<string, unknown>): Promise<Applied> => {
    const r = await ask(w, (id) => ({ t: "reload", id, canonical: next }));
    if (!r || r.t !== "reloaded") throw new Error("the worker exited while applying the config");
    if (!r.ok) throw new Error(r.error);
    return { added: r.added, modified: r.modified, removed: r.removed, kept: r.kept };
  };
  const reload = (next: { model: BootstrapModel; canonical: Record<string, unknown> }): Promise<ReloadOutcome> => {
    const run = async (): Promise<ReloadOutcome> => {
      if (closing || state.draining) throw new Error("the server is shutting down");
      bookkeeping.attempted();
      const [first, ...others] = live();
      let outcome: Applied;
      try {
        if (!first) throw new Error("no worker is serving");
        outcome = await applyIn(first, next.canonical);
      } catch (err) {
        bookkeeping.rejected((err as Error).message);
        throw err;
      }
      // From here on, a (re)started worker gets the new config.
      canonical = next.canonical;
      model = next.model;
      await Promise.all(
        others.map((w) =>
          applyIn(w, next.canonical).catch((err: unknown) => {
            logger.error(`worker pid ${w.process.pid} could not apply the new config (${(err as Error).message}); restarting it on the new config`);
            w.process.kill("SIGKILL");
          }),
        ),
      );
      bookkeeping.succeeded(ctx, next, opts.canonical.admin, outcome);
      // The primary has no generation of its own: listeners and clusters live in the workers.
      return { ...outcome, generation: undefined as unknown as ReloadOutcome["generation"] };
    };
    const p = reloading.then(run, run);
    reloading = p.catch(() => {});
    return p;
  };

  const drainAndClose = async (): Promise<void> => {
    if (closing) return closing;
    state.draining = true;
    logger.info(`draining: every worker stops accepting; connections have up to ${drainTimeMs / 1000}s to finish`);
    closing = (async () => {
      await stopWorkers({ t: "drain" }, undefined);
      await finish();
    })();
    return closing;
  };

  return {
    stats,
    adminAddress: admin?.address,
    get listenerAddresses() {
      return agg.listenerAddresses();
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
    healthSources: () => agg.healthSources(ctx.model.clusters),
  };
}
