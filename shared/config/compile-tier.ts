/**
 * Checks what each tier can run, for the parts of the config both tiers share. Clusters are compiled
 * once for both tiers. The tcp tier runs its clusters on shared/upstream's ClusterRuntime (every
 * lb_policy, priorities, localities, panic threshold, circuit breakers, outlier detection), except
 * outlier detection on STRICT_DNS / LOGICAL_DNS clusters: their host set changes at every re-resolution,
 * and the detector keeps per-host state for a fixed host set, so it is refused there rather than
 * silently reset.
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel, ListenerModel } from "./model.ts";

/** The clusters tcp-tier listeners' tcp_proxy filters use, with the first listener using each. */
export function tcpTierClusterUsers(listeners: readonly ListenerModel[]): Map<string, string> {
  const usedBy = new Map<string, string>();
  for (const l of listeners) {
    if (l.edge) continue;
    for (const chain of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
      for (const f of chain.filters) {
        if (f.kind !== "tcp_proxy") continue;
        const names = f.weightedClusters ? f.weightedClusters.map((w) => w.name) : [f.cluster];
        for (const n of names) if (!usedBy.has(n)) usedBy.set(n, l.name);
      }
    }
  }
  return usedBy;
}

/** Issues for clusters used by tcp-tier listeners that set upstream features the tcp tier does not run. */
export function checkTcpTierClusters(listeners: readonly ListenerModel[], clusters: ReadonlyMap<string, ClusterModel>): ConfigIssue[] {
  const usedBy = tcpTierClusterUsers(listeners);
  const issues: ConfigIssue[] = [];
  let index = 0;
  for (const c of clusters.values()) {
    const path = joinPath("static_resources.clusters", index++);
    const listener = usedBy.get(c.name);
    if (listener === undefined) continue;
    if (c.outlierDetection && c.type !== "STATIC") {
      issues.push({
        kind: "unsupported",
        path: joinPath(path, "outlier_detection"),
        message: `cluster "${c.name}" is used by the tcp tier (listener "${listener}"), which applies outlier_detection to STATIC clusters only (a ${c.type} cluster's hosts change at every DNS refresh)`,
      });
    }
  }
  return issues;
}
