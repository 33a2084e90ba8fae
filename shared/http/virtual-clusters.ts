/**
 * Envoy's virtual clusters (`VirtualHost.virtual_clusters`): named classes of requests, each with its
 * own stats under `vhost.<virtual host>.vcluster.<name>.`. Compiled once per config version with the
 * route table; selected once per request (the first virtual cluster whose header matchers all match;
 * `:path` and `:method` read the request line). When a virtual host has virtual clusters, a request
 * that matches none belongs to Envoy's catch-all `other`; without any, requests have none.
 *
 * Stats (created when the router first charges a virtual cluster, looked up once per config):
 * `upstream_rq_total`, `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed`,
 * `upstream_rq_time` (histogram, ms), `upstream_rq_retry`, `upstream_rq_retry_success`,
 * `upstream_rq_retry_limit_exceeded`, `upstream_rq_retry_overflow`, `upstream_rq_timeout`.
 */
import type { VirtualHostModel } from "../config/model.ts";
import type { Counter, Histogram, StatsScope } from "../stats/store.ts";
import { compileHeaderMatcher, type MatchRequest } from "./matchers.ts";
import type { RouterClusterStats } from "./router-stats.ts";

/** Envoy's name for requests that match no virtual cluster of a host that has some. */
export const CATCH_ALL_VIRTUAL_CLUSTER = "other";

/** One virtual cluster, compiled. */
export interface CompiledVirtualCluster {
  readonly name: string;
  /** `vhost.<virtual host>.vcluster.<name>.` */
  readonly statPrefix: string;
}

/** Picks a request's virtual cluster; built once per virtual host that has virtual clusters. */
export type VirtualClusterSelector = (request: MatchRequest) => CompiledVirtualCluster;

/** The virtual host's selector, or undefined when it has no virtual clusters. */
export function compileVirtualClusters(vh: VirtualHostModel): VirtualClusterSelector | undefined {
  const list = vh.virtualClusters;
  if (!list || list.length === 0) return undefined;
  const base = `vhost.${vh.name}.vcluster.`;
  const entries = list.map((vc) => ({
    cluster: { name: vc.name, statPrefix: `${base}${vc.name}.` } as CompiledVirtualCluster,
    matchers: vc.headers.map((h) => compileHeaderMatcher(h)),
  }));
  const other: CompiledVirtualCluster = { name: CATCH_ALL_VIRTUAL_CLUSTER, statPrefix: `${base}${CATCH_ALL_VIRTUAL_CLUSTER}.` };
  return (request) => {
    for (const e of entries) {
      let ok = true;
      for (const m of e.matchers) {
        if (!m(request)) {
          ok = false;
          break;
        }
      }
      if (ok) return e.cluster;
    }
    return other;
  };
}

/** A virtual cluster's stats. */
export class VirtualClusterStats {
  readonly total: Counter;
  readonly retry: Counter;
  readonly retrySuccess: Counter;
  readonly retryLimitExceeded: Counter;
  readonly retryOverflow: Counter;
  readonly timeout: Counter;
  readonly completed: Counter;
  readonly time: Histogram;
  private readonly scope: StatsScope;
  private readonly byCode = new Map<number, Counter>();
  private readonly byClass: Counter[] = [];

  /** @param scope the virtual cluster's scope, `vhost.<vh>.vcluster.<name>.`. */
  constructor(scope: StatsScope) {
    this.scope = scope;
    this.total = scope.counter("upstream_rq_total");
    this.retry = scope.counter("upstream_rq_retry");
    this.retrySuccess = scope.counter("upstream_rq_retry_success");
    this.retryLimitExceeded = scope.counter("upstream_rq_retry_limit_exceeded");
    this.retryOverflow = scope.counter("upstream_rq_retry_overflow");
    this.timeout = scope.counter("upstream_rq_timeout");
    this.completed = scope.counter("upstream_rq_completed");
    this.time = scope.histogram("upstream_rq_time");
  }

  /** Charges the response code of the request (`upstream_rq_<code>`, `<N>xx`, `completed`). */
  chargeCode(status: number): void {
    let c = this.byCode.get(status);
    if (!c) this.byCode.set(status, (c = this.scope.counter(`upstream_rq_${status}`)));
    c.inc();
    const cls = Math.floor(status / 100);
    (this.byClass[cls] ??= this.scope.counter(`upstream_rq_${cls}xx`)).inc();
    this.completed.inc();
  }
}

/** A counter that counts into two (reads show the first). */
function tee(a: Counter, b: Counter): Counter {
  const c = Object.create(a) as Counter;
  c.inc = (by = 1) => {
    a.inc(by);
    b.inc(by);
  };
  return c;
}

/**
 * The router's cluster stats for requests of one virtual cluster: the cluster's, with the retry and
 * timeout counters also counting into the virtual cluster's, and `retryOverflow` set (the cluster's
 * own overflow counter belongs to its circuit breakers). Build once per (cluster, virtual cluster).
 */
export function withVirtualClusterStats(cluster: RouterClusterStats, vc: VirtualClusterStats): RouterClusterStats {
  const out = Object.create(cluster) as { -readonly [K in keyof RouterClusterStats]: RouterClusterStats[K] };
  out.retry = tee(cluster.retry, vc.retry);
  out.retrySuccess = tee(cluster.retrySuccess, vc.retrySuccess);
  out.retryLimitExceeded = tee(cluster.retryLimitExceeded, vc.retryLimitExceeded);
  out.timeout = tee(cluster.timeout, vc.timeout);
  out.retryOverflow = vc.retryOverflow;
  return out as RouterClusterStats;
}
