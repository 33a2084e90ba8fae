/**
 * Compiles the routing and header parts of an HCM config (called by shared/config/compile.ts): route
 * matches, the cluster specifiers and rewrites of a route action, redirects, header mutations at every
 * level, and the HCM's own header settings. Like compile.ts it trusts nothing: malformed input is a
 * `not-envoy` issue, an unknown cluster `invalid-reference`, and an RE2 pattern or header format that
 * cannot run here `unsupported` (shared/http/re2.ts and header-formatter.ts say which is which).
 * Regexes and header values are checked here, once, so the route table never meets a bad one.
 */
import { compileHeaderFormat, FormatError } from "../http/header-formatter.ts";
import { compileRe2, compileSubstitution, Re2Error } from "../http/re2.ts";
import type { Reader } from "./compile.ts";
import { joinPath } from "./issues.ts";
import type {
  ClusterModel,
  ClusterSpecifierModel,
  FractionalPercentModel,
  HcmHeaderPolicyModel,
  HeaderAppendAction,
  HeaderMatcherModel,
  HeaderMutationsModel,
  HeaderValueOptionModel,
  QueryParameterMatcherModel,
  RedirectModel,
  RegexRewriteModel,
  RouteMatchModel,
  RouteRewriteModel,
  RuntimeFractionModel,
  StringMatcherModel,
  WeightedClusterModel,
} from "./model.ts";

type Obj = Record<string, unknown>;

const sub = (path: string, ...keys: (string | number)[]): string => keys.reduce<string>((p, k) => joinPath(p, k), path);

/** Reports a regex problem from shared/http/re2.ts as an issue; returns whether the pattern is usable. */
function checkRegex(r: Reader, pattern: string, path: string): boolean {
  try {
    compileRe2(pattern);
    return true;
  } catch (e) {
    if (!(e instanceof Re2Error)) throw e;
    r.bad(path, `regex ${JSON.stringify(pattern)}: ${e.message}`, e.kind);
    return false;
  }
}

/** `envoy.type.matcher.v3.RegexMatcher`: its `regex`, checked. */
function compileRegexMatcher(r: Reader, v: unknown, path: string): string | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const rp = joinPath(path, "regex");
  const regex = r.required(r.str(o.regex, rp), rp, "regex");
  if (regex === undefined) return undefined;
  if (regex === "") return r.bad(rp, "regex must not be empty");
  // `google_re2` (deprecated, max_program_size only) is accepted; the program-size limit is not applied.
  r.obj(o.google_re2, joinPath(path, "google_re2"));
  return checkRegex(r, regex, rp) ? regex : undefined;
}

/** `envoy.type.matcher.v3.StringMatcher`. */
export function compileStringMatcher(r: Reader, v: unknown, path: string): StringMatcherModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const ignoreCase = r.bool(o.ignore_case, joinPath(path, "ignore_case")) ?? false;
  const set = (["exact", "prefix", "suffix", "contains", "safe_regex"] as const).filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length !== 1) {
    if (set.length === 0 && r.alternative(o, path, { custom: "custom string matchers" })) return undefined;
    return r.bad(path, "a string matcher needs exactly one of exact, prefix, suffix, contains or safe_regex");
  }
  const kind = set[0]!;
  if (kind === "safe_regex") {
    const regex = compileRegexMatcher(r, o.safe_regex, joinPath(path, "safe_regex"));
    return regex === undefined ? undefined : { kind, regex };
  }
  const value = r.str(o[kind], joinPath(path, kind));
  if (value === undefined) return undefined;
  if (value === "" && kind !== "exact") return r.bad(joinPath(path, kind), `${kind} must not be empty`);
  return { kind, value, ignoreCase };
}

