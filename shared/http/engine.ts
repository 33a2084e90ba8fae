/**
 * The HTTP engine: what an `http_connection_manager` does with one request. Built once per config
 * version by {@link createHttpEngine}; {@link HttpEngine.handle} runs per request.
 *
 * Per request:
 * 1. `decodeHeaders` of each filter in config order; a {@link LocalReply} (or a thrown ProxyError)
 *    stops decoding and becomes the response.
 * 2. The request body is piped through the filters' `decodeBody` transforms (config order), then
 *    the router (terminal filter) produces the response: upstream, direct, or a ProxyError.
 * 3. `encodeHeaders` of every filter in reverse order, then the response body through the
 *    `encodeBody` transforms (reverse order).
 * 4. `onStreamComplete` of every filter, exactly once, when the body has been sent or the stream was
 *    reset (error, or the downstream cancelled); for a response with no streamed body (a local or
 *    direct reply, or none), when the response is handed back.
 *
 * Stats: `http.<stat_prefix>.downstream_rq_total`, `downstream_rq_active`, `downstream_rq_completed`,
 * `downstream_rq_<N>xx` (charged when response headers are sent).
 */
import { ConfigError } from "../config/issues.ts";
import { extensionByTypeUrl } from "../config/extensions.ts";
import type { ClusterModel, HttpConnectionManagerModel, HttpFilterModel } from "../config/model.ts";
import type { Counter, Gauge, StatsScope } from "../stats/store.ts";
import { type ProxyError, toProxyError } from "./errors.ts";
import type { HttpFilter, HttpFilterFactory, HttpResponse, HttpStream, LocalReply, StreamInfo, TerminalHttpFilter } from "./filter.ts";
import { compileRouteTable, type RouteMatch, type RouteTable } from "./route-table.ts";
import { createRouterFactory, type HostPicker } from "./router.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";

/** Header on local replies made from a ProxyError, naming Envoy's response flag (Legate's addition). */
export const RESPONSE_FLAGS_HEADER = "x-legate-response-flags";

/** Builds a non-terminal filter's factory from its config; registered per tier by `@type` URL. */
export type HttpFilterFactoryBuilder = (filter: HttpFilterModel) => HttpFilterFactory;

export interface HttpEngineOptions {
  hcm: HttpConnectionManagerModel;
  clusters: ReadonlyMap<string, ClusterModel>;
  transport: UpstreamTransport;
  /** Root stats scope. */
  stats: StatsScope;
  /** Non-terminal HTTP filters this tier runs, by `@type` URL. Default: none (router only). */
  filters?: ReadonlyMap<string, HttpFilterFactoryBuilder>;
  /** Host selection per cluster (shared/lb). Default: round robin. */
  createPicker?: (cluster: ClusterModel) => HostPicker;
  /** Monotonic milliseconds. Default `performance.now()`. */
  now?: () => number;
}

export interface HttpEngine {
  readonly routeTable: RouteTable;
  /** Handles one downstream request. Never rejects: failures become Envoy's local replies. */
  handle(request: Request): Promise<Response>;
}

const ROUTER = "envoy.filters.http.router";
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/**
 * Builds the engine for one HCM. Throws a ConfigError when the chain names a filter this tier does
 * not run (the caller keeps its previous config).
 */
