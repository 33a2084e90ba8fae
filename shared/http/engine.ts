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
 *    direct reply, or none), when the response is handed back. A streamed body is sent through the
 *    tier's native pipe when nothing needs its bytes (body-pipe.ts), else through one JS stream that
 *    also enforces the router's body limits (response-guard.ts).
 *
 * Stats: `http.<stat_prefix>.downstream_rq_total`, `downstream_rq_active`, `downstream_rq_completed`,
 * `downstream_rq_<N>xx` (charged when response headers are sent), `downstream_rq_time` (ms, start to
 * stream end), `downstream_rq_rx_reset` (the downstream went away mid-response), `downstream_rq_tx_reset`
 * (the proxy reset the response, e.g. its upstream failed mid-body), `rq_reset_after_downstream_response_started`,
 * `downstream_cx_upgrades_total` / `_active`, `downstream_rq_ws_on_non_ws_route` (websocket.ts),
 * `downstream_rq_timeout` (the HCM's `request_timeout`: a request body that has not arrived in time is
 * answered 408 `request timeout`; the abandoned decode finishes in the background, then the stream
 * completes). The HCM's `stream_idle_timeout` (default 5 min) is handed to the router as the idle
 * timeout of routes without their own.
 *
 * Access log: the HCM's `access_log` (shared/access-log) is written once per stream after every
 * filter's onStreamComplete; a WebSocket stream completes when its session closes.
 */
import { ConfigError } from "../config/issues.ts";
import { extensionByTypeUrl } from "../config/extensions.ts";
import type { ClusterModel, HttpConnectionManagerModel, HttpFilterModel } from "../config/model.ts";
import { type AccessLogs, createAccessLogs } from "../access-log/access-log.ts";
import { requestDownstreamInfo } from "../access-log/downstream.ts";
import type { AccessLogRecord, DownstreamInfo } from "../access-log/record.ts";
import { type AccessLogSinks, consoleSinks } from "../access-log/sinks.ts";
import { pumpWebSocket, UPGRADE_STREAM_HEADER, upgradeAllowed, upgradeType, type UpgradeSlot, upgradingTransport, utf8Length, type WebSocketSupport } from "./websocket.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../stats/store.ts";
import { ProxyError, toProxyError } from "./errors.ts";
import type { HttpFilter, HttpFilterFactory, HttpResponse, HttpStream, LocalReply, StreamInfo, TerminalHttpFilter } from "./filter.ts";
import { compileRouteTable, randomStreamValue, type RouteMatch, type RouteTable } from "./route-table.ts";
import { createHeaderHandling, type HeaderHandling, type StreamHeaderState } from "./header-handling.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { createRouterFactory } from "./router.ts";
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS } from "../config/compile-hcm-extras.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";
import { type BodyPipe, pipeBody } from "./body-pipe.ts";
import { guardBody, needsProgress, NO_LIMITS } from "./response-guard.ts";

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
  /** Monotonic milliseconds. Default `performance.now()`. */
  now?: () => number;
  /** Runtime values for `runtime_fraction` and weighted clusters' `runtime_key_prefix`. Default: none (config defaults). */
  runtime?: Runtime;
  /** The per-stream random value (a non-negative integer; Envoy's stream id). Default: Math.random based. */
  random?: () => number;
  /** Where the stdout/stderr/file access loggers write. Default: the console, no files (the edge). */
  accessLogSinks?: AccessLogSinks;
  /** `%HOSTNAME%` in access logs. Default unset. */
  hostname?: string;
  /** Downstream facts for the access log, per request. Default {@link requestDownstreamInfo}. */
  downstreamInfo?: (request: Request) => DownstreamInfo;
  /**
   * How this tier proxies WebSockets. Absent: the tier cannot, and an HCM with `upgrade_configs` is
   * refused when the engine is built.
   */
  websocket?: WebSocketSupport;
  /**
   * The listener's `per_connection_buffer_limit_bytes`: how much of a request body the router buffers
   * for retries and shadows (unless the route sets `per_request_buffer_limit_bytes`). Default 1 MiB.
   */
  connectionBufferLimitBytes?: number;
  /**
   * Hands response bodies to the runtime without a JS wrapper when nothing needs their bytes
   * (body-pipe.ts). Absent (Node): the JS wrappers always run.
   */
  bodyPipe?: BodyPipe;
}

