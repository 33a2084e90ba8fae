/**
 * The micro-benchmark loops, identical in Node and in workerd. They only loop; the caller times them
 * (Node: `performance.now()` around the call; workerd: see bench/workers/engine-bench.ts) and divides
 * the elapsed time by the number of calls. Each returns a value derived from every result, so the JIT
 * cannot drop the work.
 */
import type { HttpEngine } from "../../shared/http/engine.ts";
import type { RouteTable } from "../../shared/http/route-table.ts";
import type { AttemptRequest } from "../../shared/http/upstream-request.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import type { BuiltRouteRequest, MixRequest } from "./route-fixture.ts";

/** `calls` route lookups, cycling through `requests` in order. */
export function routeCalls(table: RouteTable, requests: readonly BuiltRouteRequest[], calls: number): number {
  let sink = 0;
  let i = 0;
  for (let n = 0; n < calls; n++) {
    const m = table.route(requests[i]!);
    sink += m ? m.route.model.name.length : 1;
    if (++i === requests.length) i = 0;
  }
  return sink;
}

/**
 * Checks that every request selects the route the fixture says (null: no route). Returns the
 * mismatches as text; empty when the table routes as intended.
 */
export function checkRoutes(table: RouteTable, mix: readonly MixRequest[], requests: readonly BuiltRouteRequest[]): string[] {
  const wrong: string[] = [];
  mix.forEach((m, i) => {
    const got = table.route(requests[i]!)?.route.model.name ?? null;
    if (got !== m.expect) wrong.push(`${m.method} ${m.authority}${m.path}: expected ${m.expect ?? "no route"}, got ${got ?? "no route"}`);
  });
  return wrong;
}

/** `iterations` requests through the engine, each response body read to the end (as the runtime would). */
export async function engineCalls(engine: HttpEngine, request: Request, iterations: number): Promise<number> {
  let sink = 0;
  for (let n = 0; n < iterations; n++) {
    const res = await engine.handle(request);
    sink += (await res.arrayBuffer()).byteLength + res.status;
  }
  return sink;
}

/** `iterations` direct calls of the transport, each body read to the end: the baseline of {@link engineCalls}. */
export async function directCalls(transport: UpstreamTransport, attempt: AttemptRequest, iterations: number): Promise<number> {
  let sink = 0;
  for (let n = 0; n < iterations; n++) {
    const res = await transport.fetch(attempt);
    sink += (await res.arrayBuffer()).byteLength + res.status;
  }
  return sink;
}
