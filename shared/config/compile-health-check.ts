/**
 * Compiles a cluster's `health_checks` (envoy.config.core.v3.HealthCheck) into {@link HealthCheckModel}s
 * with Envoy's defaults applied: `unhealthy_interval` and `healthy_edge_interval` default to `interval`,
 * `unhealthy_edge_interval` to `unhealthy_interval`, `no_traffic_interval` to 60 s,
 * `no_traffic_healthy_interval` to `no_traffic_interval`, `reuse_connection` to true; HTTP checks expect
 * `[200, 201)` unless `expected_statuses` says otherwise and send GET.
 *
 * Only the tcp tier runs active checks (tcp-tier/src/upstream/health-check/). The edge has no checker:
 * the tcp tier publishes its verdicts to KV (tcp-tier/src/kv/health-publisher.ts) and the edge applies
 * them to the same clusters (edge/src/kv-health.ts), so `health_checks` is accepted on clusters the
 * edge routes to (docs/kv-layout.md, "Health").
 *
 * Checkers: `http_health_check` (HTTP/1.1 only), `tcp_health_check`, `grpc_health_check`, and
 * `custom_health_check` with the Redis checker only (chosen by typed_config's type; any other custom
 * checker is refused here).
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import { Reader } from "./reader.ts";
import { compileHeaderMutations, compileStringMatcher } from "./compile-route.ts";
import type { ClusterModel, GrpcHealthCheckModel, HealthCheckModel, HttpHealthCheckModel, RedisHealthCheckModel, TcpHealthCheckModel } from "./model.ts";

type Obj = Record<string, unknown>;

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Compiles `c.health_checks` of one cluster (its JSON `c` at `path`) onto `cluster.healthChecks`. */
export function compileClusterHealthChecks(issues: ConfigIssue[], cluster: ClusterModel, c: Obj, path: string): ClusterModel {
  if (c.health_checks === undefined || c.health_checks === null) return cluster;
  const r = new Reader(issues);
  const hp = joinPath(path, "health_checks");
  const out: HealthCheckModel[] = [];
  r.arr(c.health_checks, hp).forEach((v, i) => {
    const hc = compileHealthCheck(r, v, joinPath(hp, i));
    if (hc) out.push(hc);
  });
  if (out.length > 0) cluster.healthChecks = out;
  return cluster;
}

function compileHealthCheck(r: Reader, v: unknown, path: string): HealthCheckModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const p = (k: string) => joinPath(path, k);
  const timeoutMs = r.required(r.positiveDurationMs(o.timeout, p("timeout")), p("timeout"), "timeout");
  const intervalMs = r.required(r.positiveDurationMs(o.interval, p("interval")), p("interval"), "interval");
  const unhealthyThreshold = r.required(r.uint(o.unhealthy_threshold, p("unhealthy_threshold")), p("unhealthy_threshold"), "unhealthy_threshold");
  const healthyThreshold = r.required(r.uint(o.healthy_threshold, p("healthy_threshold")), p("healthy_threshold"), "healthy_threshold");
  const checker = compileChecker(r, o, path);
  if (timeoutMs === undefined || intervalMs === undefined || unhealthyThreshold === undefined || healthyThreshold === undefined || !checker) return undefined;
  const unhealthyIntervalMs = r.positiveDurationMs(o.unhealthy_interval, p("unhealthy_interval")) ?? intervalMs;
  const noTrafficIntervalMs = r.positiveDurationMs(o.no_traffic_interval, p("no_traffic_interval")) ?? 60_000;
  const eventLogPath = r.str(o.event_log_path, p("event_log_path"));
  return {
    timeoutMs,
    intervalMs,
    initialJitterMs: r.durationMs(o.initial_jitter, p("initial_jitter")) ?? 0,
    intervalJitterMs: r.durationMs(o.interval_jitter, p("interval_jitter")) ?? 0,
    intervalJitterPercent: r.uint(o.interval_jitter_percent, p("interval_jitter_percent")) ?? 0,
    // Envoy treats a threshold of 0 as 1 (a single result decides).
    unhealthyThreshold: Math.max(1, unhealthyThreshold),
    healthyThreshold: Math.max(1, healthyThreshold),
    unhealthyIntervalMs,
    unhealthyEdgeIntervalMs: r.positiveDurationMs(o.unhealthy_edge_interval, p("unhealthy_edge_interval")) ?? unhealthyIntervalMs,
    healthyEdgeIntervalMs: r.positiveDurationMs(o.healthy_edge_interval, p("healthy_edge_interval")) ?? intervalMs,
    noTrafficIntervalMs,
    noTrafficHealthyIntervalMs: r.positiveDurationMs(o.no_traffic_healthy_interval, p("no_traffic_healthy_interval")) ?? noTrafficIntervalMs,
    reuseConnection: r.bool(o.reuse_connection, p("reuse_connection")) ?? true,
    ...(eventLogPath ? { eventLogPath } : {}),
    alwaysLogHealthCheckFailures: r.bool(o.always_log_health_check_failures, p("always_log_health_check_failures")) ?? false,
    checker,
  };
}

function compileChecker(r: Reader, o: Obj, path: string): HealthCheckModel["checker"] | undefined {
  const has = (k: string) => o[k] !== undefined && o[k] !== null;
  if (has("http_health_check")) return compileHttp(r, o.http_health_check, joinPath(path, "http_health_check"));
  if (has("tcp_health_check")) return compileTcp(r, o.tcp_health_check, joinPath(path, "tcp_health_check"));
  if (has("grpc_health_check")) return compileGrpc(r, o.grpc_health_check, joinPath(path, "grpc_health_check"));
  if (has("custom_health_check")) return compileCustom(r, o.custom_health_check, joinPath(path, "custom_health_check"));
  return r.bad(path, "a health check needs one of http_health_check, tcp_health_check, grpc_health_check, custom_health_check");
}

