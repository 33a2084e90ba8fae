/**
 * Loopback echo upstreams for the L7 tests (workerd through test/global-setup.ts, Node through the
 * conformance suite's Node run). Four servers named "a", "b", "c", "d" share one state object, so counters
 * are visible from any of them.
 *
 * Every request is answered with JSON `{ server, method, url, headers, body }` and the response header
 * `x-upstream: <server>`, unless REQUEST headers say otherwise (tests steer the upstream through the proxy):
 * - `x-echo-status: N` response status; `x-echo-location: L` sets `location`;
 *   `x-echo-response-headers: {"k":"v"}` extra response headers (values: string or string[]).
 * - `x-echo-delay-ms: N` waits N ms before sending headers; `x-echo-body-delay-ms: N` sends headers, waits
 *   N ms, then sends the body.
 * - `x-echo-reset: before-headers | after-headers` destroys the socket at that point (after-headers: the
 *   headers and a first body chunk are flushed, then the socket is destroyed mid-body).
 * - `x-echo-key: K` + `x-echo-fail-times: N` (+ `x-echo-fail-status: S`, default 503): the first N requests
 *   with key K on THAT server fail with status S (or with the reset named by `x-echo-reset`); later ones
 *   succeed normally (and then `x-echo-reset` is ignored).
 * - `GET /__echo/count?key=K` → `{"count": n, "servers": {"a": n1, ...}}`: requests carrying `x-echo-key: K`
 *   seen by each server. `POST /__echo/reset` clears all counters (shared by every test: prefer unique keys).
 * - `GET /stream?id=I` sends `first\n` and holds the response until `GET /release?id=I` (or 5 s), then
 *   sends `second\n`: proves a proxy streams.
 * - WebSocket upgrade on `/ws` (any query): every text message `m` is answered `<server>: m`; binary
 *   messages are echoed unchanged; the text message `__headers` is answered with the JSON of the upgrade
 *   request's headers; `__close <code> <reason>` makes the server close with that code and reason.
 *   With `/ws?key=K`, `GET /__echo/ws?key=K` → `{"opened": n, "closes": [{"code", "reason"}]}` records
 *   what the server saw (close propagation from the client side).
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

/** Names of the echo servers, in port order. */
export const ECHO_SERVER_NAMES = ["a", "b", "c", "d"] as const;

const HOLD_LIMIT_MS = 5000;

/** Running echo servers; `close()` releases held responses, timers, sockets and servers. */
export interface EchoServers {
  /** Ports of "a", "b", "c", "d" on 127.0.0.1, in that order. */
  ports: number[];
  /** A port that was bound and released: connecting to it is refused. */
  closedPort: number;
  close(): Promise<void>;
}