/** A header name a matcher reads or a mutation writes: lower-cased, and a valid token (or pseudo-header). */
function headerName(r: Reader, v: unknown, path: string, what: string): string | undefined {
  const name = r.required(r.str(v, path), path, what);
  if (name === undefined) return undefined;
  if (!/^:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return r.bad(path, `${JSON.stringify(name)} is not a valid header name`);
  return name.toLowerCase();
}

export function compileHeaderMatcher(r: Reader, v: unknown, path: string): HeaderMatcherModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const name = headerName(r, o.name, joinPath(path, "name"), "name");
  const invertMatch = r.bool(o.invert_match, joinPath(path, "invert_match")) ?? false;
  const treatMissingHeaderAsEmpty = r.bool(o.treat_missing_header_as_empty, joinPath(path, "treat_missing_header_as_empty")) ?? false;
  const kinds = ["string_match", "exact_match", "prefix_match", "suffix_match", "contains_match", "safe_regex_match", "range_match", "present_match"]
    .filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length > 1) return r.bad(path, `only one of ${kinds.join(", ")} may be set`);
  let match: HeaderMatcherModel["match"] | undefined;
  const kind = kinds[0];
  const kp = kind ? joinPath(path, kind) : path;
  switch (kind) {
    case "string_match": {
      const m = compileStringMatcher(r, o.string_match, kp);
      if (m) match = { kind: "string", matcher: m };
      break;
    }
    case "exact_match": case "prefix_match": case "suffix_match": case "contains_match": {
      const value = r.str(o[kind], kp);
      if (value !== undefined) match = { kind: "string", matcher: { kind: kind.slice(0, -"_match".length) as "exact", value, ignoreCase: false } };
      break;
    }
    case "safe_regex_match": {
      const regex = compileRegexMatcher(r, o.safe_regex_match, kp);
      if (regex !== undefined) match = { kind: "string", matcher: { kind: "safe_regex", regex } };
      break;
    }
    case "range_match": {
      const rm = r.obj(o.range_match, kp) ?? {};
      const start = int64(r, rm.start, joinPath(kp, "start"));
      const end = int64(r, rm.end, joinPath(kp, "end"));
      if (start !== undefined && end !== undefined) {
        if (BigInt(start) > BigInt(end)) r.bad(kp, "range_match start must not be above end");
        else match = { kind: "range", start, end };
      }
      break;
    }
    case "present_match": {
      const present = r.bool(o.present_match, kp);
      if (present !== undefined) match = { kind: "present", present };
      break;
    }
    default:
      // No match specifier: Envoy matches on presence.
      match = { kind: "present", present: true };
  }
  if (!name || !match) return undefined;
  return { name, match, invertMatch, treatMissingHeaderAsEmpty };
}

function int64(r: Reader, v: unknown, path: string): string | undefined {
  if (v === undefined || v === null) return "0";
  const s = typeof v === "number" && Number.isInteger(v) ? String(v) : typeof v === "string" && /^-?\d+$/.test(v) ? v : undefined;
  if (s === undefined) return r.bad(path, "expected a 64-bit integer");
  const n = BigInt(s);
  if (n < -(2n ** 63n) || n >= 2n ** 63n) return r.bad(path, "expected a 64-bit integer");
  return s;
}

function compileQueryParameterMatcher(r: Reader, v: unknown, path: string): QueryParameterMatcherModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const name = r.required(r.str(o.name, joinPath(path, "name")), joinPath(path, "name"), "name");
  if (name === "") r.bad(joinPath(path, "name"), "name must not be empty");
  if (o.string_match !== undefined && o.string_match !== null && o.present_match !== undefined && o.present_match !== null) {
    return r.bad(path, "only one of string_match and present_match may be set");
  }
  if (o.string_match !== undefined && o.string_match !== null) {
    const matcher = compileStringMatcher(r, o.string_match, joinPath(path, "string_match"));
    return name && matcher ? { name, matcher } : undefined;
  }
  // Envoy: present_match true, or no specifier, matches when the parameter is there; present_match false never matches.
  const present = r.bool(o.present_match, joinPath(path, "present_match"));
  if (present === false) return name ? { name, present: false } : undefined;
  return name ? { name } : undefined;
}

