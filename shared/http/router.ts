/**
 * The router (`envoy.filters.http.router`): the terminal filter. Per stream it takes the route the
 * route table matched, answers a `direct_response` itself, or picks a host of the route's cluster and
 * sends the request through the {@link UpstreamTransport}.
 *
 * Stats, with Envoy's names:
 * - `http.<stat_prefix>.no_route`, `no_cluster`, `rq_direct_response`;
 * - `cluster.<name>.upstream_rq_total` (requests that reached a host: a connect failure is not one),
 *   `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed` (upstream responses, and the
 *   503 of a connect failure, as Envoy charges it), `upstream_rq_time` (ms, request start to end of the
 *   response body), `upstream_cx_connect_fail`, `upstream_cx_none_healthy`.
 * Adds `x-envoy-upstream-service-time` (ms to upstream response headers) to proxied responses, and
 * drops connection-specific (hop-by-hop) headers both ways, as Envoy's codecs do.
 *
 * Not yet: timeouts, retries, hedging, mirroring, circuit breakers, header manipulation.
 */
import type { ClusterModel, EndpointModel } from "../config/model.ts";
import { createLoadBalancer, type LbHost } from "../lb/index.ts";
import type { Counter, Histogram, StatsScope } from "../stats/store.ts";
import { ProxyError, toProxyError } from "./errors.ts";
import type { HttpResponse, HttpStream, TerminalHttpFilter, TerminalHttpFilterFactory } from "./filter.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";

/**
 * Connection-specific headers, which Envoy's codecs never forward in either direction (HTTP/1.1
 * hop-by-hop headers; `te` survives only as `trailers`).
 */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

function stripHopByHop(headers: Headers): void {
  for (const h of HOP_BY_HOP) headers.delete(h);
}

/** An upstream host as the router sees it: the endpoint, and the requests in flight to it. */
export interface RouterHost extends LbHost {
  readonly endpoint: EndpointModel;
  readonly weight: number;
  activeRequests: number;
}

/** Picks the host for one attempt; undefined when the cluster has none to offer. */
export type HostPicker = () => RouterHost | undefined;

/**
 * The cluster's configured policy (`lb_policy`: ROUND_ROBIN weighted, RANDOM, LEAST_REQUEST) over its
 * endpoints, through shared/lb. Built once per config version; the router keeps `activeRequests`
 * current so LEAST_REQUEST sees the load.
 */
export function createLbPicker(cluster: ClusterModel): HostPicker {
  const hosts: RouterHost[] = cluster.endpoints.map((endpoint) => ({ endpoint, weight: endpoint.weight, activeRequests: 0 }));
  const lb = createLoadBalancer<RouterHost>(cluster.lbPolicy);
  lb.build(hosts);
  return () => lb.chooseHost();
}

export interface RouterOptions {
  /** The filter's configured name. Default `envoy.filters.http.router`. */
  name?: string;
  clusters: ReadonlyMap<string, ClusterModel>;
  transport: UpstreamTransport;
  /** The root stats scope (names are absolute: `cluster.<name>.…`). */
  stats: StatsScope;
  /** The HCM's `stat_prefix`. */
  statPrefix: string;
  /** Builds a cluster's host picker, once per config version. Default {@link createLbPicker}. */
  createPicker?: (cluster: ClusterModel) => HostPicker;
  /** Monotonic milliseconds. Default `performance.now()`. */
  now?: () => number;
}

/** A cluster's per-config state: its picker and its stats, looked up once. */
class ClusterRuntime {
  readonly model: ClusterModel;
  readonly pick: HostPicker;
  readonly rqTotal: Counter;
  readonly rqCompleted: Counter;
  readonly cxConnectFail: Counter;
  readonly cxNoneHealthy: Counter;
  readonly rqTime: Histogram;
  private readonly scope: StatsScope;
  private readonly byCode = new Map<number, Counter>();
  private readonly byClass: Counter[] = [];

  constructor(model: ClusterModel, stats: StatsScope, pick: HostPicker) {
    this.model = model;
    this.pick = pick;
    this.scope = stats.scope(`cluster.${model.name}.`);
    this.rqTotal = this.scope.counter("upstream_rq_total");
    this.rqCompleted = this.scope.counter("upstream_rq_completed");
    this.cxConnectFail = this.scope.counter("upstream_cx_connect_fail");
    this.cxNoneHealthy = this.scope.counter("upstream_cx_none_healthy");
    this.rqTime = this.scope.histogram("upstream_rq_time");
  }

