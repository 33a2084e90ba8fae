/**
 * One worker process of `--concurrency N` (N > 1): runs the listeners, clusters and filters of the
 * config the primary sends (tcp-tier/src/workers/primary.ts), with no admin port and no stats sinks (the
 * primary owns both). Its listeners' `listen()` goes through node:cluster, so every worker shares the
 * primary's listen socket (see docs/tcp-tier.md "Process"). Worker 0 alone also runs the UDP listeners.
 *
 * The worker reports its stats to the primary every {@link REPORT_MS} and when asked (`collect`), applies
 * reloads, admin commands, runtime changes (KV and admin layers) and EDS endpoints the primary forwards, and exits when the primary says `drain` or `close` or
 * when the IPC channel to the primary goes away (node:cluster exits a worker whose primary is gone).
 * Signals are the primary's business: a worker ignores SIGINT, SIGTERM and SIGHUP (a terminal's Ctrl-C
 * reaches the whole process group; the primary then drains the workers itself).
 */
import type { BootstrapModel } from "../../../shared/config/model.ts";
import { RuntimeLayer } from "../../../shared/runtime/runtime.ts";
import { formatHostPort } from "../../../shared/upstream/host.ts";
import { type Histogram, DEFAULT_BUCKETS } from "../../../shared/stats/store.ts";
import { createLogger, type CliLogger } from "../cli/logger.ts";
import { compileBootstrap } from "../../../shared/config/compile.ts";
import { formatIssue, isError } from "../../../shared/config/issues.ts";
import { type ServerHandle, startServer } from "../server.ts";
import { EdsSource } from "../kv/endpoints-poller.ts";
import { type FromWorker, type HistogramDelta, MAX_SAMPLES_PER_REPORT, type StartMessage, type StatsReport, type ToWorker } from "./protocol.ts";

/** How often a worker sends its stats without being asked. */
export const REPORT_MS = 1000;

function send(m: FromWorker): void {
  process.send?.(m);
}

/**
 * Compiles the canonical config the primary validated, as this worker runs it: no admin, no sinks, UDP
 * only in worker 0. The canonical config already passed Envoy's schema (and has its files inlined), so the
 * worker compiles it as the edge does, without loading the schema (docs/tcp-tier.md "Memory").
 */
function compileForWorker(canonical: Record<string, unknown>, start: StartMessage): { model: BootstrapModel; canonical: Record<string, unknown> } {
  const compiled = compileBootstrap(canonical, { edgeListener: start.edgeListener });
  const errors = compiled.issues.filter(isError);
  if (!compiled.model || errors.length) throw new Error(`the config does not compile in the worker: ${errors.map(formatIssue).join("; ") || "no model"}`);
  const { admin: _admin, statsSinks: _sinks, ...rest } = compiled.model;
  const listeners = start.index === 0 ? rest.listeners : rest.listeners.filter((l) => l.address.protocol !== "UDP");
  return { model: { ...rest, listeners }, canonical };
}