/** Per-request facilities of the runtime that received the request. */
export interface HandleContext {
  /** The Workers `ctx.waitUntil`, or a collector in Node. */
  waitUntil?(promise: Promise<unknown>): void;
}

export interface HttpEngine {
  readonly routeTable: RouteTable;
  /**
   * Handles one downstream request. Never rejects: failures become Envoy's local replies.
   * `context.waitUntil` keeps background work (shadow requests) alive past the response.
   */
  handle(request: Request, context?: HandleContext): Promise<Response>;
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
  const routeTable = compileRouteTable(hcm.routeConfig, { runtime: options.runtime });
  const random = options.random ?? randomStreamValue;

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
  if (hcm.upgradeConfigs?.length && !options.websocket) {
    throw new ConfigError([{ kind: "unsupported", path: hcm.name, message: "upgrade_configs: this tier cannot proxy WebSocket upgrades yet" }]);
  }
  const accessLogs = createAccessLogs(hcm.accessLog ?? [], { sinks: options.accessLogSinks ?? consoleSinks, hostname: options.hostname, path: `${hcm.name}.access_log` });
  const downstreamInfo = options.downstreamInfo ?? requestDownstreamInfo;
  const headerHandling = createHeaderHandling({ hcm, routeTable, stats: options.stats, hostname: options.hostname });
  const websocket = hcm.upgradeConfigs?.length ? options.websocket : undefined;
  /** Upgrade streams waiting for their upstream's 101, by the id in UPGRADE_STREAM_HEADER. */
  const upgradeSlots = new Map<string, UpgradeSlot>();
  const router = createRouterFactory({
    name: last!.name,
    clusters: options.clusters,
    transport: websocket ? upgradingTransport(options.transport, websocket, upgradeSlots) : options.transport,
    stats: options.stats,
    statPrefix: hcm.statPrefix,
    runtime: options.runtime,
    connectionBufferLimitBytes: options.connectionBufferLimitBytes,
    streamIdleTimeoutMs: hcm.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    now,
  });
  const requestTimeoutMs = hcm.requestTimeoutMs ?? 0;
  const bodyPipe = options.bodyPipe;

  const http = options.stats.scope(`http.${hcm.statPrefix}.`);
  const stats = {
    rqTotal: http.counter("downstream_rq_total"),
    rqActive: http.gauge("downstream_rq_active"),
    rqCompleted: http.counter("downstream_rq_completed"),
    byClass: [1, 2, 3, 4, 5].map((n) => http.counter(`downstream_rq_${n}xx`)),
  };
  const streamStats: StreamStats = {
    active: stats.rqActive,
    completed: stats.rqCompleted,
    time: http.histogram("downstream_rq_time"),
    rxReset: http.counter("downstream_rq_rx_reset"),
    txReset: http.counter("downstream_rq_tx_reset"),
    resetAfterResponse: http.counter("rq_reset_after_downstream_response_started"),
    upgradesActive: http.gauge("downstream_cx_upgrades_active"),
  };
  const upgradesTotal = http.counter("downstream_cx_upgrades_total");
  const wsOnNonWsRoute = http.counter("downstream_rq_ws_on_non_ws_route");
  const rqTimeout = http.counter("downstream_rq_timeout");

