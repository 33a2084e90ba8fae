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
 * default, the port is part of the Host value: `foo.com` does not match `foo.com:8080` (Envoy's
 * `ignore_port_in_host_matching` / `strip_any_host_port` are not supported yet).
 *
 * Routes are tried in config order; the first match wins. `prefix` is matched against the whole
 * `:path` (query included), `path` against the path with the query string removed; both honour
 * `case_sensitive` (default true).
 */
import type { RouteConfigModel, RouteModel, VirtualHostModel } from "../config/model.ts";

/** A route with its matcher compiled. */
export interface CompiledRoute {
  readonly model: RouteModel;
  /** True when the route's match accepts this `:path` (path and query, as sent). */
  matches(path: string): boolean;
}

export interface CompiledVirtualHost {
  readonly model: VirtualHostModel;
  readonly routes: readonly CompiledRoute[];
}

/** What {@link RouteTable.match} found: a virtual host and, when one matched, the route. */
export interface RouteMatch {
  virtualHost: CompiledVirtualHost;
  route: CompiledRoute;
}

export interface RouteTable {
  readonly name: string;
  /** The virtual host for a Host/:authority value (any case; port included), or undefined. */
  findVirtualHost(host: string): CompiledVirtualHost | undefined;
  /**
   * The first route of the selected virtual host that matches `path` (`:path`: path and query).
   * Undefined when no virtual host or no route matches: the router answers 404 with flag NR.
   * Called once per request; allocation-free except for case-insensitive matches.
   */
  match(host: string, path: string): RouteMatch | undefined;
}

/** Wildcards of one length, keyed by the domain without its `*`. */
type WildcardBucket = { length: number; byText: Map<string, CompiledVirtualHost> };

export function compileRouteTable(config: RouteConfigModel): RouteTable {
  const exact = new Map<string, CompiledVirtualHost>();
  const suffixes = new Map<number, Map<string, CompiledVirtualHost>>();
  const prefixes = new Map<number, Map<string, CompiledVirtualHost>>();
  let catchAll: CompiledVirtualHost | undefined;

  for (const vh of config.virtualHosts) {
    const compiled: CompiledVirtualHost = { model: vh, routes: vh.routes.map(compileRoute) };
    for (const raw of vh.domains) {
      const domain = raw.toLowerCase();
      // First definition wins: duplicates are refused at compile time, this only keeps lookup stable.
      if (domain === "*") catchAll ??= compiled;
      else if (domain.startsWith("*")) addWildcard(suffixes, domain.slice(1), compiled);
      else if (domain.endsWith("*")) addWildcard(prefixes, domain.slice(0, -1), compiled);
      else if (!exact.has(domain)) exact.set(domain, compiled);
    }
  }
  const suffixBuckets = sortBuckets(suffixes);
  const prefixBuckets = sortBuckets(prefixes);

  const findVirtualHost = (rawHost: string): CompiledVirtualHost | undefined => {
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

  return {
    name: config.name,
    findVirtualHost,
    match(host: string, path: string): RouteMatch | undefined {
      const virtualHost = findVirtualHost(host);
      if (!virtualHost) return undefined;
      for (const route of virtualHost.routes) {
        if (route.matches(path)) return { virtualHost, route };
      }
      return undefined;
    },
  };
}

function addWildcard(into: Map<number, Map<string, CompiledVirtualHost>>, text: string, vh: CompiledVirtualHost): void {
  let bucket = into.get(text.length);
  if (!bucket) into.set(text.length, (bucket = new Map()));
  if (!bucket.has(text)) bucket.set(text, vh);
}

function sortBuckets(m: Map<number, Map<string, CompiledVirtualHost>>): WildcardBucket[] {
  return [...m.entries()].map(([length, byText]) => ({ length, byText })).sort((a, b) => b.length - a.length);
}

/** The path without its query string (Envoy's `path` match ignores the query). */
function pathOnly(path: string): string {
  const q = path.indexOf("?");
  const h = path.indexOf("#");
  const end = q < 0 ? h : h < 0 ? q : Math.min(q, h);
  return end < 0 ? path : path.slice(0, end);
}

function compileRoute(model: RouteModel): CompiledRoute {
  const { prefix, path, caseSensitive } = model.match;
  let matches: (p: string) => boolean;
  if (path !== undefined) {
    if (caseSensitive) matches = (p) => pathOnly(p) === path;
    else {
      const lower = path.toLowerCase();
      matches = (p) => {
        const only = pathOnly(p);
        return only.length === lower.length && only.toLowerCase() === lower;
      };
    }
  } else {
    const pre = prefix ?? "";
    if (caseSensitive) matches = (p) => p.startsWith(pre);
    else {
      const lower = pre.toLowerCase();
      matches = (p) => p.length >= lower.length && p.slice(0, lower.length).toLowerCase() === lower;
    }
  }
  return { model, matches };
}
