/**
 * Compiles the non-terminal network filters `envoy.filters.network.rbac` (RBAC) and
 * `envoy.filters.network.local_ratelimit` (LocalRateLimit) into their models, with Envoy's defaults.
 * Called once per filter by compile.ts; reads untrusted canonical JSON and reports every problem as an
 * issue. Fields the validator refuses (coverage.ts) are not read here.
 */
import { compileCidrRange } from "./compile-udp-proxy.ts";
import { compileStringMatcher } from "./compile-route.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { LocalRateLimitNetworkModel, RbacNetworkModel, RbacPermissionModel, RbacPrincipalModel, RbacRulesModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy refuses a local rate limit `fill_interval` under 50 ms. */
export const MIN_FILL_INTERVAL_MS = 50;

/** Rule trees deeper than this are refused, so evaluation stays bounded. */
const MAX_DEPTH = 32;

/** `envoy.extensions.filters.network.rbac.v3.RBAC`. */
export function compileNetworkRbac(issues: ConfigIssue[], name: string, c: Obj, path: string, filterPath: string, edge: boolean): RbacNetworkModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(c.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const model: RbacNetworkModel = {
    kind: "rbac",
    name,
    statPrefix,
    shadowRulesStatPrefix: r.str(c.shadow_rules_stat_prefix, p("shadow_rules_stat_prefix")) ?? "",
    enforcementType: r.enumOf(c.enforcement_type, p("enforcement_type"), ["ONE_TIME_ON_FIRST_BYTE", "CONTINUOUS"] as const, "ONE_TIME_ON_FIRST_BYTE"),
  };
  const rules = compileRules(r, c.rules, p("rules"));
  if (rules) model.rules = rules;
  const shadow = compileRules(r, c.shadow_rules, p("shadow_rules"));
  if (shadow) model.shadowRules = shadow;
  if (edge) r.bad(filterPath, "the network rbac filter runs in the tcp tier only (the edge listener runs one http_connection_manager)", "unsupported");
  return model;
}

function compileRules(r: Reader, v: unknown, path: string): RbacRulesModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const action = r.enumOf(o.action, joinPath(path, "action"), ["ALLOW", "DENY"] as const, "ALLOW", ["ALLOW", "DENY", "LOG"]);
  const pp = joinPath(path, "policies");
  const policies = Object.entries(r.obj(o.policies, pp) ?? {})
    // Envoy keeps policies in a std::map: evaluated in name order (only the matched name differs).
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([policyName, pv]) => {
      const ip = joinPath(pp, policyName);
      const po = r.obj(pv, ip) ?? {};
      const permp = joinPath(ip, "permissions");
      const prinp = joinPath(ip, "principals");
      const permissions = r.arr(po.permissions, permp).flatMap((x, i) => compilePermission(r, x, joinPath(permp, i), 0) ?? []);
      const principals = r.arr(po.principals, prinp).flatMap((x, i) => compilePrincipal(r, x, joinPath(prinp, i), 0) ?? []);
      if (r.arr(po.permissions, permp).length === 0) r.bad(permp, "a policy needs at least one permission");
      if (r.arr(po.principals, prinp).length === 0) r.bad(prinp, "a policy needs at least one principal");
      return { name: policyName, permissions, principals };
    });
  return { action, policies };
}

function compilePermission(r: Reader, v: unknown, path: string, depth: number): RbacPermissionModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  if (depth > MAX_DEPTH) return r.bad(path, `permissions nest at most ${MAX_DEPTH} deep`);
  if (o.any === true) return { kind: "any" };
  for (const kind of ["and", "or"] as const) {
    const sp = joinPath(path, `${kind}_rules`);
    const set = r.obj(o[`${kind}_rules`], sp);
    if (set) {
      const rp = joinPath(sp, "rules");
      return { kind, rules: r.arr(set.rules, rp).flatMap((x, i) => compilePermission(r, x, joinPath(rp, i), depth + 1) ?? []) };
    }
  }
  if (o.not_rule !== undefined && o.not_rule !== null) {
    const rule = compilePermission(r, o.not_rule, joinPath(path, "not_rule"), depth + 1);
    return rule ? { kind: "not", rule } : undefined;
  }
  if (o.destination_ip !== undefined && o.destination_ip !== null) {
    const range = compileCidrRange(r, o.destination_ip, joinPath(path, "destination_ip"));
    return range ? { kind: "destination_ip", range } : undefined;
  }
  if (o.destination_port !== undefined && o.destination_port !== null) {
    const port = r.uint(o.destination_port, joinPath(path, "destination_port"), 65535);
    return port === undefined ? undefined : { kind: "destination_port", port };
  }
  const rangeP = joinPath(path, "destination_port_range");
  const range = r.obj(o.destination_port_range, rangeP);
  if (range) {
    const start = r.num(range.start, joinPath(rangeP, "start")) ?? 0;
    const end = r.num(range.end, joinPath(rangeP, "end")) ?? 0;
    if (end < start) r.bad(rangeP, "end must not be less than start");
    return { kind: "destination_port_range", start, end };
  }
  if (o.requested_server_name !== undefined && o.requested_server_name !== null) {
    const matcher = compileStringMatcher(r, o.requested_server_name, joinPath(path, "requested_server_name"));
    return matcher ? { kind: "requested_server_name", matcher } : undefined;
  }
  return r.bad(path, "a permission needs one rule (any, and_rules, or_rules, not_rule, destination_ip, destination_port, destination_port_range, requested_server_name)");
}