const DENOMINATORS = ["HUNDRED", "TEN_THOUSAND", "MILLION"] as const;

function compileFractionalPercent(r: Reader, v: unknown, path: string): FractionalPercentModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const numerator = r.uint(o.numerator, joinPath(path, "numerator")) ?? 0;
  const denominator = r.enumOf(o.denominator, joinPath(path, "denominator"), DENOMINATORS, "HUNDRED");
  return { numerator, denominator };
}

/** `core.v3.RuntimeFractionalPercent`. */
export function compileRuntimeFraction(r: Reader, v: unknown, path: string): RuntimeFractionModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const dp = joinPath(path, "default_value");
  const defaultValue = r.required(compileFractionalPercent(r, o.default_value, dp), dp, "default_value");
  const runtimeKey = r.str(o.runtime_key, joinPath(path, "runtime_key")) ?? "";
  return defaultValue ? { defaultValue, runtimeKey } : undefined;
}

/** `RouteMatch`: the path specifier and the other conditions. */
export function compileRouteMatch(r: Reader, v: unknown, mp: string): RouteMatchModel {
  const m = r.required(r.obj(v, mp), mp, "match") ?? {};
  const prefix = r.str(m.prefix, joinPath(mp, "prefix"));
  const exact = r.str(m.path, joinPath(mp, "path"));
  const separated = r.str(m.path_separated_prefix, joinPath(mp, "path_separated_prefix"));
  const hasRegex = m.safe_regex !== undefined && m.safe_regex !== null;
  const safeRegex = hasRegex ? compileRegexMatcher(r, m.safe_regex, joinPath(mp, "safe_regex")) : undefined;
  const count = [prefix, exact, separated].filter((x) => x !== undefined).length + (hasRegex ? 1 : 0);
  if (count !== 1) {
    if (count > 0 || !r.alternative(m, mp, { connect_matcher: "CONNECT matching", path_match_policy: "path templates" })) {
      r.bad(mp, "a route match needs exactly one of prefix, path, safe_regex or path_separated_prefix");
    }
  }
  if (separated !== undefined && !/^[^?#]+[^?#/]$/.test(separated)) {
    r.bad(joinPath(mp, "path_separated_prefix"), "path_separated_prefix must not contain ? or # and must not end with /");
  }
  const caseSensitive = r.bool(m.case_sensitive, joinPath(mp, "case_sensitive")) ?? true;
  const match: RouteMatchModel = { prefix, path: exact, caseSensitive };
  if (safeRegex !== undefined) match.safeRegex = safeRegex;
  if (separated !== undefined) match.pathSeparatedPrefix = separated;
  const hp = joinPath(mp, "headers");
  const headers = r.arr(m.headers, hp).map((h, i) => compileHeaderMatcher(r, h, joinPath(hp, i))).filter((h): h is HeaderMatcherModel => h !== undefined);
  if (headers.length) match.headers = headers;
  const qp = joinPath(mp, "query_parameters");
  const queryParameters = r.arr(m.query_parameters, qp).map((q, i) => compileQueryParameterMatcher(r, q, joinPath(qp, i))).filter((q): q is QueryParameterMatcherModel => q !== undefined);
  if (queryParameters.length) match.queryParameters = queryParameters;
  const runtimeFraction = compileRuntimeFraction(r, m.runtime_fraction, joinPath(mp, "runtime_fraction"));
  if (runtimeFraction) match.runtimeFraction = runtimeFraction;
  if (r.obj(m.grpc, joinPath(mp, "grpc"))) match.grpc = true;
  return match;
}

function compileRegexRewrite(r: Reader, v: unknown, path: string): RegexRewriteModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const pp = joinPath(path, "pattern");
  const regex = r.required(compileRegexMatcher(r, o.pattern, pp), pp, "pattern");
  const sp = joinPath(path, "substitution");
  const substitution = r.str(o.substitution, sp) ?? "";
  if (regex === undefined) return undefined;
  try {
    compileSubstitution(substitution, compileRe2(regex).groups);
  } catch (e) {
    if (!(e instanceof Re2Error)) throw e;
    return r.bad(sp, e.message, e.kind);
  }
  return { regex, substitution };
}

