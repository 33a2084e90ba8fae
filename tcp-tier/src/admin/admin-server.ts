/**
 * Envoy's admin port: an HTTP/1.1 server bound exactly where `admin.address` says, serving the
 * endpoints of handlers.ts. Counts `listener.admin.*` and `http.admin.*` stats and writes Envoy's
 * default access-log line for every request to each `admin.access_log` path.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { http } from "../node-builtins.ts";
import type { Socket } from "node:net";
import type { Logger } from "../../../shared/log.ts";
import { TcpTierError } from "../network/errors.ts";
import { type AdminContext, type AdminResponse, dispatch } from "./handlers.ts";

export class AdminServer {
  private readonly server: Server;
  private readonly ctx: AdminContext;
  private readonly logger: Logger;
  private readonly accessLogs: WriteStream[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly stats;
  /** The bound address, after {@link listen}. */
  address: { address: string; port: number } | undefined;

  /** When set, a request whose `Authorization` header it refuses gets 401 (the optional bearer token). */
  private readonly authorize: ((authorization: string | undefined) => boolean) | undefined;

  /**
   * When set, awaited before a request is dispatched (a worker primary collects fresh stats from its
   * workers before the stats and cluster endpoints render; tcp-tier/src/workers/).
   */
  private readonly beforeDispatch: ((path: string) => Promise<void> | undefined) | undefined;

  constructor(
    ctx: AdminContext,
    logger: Logger,
    authorize?: (authorization: string | undefined) => boolean,
    beforeDispatch?: (path: string) => Promise<void> | undefined,
  ) {
    this.ctx = ctx;
    this.authorize = authorize;
    this.beforeDispatch = beforeDispatch;
    this.logger = logger;
    const s = ctx.stats;
    this.stats = {
      cxTotal: s.counter("listener.admin.downstream_cx_total"),
      cxActive: s.gauge("listener.admin.downstream_cx_active"),
      cxDestroy: s.counter("listener.admin.downstream_cx_destroy"),
      rqTotal: s.counter("http.admin.downstream_rq_total"),
      rq: { 2: s.counter("http.admin.downstream_rq_2xx"), 4: s.counter("http.admin.downstream_rq_4xx"), 5: s.counter("http.admin.downstream_rq_5xx") } as Record<number, { inc(): void } | undefined>,
    };
    this.server = http().createServer((req, res) => this.onRequest(req, res));
    this.server.on("connection", (socket: Socket) => {
      this.stats.cxTotal.inc();
      this.stats.cxActive.inc();
      this.sockets.add(socket);
      socket.once("close", () => {
        this.sockets.delete(socket);
        this.stats.cxActive.dec();
        this.stats.cxDestroy.inc();
      });
    });
  }

  /** Binds `address:port` (port 0: the kernel's choice) and opens the access logs. Rejects with `LEGATE_BIND_FAILED`. */
  async listen(address: string, port: number, accessLogPaths: readonly string[]): Promise<void> {
    for (const path of accessLogPaths) {
      const stream = createWriteStream(path, { flags: "a" });
      stream.on("error", (err) => this.logger.error(`admin access log ${path}: ${err.message}`));
      this.accessLogs.push(stream);
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new TcpTierError("LEGATE_BIND_FAILED", `admin cannot bind ${address}:${port}: ${err.message}`, { cause: err }));
      this.server.once("error", onError);
      this.server.listen({ host: address, port }, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    this.server.on("error", (err) => this.logger.error(`admin: ${err.message}`));
    const a = this.server.address();
    if (a && typeof a === "object") this.address = { address: a.address, port: a.port };
  }

  /** Stops listening, closes every admin connection and the access logs. */
  async close(): Promise<void> {
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
    await Promise.all(this.accessLogs.map((s) => new Promise<void>((resolve) => s.end(() => resolve()))));
    this.accessLogs.length = 0;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const startTime = new Date();
    let bytesReceived = 0;
    req.on("data", (chunk: Uint8Array) => (bytesReceived += chunk.length));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://admin");
      const authorized = !this.authorize || this.authorize(req.headers.authorization);
      const before = authorized ? this.beforeDispatch?.(url.pathname) : undefined;
      if (before) {
        before.then(
          () => this.respond(req, res, url, authorized, started, startTime, bytesReceived),
          () => this.respond(req, res, url, authorized, started, startTime, bytesReceived),
        );
      } else this.respond(req, res, url, authorized, started, startTime, bytesReceived);
    });
  }

  private respond(req: IncomingMessage, res: ServerResponse, url: URL, authorized: boolean, started: number, startTime: Date, bytesReceived: number): void {
    {
      const method = req.method ?? "GET";
      let response: AdminResponse;
      try {
        response = authorized
          ? dispatch(this.ctx, { method, path: url.pathname, query: url.searchParams })
          : { status: 401, contentType: "text/plain; charset=UTF-8", body: "unauthorized: this admin port needs Authorization: Bearer <token>\n" };
      } catch (err) {
        this.logger.error(`admin ${url.pathname}: ${(err as Error).stack ?? String(err)}`);
        response = { status: 500, contentType: "text/plain; charset=UTF-8", body: "internal error\n" };
      }
      const body = Buffer.from(response.body, "utf8");
      res.writeHead(response.status, {
        "content-type": response.contentType,
        "content-length": body.length,
        "cache-control": "no-cache, max-age=0",
        "x-content-type-options": "nosniff",
        ...(response.status === 401 ? { "www-authenticate": 'Bearer realm="legate-admin"' } : {}),
      });
      const afterSent = response.afterSent;
      if (afterSent) res.once("finish", afterSent);
      res.end(method === "HEAD" ? undefined : body);
      this.stats.rqTotal.inc();
      this.stats.rq[Math.floor(response.status / 100)]?.inc();
      if (this.accessLogs.length) {
        const line = accessLogLine(req, startTime, response.status, bytesReceived, body.length, performance.now() - started);
        for (const s of this.accessLogs) s.write(line);
      }
    }
  }
}

/** Envoy's default access-log format, for the admin listener (no upstream, so those fields are `-`). */
function accessLogLine(req: IncomingMessage, start: Date, status: number, received: number, sent: number, durationMs: number): string {
  const h = (name: string) => {
    const v = req.headers[name];
    return typeof v === "string" ? v : "-";
  };
  return (
    `[${start.toISOString()}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ${status} - ${received} ${sent} ${Math.round(durationMs)} - ` +
    `"${h("x-forwarded-for")}" "${h("user-agent")}" "${h("x-request-id")}" "${h("host")}" "-"\n`
  );
}
