/**
 * The HTTP route table of one `route_config`, compiled once per config version: virtual host lookup
 * by Host/:authority and in-order route matching, with Envoy's semantics.
 *
 * Virtual host selection (Envoy's `VirtualHost.domains`), on the lower-cased Host value:
 * 1. exact domain (`www.foo.com`);
 * 2. suffix wildcards (`*.foo.com`, `*-bar.foo.com`), longest first;
 * 3. prefix wildcards (`foo.*`, `foo-*`), longest first;
 * 4. the catch-all `*`.
 * A wildcard never matches the empty string (`*.foo.com` does not match `.foo.com`). As in Envoy by
 * default, the port is part of the Host value: `foo.com` does not match `foo.com:8080`, and a domain
 * may carry a port (`foo.com:8080`). The HCM's `strip_matching_host_port` / `strip_any_host_port`
 * remove the port from the Host before lookup (header-handling.ts); the route configuration's
 * `ignore_port_in_host_matching` is not supported.
 *
 * Routes are tried in config order; the first match wins. The path: `prefix` is matched against the
 * whole `:path` (query included), `path` and `safe_regex` against the path with the query removed
 * (a regex must match all of it), `path_separated_prefix` against the path without the query (equal to
 * it, or followed by `/`); `case_sensitive` (default true) applies to prefix, path and
 * path_separated_prefix. Then `headers`, `query_parameters`, `grpc` and `runtime_fraction` must all
 * hold (shared/http/matchers.ts).
 *
 * Lookup does not scan every route: each virtual host has an index, built once per config, that files
 * each route under the literal text every path it matches must start with (its prefix, path or
 * path_separated_prefix, or the literal head of its regex; case-insensitive ones lower-cased in a
 * second index). A request runs the full matcher of only the routes whose literal starts its path, in
 * config order, so the first match is the one an in-order scan finds.
 *
 * Cluster choice is part of matching, as in Envoy: a `weighted_clusters` route yields the entry of the
 * cluster picked by the request's random value (or the `header_name` header's value) over the weights
 * (runtime `<runtime_key_prefix>.<name>` overrides each), and a `cluster_header` route the cluster
 * the header names ("" when absent: the router then answers 503 with flag NC, as Envoy does).
 */
import type { HeaderMutationsModel, RouteConfigModel, RouteModel, VirtualHostModel, WeightedClusterModel } from "../config/model.ts";
import { createStaticRuntime, type Runtime } from "../runtime/runtime.ts";
import { compileMutations, type HeaderLevel, type HeaderOps } from "./headers.ts";
import { compileHeaderMatcher, compileQueryParameterMatcher, isGrpcRequest, type MatchRequest } from "./matchers.ts";
import { compilePathRewrite, compileRedirectUri, type PathRewrite, pathWithoutQuery, type RedirectUri } from "./redirect.ts";
import { compileRe2 } from "./re2.ts";
import { compileVirtualClusters, type VirtualClusterSelector } from "./virtual-clusters.ts";

/** What route matching reads from a request. */
export interface RouteRequest extends MatchRequest {
  /**
   * Envoy's per-stream random value (a non-negative integer): `runtime_fraction` and weighted clusters
   * use it. Default: a fresh random value per lookup.
   */
  readonly randomValue?: number;
}

/** How the route rewrites the Host (`host_rewrite_*`) when forwarding. */
export interface HostRewrite {
  literal?: string;
  /** Lower-cased header name. */
  header?: string;
  auto?: boolean;
}

