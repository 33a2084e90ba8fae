/**
 * The router (`envoy.filters.http.router`): the terminal filter, and the only code that talks to
 * upstreams. Per stream it takes the route the route table matched and either answers a
 * `direct_response` itself or forwards the request to the route's cluster:
 *
 * 1. the request controls (x-envoy-retry-on, x-envoy-upstream-rq-timeout-ms, ...: request-controls.ts)
 *    are read from trusted clients and removed for everyone;
 * 2. the route's retry policy and the controls make the request's RetryState (retry-state.ts);
 * 3. a request that could be retried or mirrored has its body buffered (body-buffer.ts), up to
 *    `per_request_buffer_limit_bytes` (route, else virtual host, never above the listener's buffer
 *    limit, 1 MiB by default); a larger body goes through once, unretried and unmirrored
 *    (`retry_or_shadow_abandoned`);
 * 4. the shadows of `request_mirror_policies` go out (mirror.ts), kept alive by the runtime's
 *    `waitUntil` when the stream offers one;
 * 5. the attempt loop (upstream-call.ts: host selection through the cluster runtime, circuit
 *    breakers, per-try timeouts, retries with back-off, hedging, the route timeout) yields response
 *    headers or a classified failure;
 * 6. the response goes back with `x-envoy-upstream-service-time` and, when configured,
 *    `x-envoy-attempt-count`; the route timeout, idle timeouts and max stream duration keep watching
 *    its body: the router hands them to the engine as `bodyGuard` (with the request's one timer,
 *    stream-timer.ts), which enforces them as it sends the body (response-guard.ts, body-pipe.ts).
 *
 * Stats, with Envoy's names: `http.<stat_prefix>.no_route`, `no_cluster`, `rq_direct_response`,
 * `rq_total`, `downstream_rq_idle_timeout`, `downstream_rq_max_duration_reached`; per cluster the
 * cluster runtime's (`upstream_rq_total`, `upstream_rq_<code>`, `upstream_rq_<N>xx`,
 * `upstream_rq_completed`, `upstream_rq_time`, `upstream_cx_connect_fail`, `upstream_cx_none_healthy`,
 * circuit breakers, outlier detection) and the router's (router-stats.ts: retries, timeouts, resets).
 * Connection-specific (hop-by-hop) headers are dropped both ways, as Envoy's codecs do.
 */
import type { ClusterModel, RequestMirrorPolicyModel, RouterPolicyModel, RoutingPriority } from "../config/model.ts";
import { createStaticRuntime, type Runtime } from "../runtime/runtime.ts";
import type { StatsScope } from "../stats/store.ts";
import { type ClusterRuntime, getClusterRuntime, type UpstreamHost } from "../upstream/cluster.ts";
import { computeHashKey, type HashRequest } from "../upstream/hash-policy.ts";
import { bufferRequestBody, NO_BODY, type RouterBody } from "./body-buffer.ts";
import { isProxyError, ProxyError } from "./errors.ts";
import type { HttpResponse, HttpStream, TerminalHttpFilter, TerminalHttpFilterFactory } from "./filter.ts";
import { sendShadows } from "./mirror.ts";
import { isTrustedRequest, takeRequestControls } from "./request-controls.ts";
import { type BodyGuard, hasLimits, type GuardLimits } from "./response-guard.ts";
import { stripHopByHop } from "./headers.ts";
import { StreamTimer } from "./stream-timer.ts";
import { type CompiledRetryPolicy, compileRetryPolicy } from "./retry-policy.ts";
import { createRetryState } from "./retry-state.ts";
import { RouterClusterStats } from "./router-stats.ts";
import { type CompiledVirtualCluster, VirtualClusterStats, withVirtualClusterStats } from "./virtual-clusters.ts";
import { runUpstreamCall, type UpstreamCallResult } from "./upstream-call.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";

/** Header on responses whose flags the router set (URX, UO) although they came from the upstream. */
const RESPONSE_FLAGS_HEADER = "x-legate-response-flags";

/** Envoy's listener default `per_connection_buffer_limit_bytes`. */
const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

export interface RouterOptions {
  /** The filter's configured name. Default `envoy.filters.http.router`. */
  name?: string;
  clusters: ReadonlyMap<string, ClusterModel>;
  transport: UpstreamTransport;
  /** The root stats scope (names are absolute: `cluster.<name>.…`). */
  stats: StatsScope;
  /** The HCM's `stat_prefix`. */
  statPrefix: string;
  /**
   * The listener's `per_connection_buffer_limit_bytes`: the most a request body is buffered for
   * retries and mirroring (a route's `per_request_buffer_limit_bytes` can only lower it). Default 1 MiB.
   */
  connectionBufferLimitBytes?: number;
  /** Runtime values (`upstream.use_retry`, `upstream.base_retry_backoff_ms`, mirror fractions, breakers). */
  runtime?: Runtime;
  /**
   * The HCM's `stream_idle_timeout` in ms, for routes without an `idle_timeout` of their own (a route's
   * replaces it, 0 included). Default 0: none (the engine passes Envoy's 5 min default).
   */
  streamIdleTimeoutMs?: number;
  /** Monotonic milliseconds. Default `performance.now()`. */
  now?: () => number;
  /** Uniform in [0, 1) (back-off jitter, mirror fractions). Default `Math.random`. */
  random?: () => number;
}

