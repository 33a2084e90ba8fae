/**
 * The bench Worker (bench/workers/engine-bench.ts) in workerd, set up with the route-match and
 * engine-overhead configs, and a client for its timed loops.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { bundleWorker, readWorkerSettings } from "./bundle.ts";
import type { ScenarioContext } from "./types.ts";
import { startWorkerd } from "./workerd.ts";

const ENTRY = fileURLToPath(new URL("../workers/engine-bench.ts", import.meta.url));

/** One timed call: the loop's time measured inside workerd, and the whole HTTP call's from Node. */
export interface WorkerTiming {
  /** Milliseconds inside the Worker, between I/O fences. */
  elapsedMs: number;
  /** Milliseconds for the whole call seen from Node (loop plus HTTP round trip). */
  roundTripMs: number;
  count: number;
}

export interface BenchWorker {
  /** Runs one timed loop: `path` is `/route?calls=N` or `/engine?mode=...&iterations=N`. */
  time(path: string): Promise<WorkerTiming>;
}

const bundles = new Map<string, Promise<string>>();

/**
 * Bundles the bench Worker (once per run), starts it in its own workerd (pinned to the proxy core),
 * and sets it up with the given canonical configs. The workerd is disposed when the scenario ends.
 */
export async function startBenchWorker(ctx: ScenarioContext, configs: { routeTable: unknown; engine: unknown }): Promise<BenchWorker> {
  let bundle = bundles.get(ctx.tmpDir);
  if (!bundle) {
    bundle = bundleWorker(ctx.processes, ctx.root, join(ctx.tmpDir, "engine-bench"), ENTRY);
    bundles.set(ctx.tmpDir, bundle);
  }
  const scriptPath = await bundle;
  const host = await startWorkerd([{ name: "bench", scriptPath }], { settings: readWorkerSettings(ctx.root), log: ctx.log, ...(ctx.cores ? { cpus: ctx.cores.proxy } : {}) });
  ctx.defer(() => host.dispose());
  const base = host.urls.get("bench")!;
  const setup = await fetch(new URL("/setup", base), { method: "POST", body: JSON.stringify(configs) });
  const text = await setup.text();
  if (!setup.ok) throw new Error(`bench Worker setup failed (${setup.status}): ${text}`);
  const result = JSON.parse(text) as { routes: number; wrong: string[] };
  if (result.wrong.length) throw new Error(`in workerd, the route table does not route the mix as expected:\n  ${result.wrong.join("\n  ")}`);
  return {
    async time(path: string): Promise<WorkerTiming> {
      const start = performance.now();
      const res = await fetch(new URL(path, base));
      const body = await res.text();
      const roundTripMs = performance.now() - start;
      if (!res.ok) throw new Error(`bench Worker ${path} failed (${res.status}): ${body}`);
      const j = JSON.parse(body) as { elapsedMs: number; count: number };
      return { elapsedMs: j.elapsedMs, roundTripMs, count: j.count };
    },
  };
}

/**
 * Iterations that make one workerd loop last about `targetMs` (its 1 ms clock then costs under
 * 0.5 %), found by doubling from `start`.
 */
export async function workerIterationsFor(worker: BenchWorker, path: (n: number) => string, targetMs: number, start = 1024): Promise<number> {
  let n = start;
  for (;;) {
    const t = await worker.time(path(n));
    // The round trip is the fallback should the Worker's clock not have moved at all.
    const ms = t.elapsedMs > 0 ? t.elapsedMs : t.roundTripMs;
    if (ms >= targetMs / 4 || n >= 2 ** 30) return Math.max(1, Math.round((n * targetMs) / Math.max(ms, 1)));
    n *= 2;
  }
}