/** A route with its matcher and actions compiled. */
export interface CompiledRoute {
  /**
   * The route. For a weighted-cluster or cluster-header route as matched, a copy whose
   * `action.cluster` is the cluster picked for this request.
   */
  readonly model: RouteModel;
  /** True when the route's match accepts the request (a bare string: a `:path`, with no headers). */
  matches(request: RouteRequest | string): boolean;
  /** Request header mutations (this route's, its virtual host's, the route configuration's), in application order. */
  readonly requestHeaderOps: HeaderOps;
  /** Response header mutations, in application order. */
  readonly responseHeaderOps: HeaderOps;
  /** The path rewrite of a route action or of a redirect; absent when none. */
  readonly rewritePath?: PathRewrite;
  /** Host rewrite of a route action; absent when none. */
  readonly hostRewrite?: HostRewrite;
  /** For a redirect route: builds the `location`. */
  readonly redirect?: RedirectUri;
}

export interface CompiledVirtualHost {
  readonly model: VirtualHostModel;
  readonly routes: readonly CompiledRoute[];
  /** Picks a request's virtual cluster (virtual-clusters.ts); absent when the host has none. */
  readonly selectVirtualCluster?: VirtualClusterSelector;
}

/** What {@link RouteTable.match} found: a virtual host and, when one matched, the route. */
export interface RouteMatch {
  virtualHost: CompiledVirtualHost;
  route: CompiledRoute;
}

export interface RouteTable {
  readonly name: string;
  /** `internal_only_headers` (lower-cased), removed from external requests by the HCM. */
  readonly internalOnlyHeaders: readonly string[];
  /** The virtual host for a Host/:authority value (any case; port included), or undefined. */
  findVirtualHost(host: string): CompiledVirtualHost | undefined;
  /**
   * The route for a request: the first route of the selected virtual host that matches, with the
   * cluster picked (weighted clusters, cluster_header). Undefined when no virtual host or no route
   * matches: the router answers 404 with flag NR. Called once per request (cached by the stream).
   */
  route(request: RouteRequest): RouteMatch | undefined;
  /** {@link route} for a Host and `:path` alone (no headers, `GET`): for tests and tools. */
  match(host: string, path: string): RouteMatch | undefined;
}

export interface RouteTableOptions {
  /** Runtime values for `runtime_fraction` and `runtime_key_prefix`. Default: none (config defaults). */
  runtime?: Runtime;
}

/** Wildcards of one length, keyed by the domain without its `*`. */
type WildcardBucket = { length: number; byText: Map<string, HostEntry> };

/** A compiled virtual host with its route index. */
interface HostEntry {
  readonly compiled: CompiledVirtualHost;
  readonly index: RouteIndex;
}

/** A fresh non-negative random integer (53 bits), Envoy's per-stream random value. */
export function randomStreamValue(): number {
  return Math.floor(Math.random() * 2 ** 53);
}

/**
 * Compiles the table. Throws Re2Error or FormatError for a regex or header value that cannot be used
 * (config compilation reports those first, so a config that compiled never throws here).
 */
