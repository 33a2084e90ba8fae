/**
 * Publishes the tcp tier's active-health-check verdicts to KV, one key per cluster for this node
 * (`legate/health/<cluster>/<node id>`, shared/kv/layout.ts), for the edge to follow.
 *
 * Every `intervalMs` (default and minimum 1000: KV allows one write per second per key) each cluster
 * with `health_checks` is looked at; its report is written when the verdicts changed since the last
 * write, or when the last write is {@link HEALTH_REFRESH_MS} old (so readers can tell a live writer
 * from a stale one). A failed write is logged once and retried on the next tick.
 */
import { HEALTH_REFRESH_MS, type HealthReport, healthKey } from "../../../shared/kv/layout.ts";
import type { Logger } from "../../../shared/log.ts";
import { PollLoop } from "./poll-loop.ts";

export interface HealthWriter {
  readonly description: string;
  put(key: string, value: string): Promise<void>;
}

/** What is published per cluster: a tcp-tier Cluster fits. */
export interface HealthSourceCluster {
  readonly name: string;
  readonly model: { healthChecks?: unknown };
  readonly hosts: readonly { readonly hostPort: string; readonly failedActiveHc: boolean }[];
}

export interface HealthPublisherOptions {
  intervalMs?: number;
  refreshMs?: number;
  now?: () => number;
}

export class KvHealthPublisher {
  private readonly writer: HealthWriter;
  private readonly nodeId: string;
  private readonly clusters: () => Iterable<HealthSourceCluster>;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly refreshMs: number;
  private readonly now: () => number;
  /** Per key: the hosts JSON last written and when. */
  private readonly written = new Map<string, { hosts: string; at: number }>();
  private readonly loop: PollLoop;
  private failing = false;

  constructor(writer: HealthWriter, nodeId: string, clusters: () => Iterable<HealthSourceCluster>, logger: Logger, opts: HealthPublisherOptions = {}) {
    this.writer = writer;
    this.nodeId = nodeId;
    this.clusters = clusters;
    this.logger = logger;
    this.intervalMs = Math.max(1000, opts.intervalMs ?? 1000);
    this.refreshMs = opts.refreshMs ?? HEALTH_REFRESH_MS;
    this.now = opts.now ?? Date.now;
    this.loop = new PollLoop(this.intervalMs, () => this.publish());
  }

  start(): void {
    this.loop.start();
    void this.tick();
  }

  /** One pass over the clusters (or the pass already running). Never rejects. */
  tick(): Promise<void> {
    return this.loop.run();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async publish(): Promise<void> {
    for (const c of this.clusters()) {
      if (!c.model.healthChecks) continue;
      const hosts: HealthReport["hosts"] = {};
      for (const h of c.hosts) hosts[h.hostPort] = h.failedActiveHc ? "unhealthy" : "healthy";
      const hostsJson = JSON.stringify(hosts);
      const key = healthKey(c.name, this.nodeId);
      const last = this.written.get(key);
      const now = this.now();
      if (last && now - last.at < 1000) continue;
      if (last && last.hosts === hostsJson && now - last.at < this.refreshMs) continue;
      const report: HealthReport = { cluster: c.name, node: this.nodeId, reported_at: new Date(now).toISOString(), hosts };
      try {
        await this.writer.put(key, JSON.stringify(report));
        this.written.set(key, { hosts: hostsJson, at: now });
        if (this.failing) this.logger.info(`publishing health to ${this.writer.description} works again`);
        this.failing = false;
      } catch (e) {
        if (!this.failing) this.logger.error(`publishing health of cluster ${c.name} to ${this.writer.description} failed: ${(e as Error).message}; retrying`);
        this.failing = true;
      }
    }
  }
}