/** `route` action: the cluster (plain, weighted or from a header) and the rewrites. */
export function compileRouteTarget(
  r: Reader,
  ra: Obj,
  path: string,
  clusters: ReadonlyMap<string, ClusterModel>,
): { cluster: string; clusterSpecifier?: ClusterSpecifierModel; rewrite?: RouteRewriteModel } {
  const cp = joinPath(path, "cluster");
  const chosen = ["cluster", "cluster_header", "weighted_clusters"].filter((k) => ra[k] !== undefined && ra[k] !== null);
  let cluster = "";
  let clusterSpecifier: ClusterSpecifierModel | undefined;
  if (chosen.length > 1) r.bad(path, `only one of ${chosen.join(", ")} may be set`);
  else if (chosen.length === 0) {
    if (!r.alternative(ra, path, { cluster_specifier_plugin: "cluster specifier plugins", inline_cluster_specifier_plugin: "cluster specifier plugins" })) {
      r.bad(path, "a route action needs one of cluster, cluster_header or weighted_clusters");
    }
  } else if (chosen[0] === "cluster") {
    cluster = r.str(ra.cluster, cp) ?? "";
    if (cluster === "") r.bad(cp, "cluster must not be empty");
    else if (!clusters.has(cluster)) r.bad(cp, `unknown cluster "${cluster}"`, "invalid-reference");
  } else if (chosen[0] === "cluster_header") {
    const header = headerName(r, ra.cluster_header, joinPath(path, "cluster_header"), "cluster_header");
    if (header) clusterSpecifier = { kind: "header", header };
  } else {
    clusterSpecifier = compileWeightedClusters(r, ra.weighted_clusters, joinPath(path, "weighted_clusters"), clusters);
  }

  const rewrite: RouteRewriteModel = {};
  const prefixRewrite = r.str(ra.prefix_rewrite, joinPath(path, "prefix_rewrite"));
  const regexRewrite = compileRegexRewrite(r, ra.regex_rewrite, joinPath(path, "regex_rewrite"));
  if (prefixRewrite !== undefined && ra.regex_rewrite !== undefined && ra.regex_rewrite !== null) {
    r.bad(path, "only one of prefix_rewrite and regex_rewrite may be set");
  }
  if (prefixRewrite !== undefined) rewrite.prefixRewrite = prefixRewrite;
  if (regexRewrite) rewrite.regexRewrite = regexRewrite;
  const hosts = ["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header"].filter((k) => ra[k] !== undefined && ra[k] !== null);
  if (hosts.length > 1) r.bad(path, `only one of ${hosts.join(", ")} may be set`);
  const literal = r.str(ra.host_rewrite_literal, joinPath(path, "host_rewrite_literal"));
  if (literal !== undefined) rewrite.hostRewriteLiteral = literal;
  const auto = r.bool(ra.auto_host_rewrite, joinPath(path, "auto_host_rewrite"));
  if (auto) rewrite.autoHostRewrite = true;
  if (ra.host_rewrite_header !== undefined && ra.host_rewrite_header !== null) {
    const h = headerName(r, ra.host_rewrite_header, joinPath(path, "host_rewrite_header"), "host_rewrite_header");
    if (h) rewrite.hostRewriteHeader = h;
  }
  const out: { cluster: string; clusterSpecifier?: ClusterSpecifierModel; rewrite?: RouteRewriteModel } = { cluster };
  if (clusterSpecifier) out.clusterSpecifier = clusterSpecifier;
  if (Object.keys(rewrite).length) out.rewrite = rewrite;
  return out;
}

