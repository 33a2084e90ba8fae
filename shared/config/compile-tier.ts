/**
 * Checks what each tier can run, for the parts of the config both tiers share. Clusters are compiled
 * once for both tiers, but the tcp tier does not yet apply the upstream features the edge has
 * (priorities, localities, hash-based balancers, circuit breakers, outlier detection): a cluster that a
 * tcp-tier listener uses must not set them, or they would be accepted and ignored there.
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel, ListenerModel } from "./model.ts";

const TCP_TIER_LB: ReadonlySet<string> = new Set(["ROUND_ROBIN", "RANDOM", "LEAST_REQUEST"]);

/** Issues for clusters used by tcp-tier listeners that set upstream features only the edge runs. */
export function checkTcpTierClusters(listeners: readonly ListenerModel[], clusters: ReadonlyMap<string, ClusterModel>): ConfigIssue[] {
  const usedBy = new Map<string, string>();
  for (const l of listeners) {
    if (l.edge) continue;
    for (const chain of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
      for (const f of chain.filters) if (f.kind === "tcp_proxy" && !usedBy.has(f.cluster)) usedBy.set(f.cluster, l.name);
    }
  }
  const issues: ConfigIssue[] = [];
  let index = 0;
  for (const c of clusters.values()) {
    const path = joinPath("static_resources.clusters", index++);
    const listener = usedBy.get(c.name);
    if (listener === undefined) continue;
    const features: string[] = [];
    if (!TCP_TIER_LB.has(c.lbPolicy)) features.push(`lb_policy ${c.lbPolicy}`);
    // Panic threshold and overprovisioning only act on unhealthy hosts and priorities, which the tcp tier
    // does not have yet; least_request_lb_config would change its picks, so it is refused.
    const lr = c.lbConfig?.leastRequest;
    if (lr && (lr.choiceCount !== 2 || lr.activeRequestBias !== 1)) features.push("least_request_lb_config");
    if (c.circuitBreakers) features.push("circuit_breakers");
    if (c.outlierDetection) features.push("outlier_detection");
    if (c.endpoints.some((e) => (e.priority ?? 0) > 0)) features.push("endpoint priorities");
    if (c.endpoints.some((e) => e.localityWeight !== undefined)) features.push("locality weights");
    if (features.length) {
      issues.push({
        kind: "unsupported",
        path,
        message: `cluster "${c.name}" is used by the tcp tier (listener "${listener}"), which does not apply ${features.join(", ")} yet; only the edge does`,
      });
    }
  }
  return issues;
}