  return {
    routeTable,
    async handle(request: Request, context?: HandleContext): Promise<Response> {
      const stream = new Stream(request, routeTable, now());
      if (context?.waitUntil) stream.waitUntil = context.waitUntil;
      stream.randomValue = random();
      const downstream = downstreamInfo(request);
      headerHandling.decodeRequest(stream, downstream);
      stats.rqTotal.inc();
      stats.rqActive.inc();
      const filters: HttpFilter[] = factories.map((f) => f.create());
      const terminal = router.create();
      filters.push(terminal);
      if (accessLogs) stream.trackForLog(downstream, now);
      const done = completion(stream, filters, streamStats, now, accessLogs);
      if (request.headers.has(UPGRADE_STREAM_HEADER)) stream.requestHeaders.delete(UPGRADE_STREAM_HEADER);

      // Envoy decides an upgrade before the filter chain runs, and only when a route matched.
      let upgradeId: string | undefined;
      let response: HttpResponse | undefined;
      const upgrade = request.headers.has("upgrade") ? upgradeType(request.headers) : undefined;
      const upgradeRoute = upgrade !== undefined ? stream.route() : undefined;
      if (upgrade !== undefined && upgradeRoute) {
        if (!upgradeAllowed(hcm.upgradeConfigs, upgradeRoute.route.model.upgradeConfigs, upgrade)) {
          wsOnNonWsRoute.inc();
          response = localReply(stream, { status: 403, details: "upgrade_failed" });
        } else {
          upgradesTotal.inc();
          streamStats.upgradesActive.inc();
          stream.upgraded = true;
          upgradeId = crypto.randomUUID();
          upgradeSlots.set(upgradeId, { type: upgrade });
          stream.requestHeaders.set(UPGRADE_STREAM_HEADER, upgradeId);
        }
      }

      /** With request_timeout: the decode that lost the race to the timer; the stream completes after it. */
      let lateDecode: Promise<void> | undefined;
      if (response === undefined) {
        if (requestTimeoutMs > 0 && stream.requestBody) {
          const watch = watchRequestBody(stream, requestTimeoutMs, now);
          const decoding = decode(stream, filters, terminal, headerHandling);
          const first = await Promise.race([decoding, watch.expired]);
          watch.disarm();
          if (first === REQUEST_TIMED_OUT) {
            rqTimeout.inc();
            response = errorReply(stream, new ProxyError("request_timeout"));
            const info = stream.info;
            const flags = info.responseFlags.length;
            lateDecode = decoding.then((late) => {
              dropBody(late);
              // What the abandoned decode recorded does not describe the stream any more.
              info.responseFlags.length = flags;
              info.responseCodeDetails = "request_overall_timeout";
            });
            // The runtime must stay up until the abandoned upload and upstream call are cleaned up.
            stream.waitUntil?.(lateDecode);
          } else response = first;
        } else response = await decode(stream, filters, terminal, headerHandling);
      }
      if (stream.log && stream.info.responseCodeDetails === "via_upstream") stream.log.responseStart = now();
      const slot = upgradeId === undefined ? undefined : upgradeSlots.get(upgradeId);
      if (upgradeId !== undefined) upgradeSlots.delete(upgradeId);
      if (response.status === 101 && !slot?.upstream) {
        // Only a proxied upgrade may answer 101; anything else cannot be handed to the runtime.
        response = errorReply(stream, new ProxyError("upstream_connection_termination", "unexpected 101 from the upstream"));
      }
      try {
        for (let i = filters.length - 1; i >= 0; i--) await filters[i]!.encodeHeaders?.(stream, response);
      } catch (e) {
        dropBody(response);
        response = errorReply(stream, toProxyError(e));
      }
      headerHandling.encodeResponse(stream, response);
      stream.info.responseCode = response.status;
      const cls = stats.byClass[Math.floor(response.status / 100) - 1];
      cls?.inc();
      if (stream.log) stream.log.responseHeaders = response.headers;

      if (response.status === 101 && slot?.upstream && websocket) {
        const downstream = websocket.accept();
        const log = stream.log;
        pumpWebSocket(downstream.socket, slot.upstream, {
          onMessage: log ? (direction, bytes) => void (direction === "rx" ? (log.bytesReceived += bytes) : (log.bytesSent += bytes)) : undefined,
          onEnd: () => done("complete"),
        });
        return downstream.respond(response);
      }
      let body = NULL_BODY_STATUS.has(response.status) || request.method === "HEAD" ? null : response.body;
      if (typeof body === "string" && filters.some((f) => f.encodeBody)) body = textStream(body);
      if (body === null || typeof body === "string") {
        dropBody(response);
        if (stream.log && typeof body === "string") stream.log.bytesSent = utf8Length(body);
        if (lateDecode) void lateDecode.finally(() => done("complete"));
        else done("complete");
        return new Response(body, response);
      }
      const log = stream.log;
      const transforms = encodeTransforms(stream, filters);
      const guard = response.bodyGuard;
      if (bodyPipe && !log && transforms.length === 0 && (!guard || !needsProgress(guard.limits, now()))) {
        // Nothing needs the bytes: the runtime moves them (body-pipe.ts).
        const piped = pipeBody(bodyPipe, body, response.headers, guard, now, (reason) => done(reason, "proxy"));
        stream.waitUntil?.(piped.settled);
        return new Response(piped.readable, response);
      }
      const onBytes = log ? (n: number) => void (log.bytesSent += n) : undefined;
      if (transforms.length === 0) {
        // One JS wrapper that both enforces the limits and completes the stream.
        return new Response(guardBody(body, guard?.limits ?? NO_LIMITS, now, guard?.callbacks, { end: done, onBytes }, guard?.timer), response);
      }
      if (guard) body = guardBody(body, guard.limits, now, guard.callbacks, undefined, guard.timer);
      for (const t of transforms) body = through(body, t);
      return new Response(watched(body, done, onBytes), response);
    },
  };
}