/** A route's router settings compiled for the request path, once per config version. */
interface CompiledRoutePolicy {
  readonly model: RouterPolicyModel | undefined;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxStreamDurationMs: number;
  readonly retry: CompiledRetryPolicy | undefined;
  readonly hedge: boolean;
  readonly mirrors: readonly RequestMirrorPolicyModel[];
  readonly bufferLimit: number;
  readonly includeAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  readonly includeIsTimeoutRetry: boolean;
}

/** A cluster as the router uses it: the isolate's runtime (shared/upstream) and the router's own stats. */
interface RouterCluster {
  readonly runtime: ClusterRuntime;
  readonly stats: RouterClusterStats;
  readonly pick: (tried: ReadonlySet<UpstreamHost> | undefined, hashKey: bigint | undefined) => UpstreamHost | undefined;
}

/** Builds the router's factory once per config version. */
export function createRouterFactory(options: RouterOptions): TerminalHttpFilterFactory {
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const runtime = options.runtime ?? createStaticRuntime();
  const connectionLimit = options.connectionBufferLimitBytes ?? DEFAULT_BUFFER_LIMIT;
  const clusters = new Map<string, RouterCluster>();
  for (const model of options.clusters.values()) {
    const rt = getClusterRuntime(model, options.stats, options.runtime);
    clusters.set(model.name, {
      runtime: rt,
      stats: new RouterClusterStats(rt.stats),
      pick: (triedHosts, hashKey) => rt.chooseHost({ triedHosts, hashKey }),
    });
  }
  const http = options.stats.scope(`http.${options.statPrefix}.`);
  const noRoute = http.counter("no_route");
  const noCluster = http.counter("no_cluster");
  const directResponse = http.counter("rq_direct_response");
  const rqTotal = http.counter("rq_total");
  const idleTimeout = http.counter("downstream_rq_idle_timeout");
  const maxDurationReached = http.counter("downstream_rq_max_duration_reached");
  const transport = options.transport;
  const policies = new WeakMap<RouterPolicyModel, CompiledRoutePolicy>();
  const streamIdleMs = options.streamIdleTimeoutMs ?? 0;
  const defaults = compilePolicy(undefined, connectionLimit, streamIdleMs);
  const policyOf = (model: RouterPolicyModel | undefined): CompiledRoutePolicy => {
    if (!model) return defaults;
    let p = policies.get(model);
    if (!p) policies.set(model, (p = compilePolicy(model, connectionLimit, streamIdleMs)));
    return p;
  };
  /** Virtual cluster stats by stat prefix, and the router's cluster stats seen through each. */
  const vcStats = new Map<string, VirtualClusterStats>();
  const vcRouterStats = new WeakMap<RouterClusterStats, Map<VirtualClusterStats, RouterClusterStats>>();
  const virtualClusterStats = (vc: CompiledVirtualCluster): VirtualClusterStats => {
    let st = vcStats.get(vc.statPrefix);
    if (!st) vcStats.set(vc.statPrefix, (st = new VirtualClusterStats(options.stats.scope(vc.statPrefix))));
    return st;
  };
  const routerStatsFor = (cluster: RouterCluster, vc: VirtualClusterStats | undefined): RouterClusterStats => {
    if (!vc) return cluster.stats;
    let byVc = vcRouterStats.get(cluster.stats);
    if (!byVc) vcRouterStats.set(cluster.stats, (byVc = new Map()));
    let st = byVc.get(vc);
    if (!st) byVc.set(vc, (st = withVirtualClusterStats(cluster.stats, vc)));
    return st;
  };
  const onStreamLimit = (kind: "idle" | "max_duration") => (kind === "idle" ? idleTimeout : maxDurationReached).inc();

  class RouterFilter implements TerminalHttpFilter {
    private cluster: RouterCluster | undefined;
    private result: UpstreamCallResult | undefined;
    private vc: VirtualClusterStats | undefined;

    async respond(stream: HttpStream): Promise<HttpResponse> {
      try {
        const response = await this.forward(stream);
        if (this.vc && stream.info.responseCodeDetails === "via_upstream") this.vc.chargeCode(response.status);
        return response;
      } catch (e) {
        // A failure of the upstream call is charged to the virtual cluster as its local reply's code.
        if (this.vc && isProxyError(e) && e.spec.source === "upstream" && e.code !== "no_healthy_upstream") this.vc.chargeCode(e.spec.status);
        throw e;
      }
    }

    private async forward(stream: HttpStream): Promise<HttpResponse> {
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
      rqTotal.inc();
      this.cluster = cluster;
      stream.info.upstreamCluster = cluster.runtime.name;
      const vc = stream.info.virtualCluster ? virtualClusterStats(stream.info.virtualCluster) : undefined;
      this.vc = vc;
      vc?.total.inc();
      if (cluster.runtime.maintenanceMode(Math.floor(random() * 2 ** 53))) {
        // Envoy charges the 503 to the cluster (upstream_rq_503, 5xx) and answers at once.
        cluster.runtime.chargeCode(503);
        vc?.chargeCode(503);
        return overloadedReply(stream, new ProxyError("maintenance_mode"));
      }
      const routerStats = routerStatsFor(cluster, vc);
      const policy = policyOf(action.router);
      const headers = stream.requestHeaders;
      stripHopByHop(headers);
      const te = headers.get("te");
      if (te !== null && te.trim().toLowerCase() !== "trailers") headers.delete("te");

      const controls = takeRequestControls(headers, isTrustedRequest(headers));
      const timeoutMs = controls?.timeoutMs ?? policy.timeoutMs;
      let perTryTimeoutMs = controls?.perTryTimeoutMs ?? policy.retry?.perTryTimeoutMs ?? 0;
      // Envoy ignores a per-try timeout that is not below the route timeout.
      if (timeoutMs > 0 && perTryTimeoutMs >= timeoutMs) perTryTimeoutMs = 0;
      const hedge = controls?.hedgeOnPerTryTimeout ?? policy.hedge;
      const priority: RoutingPriority = "DEFAULT";
      let retry = createRetryState({
        policy: policy.retry,
        controls,
        request: stream,
        breakers: cluster.runtime.breakers,
        stats: routerStats,
        priority,
        runtime,
        random,
        epochNow: Date.now,
      });

      let body: RouterBody = NO_BODY;
      if (stream.requestBody) {
        if (retry || policy.mirrors.length > 0) {
          body = await bufferRequestBody(stream.requestBody, policy.bufferLimit, headers.get("content-length"));
          if (body.kind === "stream") {
            // Too large to keep: sent once, neither retried nor mirrored.
            routerStats.retryOrShadowAbandoned.inc();
            retry = undefined;
          }
        } else body = { kind: "stream", stream: stream.requestBody };
      }

      if (policy.mirrors.length > 0 && body.kind !== "stream") {
        const shadows = sendShadows({
          policies: policy.mirrors,
          cluster: (name) => {
            const c = clusters.get(name);
            return c && { runtime: c.runtime, stats: c.stats };
          },
          transport,
          runtime,
          random,
          method: stream.method,
          path: stream.path,
          authority: stream.authority,
          headers,
          body,
          timeoutMs,
        });
        if (shadows) stream.waitUntil?.(shadows);
      }

      let setCookies: string[] | undefined;
      let hashKey: bigint | undefined;
      if (action.hashPolicy) {
        const hashRequest: HashRequest = { headers, path: stream.path, sourceIp: stream.downstreamRemoteAddress };
        if (action.hashPolicy.some((p) => p.kind === "cookie" && p.generate)) {
          hashRequest.setCookies = setCookies = [];
          hashRequest.connectionKey = stream.downstreamConnectionKey;
        }
        hashKey = computeHashKey(action.hashPolicy, hashRequest);
      }
      const maxDurationDeadline = policy.maxStreamDurationMs > 0 ? stream.info.startTime + policy.maxStreamDurationMs : Infinity;
      const callStart = now();
      // One timer for the route timeout, from the request through the response body.
      const timer = new StreamTimer();
      let result: UpstreamCallResult;
      try {
        result = await runUpstreamCall({
          cluster: cluster.runtime,
          stats: routerStats,
          transport,
          pickHost: (tried) => cluster.pick(tried, hashKey),
          priority,
          method: stream.method,
          path: stream.path,
          authority: stream.authority,
          headers,
          body,
          retry,
          timeoutMs,
          perTryTimeoutMs,
          perTryIdleTimeoutMs: policy.retry?.perTryIdleTimeoutMs ?? 0,
          hedgeOnPerTryTimeout: hedge,
          idleTimeoutMs: policy.idleTimeoutMs,
          maxDurationDeadline,
          previousHosts: policy.retry?.model.previousHosts ?? false,
          includeAttemptCount: policy.includeAttemptCount,
          includeIsTimeoutRetry: policy.includeIsTimeoutRetry,
          timeoutAltResponse: controls?.timeoutAltResponse ?? false,
          onStreamLimit,
          onHost: (host) => (stream.info.upstreamHost = host.hostPort),
          now,
          timer,
          start: callStart,
        });
      } catch (e) {
        if (isProxyError(e) && e.flags.includes("UO")) {
          vc?.chargeCode(e.spec.status);
          return overloadedReply(stream, e);
        }
        throw e;
      }
      this.result = result;
      const response = result.response;
      stream.info.responseCodeDetails = "via_upstream";
      for (const f of result.flags) stream.info.responseFlags.push(f);
      const out = new Headers(response.headers);
      stripHopByHop(out);
      out.set("x-envoy-upstream-service-time", String(Math.round(now() - result.attemptStart)));
      if (policy.includeAttemptCountInResponse) out.set("x-envoy-attempt-count", String(result.attempts));
      if (result.flags.length) out.set(RESPONSE_FLAGS_HEADER, result.flags.join(","));
      if (setCookies) for (const c of setCookies) out.append("set-cookie", c);

      const responseBody: ReadableStream<Uint8Array> | null = response.body;
      let bodyGuard: BodyGuard | undefined;
      // An upgrade's 101 leaves the stream to the WebSocket pump: no body to watch.
      if (responseBody && response.status !== 101) {
        const limits: GuardLimits = {
          // The route timeout lasts until the response is complete.
          deadline: timeoutMs > 0 ? callStart + timeoutMs : Infinity,
          maxDurationDeadline,
          idleMs: policy.idleTimeoutMs,
          perTryIdleMs: policy.retry?.perTryIdleTimeoutMs ?? 0,
        };
        if (hasLimits(limits)) {
          const stats = routerStats;
          bodyGuard = {
            limits,
            callbacks: {
              onExpire: (kind) => {
                stats.txReset.inc();
                if (kind === "timeout") stats.timeout.inc();
                else if (kind === "per_try_idle") stats.perTryIdleTimeout.inc();
                else onStreamLimit(kind);
                stream.info.responseFlags.push(kind === "idle" ? "SI" : kind === "max_duration" ? "DT" : "UT");
              },
              onUpstreamError: () => stats.rxReset.inc(),
            },
            timer,
          };
        }
      }
      if (!bodyGuard) timer.clear();
      return { status: response.status, statusText: response.statusText, headers: out, body: responseBody, bodyGuard };
    }

    onStreamComplete(): void {
      const result = this.result;
      if (!result || !this.cluster) return;
      result.attempt.end();
      const elapsed = now() - result.attemptStart;
      this.cluster.runtime.rqTime.record(elapsed);
      this.vc?.time.record(elapsed);
    }
  }

  return { name: options.name ?? "envoy.filters.http.router", create: () => new RouterFilter() };
}

