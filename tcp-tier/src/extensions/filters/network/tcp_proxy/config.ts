/**
 * envoy.filters.network.tcp_proxy, config half: resolves the cluster and looks the stats up once per
 * filter config; the factory then makes one {@link TcpProxyFilter} per connection.
 */
import type { TcpProxyModel } from "../../../../../../shared/config/model.ts";
import type { Counter, Gauge } from "../../../../../../shared/stats/store.ts";
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
  upstream_flush_total: Counter;
  upstream_flush_active: Gauge;
}

/** Envoy's defaults for fields the config model does not carry yet. */
export const TCP_PROXY_DEFAULTS = {
  /** `max_connect_attempts`: 1, so a failed connect closes the downstream without trying another host. */
  maxConnectAttempts: 1,
  /** `idle_timeout`: 1 hour when unset. */
  idleTimeoutMs: 3_600_000,
} as const;

/** One tcp_proxy filter config, shared by every connection of its filter chain. */
export interface TcpProxyConfig {
  statPrefix: string;
  clusterName: string;
  /** Undefined when the cluster does not exist (counted as `downstream_cx_no_route`). */
  cluster: Cluster | undefined;
  stats: TcpProxyStats;
  maxConnectAttempts: number;
  idleTimeoutMs: number;
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
    upstream_flush_total: scope.counter("upstream_flush_total"),
    upstream_flush_active: scope.gauge("upstream_flush_active"),
  };
  return {
    statPrefix: model.statPrefix,
    clusterName: model.cluster,
    cluster: context.clusterManager.get(model.cluster),
    stats,
    maxConnectAttempts: TCP_PROXY_DEFAULTS.maxConnectAttempts,
    idleTimeoutMs: TCP_PROXY_DEFAULTS.idleTimeoutMs,
  };
}

export function createTcpProxyFactory(model: TcpProxyModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const config = createTcpProxyConfig(model, context);
  return (manager) => manager.addReadFilter(new TcpProxyFilter(config));
}