function compilePrincipal(r: Reader, v: unknown, path: string, depth: number): RbacPrincipalModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  if (depth > MAX_DEPTH) return r.bad(path, `principals nest at most ${MAX_DEPTH} deep`);
  if (o.any === true) return { kind: "any" };
  for (const kind of ["and", "or"] as const) {
    const sp = joinPath(path, `${kind}_ids`);
    const set = r.obj(o[`${kind}_ids`], sp);
    if (set) {
      const ip = joinPath(sp, "ids");
      return { kind, ids: r.arr(set.ids, ip).flatMap((x, i) => compilePrincipal(r, x, joinPath(ip, i), depth + 1) ?? []) };
    }
  }
  if (o.not_id !== undefined && o.not_id !== null) {
    const id = compilePrincipal(r, o.not_id, joinPath(path, "not_id"), depth + 1);
    return id ? { kind: "not", id } : undefined;
  }
  // `source_ip` is Envoy's deprecated spelling of the connection's remote address, as `remote_ip` is for a network filter.
  for (const [key, kind] of [["direct_remote_ip", "direct_remote_ip"], ["remote_ip", "remote_ip"], ["source_ip", "remote_ip"]] as const) {
    if (o[key] !== undefined && o[key] !== null) {
      const range = compileCidrRange(r, o[key], joinPath(path, key));
      return range ? { kind, range } : undefined;
    }
  }
  const ap = joinPath(path, "authenticated");
  const auth = r.obj(o.authenticated, ap);
  if (auth) {
    if (auth.principal_name === undefined || auth.principal_name === null) return { kind: "authenticated" };
    const principalName = compileStringMatcher(r, auth.principal_name, joinPath(ap, "principal_name"));
    return principalName ? { kind: "authenticated", principalName } : undefined;
  }
  return r.bad(path, "a principal needs one identifier (any, and_ids, or_ids, not_id, authenticated, direct_remote_ip, remote_ip, source_ip)");
}

/** `envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit`. */
export function compileNetworkLocalRateLimit(issues: ConfigIssue[], name: string, c: Obj, path: string, filterPath: string, edge: boolean): LocalRateLimitNetworkModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(c.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const tp = p("token_bucket");
  const tb = r.required(r.obj(c.token_bucket, tp), tp, "token_bucket") ?? {};
  const maxTokens = r.required(r.uint(tb.max_tokens, joinPath(tp, "max_tokens")), joinPath(tp, "max_tokens"), "max_tokens") ?? 1;
  if (maxTokens < 1) r.bad(joinPath(tp, "max_tokens"), "max_tokens must be at least 1");
  const tokensPerFill = r.uint(tb.tokens_per_fill, joinPath(tp, "tokens_per_fill")) ?? 1;
  if (tokensPerFill < 1) r.bad(joinPath(tp, "tokens_per_fill"), "tokens_per_fill must be at least 1");
  const fp = joinPath(tp, "fill_interval");
  const fillIntervalMs = r.required(r.durationMs(tb.fill_interval, fp), fp, "fill_interval") ?? MIN_FILL_INTERVAL_MS;
  if (fillIntervalMs < MIN_FILL_INTERVAL_MS) r.bad(fp, `fill_interval must be at least ${MIN_FILL_INTERVAL_MS}ms (as Envoy requires)`);
  const model: LocalRateLimitNetworkModel = { kind: "local_ratelimit", name, statPrefix, tokenBucket: { maxTokens, tokensPerFill, fillIntervalMs } };
  const rp = p("runtime_enabled");
  const re = r.obj(c.runtime_enabled, rp);
  if (re) {
    const defaultValue = r.required(r.bool(re.default_value, joinPath(rp, "default_value")), joinPath(rp, "default_value"), "default_value") ?? true;
    const runtimeKey = r.required(r.str(re.runtime_key, joinPath(rp, "runtime_key")), joinPath(rp, "runtime_key"), "runtime_key") ?? "";
    model.runtimeEnabled = { runtimeKey, defaultValue };
  }
  if (edge) r.bad(filterPath, "the network local_ratelimit filter runs in the tcp tier only (the edge listener runs one http_connection_manager)", "unsupported");
  return model;
}
