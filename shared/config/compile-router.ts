/**
 * Compiles what the router does with a `route` action (called by shared/config/compile.ts): the
 * route's `timeout`, `idle_timeout`, `max_stream_duration`, `retry_policy`, `hedge_policy`,
 * `request_mirror_policies`, `per_request_buffer_limit_bytes`, and the virtual host's defaults for
 * them (`retry_policy`, `hedge_policy`, `request_mirror_policies`, `per_request_buffer_limit_bytes`,
 * `include_request_attempt_count`, `include_attempt_count_in_response`,
 * `include_is_timeout_retry_header`) and the route configuration's `request_mirror_policies`.
 *
 * Two steps, because a route is compiled before its virtual host is complete:
 * {@link withRouterPolicy} records the route's own settings on its action; then
 * {@link applyVirtualHostRouter} fills in what the route left to its virtual host (Envoy never merges
 * the two levels: a route's retry policy replaces the virtual host's whole, and so on).
 *
 * Like compile.ts it trusts nothing. Where Legate is stricter than Envoy it says so: an unknown
 * `retry_on` condition (Envoy ignores it, so a typo silently disables retries) is refused.
 */
import type { Reader } from "./compile.ts";
import { compileRouteMatch, compileRuntimeFraction } from "./compile-route.ts";
import { joinPath } from "./issues.ts";
import type { ClusterModel, HeaderMatcherModel, RequestMirrorPolicyModel, RetryPolicyModel, RouteActionModel, RouteModel, RouterPolicyModel } from "./model.ts";
import { GRPC_RETRY_ON, HTTP_RETRY_ON, parseRetryOn, UNSUPPORTED_RETRY_ON } from "../http/retry-policy.ts";

type Obj = Record<string, unknown>;

/** Envoy's default route timeout. */
const DEFAULT_TIMEOUT_MS = 15_000;
const PREVIOUS_HOSTS_NAME = "envoy.retry_host_predicates.previous_hosts";
const PREVIOUS_HOSTS_TYPE = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";

/** Which of a route's router settings the route itself set (the rest come from its virtual host). */
interface RouteLevel {
  retry: boolean;
  hedge: boolean;
  mirrors: boolean;
  buffer: boolean;
}
const routeLevels = new WeakMap<RouterPolicyModel, RouteLevel>();

/**
 * Adds the route's router settings to its `route` action. `route` is the Route object (for
 * `per_request_buffer_limit_bytes`), `path` its JSON path. Returns the action.
 */
export function withRouterPolicy(r: Reader, action: RouteActionModel, route: Obj, path: string, clusters: ReadonlyMap<string, ClusterModel>): RouteActionModel {
  if (action.kind !== "route") return action;
  const ap = joinPath(path, "route");
  const ra = r.obj(route.route, ap) ?? {};
  const timeoutMs = r.durationMs(ra.timeout, joinPath(ap, "timeout")) ?? DEFAULT_TIMEOUT_MS;
  const idleTimeoutMs = r.durationMs(ra.idle_timeout, joinPath(ap, "idle_timeout"));
  let maxStreamDurationMs: number | undefined;
  const msd = r.obj(ra.max_stream_duration, joinPath(ap, "max_stream_duration"));
  if (msd) {
    const mp = joinPath(ap, "max_stream_duration");
    maxStreamDurationMs = r.durationMs(msd.max_stream_duration, joinPath(mp, "max_stream_duration"));
    for (const k of ["grpc_timeout_header_max", "grpc_timeout_header_offset"]) {
      if (msd[k] !== undefined && msd[k] !== null) r.bad(joinPath(mp, k), `\`${k}\` (gRPC timeouts) is not supported by Legate`, "unsupported");
    }
  }
  const retryPolicy = ra.retry_policy === undefined || ra.retry_policy === null ? undefined : compileRetryPolicy(r, ra.retry_policy, joinPath(ap, "retry_policy"));
  const hedge = compileHedgePolicy(r, ra.hedge_policy, joinPath(ap, "hedge_policy"));
  const mirrors = compileMirrorPolicies(r, ra.request_mirror_policies, joinPath(ap, "request_mirror_policies"), clusters);
  const buffer = r.uint(route.per_request_buffer_limit_bytes, joinPath(path, "per_request_buffer_limit_bytes"));
  const router: RouterPolicyModel = {
    timeoutMs,
    ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
    ...(maxStreamDurationMs ? { maxStreamDurationMs } : {}),
    ...(retryPolicy ? { retryPolicy } : {}),
    hedgeOnPerTryTimeout: hedge ?? false,
    mirrorPolicies: mirrors ?? [],
    ...(buffer !== undefined ? { perRequestBufferLimitBytes: buffer } : {}),
    includeRequestAttemptCount: false,
    includeAttemptCountInResponse: false,
    includeIsTimeoutRetryHeader: false,
  };
  routeLevels.set(router, { retry: retryPolicy !== undefined, hedge: hedge !== undefined, mirrors: mirrors !== undefined && mirrors.length > 0, buffer: buffer !== undefined });
  return { ...action, router };
}