function compileWeightedClusters(r: Reader, v: unknown, path: string, clusters: ReadonlyMap<string, ClusterModel>): ClusterSpecifierModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const lp = joinPath(path, "clusters");
  const list: WeightedClusterModel[] = [];
  r.arr(o.clusters, lp).forEach((c, i) => {
    const p = joinPath(lp, i);
    const co = r.obj(c, p) ?? {};
    const name = r.str(co.name, joinPath(p, "name")) ?? "";
    const hasHeader = co.cluster_header !== undefined && co.cluster_header !== null && co.cluster_header !== "";
    if (name !== "" && hasHeader) r.bad(p, "only one of name and cluster_header may be set");
    if (name === "" && !hasHeader) r.bad(p, "a weighted cluster needs a name or a cluster_header");
    if (name !== "" && !clusters.has(name)) r.bad(joinPath(p, "name"), `unknown cluster "${name}"`, "invalid-reference");
    const weight = r.uint(co.weight, joinPath(p, "weight")) ?? 0;
    const entry: WeightedClusterModel = { name, weight };
    if (hasHeader) {
      const h = headerName(r, co.cluster_header, joinPath(p, "cluster_header"), "cluster_header");
      if (h) entry.clusterHeader = h;
    }
    const mutations = compileHeaderMutations(r, co, p);
    if (mutations) entry.headerMutations = mutations;
    const literal = r.str(co.host_rewrite_literal, joinPath(p, "host_rewrite_literal"));
    if (literal !== undefined) entry.hostRewriteLiteral = literal;
    list.push(entry);
  });
  if (list.length === 0) r.bad(lp, "weighted_clusters needs at least one cluster");
  const total = list.reduce((a, c) => a + c.weight, 0);
  if (list.length && total === 0) r.bad(lp, "the sum of the cluster weights must be greater than 0");
  if (total > 0xffffffff) r.bad(lp, "the sum of the cluster weights must not exceed 4294967295");
  // `total_weight` is deprecated: Envoy uses the sum of the weights, whatever it says.
  r.uint(o.total_weight, joinPath(path, "total_weight"));
  const spec: ClusterSpecifierModel = { kind: "weighted", clusters: list };
  const prefix = r.str(o.runtime_key_prefix, joinPath(path, "runtime_key_prefix"));
  if (prefix) spec.runtimeKeyPrefix = prefix;
  if (o.header_name !== undefined && o.header_name !== null && o.header_name !== "") {
    const h = headerName(r, o.header_name, joinPath(path, "header_name"), "header_name");
    if (h) spec.headerName = h;
  }
  return spec;
}

const REDIRECT_CODES: Readonly<Record<string, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