export function createHttpEngine(options: HttpEngineOptions): HttpEngine {
  const { hcm } = options;
  const now = options.now ?? (() => performance.now());
  const routeTable = compileRouteTable(hcm.routeConfig);

  const factories: HttpFilterFactory[] = [];
  const missing: string[] = [];
  hcm.httpFilters.forEach((f, i) => {
    if (i === hcm.httpFilters.length - 1) return;
    const build = options.filters?.get(f.typeUrl);
    if (build) factories.push(build(f));
    else missing.push(`http_filters[${i}] "${f.name}" (${f.typeUrl})`);
  });
  const last = hcm.httpFilters[hcm.httpFilters.length - 1];
  if (!last || extensionByTypeUrl(last.typeUrl)?.name !== ROUTER) missing.push("the router as the last HTTP filter");
  if (missing.length) {
    throw new ConfigError(missing.map((m) => ({ kind: "unsupported" as const, path: hcm.name, message: `not available in this tier: ${m}` })));
  }
  const router = createRouterFactory({
    name: last!.name,
    clusters: options.clusters,
    transport: options.transport,
    stats: options.stats,
    statPrefix: hcm.statPrefix,
    createPicker: options.createPicker,
    now,
  });

  const http = options.stats.scope(`http.${hcm.statPrefix}.`);
  const stats = {
    rqTotal: http.counter("downstream_rq_total"),
    rqActive: http.gauge("downstream_rq_active"),
    rqCompleted: http.counter("downstream_rq_completed"),
    byClass: [1, 2, 3, 4, 5].map((n) => http.counter(`downstream_rq_${n}xx`)),
  };

  return {
    routeTable,
    async handle(request: Request): Promise<Response> {
      const stream = new Stream(request, routeTable, now());
      stats.rqTotal.inc();
      stats.rqActive.inc();
      const filters: HttpFilter[] = factories.map((f) => f.create());
      const terminal = router.create();
      filters.push(terminal);
      const done = completion(stream, filters, stats.rqActive, stats.rqCompleted);

      let response = await decode(stream, filters, terminal);
      try {
        for (let i = filters.length - 1; i >= 0; i--) await filters[i]!.encodeHeaders?.(stream, response);
      } catch (e) {
        if (response.body !== null && typeof response.body !== "string") void response.body.cancel().catch(() => {});
        response = errorReply(stream, toProxyError(e));
      }
      stream.info.responseCode = response.status;
      const cls = stats.byClass[Math.floor(response.status / 100) - 1];
      cls?.inc();

      let body = NULL_BODY_STATUS.has(response.status) || request.method === "HEAD" ? null : response.body;
      if (typeof body === "string" && filters.some((f) => f.encodeBody)) body = textStream(body);
      if (body === null || typeof body === "string") {
        if (response.body !== null && typeof response.body !== "string") void response.body.cancel().catch(() => {});
        done("complete");
        return new Response(body, response);
      }
      return new Response(watched(encodeBody(stream, filters, body), done), response);
    },
  };
}

/** Runs the decode phases and the terminal filter; every failure becomes a local reply. */
async function decode(stream: Stream, filters: HttpFilter[], terminal: TerminalHttpFilter): Promise<HttpResponse> {
  try {
    for (const f of filters) {
      if (f === terminal || !f.decodeHeaders) continue;
      const reply = await f.decodeHeaders(stream);
      if (reply) return localReply(stream, reply);
    }
    if (stream.requestBody) {
      for (const f of filters) {
        const t = f === terminal ? undefined : f.decodeBody?.(stream);
        if (t) stream.requestBody = through(stream.requestBody, t);
      }
    }
    return await terminal.respond(stream);
  } catch (e) {
    return errorReply(stream, toProxyError(e));
  }
}

function encodeBody(stream: Stream, filters: HttpFilter[], body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  for (let i = filters.length - 1; i >= 0; i--) {
    const t = filters[i]!.encodeBody?.(stream);
    if (t) body = through(body, t);
  }
  return body;
}

/**
 * The response body as sent downstream, pulled chunk by chunk (no buffering beyond the chunk being
 * sent, so backpressure reaches the upstream): completes the stream when the body ends, resets it
 * when a read fails or the downstream cancels. A plain pull loop, because workerd reports a native
 * body's pipe into a cancelled stream as an unhandled rejection and resolves some such pipes without
 * saying they were cancelled.
 */
