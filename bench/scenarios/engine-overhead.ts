/**
 * engine-overhead (issues 3 and 7): what the HTTP engine costs per request. The engine
 * (createHttpEngine(...).handle(request), built as the edge builds it, on a small ordinary config)
 * forwards to an in-process transport that answers at once with a constant response; the baseline
 * calls that same transport directly. Both read the response body to the end. The difference is the
 * engine's own per-request cost: Stream setup, route lookup, Envoy's request headers, the router,
 * response headers, the body wrapper, stats. Runs alternate engine, direct, engine, direct, in Node
 * and in workerd (bench/workers/engine-bench.ts).
 */
import { startBenchWorker, workerIterationsFor } from "../lib/bench-worker.ts";
import { loadConfig } from "../lib/config-pipeline.ts";
import { makeRow } from "../lib/rows.ts";
import { iterationsFor, type RunPlan, timeAsync, warmUp } from "../lib/timing.ts";
import type { ResultRow, Scenario, ScenarioContext } from "../lib/types.ts";
import { buildEngine, constantTransport, directAttempt, engineBootstrap, engineRequest, RESPONSE_BODY } from "../micro/engine-fixture.ts";
import { directCalls, engineCalls } from "../micro/loops.ts";
import { thousandRouteBootstrap } from "../micro/route-fixture.ts";
import { checkClocks } from "./route-match.ts";

const NAME = "engine-overhead";

function plans(quick: boolean): { node: RunPlan; workerd: RunPlan } {
  return quick
    ? { node: { runs: 3, sampleMs: 100, warmupMs: 300 }, workerd: { runs: 3, sampleMs: 250, warmupMs: 250 } }
    : { node: { runs: 11, sampleMs: 300, warmupMs: 2000 }, workerd: { runs: 9, sampleMs: 500, warmupMs: 1000 } };
}

/** Rows for one runtime from alternating runs: the engine against direct, and the difference. */
function rowsFor(runtime: string, engine: number[], direct: number[]): ResultRow[] {
  return [
    makeRow({ scenario: NAME, metric: `ns/request through the engine (direct: the transport alone), ${runtime}`, better: "lower", legate: engine, direct }),
    makeRow({ scenario: NAME, metric: `engine overhead ns/request (engine − direct, per run pair), ${runtime}`, better: "lower", legate: engine.map((e, i) => e - direct[i]!) }),
  ];
}

export const engineOverhead: Scenario = {
  name: NAME,
  description: "HttpEngine.handle() vs calling its in-process transport directly: ns per request, Node and workerd",
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const plan = plans(ctx.quick);
    const config = await loadConfig(engineBootstrap(), "the engine-overhead config");
    const transport = constantTransport();
    const engine = buildEngine(config.model, transport);
    const request = engineRequest();
    const attempt = directAttempt(config.model);
    const probe = await engine.handle(request);
    const bytes = (await probe.arrayBuffer()).byteLength;
    if (probe.status !== 200 || bytes !== RESPONSE_BODY.byteLength) throw new Error(`the engine answered ${probe.status} with ${bytes} bytes, expected 200 with ${RESPONSE_BODY.byteLength}`);

    ctx.log(`${NAME}: Node, engine and direct alternating`);
    const viaEngine = (n: number): Promise<number> => timeAsync(() => engineCalls(engine, request, n));
    const direct = (n: number): Promise<number> => timeAsync(() => directCalls(transport, attempt, n));
    const nEngine = await iterationsFor(viaEngine, plan.node.sampleMs, 16);
    const nDirect = await iterationsFor(direct, plan.node.sampleMs, 16);
    await warmUp(viaEngine, nEngine, plan.node.warmupMs);
    await warmUp(direct, nDirect, plan.node.warmupMs / 2);
    const nodeEngine: number[] = [];
    const nodeDirect: number[] = [];
    for (let r = 0; r < plan.node.runs; r++) {
      nodeEngine.push(((await viaEngine(nEngine)) * 1e6) / nEngine);
      nodeDirect.push(((await direct(nDirect)) * 1e6) / nDirect);
    }
    const rows = rowsFor("Node", nodeEngine, nodeDirect);

    ctx.log(`${NAME}: workerd, engine and direct alternating`);
    const table = await loadConfig(thousandRouteBootstrap(), "the 1,000-route config");
    const worker = await startBenchWorker(ctx, { routeTable: table.canonical, engine: config.canonical });
    const path = (mode: string) => (n: number): string => `/engine?mode=${mode}&iterations=${n}`;
    const wEngine = await workerIterationsFor(worker, path("engine"), plan.workerd.sampleMs, 256);
    const wDirect = await workerIterationsFor(worker, path("direct"), plan.workerd.sampleMs, 256);
    await worker.time(path("engine")(Math.round((wEngine * plan.workerd.warmupMs) / plan.workerd.sampleMs)));
    await worker.time(path("direct")(wDirect));
    const workerdEngine: number[] = [];
    const workerdDirect: number[] = [];
    for (let r = 0; r < plan.workerd.runs; r++) {
      const e = await worker.time(path("engine")(wEngine));
      checkClocks(ctx, e.elapsedMs, e.roundTripMs);
      workerdEngine.push((e.elapsedMs * 1e6) / e.count);
      const d = await worker.time(path("direct")(wDirect));
      checkClocks(ctx, d.elapsedMs, d.roundTripMs);
      workerdDirect.push((d.elapsedMs * 1e6) / d.count);
    }
    return [...rows, ...rowsFor("workerd", workerdEngine, workerdDirect)];
  },
};