/** `redirect`: a direct-response action whose `location` is built per request (shared/http/redirect.ts). */
export function compileRedirect(r: Reader, rd: Obj, path: string): { kind: "direct_response"; status: number; redirect: RedirectModel } {
  const code = r.enumOf(rd.response_code, joinPath(path, "response_code"), Object.keys(REDIRECT_CODES), "MOVED_PERMANENTLY");
  const redirect: RedirectModel = { responseCode: REDIRECT_CODES[code]!, stripQuery: r.bool(rd.strip_query, joinPath(path, "strip_query")) ?? false };
  const https = r.bool(rd.https_redirect, joinPath(path, "https_redirect")) ?? false;
  const scheme = r.str(rd.scheme_redirect, joinPath(path, "scheme_redirect"));
  if (https && scheme !== undefined) r.bad(path, "only one of https_redirect and scheme_redirect may be set");
  if (https) redirect.scheme = "https";
  else if (scheme !== undefined && scheme !== "") redirect.scheme = scheme.toLowerCase();
  const host = r.str(rd.host_redirect, joinPath(path, "host_redirect"));
  if (host) redirect.host = host;
  const port = r.uint(rd.port_redirect, joinPath(path, "port_redirect"), 65535);
  if (port) redirect.port = port;
  const paths = ["path_redirect", "prefix_rewrite", "regex_rewrite"].filter((k) => rd[k] !== undefined && rd[k] !== null);
  if (paths.length > 1) r.bad(path, `only one of ${paths.join(", ")} may be set`);
  const pathRedirect = r.str(rd.path_redirect, joinPath(path, "path_redirect"));
  if (pathRedirect !== undefined) redirect.pathRedirect = pathRedirect;
  const prefixRewrite = r.str(rd.prefix_rewrite, joinPath(path, "prefix_rewrite"));
  if (prefixRewrite !== undefined) redirect.prefixRewrite = prefixRewrite;
  const regexRewrite = compileRegexRewrite(r, rd.regex_rewrite, joinPath(path, "regex_rewrite"));
  if (regexRewrite) redirect.regexRewrite = regexRewrite;
  return { kind: "direct_response", status: redirect.responseCode, redirect };
}

const APPEND_ACTIONS = ["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"] as const;

function compileHeaderValueOption(r: Reader, v: unknown, path: string): HeaderValueOptionModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const hp = joinPath(path, "header");
  const h = r.required(r.obj(o.header, hp), hp, "header");
  if (!h) return undefined;
  const key = headerName(r, h.key, joinPath(hp, "key"), "key");
  if (key !== undefined && (key.startsWith(":") || key === "host")) {
    return r.bad(joinPath(hp, "key"), `${key} may not be modified: pseudo-headers and host cannot be added or changed`);
  }
  let value = r.str(h.value, joinPath(hp, "value"));
  const raw = r.str(h.raw_value, joinPath(hp, "raw_value"));
  if (value !== undefined && raw !== undefined) return r.bad(hp, "only one of value and raw_value may be set");
  if (raw !== undefined) value = latin1FromBase64(raw);
  value ??= "";
  if (/[\0\r\n]/.test(value)) return r.bad(joinPath(hp, "value"), "a header value may not contain NUL, CR or LF");
  try {
    compileHeaderFormat(value);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    return r.bad(joinPath(hp, "value"), e.message, e.kind);
  }
  const append = r.bool(o.append, joinPath(path, "append"));
  const hasAction = o.append_action !== undefined && o.append_action !== null;
  if (append !== undefined && hasAction) return r.bad(path, "both append and append_action are set; use append_action only");
  let appendAction: HeaderAppendAction = r.enumOf(o.append_action, joinPath(path, "append_action"), APPEND_ACTIONS, "APPEND_IF_EXISTS_OR_ADD");
  if (append !== undefined) appendAction = append ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD";
  const keepEmptyValue = r.bool(o.keep_empty_value, joinPath(path, "keep_empty_value")) ?? false;
  return key === undefined ? undefined : { key, value, appendAction, keepEmptyValue };
}

function latin1FromBase64(b64: string): string {
  try {
    return atob(b64);
  } catch {
    return "";
  }
}

/**
 * `request_headers_to_add`, `request_headers_to_remove`, `response_headers_to_add`,
 * `response_headers_to_remove` of one level (route configuration, virtual host, route, weighted
 * cluster). Undefined when none is set.
 */
