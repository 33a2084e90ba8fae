/**
 * Compiles `envoy.filters.network.redis_proxy` (`RedisProxy` v3) into a {@link RedisProxyModel}, with
 * Envoy's defaults. Called once per filter by compile.ts; reads untrusted canonical JSON and reports every
 * problem as an issue. Fields the validator refuses (coverage.ts) are not read here.
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel, RedisProxyModel, RedisRouteModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's `buffer_flush_timeout` default. */
export const REDIS_DEFAULT_BUFFER_FLUSH_TIMEOUT_MS = 3;

function dataSource(r: Reader, v: unknown, path: string): string | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  if (typeof o.inline_string === "string") return o.inline_string;
  if (typeof o.inline_bytes === "string") {
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(o.inline_bytes), (ch) => ch.charCodeAt(0)));
    } catch {
      return r.bad(joinPath(path, "inline_bytes"), "expected base64");
    }
  }
  if (typeof o.filename === "string") return r.bad(joinPath(path, "filename"), "file data sources must be inlined by the validator (legate validate / push) before compiling");
  return r.bad(path, "expected inline_string, inline_bytes or filename");
}

function compileRoute(r: Reader, v: unknown, path: string, clusters: ReadonlyMap<string, ClusterModel>): RedisRouteModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const cp = joinPath(path, "cluster");
  const cluster = r.required(r.str(o.cluster, cp), cp, "cluster") ?? "";
  checkCluster(r, cluster, cp, clusters);
  const mp = joinPath(path, "request_mirror_policy");
  const mirrors = r.arr(o.request_mirror_policy, mp).flatMap((m, i) => {
    const ip = joinPath(mp, i);
    const mo = r.obj(m, ip) ?? {};
    const mcp = joinPath(ip, "cluster");
    const mc = r.required(r.str(mo.cluster, mcp), mcp, "cluster") ?? "";
    checkCluster(r, mc, mcp, clusters);
    const out: RedisRouteModel["mirrors"][number] = { cluster: mc, excludeReadCommands: r.bool(mo.exclude_read_commands, joinPath(ip, "exclude_read_commands")) ?? false };
    return [out];
  });
  return {
    prefix: r.str(o.prefix, joinPath(path, "prefix")) ?? "",
    removePrefix: r.bool(o.remove_prefix, joinPath(path, "remove_prefix")) ?? false,
    cluster,
    mirrors,
  };
}

/** The cluster must exist; with more than one endpoint it must hash (RING_HASH or MAGLEV) so a key always lands on the same shard. */
function checkCluster(r: Reader, name: string, path: string, clusters: ReadonlyMap<string, ClusterModel>): void {
  if (!name) return;
  const c = clusters.get(name);
  if (!c) {
    r.bad(path, `unknown cluster "${name}"`, "invalid-reference");
    return;
  }
  if (c.lbPolicy !== "RING_HASH" && c.lbPolicy !== "MAGLEV" && (c.type !== "STATIC" || c.endpoints.length > 1)) {
    r.bad(path, `redis_proxy shards keys over the hosts of cluster "${name}" by hash: its lb_policy must be RING_HASH or MAGLEV (it is ${c.lbPolicy}), unless it is a STATIC cluster of one host`, "unsupported");
  }
}

/**
 * @param config the filter's `typed_config`, at `path`.
 * @param edge the listener is the edge's: redis_proxy cannot run there (refused).
 */