export function compileRouteTable(config: RouteConfigModel, options: RouteTableOptions = {}): RouteTable {
  const runtime = options.runtime ?? createStaticRuntime();
  const exact = new Map<string, HostEntry>();
  const suffixes = new Map<number, Map<string, HostEntry>>();
  const prefixes = new Map<number, Map<string, HostEntry>>();
  let catchAll: HostEntry | undefined;
  const global = compileMutations(config.headerMutations);
  const mostSpecificWins = config.mostSpecificHeaderMutationsWins ?? false;

  for (const vh of config.virtualHosts) {
    const vhLevels = compileMutations(vh.headerMutations);
    const levels = { config: global, vhost: vhLevels, mostSpecificWins };
    const selectVirtualCluster = compileVirtualClusters(vh);
    const compiled: CompiledVirtualHost = { model: vh, routes: vh.routes.map((r) => compileRoute(r, levels, runtime)), ...(selectVirtualCluster ? { selectVirtualCluster } : {}) };
    const entry: HostEntry = { compiled, index: buildRouteIndex(vh.routes) };
    for (const raw of vh.domains) {
      const domain = raw.toLowerCase();
      // First definition wins: duplicates are refused at compile time, this only keeps lookup stable.
      if (domain === "*") catchAll ??= entry;
      else if (domain.startsWith("*")) addWildcard(suffixes, domain.slice(1), entry);
      else if (domain.endsWith("*")) addWildcard(prefixes, domain.slice(0, -1), entry);
      else if (!exact.has(domain)) exact.set(domain, entry);
    }
  }
  const suffixBuckets = sortBuckets(suffixes);
  const prefixBuckets = sortBuckets(prefixes);

  const findEntry = (rawHost: string): HostEntry | undefined => {
    const host = rawHost.toLowerCase();
    const hit = exact.get(host);
    if (hit) return hit;
    for (const b of suffixBuckets) {
      // Strictly shorter than the host: a wildcard stands for at least one character.
      if (b.length >= host.length) continue;
      const vh = b.byText.get(host.slice(host.length - b.length));
      if (vh) return vh;
    }
    for (const b of prefixBuckets) {
      if (b.length >= host.length) continue;
      const vh = b.byText.get(host.slice(0, b.length));
      if (vh) return vh;
    }
    return catchAll;
  };
  const findVirtualHost = (host: string): CompiledVirtualHost | undefined => findEntry(host)?.compiled;

  const route = (request: RouteRequest): RouteMatch | undefined => {
    const entry = findEntry(request.authority);
    if (!entry) return undefined;
    const virtualHost = entry.compiled;
    const routes = virtualHost.routes;
    const req = (request.randomValue === undefined ? { ...request, randomValue: randomStreamValue() } : request) as RouteRequest & { randomValue: number };
    const index = entry.index;
    const { lists, cursors } = index;
    const count = collectCandidates(index, req.path);
    // Merge the candidate lists (each in config order) by route index: config order overall.
    for (;;) {
      let best = -1;
      let from = -1;
      for (let i = 0; i < count; i++) {
        const list = lists[i]!;
        const c = cursors[i]!;
        if (c < list.length && (best < 0 || list[c]! < best)) {
          best = list[c]!;
          from = i;
        }
      }
      if (from < 0) return undefined;
      cursors[from]!++;
      const r = routes[best]!;
      if (!r.matches(req)) continue;
      const picked = pick(r, req);
      return picked ? { virtualHost, route: picked } : undefined;
    }
  };

  return {
    name: config.name,
    internalOnlyHeaders: config.internalOnlyHeaders ?? [],
    findVirtualHost,
    route,
    match(host: string, path: string): RouteMatch | undefined {
      return route({ method: "GET", authority: host, path, requestHeaders: new Headers() });
    },
  };
}

function addWildcard(into: Map<number, Map<string, HostEntry>>, text: string, vh: HostEntry): void {
  let bucket = into.get(text.length);
  if (!bucket) into.set(text.length, (bucket = new Map()));
  if (!bucket.has(text)) bucket.set(text, vh);
}

function sortBuckets(m: Map<number, Map<string, HostEntry>>): WildcardBucket[] {
  return [...m.entries()].map(([length, byText]) => ({ length, byText })).sort((a, b) => b.length - a.length);
}

// ---- Route index ----

/** A radix-trie node: routes filed under the literal that ends here, in config order. */
interface TrieNode {
  /** The text of the edge from the parent (lower-cased in the case-insensitive trie). */
  label: string;
  /** Children by the first UTF-16 code unit of their label. */
  readonly children: Map<number, TrieNode>;
  /** Indices of the routes whose literal ends at this node, ascending. */
  readonly own: number[];
  /** Indices of the routes filed strictly below this node, ascending (set by {@link finishTrie}). */
  below: number[];
  /** `own` and `below` together, ascending. */
  all: number[];
}

/**
 * The candidate index of one virtual host. `lists`/`cursors` are scratch space reused by every lookup
 * (lookups are synchronous and never nest), sized for the deepest walk, so a lookup allocates nothing.
 */