const REQUEST_TIMED_OUT = Symbol("request timeout");

/** A response that will not be sent: its streamed body is cancelled and its limits' timer stopped. */
function dropBody(response: HttpResponse): void {
  response.bodyGuard?.timer?.clear();
  if (response.body !== null && typeof response.body !== "string") void response.body.cancel().catch(() => {});
}

/**
 * HCM `request_timeout`: the request body must be read to its end within `timeoutMs` of the stream's
 * start. Wraps `stream.requestBody`; on expiry the body fails (so the router's read or upload stops)
 * and `expired` resolves. Disarmed when the body ends, or by the caller when the response starts.
 */
function watchRequestBody(stream: Stream, timeoutMs: number, now: () => number): { expired: Promise<typeof REQUEST_TIMED_OUT>; disarm(): void } {
  const reader = stream.requestBody!.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fire!: (v: typeof REQUEST_TIMED_OUT) => void;
  const expired = new Promise<typeof REQUEST_TIMED_OUT>((resolve) => (fire = resolve));
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const disarm = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  stream.requestBody = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        try {
          const r = await reader.read();
          if (r.done) {
            disarm();
            c.close();
          } else c.enqueue(r.value);
        } catch (e) {
          try {
            c.error(e);
          } catch {
            // Already errored by the timer.
          }
        }
      },
      cancel(reason) {
        disarm();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const remaining = Math.max(0, stream.info.startTime + timeoutMs - now());
  timer = setTimeout(() => {
    timer = undefined;
    const err = new ProxyError("request_timeout");
    try {
      controller.error(err);
    } catch {
      // Closed meanwhile.
    }
    void reader.cancel(err).catch(() => {});
    fire(REQUEST_TIMED_OUT);
  }, remaining);
  return { expired, disarm };
}

/** Runs the decode phases and the terminal filter; every failure becomes a local reply. */
async function decode(stream: Stream, filters: HttpFilter[], terminal: TerminalHttpFilter, headers: HeaderHandling): Promise<HttpResponse> {
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
    const response = headers.beforeRouter(stream) ?? (await terminal.respond(stream));
    headers.afterRouter(stream, response);
    return response;
  } catch (e) {
    const reply = errorReply(stream, toProxyError(e));
    if (stream.headerState?.routed) headers.afterRouter(stream, reply);
    return reply;
  }
}

/** The filters' encodeBody transforms, in the order the body goes through them (reverse filter order). */
function encodeTransforms(stream: Stream, filters: HttpFilter[]): TransformStream<Uint8Array, Uint8Array>[] {
  const out: TransformStream<Uint8Array, Uint8Array>[] = [];
  for (let i = filters.length - 1; i >= 0; i--) {
    const t = filters[i]!.encodeBody?.(stream);
    if (t) out.push(t);
  }
  return out;
}

