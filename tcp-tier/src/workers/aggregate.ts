/**
 * Process-wide stats for `--concurrency N`: the primary folds its workers' reports into its own
 * StatsStore, which the admin endpoints render and the statsd sink flushes, as if one process had
 * counted everything.
 *
 * - Counters: each report carries the worker's totals; the primary adds the increase since that worker's
 *   previous report. A worker that exits keeps what it counted (its last report stays in the sums) and a
 *   restarted one counts from 0 again, so process-wide counters never go backwards. `/reset_counters`
 *   zeroes the primary's counters; later increases add on top of 0.
 * - Gauges: summed over the live workers (connections, active requests, buffered bytes), except those
 *   every worker sets to the same config-derived figure, which are taken once (see {@link gaugeMerge}).
 * - Histograms: each report carries the bucket, count and sum increases and (up to a bound) the samples,
 *   which the primary records again (quantiles, statsd timers); the exact increases then fix the totals.
 * - /clusters: per host, connection figures summed over the live workers; the same merge of health
 *   verdicts is what the primary publishes to KV ({@link StatsAggregator.healthSources}).
 * - Per worker: Envoy's per-handler listener stats (`listener.<address>.worker_<i>.downstream_cx_*`).
 */
import type { ClusterModel } from "../../../shared/config/model.ts";
import { DEFAULT_BUCKETS, type StatsStore } from "../../../shared/stats/store.ts";
import type { ClusterView, HostView } from "../admin/handlers.ts";
import type { HealthSourceCluster } from "../kv/health-publisher.ts";
import type { HostReport, StatsReport } from "./protocol.ts";

/**
 * Envoy's per-handler listener stats, `listener.<address>.worker_<index>.downstream_cx_total|active`: the
 * connections each worker accepted and holds (the index is the worker's slot, kept across restarts).
 * Undefined for every other stat.
 */
export function perHandlerName(name: string, index: number): string | undefined {
  const m = /^(listener\.(?!admin\.).+)\.(downstream_cx_total|downstream_cx_active)$/.exec(name);
  if (!m || /\.worker_\d+$/.test(m[1]!)) return undefined;
  return `${m[1]}.worker_${index}.${m[2]}`;
}

/** How a gauge of several workers becomes one figure. */
export function gaugeMerge(name: string): "sum" | "max" | "min" {
  // Circuit-breaker room left: the tightest worker's.
  if (/\.remaining_[a-z_]+$/.test(name)) return "min";
  // Config-derived figures every worker sets alike, and circuit-breaker open flags (0/1).
  if (/^(listener_manager|cluster_manager)\./.test(name) || /\.(membership_[a-z_]+|max_host_weight|version|[a-z_]+_open)$/.test(name)) return "max";
  return "sum";
}

interface WorkerFigures {
  counters: Map<string, number>;
  gauges: Map<string, number>;
  clusters: StatsReport["clusters"];
  listeners: StatsReport["listeners"];
  memory: StatsReport["memory"];
}

type MutableHost = { -readonly [K in keyof HostView]: HostView[K] };

/** Envoy's `health_flags` from the merged failure flags (as shared/upstream/host.ts words them). */
function healthFlags(h: MutableHost): string {
  const eds = h.edsHealthStatus !== undefined && h.edsHealthStatus !== "HEALTHY";
  if (!h.failedActiveHc && !h.failedOutlierCheck && !eds) return "healthy";
  return `${h.failedActiveHc ? "/failed_active_hc" : ""}${h.failedOutlierCheck ? "/failed_outlier_check" : ""}${eds ? "/failed_eds_health" : ""}`;
}

export class StatsAggregator {
  private readonly stats: StatsStore;
  private readonly workers = new Map<number, WorkerFigures>();

  constructor(stats: StatsStore) {
    this.stats = stats;
  }

  /** Folds one report of worker `id` in. */
  apply(id: number, index: number, r: StatsReport): void {
    let w = this.workers.get(id);
    if (!w) this.workers.set(id, (w = { counters: new Map(), gauges: new Map(), clusters: [], listeners: [], memory: r.memory }));
    for (const [name, value] of r.counters) {
      const last = w.counters.get(name) ?? 0;
      if (value > last) {
        this.stats.counter(name).inc(value - last);
        const handler = perHandlerName(name, index);
        if (handler) this.stats.counter(handler).inc(value - last);
      } else this.stats.counter(name);
      w.counters.set(name, value);
    }
    for (const [name, value] of r.gauges) {
      const handler = perHandlerName(name, index);
      if (handler) this.stats.gauge(handler).set(value);
    }
    const touched = new Set([...w.gauges.keys(), ...r.gauges.map(([n]) => n)]);
    w.gauges = new Map(r.gauges);
    for (const name of touched) this.mergeGauge(name);
    for (const d of r.histograms) {
      const h = this.stats.histogram(d.name);
      for (const v of d.samples) h.record(v);
      // The samples recorded above are part of the increase; add the rest exactly.
      h.count += d.count - d.samples.length;
      h.sum += d.sum - d.samples.reduce((a, b) => a + b, 0);
      for (let i = 0; i < DEFAULT_BUCKETS.length; i++) {
        const bound = DEFAULT_BUCKETS[i]!;
        h.bucketCounts[i]! += (d.buckets[i] ?? 0) - d.samples.filter((v) => v <= bound).length;
      }
    }
    w.clusters = r.clusters;
    w.listeners = r.listeners;
    w.memory = r.memory;
  }