interface SharedState {
  /** key → server name → count of requests carrying `x-echo-key: key`. */
  counts: Map<string, Map<string, number>>;
  /** key → WebSocket sessions seen on `/ws?key=`. */
  ws: Map<string, { opened: number; closes: { code: number; reason: string }[] }>;
  /** Responses held open by `/stream`, by id. */
  held: Map<string, () => void>;
  timers: Set<ReturnType<typeof setTimeout>>;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function intHeader(req: http.IncomingMessage, name: string): number | undefined {
  const v = header(req, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function later(state: SharedState, ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    state.timers.delete(timer);
    fn();
  }, ms);
  state.timers.add(timer);
}

function bump(state: SharedState, key: string, server: string): number {
  let perServer = state.counts.get(key);
  if (!perServer) state.counts.set(key, (perServer = new Map()));
  const n = (perServer.get(server) ?? 0) + 1;
  perServer.set(server, n);
  return n;
}

function countReply(state: SharedState, key: string): { count: number; servers: Record<string, number> } {
  const servers: Record<string, number> = {};
  let count = 0;
  for (const [name, n] of state.counts.get(key) ?? []) {
    servers[name] = n;
    count += n;
  }
  return { count, servers };
}

function json(res: http.ServerResponse, name: string, value: unknown): void {
  res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
  res.end(JSON.stringify(value));
}

function handle(state: SharedState, name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://upstream");
  const id = url.searchParams.get("id") ?? "";
  if (url.pathname === "/__echo/count") return json(res, name, countReply(state, url.searchParams.get("key") ?? ""));
  if (url.pathname === "/__echo/ws") return json(res, name, state.ws.get(url.searchParams.get("key") ?? "") ?? { opened: 0, closes: [] });
  if (url.pathname === "/__echo/reset" && req.method === "POST") {
    state.counts.clear();
    state.ws.clear();
    return json(res, name, { reset: true });
  }
  if (url.pathname === "/stream") {
    res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
    res.write("first\n");
    const finish = () => {
      clearTimeout(timer);
      state.timers.delete(timer);
      state.held.delete(id);
      res.end("second\n");
    };
    const timer = setTimeout(finish, HOLD_LIMIT_MS);
    state.timers.add(timer);
    state.held.set(id, finish);
    return;
  }
  if (url.pathname === "/release") {
    state.held.get(id)?.();
    res.end("released");
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = JSON.stringify({ server: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    let status = intHeader(req, "x-echo-status") ?? 200;
    let reset = header(req, "x-echo-reset");
    const key = header(req, "x-echo-key");
    if (key !== undefined) {
      const seen = bump(state, key, name);
      const failTimes = intHeader(req, "x-echo-fail-times");
      if (failTimes !== undefined) {
        if (seen <= failTimes) {
          if (reset === undefined) status = intHeader(req, "x-echo-fail-status") ?? 503;
        } else {
          reset = undefined;
        }
      }
    }
    if (reset === "before-headers") {
      req.socket.destroy();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "x-upstream": name };
    const location = header(req, "x-echo-location");
    if (location) headers.location = location;
    const extra = header(req, "x-echo-response-headers");
    if (extra) Object.assign(headers, JSON.parse(extra) as Record<string, string | string[]>);
    const sendHeaders = () => {
      if (res.destroyed) return;
      if (reset === "after-headers") {
        res.writeHead(status, headers);
        res.write(body.slice(0, 8), () => req.socket.destroy());
        return;
      }
      const bodyDelay = intHeader(req, "x-echo-body-delay-ms");
      if (status === 204 || status === 304) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      if (bodyDelay === undefined) {
        res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      res.writeHead(status, headers);
      res.flushHeaders();
      later(state, bodyDelay, () => {
        if (!res.destroyed) res.end(body);
      });
    };
    const delay = intHeader(req, "x-echo-delay-ms");
    if (delay === undefined) sendHeaders();
    else later(state, delay, sendHeaders);
  });
}

function onWebSocket(state: SharedState, name: string, ws: WebSocket, req: http.IncomingMessage): void {
  const key = new URL(req.url ?? "/", "http://upstream").searchParams.get("key");
  let record: { opened: number; closes: { code: number; reason: string }[] } | undefined;
  if (key !== null) {
    record = state.ws.get(key);
    if (!record) state.ws.set(key, (record = { opened: 0, closes: [] }));
    record.opened++;
  }
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      ws.send(data, { binary: true });
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8");
    if (text === "__headers") {
      ws.send(JSON.stringify(req.headers));
      return;
    }
    const close = /^__close (\d+) ?(.*)$/.exec(text);
    if (close) {
      ws.close(Number(close[1]), close[2] ?? "");
      return;
    }
    ws.send(`${name}: ${text}`);
  });
  ws.on("close", (code, reason) => record?.closes.push({ code, reason: reason.toString("utf8") }));
  ws.on("error", () => ws.terminate());
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts the four echo servers and reserves a refused port. Call `close()` when done. */
export async function startEchoServers(): Promise<EchoServers> {
  const state: SharedState = { counts: new Map(), ws: new Map(), held: new Map(), timers: new Set() };
  const wss = new WebSocketServer({ noServer: true });
  const upgraded = new Set<Socket>();
  const servers = ECHO_SERVER_NAMES.map((name) => {
    const server = http.createServer((req, res) => handle(state, name, req, res));
    server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      upgraded.add(socket);
      socket.on("close", () => upgraded.delete(socket));
      if (new URL(req.url ?? "/", "http://upstream").pathname !== "/ws") {
        socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => onWebSocket(state, name, ws, req));
    });
    return server;
  });
  const ports: number[] = [];
  for (const server of servers) ports.push(await listen(server));
  const released = http.createServer();
  const closedPort = await listen(released);
  await closeServer(released);
  return {
    ports,
    closedPort,
    async close() {
      for (const release of [...state.held.values()]) release();
      for (const timer of state.timers) clearTimeout(timer);
      state.timers.clear();
      for (const client of wss.clients) client.terminate();
      for (const socket of upgraded) socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await Promise.all(servers.map(closeServer));
    },
  };
}