export function compileHeaderMutations(r: Reader, o: Obj, path: string): HeaderMutationsModel | undefined {
  const adds = (key: string) =>
    r.arr(o[key], joinPath(path, key)).map((h, i) => compileHeaderValueOption(r, h, sub(path, key, i))).filter((h): h is HeaderValueOptionModel => h !== undefined);
  const removes = (key: string) =>
    r.arr(o[key], joinPath(path, key)).map((h, i) => {
      const p = sub(path, key, i);
      const name = headerName(r, h, p, "header name");
      if (name !== undefined && (name.startsWith(":") || name === "host")) return r.bad(p, `${name} may not be removed: pseudo-headers and host cannot be removed`);
      return name;
    }).filter((h): h is string => h !== undefined);
  const m: HeaderMutationsModel = {
    requestHeadersToAdd: adds("request_headers_to_add"),
    requestHeadersToRemove: removes("request_headers_to_remove"),
    responseHeadersToAdd: adds("response_headers_to_add"),
    responseHeadersToRemove: removes("response_headers_to_remove"),
  };
  const empty = !m.requestHeadersToAdd.length && !m.requestHeadersToRemove.length && !m.responseHeadersToAdd.length && !m.responseHeadersToRemove.length;
  return empty ? undefined : m;
}

/** The route configuration's own settings besides its virtual hosts. */
export function compileRouteConfigHeaders(
  r: Reader,
  rc: Obj,
  path: string,
): { headerMutations?: HeaderMutationsModel; mostSpecificHeaderMutationsWins?: boolean; internalOnlyHeaders?: string[] } {
  const out: { headerMutations?: HeaderMutationsModel; mostSpecificHeaderMutationsWins?: boolean; internalOnlyHeaders?: string[] } = {};
  const m = compileHeaderMutations(r, rc, path);
  if (m) out.headerMutations = m;
  if (r.bool(rc.most_specific_header_mutations_wins, joinPath(path, "most_specific_header_mutations_wins"))) out.mostSpecificHeaderMutationsWins = true;
  const ip = joinPath(path, "internal_only_headers");
  const internal = r.arr(rc.internal_only_headers, ip).map((h, i) => headerName(r, h, joinPath(ip, i), "header name")).filter((h): h is string => h !== undefined);
  if (internal.length) out.internalOnlyHeaders = internal;
  return out;
}

const SERVER_TRANSFORMATIONS = ["OVERWRITE", "APPEND_IF_ABSENT", "PASS_THROUGH"] as const;

/** The HCM's header settings; undefined when every one is at Envoy's default. */
export function compileHcmHeaderPolicy(r: Reader, c: Obj, path: string): HcmHeaderPolicyModel | undefined {
  const p: HcmHeaderPolicyModel = {
    useRemoteAddress: r.bool(c.use_remote_address, joinPath(path, "use_remote_address")) ?? false,
    xffNumTrustedHops: r.uint(c.xff_num_trusted_hops, joinPath(path, "xff_num_trusted_hops")) ?? 0,
    skipXffAppend: r.bool(c.skip_xff_append, joinPath(path, "skip_xff_append")) ?? false,
    via: r.str(c.via, joinPath(path, "via")) ?? "",
    generateRequestId: r.bool(c.generate_request_id, joinPath(path, "generate_request_id")) ?? true,
    preserveExternalRequestId: r.bool(c.preserve_external_request_id, joinPath(path, "preserve_external_request_id")) ?? false,
    alwaysSetRequestIdInResponse: r.bool(c.always_set_request_id_in_response, joinPath(path, "always_set_request_id_in_response")) ?? false,
    serverName: r.str(c.server_name, joinPath(path, "server_name")) || "envoy",
    serverHeaderTransformation: r.enumOf(c.server_header_transformation, joinPath(path, "server_header_transformation"), SERVER_TRANSFORMATIONS, "OVERWRITE"),
  };
  if (/[\0\r\n]/.test(p.via) || /[\0\r\n]/.test(p.serverName)) r.bad(path, "via and server_name may not contain NUL, CR or LF");
  const defaults = !p.useRemoteAddress && p.xffNumTrustedHops === 0 && !p.skipXffAppend && p.via === "" && p.generateRequestId
    && !p.preserveExternalRequestId && !p.alwaysSetRequestIdInResponse && p.serverName === "envoy" && p.serverHeaderTransformation === "OVERWRITE";
  return defaults ? undefined : p;
}
