/**
 * Compiles `RouteAction.hash_policy` (the request hash for RING_HASH and MAGLEV clusters), once per
 * route. Supported: `header` (without `regex_rewrite`), `cookie` (with `ttl`, `path` and `attributes`,
 * which ask Envoy to generate the cookie when absent), `connection_properties.source_ip`,
 * `query_parameter`; `filter_state` is not (the validator refuses the unsupported parts; this
 * function reports them too, so an unvalidated config fails closed).
 */
import { Reader } from "./reader.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { HashPolicyModel } from "./model.ts";

/** The route's hash policies, or undefined when it has none. */
export function compileHashPolicies(issues: ConfigIssue[], v: unknown, path: string): HashPolicyModel[] | undefined {
  const r = new Reader(issues);
  const list = r.arr(v, path);
  if (list.length === 0) return undefined;
  const out: HashPolicyModel[] = [];
  list.forEach((item, i) => {
    const p = joinPath(path, i);
    const o = r.obj(item, p);
    if (!o) return;
    const terminal = r.bool(o.terminal, joinPath(p, "terminal")) ?? false;
    const set = ["header", "cookie", "connection_properties", "query_parameter", "filter_state"].filter((k) => o[k] !== undefined && o[k] !== null);
    if (set.length !== 1) {
      r.bad(p, set.length === 0 ? "a hash policy needs one of header, cookie, connection_properties, query_parameter, filter_state" : `only one of ${set.join(", ")} may be set`);
      return;
    }
    const kind = set[0]!;
    const kp = joinPath(p, kind);
    const spec = r.obj(o[kind], kp) ?? {};
    switch (kind) {
      case "header": {
        const name = r.str(spec.header_name, joinPath(kp, "header_name")) ?? "";
        if (!name) r.bad(joinPath(kp, "header_name"), "header_name is required");
        if (spec.regex_rewrite !== undefined && spec.regex_rewrite !== null) r.bad(joinPath(kp, "regex_rewrite"), "`regex_rewrite` of a hash policy header is not supported by Legate", "unsupported");
        out.push({ kind: "header", headerName: name.toLowerCase(), terminal });
        break;
      }
      case "cookie": {
        const name = r.str(spec.name, joinPath(kp, "name")) ?? "";
        if (!name) r.bad(joinPath(kp, "name"), "name is required");
        out.push({ kind: "cookie", name, terminal, ...compileCookieGeneration(r, spec, kp) });
        break;
      }
      case "connection_properties": {
        if (r.bool(spec.source_ip, joinPath(kp, "source_ip")) === true) out.push({ kind: "source_ip", terminal });
        break;
      }
      case "query_parameter": {
        const name = r.str(spec.name, joinPath(kp, "name")) ?? "";
        if (!name) r.bad(joinPath(kp, "name"), "name is required");
        out.push({ kind: "query_parameter", name, terminal });
        break;
      }
      default:
        r.bad(kp, "`filter_state` hash policies are not supported by Legate", "unsupported");
    }
  });
  return out.length ? out : undefined;
}

/**
 * A cookie policy's `ttl`, `path` and `attributes`: with `ttl`, Envoy generates the cookie when the
 * request has none. Without `ttl`, `path` and `attributes` have no effect, as in Envoy.
 */
function compileCookieGeneration(r: Reader, spec: Record<string, unknown>, path: string): { generate?: { ttlSeconds: number; path: string; attributes: { name: string; value: string }[] } } {
  const ttlMs = r.durationMs(spec.ttl, joinPath(path, "ttl"));
  const cookiePath = r.str(spec.path, joinPath(path, "path")) ?? "";
  const ap = joinPath(path, "attributes");
  const attributes = r.arr(spec.attributes, ap).flatMap((a, i) => {
    const o = r.obj(a, joinPath(ap, i));
    if (!o) return [];
    const name = r.str(o.name, joinPath(joinPath(ap, i), "name")) ?? "";
    const value = r.str(o.value, joinPath(joinPath(ap, i), "value")) ?? "";
    if (!name) {
      r.bad(joinPath(joinPath(ap, i), "name"), "a cookie attribute needs a name");
      return [];
    }
    if (/[\r\n\0]/.test(name + value)) {
      r.bad(joinPath(ap, i), "a cookie attribute may not contain line breaks or NUL");
      return [];
    }
    if ((name + value).includes(";")) {
      // Envoy would pass it on and split the Set-Cookie into further attributes; Legate does not.
      r.bad(joinPath(ap, i), "a cookie attribute containing ';' is not supported by Legate", "unsupported");
      return [];
    }
    return [{ name, value }];
  });
  if (/[\r\n\0]/.test(cookiePath)) r.bad(joinPath(path, "path"), "a cookie path may not contain line breaks or NUL");
  else if (cookiePath.includes(";")) r.bad(joinPath(path, "path"), "a cookie path containing ';' is not supported by Legate", "unsupported");
  if (ttlMs === undefined) return {};
  return { generate: { ttlSeconds: Math.floor(ttlMs / 1000), path: cookiePath, attributes } };
}

/**
 * `action` with `hashPolicy` compiled from the RouteAction JSON `ra` (at `routePath`, the route's
 * path), when it has one. The hook compile.ts calls for each `route` action.
 */
export function withHashPolicy<A extends { kind: "route" }>(issues: ConfigIssue[], action: A, ra: Record<string, unknown>, routePath: string): A & { hashPolicy?: HashPolicyModel[] } {
  if (ra.hash_policy === undefined || ra.hash_policy === null) return action;
  const hashPolicy = compileHashPolicies(issues, ra.hash_policy, joinPath(joinPath(routePath, "route"), "hash_policy"));
  return hashPolicy ? { ...action, hashPolicy } : action;
}