interface RouteIndex {
  /** Case-sensitive literals (prefix, path, path_separated_prefix, regex head; "" at the root). */
  readonly exact: TrieNode;
  /** Case-insensitive ASCII literals, ASCII lower-cased. */
  readonly folded: TrieNode;
  readonly lists: (readonly number[])[];
  readonly cursors: number[];
}

const NO_ROUTES: readonly number[] = [];

function trieNode(label: string): TrieNode {
  return { label, children: new Map(), own: [], below: [], all: [] };
}

function insertLiteral(root: TrieNode, literal: string, routeIndex: number): void {
  let node = root;
  let pos = 0;
  for (;;) {
    if (pos === literal.length) {
      node.own.push(routeIndex);
      return;
    }
    const first = literal.charCodeAt(pos);
    const child = node.children.get(first);
    if (!child) {
      const leaf = trieNode(literal.slice(pos));
      leaf.own.push(routeIndex);
      node.children.set(first, leaf);
      return;
    }
    const label = child.label;
    let k = 0;
    while (k < label.length && pos + k < literal.length && label.charCodeAt(k) === literal.charCodeAt(pos + k)) k++;
    if (k < label.length) {
      // Split the edge so that the literal ends at (or branches from) a node.
      const mid = trieNode(label.slice(0, k));
      child.label = label.slice(k);
      mid.children.set(child.label.charCodeAt(0), child);
      node.children.set(first, mid);
      node = mid;
    } else {
      node = child;
    }
    pos += k;
  }
}

/** Fills `below` and `all`; returns the depth (nodes on the longest root-to-leaf walk). */
function finishTrie(node: TrieNode): number {
  let depth = 0;
  const below: number[] = [];
  for (const child of node.children.values()) {
    depth = Math.max(depth, finishTrie(child));
    below.push(...child.all);
  }
  below.sort((a, b) => a - b);
  node.below = below;
  node.all = [...node.own, ...below].sort((a, b) => a - b);
  return depth + 1;
}

/** True when every code unit is ASCII. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function buildRouteIndex(routes: readonly RouteModel[]): RouteIndex {
  const exact = trieNode("");
  const folded = trieNode("");
  routes.forEach((r, i) => {
    const { prefix, path, safeRegex, pathSeparatedPrefix, caseSensitive } = r.match;
    // The same precedence as compilePathMatch.
    if (safeRegex !== undefined) return insertLiteral(exact, regexLiteralPrefix(safeRegex), i);
    const literal = path ?? pathSeparatedPrefix ?? prefix ?? "";
    if (caseSensitive) return insertLiteral(exact, literal, i);
    // Non-ASCII text can lower-case to a different length (or to ASCII): such a route is always a candidate.
    insertLiteral(folded, isAscii(literal) ? literal.toLowerCase() : "", i);
  });
  const slots = finishTrie(exact) + finishTrie(folded);
  return { exact, folded, lists: new Array<readonly number[]>(slots).fill(NO_ROUTES), cursors: new Array<number>(slots).fill(0) };
}

/**
 * Puts into `index.lists` the lists of routes whose literal starts `path` (and resets their cursors);
 * returns how many lists. Every route that can match the path is in one of them, exactly once.
 */
function collectCandidates(index: RouteIndex, path: string): number {
  const { lists, cursors } = index;
  let count = 0;
  let node = index.exact;
  let pos = 0;
  if (node.own.length > 0) lists[count++] = node.own;
  for (;;) {
    if (pos >= path.length) break;
    const child = node.children.get(path.charCodeAt(pos));
    if (!child || !path.startsWith(child.label, pos)) break;
    pos += child.label.length;
    node = child;
    if (node.own.length > 0) lists[count++] = node.own;
  }

  // Case-insensitive: ASCII letters fold; at a non-ASCII code unit (whose lower case may be ASCII or
  // longer) every route filed below is kept as a candidate.
  node = index.folded;
  pos = 0;
  if (node.own.length > 0) lists[count++] = node.own;
  walk: for (;;) {
    if (pos >= path.length) break;
    const first = path.charCodeAt(pos);
    if (first > 0x7f) {
      if (node.below.length > 0) lists[count++] = node.below;
      break;
    }
    const child = node.children.get(first >= 0x41 && first <= 0x5a ? first + 0x20 : first);
    if (!child) break;
    const label = child.label;
    for (let k = 1; k < label.length; k++) {
      const c = path.charCodeAt(pos + k);
      if (c > 0x7f) {
        lists[count++] = child.all;
        break walk;
      }
      // NaN past the end of the path: no match.
      if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== label.charCodeAt(k)) break walk;
    }
    pos += label.length;
    node = child;
    if (node.own.length > 0) lists[count++] = node.own;
  }
  for (let i = 0; i < count; i++) cursors[i] = 0;
  return count;
}

