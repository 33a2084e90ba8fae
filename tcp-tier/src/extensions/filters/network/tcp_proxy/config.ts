/**
 * envoy.filters.network.tcp_proxy, config half: resolves the cluster (or weighted clusters), looks the
 * stats up and builds the access loggers once per filter config; the factory then makes one
 * {@link TcpProxyFilter} per connection.
 */
import { createAccessLogs, type AccessLogs } from "../../../../../../shared/access-log/access-log.ts";
import type { TcpProxyModel } from "../../../../../../shared/config/model.ts";
import type { Counter, Gauge } from "../../../../../../shared/stats/store.ts";
import { nodeAccessLogSinks } from "../../../../access-log/node-sinks.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { NetworkFilterFactory } from "../../../../network/filter.ts";
import type { Cluster } from "../../../../upstream/cluster.ts";
import { TcpProxyFilter } from "./filter.ts";

/** Envoy's tcp_proxy stats (`tcp.<stat_prefix>.*`). */
export interface TcpProxyStats {
  downstream_cx_total: Counter;
  downstream_cx_no_route: Counter;
  downstream_cx_rx_bytes_total: Counter;
  downstream_cx_rx_bytes_buffered: Gauge;
  downstream_cx_tx_bytes_total: Counter;
  downstream_cx_tx_bytes_buffered: Gauge;
  downstream_flow_control_paused_reading_total: Counter;
  downstream_flow_control_resumed_reading_total: Counter;
  idle_timeout: Counter;
  max_downstream_connection_duration: Counter;
  upstream_flush_total: Counter;
  upstream_flush_active: Gauge;
}

/** One target of the filter: a cluster name, the cluster (undefined when it does not exist), its weight. */
export interface TcpProxyTarget {
  name: string;
  cluster: Cluster | undefined;
  weight: number;
}

/** One tcp_proxy filter config, shared by every connection of its filter chain. */
export interface TcpProxyConfig {
  statPrefix: string;
  /** `cluster` as one target of weight 1, or `weighted_clusters` in config order. */
  targets: readonly TcpProxyTarget[];
  totalWeight: number;
  stats: TcpProxyStats;
  maxConnectAttempts: number;
  /** 0: disabled. */
  idleTimeoutMs: number;
  /** 0: no limit. */
  maxDownstreamConnectionDurationMs: number;
  /** `hash_policy` has `source_ip`: the downstream address is the connection's hash key. */
  hashSourceIp: boolean;
  accessLogs: AccessLogs | undefined;
  /** Uniform in [0, 1), for weighted cluster picks. */
  random: () => number;
}

export function createTcpProxyConfig(model: TcpProxyModel, context: NetworkFilterFactoryContext): TcpProxyConfig {
  const scope = context.stats.scope(`tcp.${model.statPrefix}.`);
  const stats: TcpProxyStats = {
    downstream_cx_total: scope.counter("downstream_cx_total"),
    downstream_cx_no_route: scope.counter("downstream_cx_no_route"),
    downstream_cx_rx_bytes_total: scope.counter("downstream_cx_rx_bytes_total"),
    downstream_cx_rx_bytes_buffered: scope.gauge("downstream_cx_rx_bytes_buffered"),
    downstream_cx_tx_bytes_total: scope.counter("downstream_cx_tx_bytes_total"),
    downstream_cx_tx_bytes_buffered: scope.gauge("downstream_cx_tx_bytes_buffered"),
    downstream_flow_control_paused_reading_total: scope.counter("downstream_flow_control_paused_reading_total"),
    downstream_flow_control_resumed_reading_total: scope.counter("downstream_flow_control_resumed_reading_total"),
    idle_timeout: scope.counter("idle_timeout"),
    max_downstream_connection_duration: scope.counter("max_downstream_connection_duration"),
    upstream_flush_total: scope.counter("upstream_flush_total"),
    upstream_flush_active: scope.gauge("upstream_flush_active"),
  };
  const targets: TcpProxyTarget[] = (model.weightedClusters ?? [{ name: model.cluster, weight: 1 }]).map((w) => ({
    name: w.name,
    cluster: context.clusterManager.get(w.name),
    weight: w.weight,
  }));
  return {
    statPrefix: model.statPrefix,
    targets,
    totalWeight: targets.reduce((n, t) => n + t.weight, 0),
    stats,
    maxConnectAttempts: model.maxConnectAttempts,
    idleTimeoutMs: model.idleTimeoutMs,
    maxDownstreamConnectionDurationMs: model.maxDownstreamConnectionDurationMs ?? 0,
    hashSourceIp: model.hashPolicy?.some((h) => h.kind === "source_ip") ?? false,
    accessLogs: model.accessLog?.length ? createAccessLogs(model.accessLog, { sinks: nodeAccessLogSinks(context.logger) }) : undefined,
    random: Math.random,
  };
}

/** The target for one connection: the only one, or one drawn in proportion to the weights. */
export function pickTarget(config: TcpProxyConfig): TcpProxyTarget {
  const targets = config.targets;
  if (targets.length === 1) return targets[0]!;
  let point = Math.floor(config.random() * config.totalWeight);
  for (const t of targets) {
    if (point < t.weight) return t;
    point -= t.weight;
  }
  return targets[targets.length - 1]!;
}

export function createTcpProxyFactory(model: TcpProxyModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const config = createTcpProxyConfig(model, context);
  return (manager) => manager.addReadFilter(new TcpProxyFilter(config));
}