/**
 * The response body as sent downstream, pulled chunk by chunk (no buffering beyond the chunk being
 * sent, so backpressure reaches the upstream): completes the stream when the body ends, resets it
 * when a read fails or the downstream cancels. A plain pull loop, because workerd reports a native
 * body's pipe into a cancelled stream as an unhandled rejection and resolves some such pipes without
 * saying they were cancelled.
 */
function watched(body: ReadableStream<Uint8Array>, done: StreamDone, onBytes?: (n: number) => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await reader.read();
          if (r.done) {
            controller.close();
            done("complete");
          } else {
            onBytes?.(r.value.byteLength);
            controller.enqueue(r.value);
          }
        } catch (e) {
          done("reset", "proxy");
          controller.error(e);
        }
      },
      cancel(reason) {
        done("reset", "downstream");
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

/** Ends a stream: `complete`, or `reset` by the downstream (it went away) or by the proxy (a body failed). */
type StreamDone = (reason: "complete" | "reset", by?: "downstream" | "proxy") => void;

/** The engine's per-config stream stats. */
interface StreamStats {
  active: Gauge;
  completed: Counter;
  time: Histogram;
  rxReset: Counter;
  txReset: Counter;
  resetAfterResponse: Counter;
  upgradesActive: Gauge;
}

/**
 * Returns the stream's one-shot completion: onStreamComplete of every filter, then the stats, then the
 * access log (Envoy logs when the stream is destroyed, after its filters).
 */
function completion(stream: Stream, filters: HttpFilter[], stats: StreamStats, now: () => number, accessLogs: AccessLogs | undefined): StreamDone {
  let finished = false;
  return (reason, by) => {
    if (finished) return;
    finished = true;
    stream.info.endReason = reason;
    if (reason === "reset") {
      // Response headers always precede a reset here: the engine hands back a response first.
      stats.resetAfterResponse.inc();
      if (by === "downstream") {
        stats.rxReset.inc();
        stream.info.responseFlags.push("DC");
      } else {
        stats.txReset.inc();
        if (stream.info.responseFlags.length === 0) stream.info.responseFlags.push("UC");
      }
    }
    for (const f of filters) {
      try {
        f.onStreamComplete?.(stream);
      } catch {
        // A stats or logging hook must not break the stream; there is nothing left to answer.
      }
    }
    const end = now();
    stats.active.dec();
    stats.completed.inc();
    stats.time.record(end - stream.info.startTime);
    if (stream.upgraded) stats.upgradesActive.dec();
    if (accessLogs && stream.log) accessLogs.log(stream.accessLogRecord(end));
  };
}


/** What the access log needs beyond StreamInfo, measured only when the HCM has access logs. */
interface StreamLogState {
  /** Wall clock at the start (ms since the epoch). */
  startEpoch: number;
  downstream: DownstreamInfo;
  bytesReceived: number;
  bytesSent: number;
  /** Monotonic time the request's last byte arrived; undefined when not measurable. */
  requestEnd?: number;
  /** Monotonic time the upstream's response headers arrived. */
  responseStart?: number;
  responseHeaders?: Headers;
}

/**
 * Counts a request body's bytes as it is read, and notes when it ended. Only for bodies without a
 * Content-Length: wrapping a fixed-length body in a JS stream would make the runtime send it chunked.
 */
function countedBody(body: ReadableStream<Uint8Array>, log: StreamLogState, now: () => number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await reader.read();
        if (r.done) {
          log.requestEnd = now();
          controller.close();
        } else {
          log.bytesReceived += r.value.byteLength;
          controller.enqueue(r.value);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
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

/**
 * Envoy's local reply for a classified error, as a Response (for callers outside the engine). It carries
 * `server` as the HCM would (`serverName`, default Envoy's "envoy"), so it looks like the engine's own.
 */
export function errorResponse(error: ProxyError, serverName = "envoy"): Response {
  const r = errorReply(undefined, error);
  r.headers.set("server", serverName);
  return new Response(r.body as string | null, r);
}

const NO_MATCH = Symbol("no route");

class Stream implements HttpStream {
  readonly request: Request;
  readonly method: string;
  /** Rewritten by a route's host rewrite (shared/http/header-handling.ts). */
  authority: string;
  /** Rewritten by a route's path rewrite. */
  path: string;
  /** `:scheme`, set with headerState. */
  scheme?: string;
  /** Envoy's per-stream random value (route runtime_fraction, weighted clusters). */
  randomValue = 0;
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Header handling's per-stream facts (downstream address, internal/external, start time). */
  headerState: StreamHeaderState | undefined;
  get downstreamRemoteAddress(): string | undefined {
    return this.headerState?.origin.remoteAddress;
  }
  get downstreamConnectionKey(): string | undefined {
    const c = this.headerState?.connection;
    if (!c || c.remoteAddress === undefined) return undefined;
    const ip = c.remoteAddress.includes(":") ? `[${c.remoteAddress}]` : c.remoteAddress;
    return `${ip}:${c.remotePort ?? 0}${c.localAddress ?? ""}`;
  }
  readonly requestHeaders: Headers;
  requestBody: ReadableStream<Uint8Array> | null;
  readonly info: StreamInfo;
  /** Set when the stream is an allowed upgrade (counted in downstream_cx_upgrades_active). */
  upgraded = false;
  /** Access log measurements; undefined when the HCM has no access log. */
  log: StreamLogState | undefined;
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
    if (this.cached === undefined) this.cached = this.table.route(this) ?? NO_MATCH;
    return this.cached === NO_MATCH ? undefined : this.cached;
  }

  clearRouteCache(): void {
    this.cached = undefined;
  }

  /** Starts the access log measurements (called once, right after construction). */
  trackForLog(downstream: DownstreamInfo, now: () => number): void {
    const log: StreamLogState = { startEpoch: Date.now(), downstream, bytesReceived: 0, bytesSent: 0 };
    this.log = log;
    const body = this.requestBody;
    if (body === null) {
      log.requestEnd = this.info.startTime;
      return;
    }
    const length = this.request.headers.get("content-length");
    if (length !== null && /^\d+$/.test(length)) log.bytesReceived = Number(length);
    else this.requestBody = countedBody(body, log, now);
  }

  /** The access log entry of the finished stream. */
  accessLogRecord(end: number): AccessLogRecord {
    const log = this.log!;
    const info = this.info;
    const start = info.startTime;
    // Envoy's downstream remote address is the one X-Forwarded-For processing settled on (port 0 when
    // it came from a header); the peer's own stays the "direct" address.
    const origin = this.headerState?.origin.remoteAddress;
    const direct = log.downstream.remoteAddress;
    const remote = origin === undefined || (direct !== undefined && withoutPortOf(direct) === origin) ? direct : origin.includes(":") ? `[${origin}]:0` : `${origin}:0`;
    return {
      ...log.downstream,
      remoteAddress: remote,
      directRemoteAddress: direct,
      startTime: log.startEpoch,
      durationMs: end - start,
      requestDurationMs: log.requestEnd === undefined ? undefined : log.requestEnd - start,
      responseDurationMs: log.responseStart === undefined ? undefined : log.responseStart - start,
      method: this.method,
      path: this.path,
      authority: this.authority,
      scheme: this.scheme ?? this.request.url.slice(0, this.request.url.indexOf(":")),
      requestHeaders: this.requestHeaders,
      responseHeaders: log.responseHeaders,
      responseCode: info.responseCode,
      responseCodeDetails: info.responseCodeDetails,
      responseFlags: info.responseFlags,
      bytesReceived: log.bytesReceived,
      bytesSent: log.bytesSent,
      upstreamHost: info.upstreamHost,
      upstreamCluster: info.upstreamCluster,
      routeName: info.routeName,
      virtualClusterName: info.virtualCluster?.name,
    };
  }
}

/** The address part of `ip:port` or `[v6]:port`. */
function withoutPortOf(address: string): string {
  if (address.startsWith("[")) return address.slice(1, address.indexOf("]"));
  const colon = address.lastIndexOf(":");
  return colon < 0 ? address : address.slice(0, colon);
}
