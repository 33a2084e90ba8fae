/**
 * route-match (issues 3 and 7): RouteTable.route() — what the engine calls once per request — on a
 * realistic 1,000-route table (bench/micro/route-fixture.ts), compiled by the real pipeline (the Node
 * loader: Envoy schema walk, canonical JSON, compileBootstrap; then compileRouteTable). Times a
 * 16-request mix cycled in order and reports nanoseconds per request: in Node (also per group of the
 * mix), and in workerd with the same code (bench/workers/engine-bench.ts).
 *
 * Target (issue 7): ≤ 2 µs median per request on 1,000 routes in Node (the mix figure).
 */
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import { compileRouteTable } from "../../shared/http/route-table.ts";
import { createStaticRuntime } from "../../shared/runtime/runtime.ts";
import { startBenchWorker, workerIterationsFor } from "../lib/bench-worker.ts";
import { loadConfig } from "../lib/config-pipeline.ts";
import { makeRow } from "../lib/rows.ts";
import { iterationsFor, type RunPlan, timeSync, warmUp } from "../lib/timing.ts";
import type { ResultRow, Scenario, ScenarioContext } from "../lib/types.ts";
import { engineBootstrap } from "../micro/engine-fixture.ts";
import { checkRoutes, routeCalls } from "../micro/loops.ts";
import { buildRouteRequests, type MixGroup, ROUTE_COUNT, ROUTE_MIX, thousandRouteBootstrap } from "../micro/route-fixture.ts";

const NAME = "route-match";
const TARGET_NS = 2000;
const GROUPS: readonly MixGroup[] = ["early hit", "late hit", "matchers", "miss"];

function plans(quick: boolean): { node: RunPlan; groups: RunPlan; workerd: RunPlan } {
  return quick
    ? { node: { runs: 5, sampleMs: 50, warmupMs: 300 }, groups: { runs: 3, sampleMs: 50, warmupMs: 50 }, workerd: { runs: 3, sampleMs: 250, warmupMs: 250 } }
    : { node: { runs: 15, sampleMs: 200, warmupMs: 2000 }, groups: { runs: 7, sampleMs: 200, warmupMs: 200 }, workerd: { runs: 11, sampleMs: 500, warmupMs: 1000 } };
}

export const routeMatch: Scenario = {
  name: NAME,
  description: `RouteTable.route() on a ${ROUTE_COUNT}-route table: ns per request, Node and workerd`,
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const plan = plans(ctx.quick);
    const config = await loadConfig(thousandRouteBootstrap(), "the 1,000-route config");
    const listener = config.model.listeners.find((l) => l.edge)!;
    const hcm = listener.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
    const routes = hcm.routeConfig.virtualHosts.reduce((n, vh) => n + vh.routes.length, 0);
    if (routes !== ROUTE_COUNT) throw new Error(`the compiled table has ${routes} routes, expected ${ROUTE_COUNT}`);
    const table = compileRouteTable(hcm.routeConfig, { runtime: createStaticRuntime(config.model.runtime) });
    const requests = buildRouteRequests(ROUTE_MIX);
    const wrong = checkRoutes(table, ROUTE_MIX, requests);
    if (wrong.length) throw new Error(`the route table does not route the mix as expected:\n  ${wrong.join("\n  ")}`);
    const rows: ResultRow[] = [];

    // Node: the mix, then each group alone (where the time goes).
    const time = (reqs: typeof requests) => (n: number): number => timeSync(() => routeCalls(table, reqs, n));
    const nsPerCall = async (reqs: typeof requests, p: RunPlan): Promise<number[]> => {
      const work = time(reqs);
      const calls = await iterationsFor(work, p.sampleMs);
      await warmUp(work, calls, p.warmupMs);
      const out: number[] = [];
      for (let r = 0; r < p.runs; r++) out.push((work(calls) * 1e6) / calls);
      return out;
    };
    ctx.log(`${NAME}: Node, ${ROUTE_MIX.length}-request mix over ${routes} routes`);
    const mix = await nsPerCall(requests, plan.node);
    rows.push(
      makeRow({
        scenario: NAME,
        metric: `ns/request, ${ROUTE_MIX.length}-request mix, ${routes} routes, Node`,
        better: "lower",
        legate: mix,
        target: { text: `≤ ${TARGET_NS / 1000} µs`, met: (row) => row.legate <= TARGET_NS },
      }),
    );
    for (const group of GROUPS) {
      const subset = requests.filter((_, i) => ROUTE_MIX[i]!.group === group);
      ctx.log(`${NAME}: Node, ${group} (${subset.length} requests)`);
      rows.push(makeRow({ scenario: NAME, metric: `ns/request, ${group} (${subset.length} of the mix), Node`, better: "lower", legate: await nsPerCall(subset, plan.groups) }));
    }

    // workerd: the same loop in the bench Worker, timed around the whole loop (see engine-bench.ts).
    ctx.log(`${NAME}: workerd, ${ROUTE_MIX.length}-request mix`);
    const engine = await loadConfig(engineBootstrap(), "the engine-overhead config");
    const worker = await startBenchWorker(ctx, { routeTable: config.canonical, engine: engine.canonical });
    const path = (n: number): string => `/route?calls=${n}`;
    const calls = await workerIterationsFor(worker, path, plan.workerd.sampleMs);
    await worker.time(path(Math.round((calls * plan.workerd.warmupMs) / plan.workerd.sampleMs)));
    const inWorkerd: number[] = [];
    for (let r = 0; r < plan.workerd.runs; r++) {
      const t = await worker.time(path(calls));
      checkClocks(ctx, t.elapsedMs, t.roundTripMs);
      inWorkerd.push((t.elapsedMs * 1e6) / t.count);
    }
    rows.push(makeRow({ scenario: NAME, metric: `ns/request, ${ROUTE_MIX.length}-request mix, ${routes} routes, workerd`, better: "lower", legate: inWorkerd }));
    return rows;
  },
};

/**
 * The Worker's own loop time can only be shorter than the call seen from Node; far shorter means
 * its clock did not advance during the loop, and the figure would be wrong.
 */
export function checkClocks(ctx: ScenarioContext, elapsedMs: number, roundTripMs: number): void {
  if (elapsedMs > roundTripMs + 2 || elapsedMs < roundTripMs * 0.8 - 5) {
    throw new Error(`workerd's clock disagrees with Node's: loop ${elapsedMs} ms inside the Worker, call ${roundTripMs.toFixed(1)} ms from Node`);
  }
  if (roundTripMs - elapsedMs > 20) ctx.log(`  (note: ${(roundTripMs - elapsedMs).toFixed(1)} ms between the Worker's loop time and the call's)`);
}