  /** Envoy's chargeUpstreamCode: `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed`. */
  chargeCode(status: number): void {
    let c = this.byCode.get(status);
    if (!c) this.byCode.set(status, (c = this.scope.counter(`upstream_rq_${status}`)));
    c.inc();
    const cls = Math.floor(status / 100);
    (this.byClass[cls] ??= this.scope.counter(`upstream_rq_${cls}xx`)).inc();
    this.rqCompleted.inc();
  }
}

/** Builds the router's factory once per config version. */
export function createRouterFactory(options: RouterOptions): TerminalHttpFilterFactory {
  const now = options.now ?? (() => performance.now());
  const createPicker = options.createPicker ?? createLbPicker;
  const clusters = new Map<string, ClusterRuntime>();
  for (const c of options.clusters.values()) clusters.set(c.name, new ClusterRuntime(c, options.stats, createPicker(c)));
  const http = options.stats.scope(`http.${options.statPrefix}.`);
  const noRoute = http.counter("no_route");
  const noCluster = http.counter("no_cluster");
  const directResponse = http.counter("rq_direct_response");
  const transport = options.transport;

  class RouterFilter implements TerminalHttpFilter {
    private cluster: ClusterRuntime | undefined;
    private host: RouterHost | undefined;
    private upstreamStart = 0;
    private gotHeaders = false;

    async respond(stream: HttpStream): Promise<HttpResponse> {
      const match = stream.route();
      if (!match) {
        noRoute.inc();
        throw new ProxyError("no_route");
      }
      const route = match.route.model;
      stream.info.routeName = route.name;
      const action = route.action;
      if (action.kind === "direct_response") {
        directResponse.inc();
        stream.info.responseCodeDetails = "direct_response";
        const headers = new Headers();
        if (action.body) headers.set("content-type", "text/plain");
        return { status: action.status, statusText: "", headers, body: action.body ?? null };
      }
      const cluster = clusters.get(action.cluster);
      if (!cluster) {
        noCluster.inc();
        throw new ProxyError("cluster_not_found", `cluster "${action.cluster}" is not defined`);
      }
      this.cluster = cluster;
      stream.info.upstreamCluster = cluster.model.name;
      const host = cluster.pick();
      if (!host) {
        cluster.cxNoneHealthy.inc();
        throw new ProxyError("no_healthy_upstream", `cluster "${cluster.model.name}" has no hosts`);
      }
      const { address, port } = host.endpoint;
      const hostPort = `${address.includes(":") ? `[${address}]` : address}:${port}`;
      stream.info.upstreamHost = hostPort;
      const requestHeaders = stream.requestHeaders;
      stripHopByHop(requestHeaders);
      const te = requestHeaders.get("te");
      if (te !== null && te.trim().toLowerCase() !== "trailers") requestHeaders.delete("te");
      this.upstreamStart = now();
      this.host = host;
      host.activeRequests++;
      let response: Response;
      try {
        response = await transport.fetch({
          url: `http://${hostPort}${stream.path}`,
          method: stream.method,
          headers: requestHeaders,
          body: stream.requestBody,
          authority: stream.authority,
          cluster: cluster.model,
          host: host.endpoint,
        });
      } catch (e) {
        const err = toProxyError(e);
        if (err.code === "upstream_connect_failure") cluster.cxConnectFail.inc();
        if (err.spec.source === "upstream") cluster.chargeCode(err.spec.status);
        throw err;
      }
      this.gotHeaders = true;
      // Envoy charges upstream_rq_total when the pool binds the request to a connection; fetch shows
      // that only as "headers arrived", so a connect failure is not counted here (as in Envoy).
      cluster.rqTotal.inc();
      cluster.chargeCode(response.status);
      stream.info.responseCodeDetails = "via_upstream";
      const headers = new Headers(response.headers);
      stripHopByHop(headers);
      headers.set("x-envoy-upstream-service-time", String(Math.round(now() - this.upstreamStart)));
      return { status: response.status, statusText: response.statusText, headers, body: response.body };
    }

    onStreamComplete(): void {
      if (this.host) this.host.activeRequests--;
      if (this.gotHeaders && this.cluster) this.cluster.rqTime.record(now() - this.upstreamStart);
    }
  }

  return { name: options.name ?? "envoy.filters.http.router", create: () => new RouterFilter() };
}