/**
 * Completes the router settings of a virtual host's routes with the virtual host's (and the route
 * configuration's mirror policies). `vh`/`vhPath`: the VirtualHost object and path; `rc`/`rcPath`: the
 * RouteConfiguration. Called once per virtual host, after its routes.
 */
export function applyVirtualHostRouter(
  r: Reader,
  vh: Obj,
  vhPath: string,
  routes: readonly (RouteModel | undefined)[],
  rc: Obj,
  rcPath: string,
  clusters: ReadonlyMap<string, ClusterModel>,
): void {
  const retryPolicy = vh.retry_policy === undefined || vh.retry_policy === null ? undefined : compileRetryPolicy(r, vh.retry_policy, joinPath(vhPath, "retry_policy"));
  const hedge = compileHedgePolicy(r, vh.hedge_policy, joinPath(vhPath, "hedge_policy"));
  const vhMirrors = compileMirrorPolicies(r, vh.request_mirror_policies, joinPath(vhPath, "request_mirror_policies"), clusters);
  // The route configuration's policies are compiled (and checked) once per virtual host: cheap, and
  // every issue is reported at the same path, so duplicates collapse in the output.
  const rcMirrors = vhMirrors?.length ? undefined : compileMirrorPolicies(r, rc.request_mirror_policies, joinPath(rcPath, "request_mirror_policies"), clusters);
  const buffer = r.uint(vh.per_request_buffer_limit_bytes, joinPath(vhPath, "per_request_buffer_limit_bytes"));
  const includeRequestAttemptCount = r.bool(vh.include_request_attempt_count, joinPath(vhPath, "include_request_attempt_count")) ?? false;
  const includeAttemptCountInResponse = r.bool(vh.include_attempt_count_in_response, joinPath(vhPath, "include_attempt_count_in_response")) ?? false;
  const includeIsTimeoutRetryHeader = r.bool(vh.include_is_timeout_retry_header, joinPath(vhPath, "include_is_timeout_retry_header")) ?? false;
  for (const route of routes) {
    if (!route || route.action.kind !== "route" || !route.action.router) continue;
    const p = route.action.router;
    const own = routeLevels.get(p);
    if (!own) continue;
    if (!own.retry && retryPolicy) p.retryPolicy = retryPolicy;
    if (!own.hedge && hedge !== undefined) p.hedgeOnPerTryTimeout = hedge;
    if (!own.mirrors) p.mirrorPolicies = vhMirrors?.length ? vhMirrors : (rcMirrors ?? []);
    if (!own.buffer && buffer !== undefined) p.perRequestBufferLimitBytes = buffer;
    p.includeRequestAttemptCount = includeRequestAttemptCount;
    p.includeAttemptCountInResponse = includeAttemptCountInResponse;
    p.includeIsTimeoutRetryHeader = includeIsTimeoutRetryHeader;
  }
}