/** Compiles a route's router settings (or Envoy's defaults when the route has none). */
function compilePolicy(model: RouterPolicyModel | undefined, connectionLimit: number, streamIdleMs: number): CompiledRoutePolicy {
  const retry = model?.retryPolicy ? compileRetryPolicy(model.retryPolicy) : undefined;
  return {
    model,
    timeoutMs: model?.timeoutMs ?? 15_000,
    // A route's idle_timeout replaces the HCM's stream_idle_timeout (0 disables both), as in Envoy.
    idleTimeoutMs: model?.idleTimeoutMs ?? streamIdleMs,
    maxStreamDurationMs: model?.maxStreamDurationMs ?? 0,
    retry,
    hedge: model?.hedgeOnPerTryTimeout ?? false,
    mirrors: model?.mirrorPolicies ?? [],
    bufferLimit: Math.min(model?.perRequestBufferLimitBytes ?? connectionLimit, connectionLimit),
    includeAttemptCount: model?.includeRequestAttemptCount ?? false,
    includeAttemptCountInResponse: model?.includeAttemptCountInResponse ?? false,
    includeIsTimeoutRetry: model?.includeIsTimeoutRetryHeader ?? false,
  };
}

/**
 * A circuit breaker refused the request (UO): Envoy's 503 with `x-envoy-overloaded: true`, built here
 * because the engine's local replies carry no extra headers.
 */
function overloadedReply(stream: HttpStream, error: ProxyError): HttpResponse {
  const spec = error.spec;
  const headers = new Headers({ "content-type": "text/plain", "x-envoy-overloaded": "true", [RESPONSE_FLAGS_HEADER]: spec.flag });
  for (const f of error.flags) stream.info.responseFlags.push(f);
  stream.info.responseCodeDetails = spec.details;
  return { status: spec.status, statusText: "", headers, body: spec.body };
}