  /** Worker `id` (slot `index`) is gone: its counters stay counted, its gauges and hosts' active connections leave the sums. */
  remove(id: number, index: number): void {
    const w = this.workers.get(id);
    if (!w) return;
    this.workers.delete(id);
    for (const name of w.gauges.keys()) {
      this.mergeGauge(name);
      const handler = perHandlerName(name, index);
      if (handler) this.stats.gauge(handler).set(0);
    }
    // Its hosts' totals stay in the /clusters sums, as its counters stay in /stats.
    for (const c of w.clusters) for (const h of c.hosts) this.retireHost(c.name, h);
  }

  private readonly retiredHosts = new Map<string, { cxTotal: number; cxConnectFail: number }>();

  private retireHost(cluster: string, h: HostReport): void {
    const key = `${cluster}\u0000${h.addressString}`;
    const r = this.retiredHosts.get(key) ?? { cxTotal: 0, cxConnectFail: 0 };
    r.cxTotal += h.cxTotal;
    r.cxConnectFail += h.cxConnectFail;
    this.retiredHosts.set(key, r);
  }

  private mergeGauge(name: string): void {
    const values: number[] = [];
    for (const w of this.workers.values()) {
      const v = w.gauges.get(name);
      if (v !== undefined) values.push(v);
    }
    const how = gaugeMerge(name);
    const merged = values.length === 0 ? 0 : how === "sum" ? values.reduce((a, b) => a + b, 0) : how === "max" ? Math.max(...values) : Math.min(...values);
    this.stats.gauge(name).set(merged);
  }

  /** The summed memory figures of the live workers. */
  memory(): { heapUsed: number; heapTotal: number; rss: number } {
    const out = { heapUsed: 0, heapTotal: 0, rss: 0 };
    for (const w of this.workers.values()) {
      out.heapUsed += w.memory.heapUsed;
      out.heapTotal += w.memory.heapTotal;
      out.rss += w.memory.rss;
    }
    return out;
  }

  /** The accepting listeners' bound addresses, by name, as the workers report them. */
  listenerAddresses(): Map<string, { address: string; port: number }> {
    const out = new Map<string, { address: string; port: number }>();
    for (const w of this.workers.values()) for (const [name, address, port] of w.listeners) if (!out.has(name)) out.set(name, { address, port });
    return out;
  }

  /**
   * The active-health-check verdicts to publish to KV (kv/health-publisher.ts), in config order: a host
   * is failed when any live worker's checker found it so, as /clusters shows it.
   */
  healthSources(models: ReadonlyMap<string, ClusterModel>): HealthSourceCluster[] {
    const out: HealthSourceCluster[] = [];
    for (const [name, model] of models) {
      const hosts = new Map<string, { hostPort: string; failedActiveHc: boolean }>();
      for (const w of this.workers.values()) {
        for (const c of w.clusters) {
          if (c.name !== name) continue;
          for (const h of c.hosts) {
            const seen = hosts.get(h.hostPort);
            if (!seen) hosts.set(h.hostPort, { hostPort: h.hostPort, failedActiveHc: h.failedActiveHc });
            else if (h.failedActiveHc) seen.failedActiveHc = true;
          }
        }
      }
      out.push({ name, model, hosts: [...hosts.values()] });
    }
    return out;
  }

  /** /clusters, in config order: each host's connection figures summed over the workers. */
  clusters(models: ReadonlyMap<string, ClusterModel>): ClusterView[] {
    const out: ClusterView[] = [];
    for (const [name, model] of models) {
      const hosts = new Map<string, MutableHost>();
      for (const w of this.workers.values()) {
        for (const c of w.clusters) {
          if (c.name !== name) continue;
          for (const h of c.hosts) {
            const seen = hosts.get(h.addressString);
            if (!seen) {
              const retired = this.retiredHosts.get(`${name}\u0000${h.addressString}`);
              hosts.set(h.addressString, { ...h, cxTotal: h.cxTotal + (retired?.cxTotal ?? 0), cxConnectFail: h.cxConnectFail + (retired?.cxConnectFail ?? 0) });
            } else {
              seen.cxActive += h.cxActive;
              seen.cxTotal += h.cxTotal;
              seen.cxConnectFail += h.cxConnectFail;
              // Each worker checks health on its own: a host is failed when any worker found it so.
              if (h.failedActiveHc) seen.failedActiveHc = true;
              if (h.failedOutlierCheck) seen.failedOutlierCheck = true;
              seen.healthFlags = healthFlags(seen);
            }
          }
        }
      }
      out.push({ name, model, hosts: [...hosts.values()] });
    }
    return out;
  }
}