function watched(body: ReadableStream<Uint8Array>, done: (reason: "complete" | "reset") => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await reader.read();
          if (r.done) {
            controller.close();
            done("complete");
          } else controller.enqueue(r.value);
        } catch (e) {
          done("reset");
          controller.error(e);
        }
      },
      cancel(reason) {
        done("reset");
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * `pipeThrough`, written as a read/write loop for the reason given at {@link watched}: a failure or
 * cancel on either side is passed to the other (abort the transform, cancel the source) and the loop's
 * own promise never rejects.
 */
function through(body: ReadableStream<Uint8Array>, t: TransformStream<Uint8Array, Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const writer = t.writable.getWriter();
  void (async () => {
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        await writer.write(r.value);
      }
      await writer.close();
    } catch (e) {
      await Promise.allSettled([writer.abort(e), reader.cancel(e)]);
    }
  })();
  return t.readable;
}

function textStream(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

/** Returns the stream's one-shot completion: onStreamComplete of every filter, then the gauges. */
function completion(stream: Stream, filters: HttpFilter[], active: Gauge, completed: Counter): (reason: "complete" | "reset") => void {
  let finished = false;
  return (reason) => {
    if (finished) return;
    finished = true;
    stream.info.endReason = reason;
    for (const f of filters) {
      try {
        f.onStreamComplete?.(stream);
      } catch {
        // A stats or logging hook must not break the stream; there is nothing left to answer.
      }
    }
    active.dec();
    completed.inc();
  };
}

function localReply(stream: Stream, reply: LocalReply): HttpResponse {
  const headers = new Headers(reply.headers);
  if (reply.body && !headers.has("content-type")) headers.set("content-type", "text/plain");
  if (reply.responseFlag) stream.info.responseFlags.push(reply.responseFlag);
  stream.info.responseCodeDetails = reply.details ?? "local_reply";
  return { status: reply.status, statusText: "", headers, body: reply.body || null };
}

/** Envoy's local reply for a classified error (status, body and flag from the one table). */
export function errorReply(stream: { info: StreamInfo } | undefined, error: ProxyError): HttpResponse {
  const spec = error.spec;
  const headers = new Headers();
  if (spec.body) headers.set("content-type", "text/plain");
  if (spec.flag) headers.set(RESPONSE_FLAGS_HEADER, spec.flag);
  if (stream) {
    if (spec.flag) stream.info.responseFlags.push(spec.flag);
    stream.info.responseCodeDetails = spec.details;
  }
  return { status: spec.status, statusText: "", headers, body: spec.body || null };
}

/** Envoy's local reply for a classified error, as a Response (for callers outside the engine). */
export function errorResponse(error: ProxyError): Response {
  const r = errorReply(undefined, error);
  return new Response(r.body as string | null, r);
}

const NO_MATCH = Symbol("no route");

class Stream implements HttpStream {
  readonly request: Request;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly requestHeaders: Headers;
  requestBody: ReadableStream<Uint8Array> | null;
  readonly info: StreamInfo;
  private readonly table: RouteTable;
  private cached: RouteMatch | typeof NO_MATCH | undefined;

  constructor(request: Request, table: RouteTable, startTime: number) {
    this.request = request;
    this.method = request.method;
    this.requestHeaders = new Headers(request.headers);
    const url = request.url;
    // The request-target is everything from the first "/" after the scheme's "//" (no URL object).
    const authorityStart = url.indexOf("//") + 2;
    const pathStart = url.indexOf("/", authorityStart);
    this.path = pathStart < 0 ? "/" : url.slice(pathStart);
    this.authority = request.headers.get("host") ?? (pathStart < 0 ? url.slice(authorityStart) : url.slice(authorityStart, pathStart));
    this.requestBody = request.body;
    this.info = { startTime, responseFlags: [], responseCodeDetails: "", responseCode: 0 };
    this.table = table;
  }

  route(): RouteMatch | undefined {
    if (this.cached === undefined) this.cached = this.table.match(this.authority, this.path) ?? NO_MATCH;
    return this.cached === NO_MATCH ? undefined : this.cached;
  }

  clearRouteCache(): void {
    this.cached = undefined;
  }
}
