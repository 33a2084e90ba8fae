/** All clusters of a config (Envoy's ClusterManager): STATIC, STRICT_DNS, LOGICAL_DNS, and EDS from KV. */
import type { ClusterModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Runtime } from "../../../shared/runtime/runtime.ts";
import type { StatsScope } from "../../../shared/stats/store.ts";
import type { EdsSource } from "../kv/endpoints-poller.ts";
import { Cluster } from "./cluster.ts";

export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();

  /**
   * @param eds where `type: EDS` clusters get their endpoints (tcp-tier/src/kv/endpoints-poller.ts).
   *   Throws when a cluster is EDS and there is none (EDS needs LEGATE_KV).
   */
  /** `runtime`: the server's live layered runtime (breaker limits, panic threshold, maintenance mode). */
  constructor(models: Map<string, ClusterModel>, stats: StatsScope, logger: Logger, eds?: EdsSource, runtime?: Runtime) {
    try {
      for (const [name, model] of models) this.clusters.set(name, new Cluster(model, stats, logger, eds, runtime));
    } catch (e) {
      this.close();
      throw e;
    }
    stats.counter("cluster_manager.cluster_added").inc(this.clusters.size);
    stats.gauge("cluster_manager.active_clusters").set(this.clusters.size);
    stats.gauge("cluster_manager.warming_clusters").set(0);
  }

  /**
   * Resolves once every cluster has its first host set (DNS clusters after their first lookup, EDS
   * clusters after their first assignment or `initial_fetch_timeout`).
   */
  async initialize(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((c) => c.initialize()));
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** Clusters in config order. */
  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** Stops every cluster's active health checks (a reload's old clusters, while their connections drain). */
  stopHealthChecks(): void {
    for (const c of this.clusters.values()) c.stopHealthChecks();
  }

  /** Stops every EDS cluster's updates (a reload's old clusters, while their connections drain). */
  stopEdsUpdates(): void {
    for (const c of this.clusters.values()) c.stopEdsUpdates();
  }

  /** Stops every cluster's DNS refresh timer and EDS updates. */
  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}