function compileGrpc(r: Reader, v: unknown, path: string): GrpcHealthCheckModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const authority = r.str(o.authority, joinPath(path, "authority"));
  return { kind: "grpc", serviceName: r.str(o.service_name, joinPath(path, "service_name")) ?? "", ...(authority ? { authority } : {}) };
}

const REDIS_TYPE = "envoy.extensions.health_checkers.redis.v3.Redis";

/** `custom_health_check`: only the Redis checker (selected by typed_config's type, as Envoy does). */
function compileCustom(r: Reader, v: unknown, path: string): RedisHealthCheckModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const tc = r.obj(o.typed_config, joinPath(path, "typed_config"));
  const url = typeof tc?.["@type"] === "string" ? (tc["@type"] as string) : "";
  if (url.slice(url.lastIndexOf("/") + 1) !== REDIS_TYPE) {
    const what = url || (typeof o.name === "string" ? o.name : "(unnamed)");
    return r.bad(path, `custom health checker ${what} is not supported by Legate (only envoy.health_checkers.redis, typed_config ${REDIS_TYPE})`, "unsupported");
  }
  const key = r.str(tc!.key, joinPath(joinPath(path, "typed_config"), "key"));
  return { kind: "redis", ...(key ? { key } : {}) };
}

function compileHttp(r: Reader, v: unknown, path: string): HttpHealthCheckModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const p = (k: string) => joinPath(path, k);
  const hcPath = r.required(r.str(o.path, p("path")), p("path"), "http_health_check.path");
  if (!hcPath) return undefined;
  const codec = o.codec_client_type;
  if (codec !== undefined && codec !== null && codec !== "HTTP1" && codec !== 0) {
    r.bad(p("codec_client_type"), `${String(codec)} is not supported by Legate (supported: HTTP1)`, "unsupported");
  }
  const method = o.method === undefined || o.method === null || o.method === "METHOD_UNSPECIFIED" || o.method === 0 ? "GET" : String(o.method);
  if (method === "CONNECT") r.bad(p("method"), "CONNECT is not allowed for health checks");
  const host = r.str(o.host, p("host"));
  const mutations = compileHeaderMutations(r, { request_headers_to_add: o.request_headers_to_add, request_headers_to_remove: o.request_headers_to_remove }, path);
  const expected = ranges(r, o.expected_statuses, p("expected_statuses"));
  const serviceNameMatcher = o.service_name_matcher !== undefined && o.service_name_matcher !== null ? compileStringMatcher(r, o.service_name_matcher, p("service_name_matcher")) : undefined;
  return {
    kind: "http",
    path: hcPath,
    ...(host ? { host } : {}),
    method,
    expectedStatuses: expected.length ? expected : [[200, 201]],
    retriableStatuses: ranges(r, o.retriable_statuses, p("retriable_statuses")),
    requestHeadersToAdd: mutations?.requestHeadersToAdd ?? [],
    requestHeadersToRemove: mutations?.requestHeadersToRemove ?? [],
    ...(serviceNameMatcher ? { serviceNameMatcher } : {}),
  };
}

/** `Int64Range`s of status codes; Envoy requires 100 <= start < end <= 600. */
function ranges(r: Reader, v: unknown, path: string): [number, number][] {
  const out: [number, number][] = [];
  r.arr(v, path).forEach((x, i) => {
    const ip = joinPath(path, i);
    const o = r.obj(x, ip);
    if (!o) return;
    const start = Number(o.start ?? 0);
    const end = Number(o.end ?? 0);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 100 || end > 600 || start >= end) {
      r.bad(ip, `a status range needs 100 <= start < end <= 600, got [${String(o.start)}, ${String(o.end)})`);
      return;
    }
    out.push([start, end]);
  });
  return out;
}

function compileTcp(r: Reader, v: unknown, path: string): TcpHealthCheckModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const send = o.send !== undefined && o.send !== null ? payload(r, o.send, joinPath(path, "send")) : undefined;
  const receive: string[] = [];
  r.arr(o.receive, joinPath(path, "receive")).forEach((x, i) => {
    const hex = payload(r, x, joinPath(joinPath(path, "receive"), i));
    if (hex) receive.push(hex);
  });
  return { kind: "tcp", ...(send ? { send } : {}), receive };
}

/** A `Payload` as lower-case hex: `text` is hex already, `binary` is base64 in protobuf JSON. */
function payload(r: Reader, v: unknown, path: string): string | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  if (typeof o.text === "string") {
    if (o.text === "" || !HEX.test(o.text)) return r.bad(joinPath(path, "text"), `expected an even number of hex digits, got ${JSON.stringify(o.text)}`);
    return o.text.toLowerCase();
  }
  if (typeof o.binary === "string") {
    let bytes: string;
    try {
      bytes = atob(o.binary.replace(/-/g, "+").replace(/_/g, "/"));
    } catch {
      return r.bad(joinPath(path, "binary"), "expected base64 bytes");
    }
    if (bytes === "") return r.bad(joinPath(path, "binary"), "a payload cannot be empty");
    return [...bytes].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  }
  return r.bad(path, "a payload needs text (hex) or binary");
}