/** `RetryPolicy`. */
function compileRetryPolicy(r: Reader, v: unknown, path: string): RetryPolicyModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const rp = joinPath(path, "retry_on");
  const text = r.str(o.retry_on, rp) ?? "";
  const retryOn: string[] = [];
  for (const raw of text.split(",")) {
    const token = raw.trim();
    if (!token || retryOn.includes(token)) continue;
    if (parseRetryOn(token, HTTP_RETRY_ON, GRPC_RETRY_ON).unknown.length) {
      r.bad(rp, `unknown retry condition ${JSON.stringify(token)} (Envoy ignores unknown conditions; Legate refuses them so a typo cannot turn retries off). Conditions: ${[...Object.keys(HTTP_RETRY_ON), ...Object.keys(GRPC_RETRY_ON)].filter((c) => !UNSUPPORTED_RETRY_ON.has(c)).join(", ")}`);
      continue;
    }
    if (UNSUPPORTED_RETRY_ON.has(token)) {
      r.bad(rp, `retry condition ${JSON.stringify(token)} is not supported by Legate (its upstreams are never reached over HTTP/3)`, "unsupported");
      continue;
    }
    retryOn.push(token);
  }
  const numRetries = r.uint(o.num_retries, joinPath(path, "num_retries")) ?? 1;
  const perTryTimeoutMs = r.durationMs(o.per_try_timeout, joinPath(path, "per_try_timeout")) || undefined;
  const perTryIdleTimeoutMs = r.durationMs(o.per_try_idle_timeout, joinPath(path, "per_try_idle_timeout")) || undefined;

  let backOff: RetryPolicyModel["backOff"];
  const bo = r.obj(o.retry_back_off, joinPath(path, "retry_back_off"));
  if (bo) {
    const bp = joinPath(path, "retry_back_off");
    const base = r.required(r.durationMs(bo.base_interval, joinPath(bp, "base_interval")), joinPath(bp, "base_interval"), "base_interval");
    const max = r.durationMs(bo.max_interval, joinPath(bp, "max_interval"));
    if (base !== undefined) {
      if (base <= 0) r.bad(joinPath(bp, "base_interval"), "base_interval must be greater than zero");
      else if (max !== undefined && max < base) r.bad(joinPath(bp, "max_interval"), "max_interval must be greater than or equal to base_interval");
      else {
        // Envoy rounds intervals below 1 ms up to 1 ms.
        const baseMs = Math.max(1, Math.floor(base));
        backOff = { baseMs, maxMs: max !== undefined ? Math.max(baseMs, Math.floor(max)) : baseMs * 10 };
      }
    }
  }

  let rateLimitedBackOff: RetryPolicyModel["rateLimitedBackOff"];
  const rl = r.obj(o.rate_limited_retry_back_off, joinPath(path, "rate_limited_retry_back_off"));
  if (rl) {
    const lp = joinPath(path, "rate_limited_retry_back_off");
    const hp = joinPath(lp, "reset_headers");
    const resetHeaders = r.arr(rl.reset_headers, hp).map((h, i) => {
      const p = joinPath(hp, i);
      const ho = r.obj(h, p) ?? {};
      const name = r.required(r.str(ho.name, joinPath(p, "name")), joinPath(p, "name"), "name");
      const format = r.enumOf(ho.format, joinPath(p, "format"), ["SECONDS", "UNIX_TIMESTAMP"] as const, "SECONDS");
      return name ? { name: name.toLowerCase(), format } : undefined;
    }).filter((h): h is { name: string; format: "SECONDS" | "UNIX_TIMESTAMP" } => h !== undefined);
    if (resetHeaders.length === 0) r.bad(hp, "reset_headers needs at least one header");
    const maxMs = r.durationMs(rl.max_interval, joinPath(lp, "max_interval")) ?? 300_000;
    rateLimitedBackOff = { resetHeaders, maxMs };
  }

  const sp = joinPath(path, "retriable_status_codes");
  const retriableStatusCodes = r.arr(o.retriable_status_codes, sp).map((c, i) => r.uint(c, joinPath(sp, i))).filter((c): c is number => c !== undefined);
  const retriableHeaders = compileHeaderMatchers(r, o.retriable_headers, joinPath(path, "retriable_headers"));
  const retriableRequestHeaders = compileHeaderMatchers(r, o.retriable_request_headers, joinPath(path, "retriable_request_headers"));

  let previousHosts = false;
  const pp = joinPath(path, "retry_host_predicate");
  r.arr(o.retry_host_predicate, pp).forEach((pred, i) => {
    const p = joinPath(pp, i);
    const po = r.obj(pred, p) ?? {};
    const name = r.str(po.name, joinPath(p, "name")) ?? "";
    const tc = r.obj(po.typed_config, joinPath(p, "typed_config"));
    const typeUrl = tc ? (r.str(tc["@type"], joinPath(joinPath(p, "typed_config"), "@type")) ?? "") : "";
    // Envoy resolves typed_config's @type first, then the name.
    const isPrevious = typeUrl ? typeUrl.slice(typeUrl.lastIndexOf("/") + 1) === PREVIOUS_HOSTS_TYPE : name === PREVIOUS_HOSTS_NAME;
    if (isPrevious) previousHosts = true;
    else r.bad(p, `retry host predicate ${typeUrl || name} is not supported by Legate (supported: ${PREVIOUS_HOSTS_NAME})`, "unsupported");
  });
  const attempts = r.uint(o.host_selection_retry_max_attempts, joinPath(path, "host_selection_retry_max_attempts"), Number.MAX_SAFE_INTEGER);

  return {
    retryOn,
    numRetries,
    ...(perTryTimeoutMs ? { perTryTimeoutMs } : {}),
    ...(perTryIdleTimeoutMs ? { perTryIdleTimeoutMs } : {}),
    ...(backOff ? { backOff } : {}),
    ...(rateLimitedBackOff ? { rateLimitedBackOff } : {}),
    retriableStatusCodes,
    retriableHeaders,
    retriableRequestHeaders,
    previousHosts,
    hostSelectionRetryMaxAttempts: Math.max(1, attempts ?? 1),
  };
}

