/**
 * The HTTP filter contract (DESIGN.md, "The HTTP engine"). A filter is an object with optional
 * phases; the engine makes one instance per stream (request) from a factory built once per config
 * version. Decode phases run in config order, encode phases in reverse; `await` inside a phase is
 * Envoy's StopIteration (the chain waits), returning is Continue.
 *
 * Not onion middleware: a filter never calls the next one and never re-runs the chain. The router
 * ({@link TerminalHttpFilter}) is last and alone talks to upstreams.
 */
import type { BodyGuard } from "./response-guard.ts";
import type { RouteMatch } from "./route-table.ts";
import type { CompiledVirtualCluster } from "./virtual-clusters.ts";

/** A response the proxy generates itself (Envoy's `sendLocalReply`). */
export interface LocalReply {
  status: number;
  /** Sent as `text/plain` when non-empty. Default: no body. */
  body?: string;
  headers?: Record<string, string>;
  /** Envoy response flag to record (e.g. `RL` for a rate-limited request). */
  responseFlag?: string;
  /** Envoy's response code details (e.g. `via_upstream`, `route_not_found`). */
  details?: string;
}

/** Response status and headers as they pass through the encode phases; filters may change them. */
export interface ResponseHead {
  status: number;
  statusText: string;
  /** Mutable. */
  headers: Headers;
}

/**
 * A complete response as the terminal filter returns it: head plus body. A string body is a local or
 * direct response held in memory; null means no body.
 */
export interface HttpResponse extends ResponseHead {
  body: ReadableStream<Uint8Array> | string | null;
  /**
   * Limits that keep running over a streamed body (the route timeout, idle timeouts, max stream
   * duration): set by the router, enforced by the engine when it sends the body (response-guard.ts).
   */
  bodyGuard?: BodyGuard;
}

/** What happened to a stream, filled in as it runs; read it in `onStreamComplete` (stats, access log). */
export interface StreamInfo {
  /** `performance.now()` when the engine got the request. */
  readonly startTime: number;
  /** Envoy response flags set so far (`NR`, `UF`, `UH`, ...), in the order they were set. */
  readonly responseFlags: string[];
  /** Envoy's %RESPONSE_CODE_DETAILS%, e.g. `via_upstream`, `route_not_found`, `direct_response`. */
  responseCodeDetails: string;
  /** The status sent downstream; 0 until response headers were sent. */
  responseCode: number;
  /** Name of the route that matched, if any. */
  routeName?: string;
  /** Cluster the router picked, if any. */
  upstreamCluster?: string;
  /** `address:port` of the upstream host of the last attempt, if any. */
  upstreamHost?: string;
  /** The request's virtual cluster (`%VIRTUAL_CLUSTER_NAME%`), chosen before the router runs; absent: none. */
  virtualCluster?: CompiledVirtualCluster;
  /** How the stream ended: `complete` (body fully sent or no body), `reset` (error or downstream cancel). */
  endReason?: "complete" | "reset";
}

/** One request/response exchange as filters see it. Created by the engine per request. */
export interface HttpStream {
  /** The downstream request as received (its body is read through {@link requestBody}). */
  readonly request: Request;
  readonly method: string;
  /**
   * Envoy's `:authority` (the Host header) as sent; the engine may rewrite it (host rewrites) before the
   * router runs, so read-only to filters, not constant.
   */
  readonly authority: string;
  /** Envoy's `:path`: path and query as sent; rewritten by the engine (prefix/regex rewrites) before the router. */
  readonly path: string;
  /**
   * Envoy's downstream remote address (an IP): the peer, or the address X-Forwarded-For processing
   * trusted (`use_remote_address`, `xff_num_trusted_hops`). Undefined when the tier knows none.
   * What `hash_policy.connection_properties.source_ip` hashes.
   */
  readonly downstreamRemoteAddress?: string;
  /**
   * The downstream connection's peer and local addresses as one text (`ip:port` then the local
   * address when known): the seed Envoy hashes for generated hash-policy cookies. Undefined when unknown.
   */
  readonly downstreamConnectionKey?: string;
  /**
   * Keeps work alive after the response is sent (the Workers runtime's `ctx.waitUntil`; a collector in
   * Node). Undefined when the caller gave none: such work may then be cut short. Used by mirroring.
   */
  waitUntil?(promise: Promise<unknown>): void;
  /** Request headers sent upstream; mutable (a copy of the downstream headers). */
  readonly requestHeaders: Headers;
  /** The request body after the decode transforms set up so far; null when there is none. */
  requestBody: ReadableStream<Uint8Array> | null;
  readonly info: StreamInfo;
  /**
   * The route for the current authority and path, looked up on first call and cached
   * (Envoy's route cache). Undefined when nothing matches.
   */
  route(): RouteMatch | undefined;
  /** Forget the cached route, e.g. after a filter changed the path or Host it is matched on. */
  clearRouteCache(): void;
}

/**
 * A filter instance: one per stream. Every phase is optional.
 */
export interface HttpFilter {
  /**
   * Called once per stream with the request headers, in config order. Return a {@link LocalReply}
   * to answer without going further (later filters' decode phases and the router do not run; the
   * reply still passes through every filter's encode phases, as in Envoy); return nothing to continue.
   * Throwing a ProxyError answers with that error's local reply.
   */
  decodeHeaders?(stream: HttpStream): void | LocalReply | Promise<void | LocalReply>;
  /**
   * Called at most once per stream, after every decodeHeaders continued, only when the request has a
   * body. Return a TransformStream the request body is piped through (in config order), or nothing.
   */
  decodeBody?(stream: HttpStream): TransformStream<Uint8Array, Uint8Array> | void;
  /**
   * Called once per stream with the response status and headers (upstream, direct or local), in
   * reverse config order. Change `head` in place.
   */
  encodeHeaders?(stream: HttpStream, head: ResponseHead): void | Promise<void>;
  /**
   * Called at most once per stream, after encodeHeaders, only when the response has a body. Return a
   * TransformStream the response body is piped through (in reverse config order), or nothing.
   */
  encodeBody?(stream: HttpStream): TransformStream<Uint8Array, Uint8Array> | void;
  /**
   * Called exactly once per stream, when the response body has been fully sent or the stream was
   * reset (error or downstream cancel); `stream.info.endReason` says which. For stats and access logs:
   * must not throw (errors are swallowed) and cannot change the response.
   */
  onStreamComplete?(stream: HttpStream): void;
}

/** The last filter of the chain: it produces the response (from an upstream or directly). */
export interface TerminalHttpFilter extends HttpFilter {
  /**
   * Called once per stream after every decodeHeaders continued and the decode body transforms are
   * set up. Returns the response; throws a ProxyError for a classified failure (the engine turns it
   * into Envoy's local reply).
   */
  respond(stream: HttpStream): Promise<HttpResponse>;
}

/** Built once per config version from a filter's typed_config; makes the per-stream instances. */
export interface HttpFilterFactory {
  /** The configured filter name (e.g. `envoy.filters.http.router`). */
  readonly name: string;
  /** Called once per stream. */
  create(): HttpFilter;
}

/** The router's factory: its instances are terminal. */
export interface TerminalHttpFilterFactory {
  readonly name: string;
  /** Called once per stream. */
  create(): TerminalHttpFilter;
}
