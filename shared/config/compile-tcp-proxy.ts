/**
 * Compiles `envoy.filters.network.tcp_proxy` (`TcpProxy`) into a {@link TcpProxyModel}: the cluster or
 * weighted clusters, connect attempts, timeouts, `hash_policy` and `access_log`, with Envoy's defaults
 * applied. Called once per tcp_proxy filter by compile.ts; reads untrusted canonical JSON and reports
 * every problem as an issue. Fields the validator refuses (coverage.ts) are not read here.
 */
import { compileHcmLogsAndUpgrades } from "./compile-access-log.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel, HttpConnectionManagerModel, TcpProxyModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's `idle_timeout` default: 1 hour. */
export const TCP_PROXY_DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

/**
 * @param config the filter's `typed_config`, at `path`.
 * @param edge the listener is the edge's: tcp_proxy cannot run there (refused).
 */
export function compileTcpProxy(
  issues: ConfigIssue[],
  name: string,
  config: Obj,
  path: string,
  filterPath: string,
  clusters: ReadonlyMap<string, ClusterModel>,
  edge: boolean,
): TcpProxyModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(config.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const model: TcpProxyModel = {
    kind: "tcp_proxy",
    name,
    statPrefix,
    cluster: "",
    maxConnectAttempts: 1,
    idleTimeoutMs: TCP_PROXY_DEFAULT_IDLE_TIMEOUT_MS,
  };
  const wp = p("weighted_clusters");
  const weighted = r.obj(config.weighted_clusters, wp);
  if (weighted && config.cluster !== undefined && config.cluster !== null && config.cluster !== "") {
    r.bad(path, "only one of cluster and weighted_clusters may be set");
  }
  if (weighted) {
    const cp = joinPath(wp, "clusters");
    const list = r.arr(weighted.clusters, cp).map((c, i) => {
      const ip = joinPath(cp, i);
      const o = r.obj(c, ip) ?? {};
      const cluster = r.required(r.str(o.name, joinPath(ip, "name")), joinPath(ip, "name"), "name") ?? "";
      if (cluster && !clusters.has(cluster)) r.bad(joinPath(ip, "name"), `unknown cluster "${cluster}"`, "invalid-reference");
      const weight = r.uint(o.weight, joinPath(ip, "weight")) ?? 0;
      if (weight < 1) r.bad(joinPath(ip, "weight"), "weight must be at least 1");
      return { name: cluster, weight };
    });
    if (list.length === 0) r.bad(cp, "weighted_clusters needs at least one cluster");
    model.weightedClusters = list;
  } else {
    model.cluster = r.required(r.str(config.cluster, p("cluster")), p("cluster"), "cluster") ?? "";
    if (model.cluster && !clusters.has(model.cluster)) r.bad(p("cluster"), `unknown cluster "${model.cluster}"`, "invalid-reference");
  }
  const attempts = r.uint(config.max_connect_attempts, p("max_connect_attempts"));
  if (attempts !== undefined) {
    if (attempts < 1) r.bad(p("max_connect_attempts"), "max_connect_attempts must be at least 1");
    else model.maxConnectAttempts = attempts;
  }
  const idle = r.durationMs(config.idle_timeout, p("idle_timeout"));
  if (idle !== undefined) model.idleTimeoutMs = idle;
  const maxDuration = r.durationMs(config.max_downstream_connection_duration, p("max_downstream_connection_duration"));
  if (maxDuration !== undefined) {
    // Envoy requires at least 1 ms.
    if (maxDuration < 1) r.bad(p("max_downstream_connection_duration"), "max_downstream_connection_duration must be at least 1ms");
    else model.maxDownstreamConnectionDurationMs = maxDuration;
  }
  const hp = p("hash_policy");
  const hashPolicy = r.arr(config.hash_policy, hp).flatMap((h, i) => {
    const ip = joinPath(hp, i);
    const o = r.obj(h, ip) ?? {};
    if (o.source_ip !== undefined && o.source_ip !== null) return [{ kind: "source_ip" as const }];
    if (o.filter_state !== undefined && o.filter_state !== null) {
      r.bad(joinPath(ip, "filter_state"), "`filter_state` hash policies are not supported by Legate (no network filter sets filter state)", "unsupported");
    } else {
      r.bad(ip, "a hash_policy needs source_ip or filter_state");
    }
    return [];
  });
  if (hashPolicy.length) model.hashPolicy = hashPolicy;
  if (config.access_log !== undefined && config.access_log !== null) {
    // The access_log list has the HCM's shape and semantics: compile it with the HCM's code, into a holder.
    const holder = {} as HttpConnectionManagerModel;
    compileHcmLogsAndUpgrades(issues, holder, { access_log: config.access_log }, path, edge);
    if (holder.accessLog?.length) model.accessLog = holder.accessLog;
  }
  if (edge) r.bad(filterPath, "tcp_proxy cannot run at the edge (a Worker has no inbound TCP); serve this listener from the tcp tier", "unsupported");
  return model;
}
