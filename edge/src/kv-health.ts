/**
 * The edge follows the tcp tier's active health checks through KV (docs/kv-layout.md, "Health").
 *
 * On each config poll (same interval, same request: no request awaits another's KV I/O) the isolate
 * lists `legate/health/`, reads every report, and keeps them by cluster. After the poll, for each
 * cluster of the served config that has `health_checks`, every host's verdict is set on the cluster
 * runtime the router uses ({@link ClusterRuntime.setHealth}): unhealthy when the freshest report that
 * is at most {@link HEALTH_STALE_MS} old says so, healthy otherwise (no fresh report: healthy, as
 * Envoy treats a host before its first check completes when the cluster is not warming). The load
 * balancer, `healthy_panic_threshold` and outlier detection then act on it together.
 *
 * How stale the view can be: a tcp-tier node writes within one second of a verdict change (its publish
 * tick), the edge reads it at its next poll (`LEGATE_CONFIG_POLL_MS`, default 1 s), so locally a
 * change shows within about 2 s after the checker's verdict; on Cloudflare add KV propagation (up to
 * about 60 s; reads use `cacheTtl: 30`).
 */
import { HEALTH_PREFIX, HEALTH_STALE_MS, type HealthReport, mergeHealthReportsWithTime, parseHealthReport } from "../../shared/kv/layout.ts";
import type { BootstrapModel } from "../../shared/config/model.ts";
import type { Logger } from "../../shared/log.ts";
import type { Counter, StatsScope } from "../../shared/stats/store.ts";
import { getClusterRuntime } from "../../shared/upstream/cluster.ts";
import { KV_CACHE_TTL_S } from "./config-cache.ts";

/** Most health keys read per poll (one list page); more are ignored with a warning. */
const MAX_REPORTS = 1000;

export class KvHealth {
  private readonly kv: KVNamespace;
  private readonly stats: StatsScope;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly failures: Counter;
  /** The reports of the last successful read, by cluster name. */
  private reports = new Map<string, HealthReport[]>();
  private warned = false;
  /** A read failed and was logged; the next failures are only counted until one succeeds. */
  private failing = false;

  constructor(kv: KVNamespace, stats: StatsScope, log: Logger, now: () => number = Date.now) {
    this.kv = kv;
    this.stats = stats;
    this.log = log;
    this.now = now;
    this.failures = stats.counter("legate.edge.health_load_failure");
  }

  /** Reads every report. A failed read keeps the previous reports (they still age out). Never rejects. */
  async check(): Promise<void> {
    try {
      const listed = await this.kv.list({ prefix: HEALTH_PREFIX, limit: MAX_REPORTS });
      if (!listed.list_complete && !this.warned) {
        this.warned = true;
        this.log.warn(`more than ${MAX_REPORTS} keys under ${HEALTH_PREFIX}; only the first ${MAX_REPORTS} are read`);
      }
      const texts = await Promise.all(listed.keys.map((k) => this.kv.get(k.name, { cacheTtl: KV_CACHE_TTL_S })));
      const next = new Map<string, HealthReport[]>();
      for (const text of texts) {
        const r = text === null ? undefined : parseHealthReport(text);
        if (!r) continue;
        let list = next.get(r.cluster);
        if (!list) next.set(r.cluster, (list = []));
        list.push(r);
      }
      this.reports = next;
      this.failing = false;
    } catch (e) {
      this.failures.inc();
      if (!this.failing) this.log.error(`reading health reports under ${HEALTH_PREFIX} failed: ${String(e)}; keeping the previous ones`);
      this.failing = true;
    }
  }

  /** Sets every host's verdict on the served config's checked clusters. */
  apply(model: BootstrapModel | undefined): void {
    if (!model) return;
    const now = this.now();
    for (const cluster of model.clusters.values()) {
      if (!cluster.healthChecks) continue;
      const merged = mergeHealthReportsWithTime(this.reports.get(cluster.name) ?? [], now, HEALTH_STALE_MS);
      const runtime = getClusterRuntime(cluster, this.stats);
      for (const host of runtime.hosts) {
        const verdict = merged.get(host.hostPort);
        const failedAt = host.immediateHcFailAt;
        if (failedAt !== undefined) {
          // An immediate failure (x-envoy-immediate-health-check-fail) holds until a report written
          // after it decides, or, with no such report, for the stale bound (no tcp tier is checking).
          if ((!verdict || verdict.at <= failedAt) && now - failedAt < HEALTH_STALE_MS) continue;
          host.immediateHcFailAt = undefined;
        }
        runtime.setHealth(host, verdict?.healthy ?? true);
      }
    }
  }
}
