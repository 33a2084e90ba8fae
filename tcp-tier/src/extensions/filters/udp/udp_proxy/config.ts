/**
 * The udp_proxy factory (`envoy.filters.udp_listener.udp_proxy`): resolves the config once per config
 * version (the route matcher compiled, stats looked up, clusters found) and makes one
 * {@link UdpProxyFilter} per bound UDP listener.
 */
import type { MatcherModel, OnMatchModel, UdpProxyModel } from "../../../../../../shared/config/model.ts";
import type { Counter, Gauge } from "../../../../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import { TcpTierError } from "../../../../network/errors.ts";
import { compileNetworkMatcher, type NetworkMatcher } from "../../../../udp/matcher.ts";
import type { UdpListenerFilter, UdpListenerWriter } from "../../../../udp/udp-listener.ts";
import type { Cluster } from "../../../../upstream/cluster.ts";
import { UdpProxyFilter } from "./filter.ts";

/** Envoy's `udp.<stat_prefix>.*` stats. */
export interface UdpProxyStats {
  downstream_sess_total: Counter;
  downstream_sess_active: Gauge;
  downstream_sess_no_route: Counter;
  downstream_sess_rx_bytes: Counter;
  downstream_sess_rx_datagrams: Counter;
  downstream_sess_rx_errors: Counter;
  downstream_sess_tx_bytes: Counter;
  downstream_sess_tx_datagrams: Counter;
  downstream_sess_tx_errors: Counter;
  idle_timeout: Counter;
}

/** Envoy's per-cluster UDP stats (`cluster.<name>.udp.*`) plus the cluster's `upstream_cx_none_healthy`. */
export interface UdpClusterStats {
  sess_rx_datagrams: Counter;
  sess_rx_datagrams_dropped: Counter;
  sess_rx_errors: Counter;
  sess_tx_datagrams: Counter;
  sess_tx_errors: Counter;
  upstream_cx_none_healthy: Counter;
}

/** One route target: the cluster and its UDP stats. */
export interface UdpRouteTarget {
  cluster: Cluster;
  stats: UdpClusterStats;
}

/** Everything a UdpProxyFilter needs, built once per config. */
export interface UdpProxyConfig {
  model: UdpProxyModel;
  stats: UdpProxyStats;
  route: NetworkMatcher<UdpRouteTarget>;
}

/** Makes the per-listener filter; called when the listener binds. */
export type UdpProxyFactory = (writer: UdpListenerWriter) => UdpListenerFilter;

export function createUdpProxyFactory(model: UdpProxyModel, context: NetworkFilterFactoryContext): UdpProxyFactory {
  const scope = context.stats.scope(`udp.${model.statPrefix}.`);
  const c = (n: string) => scope.counter(n);
  const stats: UdpProxyStats = {
    downstream_sess_total: c("downstream_sess_total"),
    downstream_sess_active: scope.gauge("downstream_sess_active"),
    downstream_sess_no_route: c("downstream_sess_no_route"),
    downstream_sess_rx_bytes: c("downstream_sess_rx_bytes"),
    downstream_sess_rx_datagrams: c("downstream_sess_rx_datagrams"),
    downstream_sess_rx_errors: c("downstream_sess_rx_errors"),
    downstream_sess_tx_bytes: c("downstream_sess_tx_bytes"),
    downstream_sess_tx_datagrams: c("downstream_sess_tx_datagrams"),
    downstream_sess_tx_errors: c("downstream_sess_tx_errors"),
    idle_timeout: c("idle_timeout"),
  };
  const targets = new Map<string, UdpRouteTarget>();
  const target = (name: string): UdpRouteTarget => {
    let t = targets.get(name);
    if (t) return t;
    const cluster = context.clusterManager.get(name);
    if (!cluster) throw new TcpTierError("LEGATE_UNSUPPORTED_IN_TCP_TIER", `udp_proxy ${model.statPrefix}: unknown cluster "${name}"`);
    const cs = context.stats.scope(`cluster.${name}.`);
    const us = cs.scope("udp.");
    t = {
      cluster,
      stats: {
        sess_rx_datagrams: us.counter("sess_rx_datagrams"),
        sess_rx_datagrams_dropped: us.counter("sess_rx_datagrams_dropped"),
        sess_rx_errors: us.counter("sess_rx_errors"),
        sess_tx_datagrams: us.counter("sess_tx_datagrams"),
        sess_tx_errors: us.counter("sess_tx_errors"),
        upstream_cx_none_healthy: cs.counter("upstream_cx_none_healthy"),
      },
    };
    targets.set(name, t);
    return t;
  };
  const route = compileNetworkMatcher(mapActions(model.matcher, target));
  const config: UdpProxyConfig = { model, stats, route };
  return (writer) => new UdpProxyFilter(config, writer, context.logger);
}

/** The same matcher with every cluster name resolved to its target (once, at config time). */
function mapActions<A, B>(m: MatcherModel<A>, f: (a: A) => B): MatcherModel<B> {
  const om = (o: OnMatchModel<A>): OnMatchModel<B> => ("action" in o ? { action: f(o.action) } : { matcher: mapActions(o.matcher, f) });
  const out: MatcherModel<B> = {};
  if (m.list) out.list = m.list.map((e) => ({ predicate: e.predicate, onMatch: om(e.onMatch) }));
  if (m.tree) {
    const t = m.tree;
    out.tree = { kind: t.kind, input: t.input, map: new Map([...t.map].map(([k, v]) => [k, om(v)])) };
  }
  if (m.onNoMatch) out.onNoMatch = om(m.onNoMatch);
  return out;
}
