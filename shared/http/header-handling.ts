/**
 * Where the engine (shared/http/engine.ts) applies Envoy's header handling, built once per config
 * version by {@link createHeaderHandling}. Four points per stream, in this order:
 *
 * 1. {@link HeaderHandling.decodeRequest}: right after the stream is made, before routing and the
 *    filters: the HCM's own request header handling (shared/http/headers.ts: hop-by-hop headers,
 *    X-Forwarded-For/-Proto, internal/external, x-envoy-* sanitising, x-request-id, via).
 * 2. {@link HeaderHandling.beforeRouter}: after every filter's decodeHeaders, where Envoy's router
 *    finalizes the route: a `redirect` route is answered here (Envoy's direct-response entry: status,
 *    `location`, counted in `http.<stat_prefix>.rq_direct_response`); a `route` action gets its request
 *    header mutations (weighted cluster, route, virtual host, route configuration, or the reverse with
 *    `most_specific_header_mutations_wins`), its host rewrite (the new `:authority`), then its path
 *    rewrite (the new `:path`, the old one kept in `x-envoy-original-path`).
 * 3. {@link HeaderHandling.afterRouter}: on the router's response (upstream, direct or error reply)
 *    when a route matched: the response header mutations, in the same level order.
 * 4. {@link HeaderHandling.encodeResponse}: after every filter's encodeHeaders: the HCM's response
 *    headers (hop-by-hop removed, `server`, `x-request-id`, `via`).
 */
import type { HttpConnectionManagerModel } from "../config/model.ts";
import type { StatsScope } from "../stats/store.ts";
import type { HttpResponse, ResponseHead, StreamInfo } from "./filter.ts";
import type { FormatContext } from "./header-formatter.ts";
import { applyHeaderOps, createHcmHeaderPolicy, type DownstreamConnection, type HeaderOps, parseIp, type RequestOrigin } from "./headers.ts";
import type { CompiledRoute, RouteMatch, RouteTable } from "./route-table.ts";

/** What the engine's stream offers to header handling. `path` and `authority` are rewritten in place. */
export interface HeaderHandlingStream {
  path: string;
  authority: string;
  readonly method: string;
  readonly request: Request;
  readonly requestHeaders: Headers;
  readonly info: StreamInfo;
  route(): RouteMatch | undefined;
  /** `:scheme`; set by {@link HeaderHandling.decodeRequest}. */
  scheme?: string;
  /** Set by {@link HeaderHandling.decodeRequest}. */
  headerState?: StreamHeaderState;
}

/** Per-stream facts header handling keeps between its points. */
export interface StreamHeaderState {
  /** `:scheme` of the downstream request. */
  readonly scheme: string;
  readonly connection: DownstreamConnection;
  readonly origin: RequestOrigin;
  /** Wall-clock start, for `%START_TIME%`. */
  readonly startTimeMs: number;
  /** The route the router was given (set at {@link HeaderHandling.beforeRouter}). */
  routed?: CompiledRoute;
}

/** The downstream facts a tier gives per request (the access log's DownstreamInfo has the same shape). */
export interface DownstreamFacts {
  protocol?: string;
  /** `ip:port`, IPv6 in brackets; port 0 when unknown. */
  remoteAddress?: string;
  localAddress?: string;
}

export interface HeaderHandling {
  /** Point 1: once per stream, before anything routes. */
  decodeRequest(stream: HeaderHandlingStream, downstream: DownstreamFacts): void;
  /** Point 2: once per stream, just before the router; a redirect's reply, or undefined to go on. */
  beforeRouter(stream: HeaderHandlingStream): HttpResponse | undefined;
  /** Point 3: once per stream, on the router's response or error reply. */
  afterRouter(stream: HeaderHandlingStream, head: ResponseHead): void;
  /** Point 4: once per stream, after the filters' encode phase. */
  encodeResponse(stream: HeaderHandlingStream, head: ResponseHead): void;
}

