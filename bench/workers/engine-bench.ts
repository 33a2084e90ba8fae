/**
 * The bench Worker: runs the route-match and engine-overhead loops (bench/micro/loops.ts) inside
 * workerd and reports how long they took. Bundled by wrangler and served by miniflare
 * (bench/lib/workerd.ts); the harness drives it over HTTP:
 *
 * - `POST /setup` with `{ "routeTable": <canonical bootstrap>, "engine": <canonical bootstrap> }`:
 *   compiles both here (compileBootstrap, as the edge does), checks the route mix selects the routes
 *   it should, builds the engine. Answers `{ "routes": n, "wrong": [...] }`.
 * - `GET /route?calls=N`: N route lookups over the mix.
 * - `GET /engine?mode=engine|direct&iterations=N`: N requests through the engine, or N direct calls
 *   of the same in-process transport.
 * Timed answers are `{ "elapsedMs": ms, "count": N, "sink": n }`.
 *
 * Timing: workerd's clocks are coarse (Date.now() and performance.now() have 1 ms resolution here, and
 * in production they advance only when I/O happens, as a Spectre mitigation). So each call times the
 * whole loop, between two I/O fences (a zero-delay timer before reading the clock at the start and
 * at the end), and the harness asks for enough iterations that a loop runs for hundreds of
 * milliseconds: the 1 ms resolution is then below 0.5 %. The harness also times each call from Node
 * and checks the two agree.
 */
import { nativeBodyPipe } from "../../edge/src/body-pipe.ts";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { formatIssue } from "../../shared/config/issues.ts";
import type { BootstrapModel, HttpConnectionManagerModel } from "../../shared/config/model.ts";
import type { HttpEngine } from "../../shared/http/engine.ts";
import { compileRouteTable, type RouteTable } from "../../shared/http/route-table.ts";
import type { AttemptRequest } from "../../shared/http/upstream-request.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import { createStaticRuntime } from "../../shared/runtime/runtime.ts";
import { buildEngine, constantTransport, directAttempt, engineRequest } from "../micro/engine-fixture.ts";
import { checkRoutes, directCalls, engineCalls, routeCalls } from "../micro/loops.ts";
import { type BuiltRouteRequest, buildRouteRequests, ROUTE_MIX } from "../micro/route-fixture.ts";

interface State {
  table: RouteTable;
  requests: BuiltRouteRequest[];
  engine: HttpEngine;
  transport: UpstreamTransport;
  attempt: AttemptRequest;
  request: Request;
}

let state: State | undefined;

function compile(canonical: unknown, what: string): BootstrapModel {
  const { model, issues } = compileBootstrap(canonical);
  if (!model) throw new Error(`${what} does not compile: ${issues.map(formatIssue).join("; ")}`);
  return model;
}

function edgeHcm(model: BootstrapModel): HttpConnectionManagerModel {
  const listener = model.listeners.find((l) => l.edge);
  const hcm = listener?.filterChains[0]?.filters[0];
  if (!hcm || hcm.kind !== "http_connection_manager") throw new Error("no edge listener with an http_connection_manager");
  return hcm;
}

/** A zero-delay timer: an I/O event, after which workerd's clock reads the current time. */
const fence = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

async function timed(count: number, work: () => number | Promise<number>): Promise<Response> {
  await fence();
  const start = Date.now();
  const sink = await work();
  await fence();
  const elapsedMs = Date.now() - start;
  return Response.json({ elapsedMs, count, sink });
}

function positiveInt(url: URL, name: string): number {
  const n = Number(url.searchParams.get(name));
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/setup" && request.method === "POST") {
        const body = (await request.json()) as { routeTable: unknown; engine: unknown };
        const tableModel = compile(body.routeTable, "the route table config");
        const table = compileRouteTable(edgeHcm(tableModel).routeConfig, { runtime: createStaticRuntime(tableModel.runtime) });
        const requests = buildRouteRequests(ROUTE_MIX);
        const engineModel = compile(body.engine, "the engine config");
        const transport = constantTransport();
        state = { table, requests, engine: buildEngine(engineModel, transport, nativeBodyPipe), transport, attempt: directAttempt(engineModel), request: engineRequest() };
        const routes = edgeHcm(tableModel).routeConfig.virtualHosts.reduce((n, vh) => n + vh.routes.length, 0);
        return Response.json({ routes, wrong: checkRoutes(table, ROUTE_MIX, requests) });
      }
      const s = state;
      if (!s) return new Response("POST /setup first\n", { status: 409 });
      if (url.pathname === "/route") {
        const calls = positiveInt(url, "calls");
        return await timed(calls, () => routeCalls(s.table, s.requests, calls));
      }
      if (url.pathname === "/engine") {
        const iterations = positiveInt(url, "iterations");
        const mode = url.searchParams.get("mode");
        if (mode === "engine") return await timed(iterations, () => engineCalls(s.engine, s.request, iterations));
        if (mode === "direct") return await timed(iterations, () => directCalls(s.transport, s.attempt, iterations));
        return new Response("mode must be engine or direct\n", { status: 400 });
      }
      return new Response("not found\n", { status: 404 });
    } catch (e) {
      return new Response(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`, { status: 500 });
    }
  },
};
