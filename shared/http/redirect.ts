/**
 * Path rewrites (`prefix_rewrite`, `regex_rewrite` of a route or a redirect) and redirect URLs
 * (RedirectAction), compiled once per config version, with Envoy's rules:
 *
 * - `prefix_rewrite` replaces the part of `:path` the route matched: the prefix (`prefix`,
 *   `path_separated_prefix`), or the whole path without the query (`path`, `safe_regex`); the rest,
 *   query included, is kept.
 * - `regex_rewrite` replaces every match in the path without the query (RE2 GlobalReplace, `\1` for
 *   groups); the query is kept.
 * - A redirect's URL: scheme from `scheme_redirect`/`https_redirect`, else the request's
 *   (`x-forwarded-proto`, else `:scheme`); host from `host_redirect`, else the request's Host, whose
 *   port is dropped when `port_redirect` is set or when the scheme changes and the port was the old
 *   scheme's default (`:80` for http, `:443` for https); `:port_redirect`; path from `path_redirect`
 *   (the request's query appended unless `path_redirect` has its own), else the request's path after the
 *   redirect's `prefix_rewrite`/`regex_rewrite`; `strip_query` drops the query (not one written in
 *   `path_redirect`).
 */
import type { RedirectModel, RegexRewriteModel, RouteMatchModel } from "../config/model.ts";
import { compileRe2, compileSubstitution } from "./re2.ts";

/** Returns the rewritten `:path` (path and query). */
export type PathRewrite = (path: string) => string;

/** The path part of a `:path` (without query and fragment). */
export function pathWithoutQuery(path: string): string {
  const q = path.indexOf("?");
  const h = path.indexOf("#");
  const end = q < 0 ? h : h < 0 ? q : Math.min(q, h);
  return end < 0 ? path : path.slice(0, end);
}

/**
 * Compiles `prefix_rewrite` or `regex_rewrite` for a route with `match`. Undefined when neither is set.
 * Throws Re2Error for a pattern or substitution that cannot be used.
 */
export function compilePathRewrite(match: RouteMatchModel, prefixRewrite: string | undefined, regexRewrite: RegexRewriteModel | undefined): PathRewrite | undefined {
  if (prefixRewrite !== undefined) {
    const fixed = match.prefix ?? match.pathSeparatedPrefix;
    if (fixed !== undefined) return (path) => prefixRewrite + path.slice(fixed.length);
    // path and safe_regex: the matched part is the whole path without its query.
    return (path) => prefixRewrite + path.slice(pathWithoutQuery(path).length);
  }
  if (regexRewrite !== undefined) {
    const re = compileRe2(regexRewrite.regex);
    const substitution = compileSubstitution(regexRewrite.substitution, re.groups);
    return (path) => {
      const only = pathWithoutQuery(path);
      return re.replaceAll(only, substitution) + path.slice(only.length);
    };
  }
  return undefined;
}

/** What a redirect reads from the request. */
export interface RedirectRequest {
  /** `:authority` (Host). */
  readonly authority: string;
  /** `:path` after the redirect's own path rewrite. */
  readonly path: string;
  /** The request's scheme (`x-forwarded-proto` when set, else the URL's). */
  readonly scheme: string;
}

/** Builds the `location` of a redirect. */
export type RedirectUri = (request: RedirectRequest) => string;

export function compileRedirectUri(r: RedirectModel): RedirectUri {
  const port = r.port ? `:${r.port}` : "";
  const pathHasQuery = r.pathRedirect !== undefined && r.pathRedirect.includes("?");
  return (req) => {
    const scheme = r.scheme ?? req.scheme;
    const host = r.host ?? requestHost(req.authority, req.scheme, scheme, port);
    let path: string;
    if (r.pathRedirect !== undefined) {
      if (pathHasQuery) path = r.pathRedirect;
      else {
        const q = req.path.indexOf("?");
        path = q < 0 ? r.pathRedirect : r.pathRedirect + req.path.slice(q);
      }
    } else path = req.path;
    if (!path.startsWith("/")) path = `/${path}`;
    if (r.stripQuery && !pathHasQuery) {
      const q = path.indexOf("?");
      if (q >= 0) path = path.slice(0, q);
    }
    return `${scheme}://${host}${port}${path}`;
  };
}

/** Envoy's processRequestHost: the Host, without its port when the redirect replaces or obsoletes it. */
function requestHost(host: string, requestScheme: string, newScheme: string, newPort: string): string {
  if (host === "") return host;
  let end: number;
  if (host.startsWith("[")) {
    end = host.lastIndexOf("]:");
    if (end >= 0) end += 1;
  } else end = host.lastIndexOf(":");
  if (end < 0) return host;
  const portPart = host.slice(end);
  let remove = newPort !== "";
  if (newScheme !== requestScheme) {
    remove ||= (requestScheme === "https" && portPart === ":443") || (requestScheme === "http" && portPart === ":80");
  }
  return remove ? host.slice(0, end) : host;
}