export interface HeaderHandlingOptions {
  hcm: HttpConnectionManagerModel;
  routeTable: RouteTable;
  /** Root stats scope. */
  stats: StatsScope;
  /** `%HOSTNAME%`. Default "" (a Worker has no host name). */
  hostname?: string;
}

export function createHeaderHandling(options: HeaderHandlingOptions): HeaderHandling {
  const policy = createHcmHeaderPolicy(options.hcm.headerPolicy, options.hcm.internalAddressConfig);
  const stripPort = options.hcm.stripHostPort;
  const internalOnly = options.routeTable.internalOnlyHeaders;
  const directResponse = options.stats.scope(`http.${options.hcm.statPrefix}.`).counter("rq_direct_response");
  const hostname = options.hostname ?? "";

  const context = (stream: HeaderHandlingStream, response?: ResponseHead): FormatContext => {
    const s = stream.headerState!;
    return {
      method: stream.method,
      authority: stream.authority,
      path: stream.path,
      scheme: s.scheme,
      requestHeaders: stream.requestHeaders,
      responseHeaders: response?.headers,
      responseCode: response?.status,
      downstreamRemoteAddress: s.origin.remoteAddress,
      downstreamDirectRemoteAddress: s.connection.remoteAddress,
      downstreamRemotePort: s.connection.remotePort,
      downstreamLocalAddress: s.connection.localAddress,
      startTimeMs: s.startTimeMs,
      protocol: s.connection.protocol,
      hostname,
      upstreamHost: stream.info.upstreamHost,
      upstreamCluster: stream.info.upstreamCluster,
      routeName: stream.info.routeName,
      virtualClusterName: stream.info.virtualCluster?.name,
      responseFlags: stream.info.responseFlags,
      responseCodeDetails: stream.info.responseCodeDetails,
    };
  };

  const applyResponse = (stream: HeaderHandlingStream, head: ResponseHead, ops: HeaderOps) => {
    try {
      applyHeaderOps(head.headers, ops, context(stream, head));
    } catch (e) {
      // Headers of a Response the runtime made are immutable: work on a copy (nothing was changed yet,
      // the first change threw).
      if (!(e instanceof TypeError)) throw e;
      head.headers = new Headers(head.headers);
      applyHeaderOps(head.headers, ops, context(stream, head));
    }
  };

  return {
    decodeRequest(stream, downstream) {
      const url = stream.request.url;
      const scheme = url.slice(0, url.indexOf(":")).toLowerCase();
      const connection = toConnection(downstream, scheme === "https");
      if (stripPort && stream.method !== "CONNECT") {
        const host = stripHostPort(stream.authority, stripPort === "any" ? undefined : listenerPort(downstream.localAddress, url, scheme));
        if (host !== stream.authority) {
          stream.authority = host;
          if (stream.requestHeaders.has("host")) stream.requestHeaders.set("host", host);
        }
      }
      const origin = policy.decodeRequest(stream.requestHeaders, connection, internalOnly);
      stream.scheme = scheme;
      stream.headerState = { scheme, connection, origin, startTimeMs: Date.now() };
    },

    beforeRouter(stream) {
      const match = stream.route();
      const state = stream.headerState;
      if (!match || !state) return undefined;
      const route = match.route;
      state.routed = route;
      // Envoy picks the virtual cluster in the router, before the route's header mutations and rewrites.
      const selectVc = match.virtualHost.selectVirtualCluster;
      if (selectVc && route.model.action.kind === "route" && !route.redirect) stream.info.virtualCluster = selectVc(stream);
      if (route.redirect) {
        const action = route.model.action;
        let path = stream.path;
        // Envoy rewrites the request's :path first (the redirect's prefix_rewrite / regex_rewrite), then builds the URL from it.
        if (route.rewritePath) path = route.rewritePath(path);
        const location = route.redirect({ authority: stream.authority, path, scheme: stream.requestHeaders.get("x-forwarded-proto") ?? state.scheme });
        directResponse.inc();
        stream.info.routeName = route.model.name;
        stream.info.responseCodeDetails = "direct_response";
        return { status: action.kind === "direct_response" ? action.status : 301, statusText: "", headers: new Headers({ location }), body: null };
      }
      if (route.model.action.kind !== "route") return undefined;
      if (route.requestHeaderOps.length) applyHeaderOps(stream.requestHeaders, route.requestHeaderOps, context(stream));
      const host = route.hostRewrite;
      if (host) {
        if (host.literal !== undefined) stream.authority = host.literal;
        else if (host.header !== undefined) {
          const v = stream.requestHeaders.get(host.header);
          const first = v === null ? "" : (v.includes(",") ? v.slice(0, v.indexOf(",")) : v).trim();
          if (first !== "") stream.authority = first;
        }
        // auto_host_rewrite: the upstream's address is the Host the transport sends (always so at the edge).
      }
      if (route.rewritePath) {
        const original = stream.path;
        stream.requestHeaders.set("x-envoy-original-path", original);
        stream.path = route.rewritePath(original);
      }
      return undefined;
    },

    afterRouter(stream, head) {
      const route = stream.headerState?.routed;
      if (route && route.responseHeaderOps.length) applyResponse(stream, head, route.responseHeaderOps);
    },

    encodeResponse(stream, head) {
      try {
        policy.encodeResponse(head.headers, head.status, stream.requestHeaders);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        head.headers = new Headers(head.headers);
        policy.encodeResponse(head.headers, head.status, stream.requestHeaders);
      }
    },
  };
}