/** Serves as a worker until the primary stops it. */
export function runWorker(): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});
  let handle: ServerHandle | undefined;
  let start: StartMessage | undefined;
  let logger: CliLogger | undefined;
  let reportTimer: ReturnType<typeof setInterval> | undefined;
  // EDS clusters follow the primary's copy of the assignments (the primary polls KV), filled by "eds" messages.
  const eds = new EdsSource();
  const pending = new Map<Histogram, number[]>();
  const lastHist = new Map<Histogram, { count: number; sum: number; buckets: number[] }>();
  let exiting = false;

  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    if (reportTimer) clearInterval(reportTimer);
    logger?.close();
    process.exit(code);
  };

  const report = (id?: number): void => {
    if (!handle) return;
    const { counters, gauges, histograms } = handle.stats.snapshot();
    // The primary keeps the server.* figures itself (it is the process the admin port describes).
    const keep = (name: string) => !name.startsWith("server.") || name === "server.total_connections";
    const hist: HistogramDelta[] = [];
    for (const h of histograms) {
      const last = lastHist.get(h) ?? { count: 0, sum: 0, buckets: DEFAULT_BUCKETS.map(() => 0) };
      if (h.count === last.count) continue;
      hist.push({ name: h.name, count: h.count - last.count, sum: h.sum - last.sum, buckets: h.bucketCounts.map((b, i) => b - last.buckets[i]!), samples: pending.get(h) ?? [] });
      lastHist.set(h, { count: h.count, sum: h.sum, buckets: [...h.bucketCounts] });
      pending.delete(h);
    }
    const mem = process.memoryUsage();
    const msg: StatsReport = {
      t: "report",
      ...(id !== undefined ? { id } : {}),
      counters: counters.filter((c) => keep(c.name)).map((c) => [c.name, c.value]),
      gauges: gauges.filter((g) => keep(g.name)).map((g) => [g.name, g.value]),
      histograms: hist,
      clusters: handle.adminContext.clusters.all().map((c) => ({
        name: c.name,
        hosts: c.hosts.map((h) => ({
          hostPort: formatHostPort(h.address, h.port),
          address: h.address,
          port: h.port,
          addressString: h.addressString,
          hostname: h.hostname,
          healthFlags: h.healthFlags,
          weight: h.weight,
          cxActive: h.cxActive,
          cxConnectFail: h.cxConnectFail,
          cxTotal: h.cxTotal,
          failedActiveHc: h.failedActiveHc ?? false,
          failedOutlierCheck: h.failedOutlierCheck ?? false,
          ...(h.edsHealthStatus !== undefined ? { edsHealthStatus: h.edsHealthStatus } : {}),
          priority: h.priority ?? 0,
          locality: { region: h.locality?.region ?? "", zone: h.locality?.zone ?? "", subZone: h.locality?.subZone ?? "" },
        })),
      })),
      listeners: [...handle.listenerAddresses].map(([name, a]) => [name, a.address, a.port]),
      memory: { heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, rss: mem.rss },
    };
    send(msg);
  };

  const onStart = async (m: StartMessage) => {
    start = m;
    logger = createLogger({ level: m.logLevel, ...(m.logPath !== undefined ? { path: m.logPath } : {}) });
    try {
      const { model, canonical } = compileForWorker(m.canonical, m);
      eds.load(m.eds);
      // The KV layer here is the primary's copy (the primary polls KV), filled by "runtime" messages.
      handle = await startServer({ model, canonical, logger, version: "", drainTimeMs: m.drainTimeMs, kvRuntime: new RuntimeLayer("kv"), eds });
      handle.adminContext.runtime.setDynamic(m.runtime);
    } catch (e) {
      send({ t: "start_failed", error: (e as Error).message });
      // Let the message leave before exiting.
      setTimeout(() => exit(1), 50);
      return;
    }
    handle.stats.onHistogramSample((h, v) => {
      let list = pending.get(h);
      if (!list) pending.set(h, (list = []));
      if (list.length < MAX_SAMPLES_PER_REPORT) list.push(v);
    });
    void handle.done.then(() => {
      report();
      setTimeout(() => exit(0), 20);
    });
    reportTimer = setInterval(() => report(), REPORT_MS);
    reportTimer.unref();
    logger.info(`worker ${m.index} serving`);
    send({ t: "ready" });
    report();
  };

  const onReload = async (id: number, canonical: Record<string, unknown>) => {
    try {
      if (!handle || !start) throw new Error("the worker has not started");
      const next = compileForWorker(canonical, start);
      const outcome = await handle.reload(next);
      send({ t: "reloaded", id, ok: true, added: outcome.added, modified: outcome.modified, removed: outcome.removed, kept: outcome.kept });
    } catch (e) {
      send({ t: "reloaded", id, ok: false, error: (e as Error).message });
    }
  };

  process.on("message", (raw) => {
    const m = raw as ToWorker;
    switch (m.t) {
      case "start":
        void onStart(m);
        break;
      case "reload":
        void onReload(m.id, m.canonical);
        break;
      case "collect":
        report(m.id);
        break;
      case "drain_listeners":
        handle?.adminContext.drainListeners({ graceful: m.graceful, inboundOnly: m.inboundOnly });
        break;
      case "healthcheck":
        if (handle) handle.adminContext.state.healthCheckFailed = m.failed;
        break;
      case "runtime":
        handle?.adminContext.runtime.setDynamic(m.values);
        break;
      case "eds":
        eds.publish(m.service, m.update);
        break;
      case "log_level":
        if (logger) logger.level = m.level;
        break;
      case "drain":
        if (!handle) exit(0);
        else void handle.drainAndClose().catch((e: unknown) => logger?.error(`worker drain: ${(e as Error).message}`));
        break;
      case "close":
        if (!handle) exit(0);
        else void handle.close();
        break;
    }
  });
  send({ t: "hello" });
}
