/**
 * Global setup for the `edge` vitest project: loopback upstream servers the Worker under test proxies
 * to. Ports are handed to the tests with `project.provide` (read them with `inject("upstreamPort")`).
 *
 * Each upstream is an echo server: it answers with JSON describing the request it received
 * (`server`, `method`, `url`, `headers`, `body`) and the header `x-upstream: <server>`.
 * - `x-echo-status: <code>` on the request sets the response status, `x-echo-location` the `location`.
 * - `GET /stream?id=<id>` sends `first\n`, then holds the response open until `GET /release?id=<id>`
 *   arrives (or 5 s pass), then sends `second\n`: a test can prove the proxy streams the response.
 * `closedPort` is a port that was bound and released, so connecting to it is refused.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    upstreamPort: number;
    upstreamPort2: number;
    closedPort: number;
  }
}

const HOLD_LIMIT_MS = 5000;

/** Responses held open by `/stream`, by id; all released at teardown. */
const held = new Map<string, () => void>();

function echoServer(name: string): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://upstream");
    const id = url.searchParams.get("id") ?? "";
    if (url.pathname === "/stream") {
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": name });
      res.write("first\n");
      const finish = () => {
        clearTimeout(timer);
        held.delete(id);
        res.end("second\n");
      };
      const timer = setTimeout(finish, HOLD_LIMIT_MS);
      held.set(id, finish);
      return;
    }
    if (url.pathname === "/release") {
      held.get(id)?.();
      res.end("released");
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.stringify({ server: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const status = Number(req.headers["x-echo-status"] ?? 200);
      const location = first(req.headers["x-echo-location"]);
      res.writeHead(status, { "content-type": "application/json", "x-upstream": name, ...(location ? { location } : {}) });
      res.end(body);
    });
  });
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const a = echoServer("a");
  const b = echoServer("b");
  const released = http.createServer();
  project.provide("upstreamPort", await listen(a));
  project.provide("upstreamPort2", await listen(b));
  project.provide("closedPort", await listen(released));
  await close(released);
  return async () => {
    for (const release of [...held.values()]) release();
    await Promise.all([close(a), close(b)]);
  };
}