/**
 * Envoy's stripPortFromHost: removes `:port` from a Host when the port is numeric and, with
 * `listenerPort` given (strip_matching_host_port), equal to it. A bracketed IPv6 literal without a
 * port is left alone.
 */
export function stripHostPort(host: string, listenerPort: number | undefined): string {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return host;
  const v6End = host.lastIndexOf("]");
  if (v6End > colon) return host;
  const port = host.slice(colon + 1);
  if (!/^\d{1,10}$/.test(port) || Number(port) > 0xffffffff) return host;
  if (listenerPort !== undefined && Number(port) !== listenerPort) return host;
  return host.slice(0, colon);
}

/**
 * The port the request arrived on: the local address's when the tier knows it, else the request URL's
 * (at the edge, the port the client connected to; the scheme's default when the URL has none).
 */
function listenerPort(localAddress: string | undefined, url: string, scheme: string): number {
  const m = localAddress === undefined ? null : /:(\d+)$/.exec(localAddress);
  if (m) return Number(m[1]);
  const start = url.indexOf("//") + 2;
  let end = url.indexOf("/", start);
  if (end < 0) end = url.length;
  const authority = url.slice(start, end);
  const colon = authority.lastIndexOf(":");
  if (colon >= 0 && colon > authority.lastIndexOf("]")) {
    const p = authority.slice(colon + 1);
    if (/^\d+$/.test(p)) return Number(p);
  }
  return scheme === "https" ? 443 : 80;
}

/** The connection facts from a tier's DownstreamFacts (`ip:port` split; port 0 means unknown). */
function toConnection(d: DownstreamFacts, tls: boolean): DownstreamConnection {
  let remoteAddress: string | undefined;
  let remotePort: number | undefined;
  const raw = d.remoteAddress;
  if (raw) {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) ?? /^([^:]+):(\d+)$/.exec(raw);
    remoteAddress = parseIp(m ? m[1]! : raw);
    const port = m ? Number(m[2]) : 0;
    if (port > 0) remotePort = port;
  }
  // A Unix-socket peer is reported by its path (as Envoy prints a pipe address).
  const unixSocket = raw !== undefined && (raw.startsWith("/") || raw.startsWith("@"));
  return { remoteAddress, remotePort, localAddress: d.localAddress, tls, protocol: d.protocol ?? "HTTP/1.1", ...(unixSocket ? { unixSocket } : {}) };
}