/**
 * HeaderMatchers, compiled by the route-match compiler (shared/config/compile-route.ts) so both read
 * them alike; its issue paths (`headers[i]…`) are moved under `path`.
 */
function compileHeaderMatchers(r: Reader, v: unknown, path: string): HeaderMatcherModel[] {
  if (v === undefined || v === null) return [];
  const scratch = new (r.constructor as new () => Reader)();
  const match = compileRouteMatch(scratch, { prefix: "/", headers: v }, "");
  for (const issue of scratch.issues) {
    r.issues.push({ ...issue, path: issue.path.startsWith("headers") ? `${path}${issue.path.slice("headers".length)}` : path });
  }
  return match.headers ?? [];
}

/** `HedgePolicy`: `hedge_on_per_try_timeout`, or undefined when the policy is absent. */
function compileHedgePolicy(r: Reader, v: unknown, path: string): boolean | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const initial = r.uint(o.initial_requests, joinPath(path, "initial_requests"));
  if (initial !== undefined && initial !== 1) {
    r.bad(joinPath(path, "initial_requests"), "`initial_requests` is not supported by Legate (Envoy does not implement it either); hedge with `hedge_on_per_try_timeout`", "unsupported");
  }
  if (o.additional_request_chance !== undefined && o.additional_request_chance !== null) {
    r.bad(joinPath(path, "additional_request_chance"), "`additional_request_chance` is not supported by Legate (Envoy does not implement it either); hedge with `hedge_on_per_try_timeout`", "unsupported");
  }
  return r.bool(o.hedge_on_per_try_timeout, joinPath(path, "hedge_on_per_try_timeout")) ?? false;
}

/** `request_mirror_policies`; undefined when the field is absent. */
function compileMirrorPolicies(r: Reader, v: unknown, path: string, clusters: ReadonlyMap<string, ClusterModel>): RequestMirrorPolicyModel[] | undefined {
  if (v === undefined || v === null) return undefined;
  const out: RequestMirrorPolicyModel[] = [];
  r.arr(v, path).forEach((m, i) => {
    const p = joinPath(path, i);
    const o = r.obj(m, p) ?? {};
    const cluster = r.str(o.cluster, joinPath(p, "cluster")) || undefined;
    const header = r.str(o.cluster_header, joinPath(p, "cluster_header")) || undefined;
    if ((cluster === undefined) === (header === undefined)) {
      r.bad(p, "a mirror policy needs exactly one of cluster or cluster_header");
      return;
    }
    if (cluster !== undefined && !clusters.has(cluster)) {
      r.bad(joinPath(p, "cluster"), `unknown cluster "${cluster}"`, "invalid-reference");
      return;
    }
    const runtimeFraction = compileRuntimeFraction(r, o.runtime_fraction, joinPath(p, "runtime_fraction"));
    // Only tracing reads trace_sampled; Legate has no tracing, so every value behaves the same.
    r.bool(o.trace_sampled, joinPath(p, "trace_sampled"));
    const disableShadowHostSuffixAppend = r.bool(o.disable_shadow_host_suffix_append, joinPath(p, "disable_shadow_host_suffix_append")) ?? false;
    out.push({
      ...(cluster !== undefined ? { cluster } : { clusterHeader: header!.toLowerCase() }),
      ...(runtimeFraction ? { runtimeFraction } : {}),
      disableShadowHostSuffixAppend,
    });
  });
  return out;
}