/**
 * The literal text every string that an RE2 `regex` fully matches starts with: its leading run of
 * plain ASCII characters (escaped punctuation included), without a last character that a quantifier
 * makes optional or repeatable. "" when the regex has a top-level alternation, starts with a group,
 * class, anchor or flag, or holds a construct this does not read (`\Q`, nested classes). Used to index
 * routes at compile time; a shorter literal is always correct, only slower.
 */
export function regexLiteralPrefix(regex: string): string {
  if (hasTopLevelAlternation(regex)) return "";
  let literal = "";
  let i = 0;
  while (i < regex.length) {
    const c = regex[i]!;
    let ch: string;
    let width: number;
    if (c === "\\") {
      const next = regex[i + 1];
      // Escaped ASCII punctuation is itself; letters and digits are classes, assertions or quotes.
      if (next === undefined || !/^[!-\/:-@[-`{-~]$/.test(next)) break;
      ch = next;
      width = 2;
    } else if (c.charCodeAt(0) > 0x7f || ".[](){}*+?|^$".includes(c)) {
      break;
    } else {
      ch = c;
      width = 1;
    }
    const after = regex[i + width];
    if (after !== undefined && "*+?{".includes(after)) break;
    literal += ch;
    i += width;
  }
  return literal;
}

/** True for a `|` outside every group and class, or when the regex cannot be read simply enough to tell. */
function hasTopLevelAlternation(regex: string): boolean {
  let depth = 0;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i]!;
    if (c === "\\") {
      if (regex[i + 1] === "Q") return true;
      i++;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth <= 0) return true;
    else if (c === "[") {
      // A class: `]` first (a literal in RE2) or a nested `[` (POSIX classes) is read as "cannot tell".
      let j = i + 1;
      if (regex[j] === "^") j++;
      if (regex[j] === "]") return true;
      for (; j < regex.length; j++) {
        const d = regex[j]!;
        if (d === "\\") j++;
        else if (d === "[") return true;
        else if (d === "]") break;
      }
      if (j >= regex.length) return true;
      i = j;
    }
  }
  return false;
}

interface Levels {
  config: { request?: HeaderLevel; response?: HeaderLevel };
  vhost: { request?: HeaderLevel; response?: HeaderLevel };
  mostSpecificWins: boolean;
}

/** Orders levels from most to least specific (Envoy's default), or the reverse. */
function order(mostSpecificWins: boolean, ...mostSpecificFirst: (HeaderLevel | undefined)[]): HeaderOps {
  const present = mostSpecificFirst.filter((l): l is HeaderLevel => l !== undefined);
  return mostSpecificWins ? present.reverse() : present;
}

/** Internal shape: a compiled route plus what picking a cluster needs. */
interface RouteEntry extends CompiledRoute {
  /** Picks the cluster entry for a request that matched (weighted or header clusters); absent: itself. */
  readonly pick?: (req: RouteRequest & { randomValue: number }) => CompiledRoute | undefined;
}

function pick(r: CompiledRoute, req: RouteRequest & { randomValue: number }): CompiledRoute | undefined {
  const p = (r as RouteEntry).pick;
  return p ? p(req) : r;
}

function compilePathMatch(model: RouteModel): (path: string) => boolean {
  const { prefix, path, safeRegex, pathSeparatedPrefix, caseSensitive } = model.match;
  if (safeRegex !== undefined) {
    const re = compileRe2(safeRegex);
    return (p) => re.fullMatch(pathWithoutQuery(p));
  }
  if (path !== undefined) {
    if (caseSensitive) return (p) => pathWithoutQuery(p) === path;
    const lower = path.toLowerCase();
    return (p) => {
      const only = pathWithoutQuery(p);
      return only.length === lower.length && only.toLowerCase() === lower;
    };
  }
  if (pathSeparatedPrefix !== undefined) {
    const want = caseSensitive ? pathSeparatedPrefix : pathSeparatedPrefix.toLowerCase();
    return (p) => {
      const only = pathWithoutQuery(p);
      if (only.length < want.length) return false;
      const head = only.slice(0, want.length);
      if ((caseSensitive ? head : head.toLowerCase()) !== want) return false;
      return only.length === want.length || only[want.length] === "/";
    };
  }
  const pre = prefix ?? "";
  if (caseSensitive) return (p) => p.startsWith(pre);
  const lower = pre.toLowerCase();
  return (p) => p.length >= lower.length && p.slice(0, lower.length).toLowerCase() === lower;
}

function compileRoute(model: RouteModel, levels: Levels, runtime: Runtime): CompiledRoute {
  const pathMatch = compilePathMatch(model);
  const m = model.match;
  const headerMatchers = (m.headers ?? []).map(compileHeaderMatcher);
  const queryMatchers = (m.queryParameters ?? []).map(compileQueryParameterMatcher);
  const grpc = m.grpc === true;
  const fraction = m.runtimeFraction;
  const simple = headerMatchers.length === 0 && queryMatchers.length === 0 && !grpc && !fraction;

  const matches = (request: RouteRequest | string): boolean => {
    if (typeof request === "string") return simple && pathMatch(request);
    if (fraction && !runtime.featureEnabled(fraction.runtimeKey, fraction.defaultValue, request.randomValue ?? randomStreamValue())) return false;
    if (!pathMatch(request.path)) return false;
    for (const h of headerMatchers) if (!h(request)) return false;
    for (const q of queryMatchers) if (!q(request.path)) return false;
    if (grpc && !isGrpcRequest(request.requestHeaders)) return false;
    return true;
  };

  const own = compileMutations(model.headerMutations);
  const requestHeaderOps = order(levels.mostSpecificWins, own.request, levels.vhost.request, levels.config.request);
  const responseHeaderOps = order(levels.mostSpecificWins, own.response, levels.vhost.response, levels.config.response);
  const action = model.action;

  if (action.kind === "direct_response") {
    const redirect = action.redirect;
    return {
      model,
      matches,
      requestHeaderOps,
      responseHeaderOps,
      rewritePath: redirect ? compilePathRewrite(model.match, redirect.prefixRewrite, redirect.regexRewrite) : undefined,
      redirect: redirect ? compileRedirectUri(redirect) : undefined,
    };
  }

  const rewrite = action.rewrite;
  const hostRewrite: HostRewrite | undefined = rewrite && (rewrite.hostRewriteLiteral !== undefined || rewrite.hostRewriteHeader !== undefined || rewrite.autoHostRewrite)
    ? { literal: rewrite.hostRewriteLiteral, header: rewrite.hostRewriteHeader, auto: rewrite.autoHostRewrite }
    : undefined;
  const base: CompiledRoute = {
    model,
    matches,
    requestHeaderOps,
    responseHeaderOps,
    rewritePath: rewrite ? compilePathRewrite(model.match, rewrite.prefixRewrite, rewrite.regexRewrite) : undefined,
    hostRewrite,
  };
  const spec = action.clusterSpecifier;
  if (!spec) return base;

  /** The same route sending to `cluster` (per request for cluster_header, per config for weights). */
  const withCluster = (from: CompiledRoute, cluster: string): CompiledRoute => ({
    ...from,
    model: { ...from.model, action: { ...action, cluster } },
  });

  if (spec.kind === "header") {
    const header = spec.header;
    return { ...base, pick: (req) => withCluster(base, firstValue(req.requestHeaders.get(header)) ?? "") } as RouteEntry;
  }

  const entries = spec.clusters.map((wc) => weightedEntry(base, wc, levels.mostSpecificWins, withCluster));
  const weights = spec.clusters.map((c) => c.weight);
  const staticTotal = weights.reduce((a, b) => a + b, 0);
  const keys = spec.runtimeKeyPrefix ? spec.clusters.map((c) => `${spec.runtimeKeyPrefix}.${c.name}`) : undefined;
  const headerName = spec.headerName;
  const pickEntry = (req: RouteRequest & { randomValue: number }): CompiledRoute | undefined => {
    const current = keys ? keys.map((k, i) => runtime.getInteger(k, weights[i]!)) : weights;
    const total = keys ? current.reduce((a, b) => a + b, 0) : staticTotal;
    // Envoy treats a zero total (possible only through runtime overrides) as no route.
    if (total === 0 || total > 0xffffffff) return undefined;
    const selected = selectedValue(req, headerName, total);
    let begin = 0;
    for (let i = 0; i < entries.length; i++) {
      const end = begin + current[i]!;
      if (selected >= begin && selected < end) {
        const entry = entries[i]!;
        const ch = spec.clusters[i]!.clusterHeader;
        if (ch !== undefined) {
          const named = firstValue(req.requestHeaders.get(ch));
          return withCluster(entry, named ?? "");
        }
        return entry;
      }
      begin = end;
    }
    return undefined;
  };
  return { ...base, pick: pickEntry } as RouteEntry;
}

/** The random value modulo the total: from the `header_name` header when it holds one uint64, else the stream's. */
function selectedValue(req: RouteRequest & { randomValue: number }, headerName: string | undefined, total: number): number {
  if (headerName !== undefined) {
    const v = req.requestHeaders.get(headerName);
    // One value only (several would be joined with ", "): Envoy falls back to the stream's value otherwise.
    if (v !== null && /^\d{1,20}$/.test(v.trim())) {
      const n = BigInt(v.trim());
      if (n <= 0xffffffffffffffffn) return Number(n % BigInt(total));
    }
  }
  return req.randomValue % total;
}

/** A weighted cluster's entry: the route, sending to that cluster, with the cluster's own header mutations. */
function weightedEntry(
  base: CompiledRoute,
  wc: WeightedClusterModel,
  mostSpecificWins: boolean,
  withCluster: (from: CompiledRoute, cluster: string) => CompiledRoute,
): CompiledRoute {
  const own = compileMutations(wc.headerMutations as HeaderMutationsModel | undefined);
  const requestHeaderOps = mostSpecificWins ? [...base.requestHeaderOps, ...(own.request ? [own.request] : [])] : [...(own.request ? [own.request] : []), ...base.requestHeaderOps];
  const responseHeaderOps = mostSpecificWins ? [...base.responseHeaderOps, ...(own.response ? [own.response] : [])] : [...(own.response ? [own.response] : []), ...base.responseHeaderOps];
  // The route's own host rewrite is applied after the cluster's, so it wins (as in Envoy).
  const hostRewrite = base.hostRewrite ?? (wc.hostRewriteLiteral !== undefined ? { literal: wc.hostRewriteLiteral } : undefined);
  return { ...withCluster(base, wc.name), requestHeaderOps, responseHeaderOps, hostRewrite };
}

/** The first of a header's values (Headers joins repeated values with ", "). */
function firstValue(v: string | null): string | undefined {
  if (v === null) return undefined;
  const comma = v.indexOf(",");
  return (comma < 0 ? v : v.slice(0, comma)).trim();
}