export function compileRedisProxy(
  issues: ConfigIssue[],
  name: string,
  config: Obj,
  path: string,
  filterPath: string,
  clusters: ReadonlyMap<string, ClusterModel>,
  edge: boolean,
): RedisProxyModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(config.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const sp = p("settings");
  const s = r.required(r.obj(config.settings, sp), sp, "settings") ?? {};
  const op = joinPath(sp, "op_timeout");
  const opTimeoutMs = r.required(r.durationMs(s.op_timeout, op), op, "op_timeout") ?? 0;
  if (opTimeoutMs <= 0 && s.op_timeout !== undefined) r.bad(op, "op_timeout must be greater than 0");
  const model: RedisProxyModel = {
    kind: "redis_proxy",
    name,
    statPrefix,
    opTimeoutMs,
    enableHashtagging: r.bool(s.enable_hashtagging, joinPath(sp, "enable_hashtagging")) ?? false,
    enableCommandStats: r.bool(s.enable_command_stats, joinPath(sp, "enable_command_stats")) ?? false,
    maxBufferSizeBeforeFlush: r.uint(s.max_buffer_size_before_flush, joinPath(sp, "max_buffer_size_before_flush")) ?? 0,
    bufferFlushTimeoutMs: r.durationMs(s.buffer_flush_timeout, joinPath(sp, "buffer_flush_timeout")) ?? REDIS_DEFAULT_BUFFER_FLUSH_TIMEOUT_MS,
    latencyInMicros: r.bool(config.latency_in_micros, p("latency_in_micros")) ?? false,
    routes: [],
    caseInsensitive: false,
    downstreamAuthPasswords: [],
  };
  const rp = p("prefix_routes");
  const pr = r.obj(config.prefix_routes, rp);
  if (pr) {
    model.caseInsensitive = r.bool(pr.case_insensitive, joinPath(rp, "case_insensitive")) ?? false;
    const routesPath = joinPath(rp, "routes");
    const seen = new Set<string>();
    model.routes = r.arr(pr.routes, routesPath).flatMap((v, i) => {
      const route = compileRoute(r, v, joinPath(routesPath, i), clusters);
      if (!route) return [];
      const key = model.caseInsensitive ? route.prefix.toLowerCase() : route.prefix;
      // Envoy refuses two routes with the same prefix.
      if (seen.has(key)) r.bad(joinPath(joinPath(routesPath, i), "prefix"), `prefix "${route.prefix}" is used by an earlier route`);
      seen.add(key);
      return [route];
    });
    model.routes.sort((a, b) => b.prefix.length - a.prefix.length);
    const catchAll = r.obj(pr.catch_all_route, joinPath(rp, "catch_all_route")) ? compileRoute(r, pr.catch_all_route, joinPath(rp, "catch_all_route"), clusters) : undefined;
    if (catchAll) model.catchAll = { ...catchAll, prefix: "", removePrefix: false };
  }
  if (model.routes.length === 0 && !model.catchAll) r.bad(rp, "redis_proxy needs prefix_routes with at least one route or a catch_all_route");
  const passwords: string[] = [];
  const single = dataSource(r, config.downstream_auth_password, p("downstream_auth_password"));
  if (single !== undefined && single !== "") passwords.push(single);
  const pp = p("downstream_auth_passwords");
  r.arr(config.downstream_auth_passwords, pp).forEach((v, i) => {
    const pw = dataSource(r, v, joinPath(pp, i));
    if (pw !== undefined && pw !== "") passwords.push(pw);
  });
  model.downstreamAuthPasswords = passwords;
  const user = dataSource(r, config.downstream_auth_username, p("downstream_auth_username"));
  if (user !== undefined && user !== "") {
    model.downstreamAuthUsername = user;
    if (passwords.length === 0) r.bad(p("downstream_auth_username"), "downstream_auth_username needs a downstream_auth_password");
  }
  if (edge) r.bad(filterPath, "redis_proxy cannot run at the edge (a Worker has no inbound TCP); serve this listener from the tcp tier", "unsupported");
  return model;
}

const REDIS_OPTIONS_NAMES = new Set(["envoy.filters.network.redis_proxy", "envoy.redis_proxy"]);
const REDIS_OPTIONS_TYPE = "envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions";

/**
 * A cluster's `typed_extension_protocol_options`: only redis_proxy's RedisProtocolOptions (upstream auth)
 * is supported; it sets `cluster.redisAuth`. Any other entry (upstream HTTP options) is refused.
 */
export function compileClusterProtocolOptions(issues: ConfigIssue[], cluster: ClusterModel, v: unknown, path: string): void {
  const r = new Reader(issues);
  const c = r.obj(v, path) ?? {};
  const op = joinPath(path, "typed_extension_protocol_options");
  const options = r.obj(c.typed_extension_protocol_options, op);
  if (!options) return;
  for (const [key, v] of Object.entries(options)) {
    const ip = joinPath(op, key);
    const o = r.obj(v, ip) ?? {};
    const type = typeof o["@type"] === "string" ? o["@type"].slice(o["@type"].lastIndexOf("/") + 1) : "";
    // Envoy keys protocol options by the filter's extension name (or its config's type URL).
    const keyOk = REDIS_OPTIONS_NAMES.has(key) || key.slice(key.lastIndexOf("/") + 1) === REDIS_OPTIONS_TYPE;
    if (!keyOk || type !== REDIS_OPTIONS_TYPE) {
      r.bad(ip, `protocol options ${key}${type ? ` (${type})` : ""} are not supported by Legate (only envoy.filters.network.redis_proxy's RedisProtocolOptions)`, "unsupported");
      continue;
    }
    const password = dataSource(r, o.auth_password, joinPath(ip, "auth_password"));
    const username = dataSource(r, o.auth_username, joinPath(ip, "auth_username"));
    if (password !== undefined && password !== "") cluster.redisAuth = username ? { username, password } : { password };
    else if (username) r.bad(joinPath(ip, "auth_username"), "auth_username needs auth_password");
  }
}
