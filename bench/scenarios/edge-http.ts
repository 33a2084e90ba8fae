/**
 * edge-http (issue 7): wrk against Legate's edge Worker served by workerd directly, proxying to a
 * local origin, versus a bare Worker whose handler only does `return fetch(upstream, request)` in the
 * same workerd, versus wrk straight to the origin ("direct").
 *
 * - The edge is the real Worker: edge/src/index.ts bundled by wrangler (`deploy --dry-run`), its
 *   config validated by the Node loader and written to local KV with `legate push`'s protocol
 *   (tcp-tier/src/cli/push.ts), read by the Worker from KV as in production (LEGATE_CONFIG_POLL_MS as
 *   in wrangler.toml).
 * - Both Workers run in one workerd started through miniflare's API, each on its own direct socket
 *   (no wrangler dev, no miniflare entry Worker, no Node in the path); workerd is pinned to the
 *   proxy core, wrk and the origin to the others (bench/lib/cpus.ts).
 * - Small (22 B) and 16 KiB bodies. Runs alternate edge, bare, direct, edge, bare, direct, ...; the
 *   table quotes medians with min–max and ratios to the bare Worker and to direct. workerd's CPU time
 *   per request is read from /proc for the Worker runs.
 *
 * - LEGATE_BENCH_EDGE_HCM (JSON) is merged into the edge's HCM for A/B runs of HCM settings; the
 *   default is Envoy's defaults.
 *
 * Targets (issue 7): requests/s ≥ 0.9× the bare Worker's, p50 ≤ 1.1× its p50. p99 is reported but
 * says little: workerd stalls 100–450 ms every few seconds here even with a no-op Worker.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker, readWorkerSettings } from "../lib/bundle.ts";
import { loadConfig, pushToLocalKv } from "../lib/config-pipeline.ts";
import { processCpuSeconds } from "../lib/cpus.ts";
import { LARGE_BODY_BYTES, SMALL_BODY } from "../lib/origin-server.ts";
import { waitForOutput } from "../lib/processes.ts";
import { makeRow } from "../lib/rows.ts";
import type { ResultRow, Scenario, ScenarioContext } from "../lib/types.ts";
import { startWorkerd } from "../lib/workerd.ts";
import { runWrk, WRK, type WrkResult } from "../lib/wrk.ts";
import { smallRouteConfig } from "../micro/engine-fixture.ts";
import { edgeBootstrap, staticCluster } from "../micro/route-fixture.ts";

const NAME = "edge-http";
const ORIGIN_SCRIPT = fileURLToPath(new URL("../lib/origin-server.ts", import.meta.url));
const BARE_ENTRY = fileURLToPath(new URL("../workers/bare-fetch.ts", import.meta.url));
const FLOOR_ENTRY = fileURLToPath(new URL("../workers/envoy-floor.ts", import.meta.url));
const NAMESPACE_ID = "legate-bench-kv";
const CONNECTIONS = 16;

interface Plan {
  rounds: number;
  durationS: number;
  warmupS: number;
}

const BODIES = [
  { path: "/small", label: `${Buffer.byteLength(SMALL_BODY)} B body`, bytes: Buffer.byteLength(SMALL_BODY) },
  { path: "/16k", label: "16 KiB body", bytes: LARGE_BODY_BYTES },
] as const;

type Target = "edge" | "floor" | "bare" | "direct";
const ORDER: readonly Target[] = ["edge", "floor", "bare", "direct"];

interface Sample {
  rps: number;
  p50Us: number;
  p99Us: number;
  /** workerd CPU microseconds per request; null for direct. */
  cpuUs: number | null;
  /** Answers that were not 2xx/3xx, plus socket errors and timeouts. */
  errors: number;
}

export const edgeHttp: Scenario = {
  name: NAME,
  description: "wrk: Legate's edge Worker vs a bare fetch Worker (same workerd) vs direct, small and 16 KiB bodies",
  requires: [WRK],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const plan: Plan = ctx.quick ? { rounds: 2, durationS: 2, warmupS: 1 } : { rounds: 5, durationS: 8, warmupS: 3 };
    const cores = ctx.cores;

    // The origin, in its own (pinned) process.
    const origin = ctx.processes.start("origin", process.execPath, [ORIGIN_SCRIPT], { cwd: ctx.root, ...(cores ? { cpus: cores.origin } : {}) });
    const port = Number((await waitForOutput(origin, /listening (\d+)/, 10_000))[1]);
    const direct = `http://127.0.0.1:${port}`;

    // The edge's config, through the loader and `legate push` into local KV.
    // LEGATE_BENCH_EDGE_HCM: JSON merged into the edge's HttpConnectionManager, for A/B runs of HCM
    // settings (e.g. '{"stream_idle_timeout":"0s"}', which lets response bodies take the native pipe).
    const hcmExtra = process.env.LEGATE_BENCH_EDGE_HCM ? (JSON.parse(process.env.LEGATE_BENCH_EDGE_HCM) as Record<string, unknown>) : undefined;
    if (hcmExtra) ctx.log(`${NAME}: edge HCM with ${JSON.stringify(hcmExtra)} (LEGATE_BENCH_EDGE_HCM)`);
    const config = await loadConfig(edgeBootstrap(smallRouteConfig("origin"), [staticCluster("origin", port)], hcmExtra), "the edge-http config");
    const persistTo = join(ctx.tmpDir, "edge-state");
    const version = await pushToLocalKv(config, persistTo, NAMESPACE_ID);
    ctx.log(`${NAME}: config ${version.slice(0, 12)} pushed to local KV; bundling the edge and the bare Worker`);

    const settings = readWorkerSettings(ctx.root);
    const [edgeScript, bareScript, floorScript] = await Promise.all([
      bundleWorker(ctx.processes, ctx.root, join(ctx.tmpDir, "edge-bundle")),
      bundleWorker(ctx.processes, ctx.root, join(ctx.tmpDir, "bare-bundle"), BARE_ENTRY),
      bundleWorker(ctx.processes, ctx.root, join(ctx.tmpDir, "floor-bundle"), FLOOR_ENTRY),
    ]);
    const host = await startWorkerd(
      [
        { name: "edge", scriptPath: edgeScript, bindings: settings.vars, kvNamespaces: { LEGATE_KV: NAMESPACE_ID } },
        { name: "bare", scriptPath: bareScript, bindings: { UPSTREAM: direct } },
        { name: "floor", scriptPath: floorScript, bindings: { UPSTREAM: direct } },
      ],
      { settings, persistTo, log: ctx.log, ...(cores ? { cpus: cores.proxy } : {}) },
    );
    ctx.defer(() => host.dispose());
    const pid = host.pid;
    if (pid === undefined) ctx.log(`${NAME}: could not identify the workerd process: CPU per request not measured`);
    const workerUrl = (name: string): string => host.urls.get(name)!.replace(/\/$/, "");
    const urls: Record<Target, string> = { edge: workerUrl("edge"), floor: workerUrl("floor"), bare: workerUrl("bare"), direct };

    await checkTargets(urls);

    const wrk = (url: string, durationS: number): Promise<WrkResult> =>
      runWrk(ctx.processes, url, { connections: CONNECTIONS, threads: 1, durationS, timeoutS: 5, ...(cores ? { cpus: cores.client } : {}) });

    const rows: ResultRow[] = [];
    for (const body of BODIES) {
      ctx.log(`${NAME}: ${body.label}: warm-up`);
      for (const t of ORDER) await wrk(urls[t] + body.path, plan.warmupS);
      const samples: Record<Target, Sample[]> = { edge: [], floor: [], bare: [], direct: [] };
      for (let round = 0; round < plan.rounds; round++) {
        for (const t of ORDER) {
          const cpuBefore = pid !== undefined && t !== "direct" ? processCpuSeconds(pid) : undefined;
          const r = await wrk(urls[t] + body.path, plan.durationS);
          const cpuUs = cpuBefore !== undefined ? ((processCpuSeconds(pid!) - cpuBefore) * 1e6) / r.requests : null;
          const errors = r.statusErrors + r.socketErrors;
          if (errors > 0) ctx.log(`  ${t}: ${r.statusErrors} of ${r.requests} answers not 2xx/3xx, ${r.socketErrors} socket errors or timeouts`);
          samples[t].push({ rps: r.rps, p50Us: r.p50Us, p99Us: r.p99Us, cpuUs, errors });
          ctx.log(`  round ${round + 1}/${plan.rounds} ${t.padEnd(6)} ${Math.round(r.rps)} req/s, p50 ${r.p50Us} µs, p99 ${r.p99Us} µs${cpuUs !== null ? `, workerd ${cpuUs.toFixed(1)} µs CPU/req` : ""}`);
        }
      }
      const pick = (t: Target, f: (s: Sample) => number): number[] => samples[t].map(f);
      const peer = (f: (s: Sample) => number) => ({ name: "bare fetch Worker", values: pick("bare", f) });
      rows.push(
        makeRow({
          scenario: NAME,
          metric: `requests/s, ${body.label}, ${CONNECTIONS} connections`,
          better: "higher",
          legate: pick("edge", (s) => s.rps),
          peer: peer((s) => s.rps),
          direct: pick("direct", (s) => s.rps),
          target: { text: "≥ 0.9× bare Worker", met: (row) => (row.ratio_to_peer ?? 0) >= 0.9 },
        }),
        makeRow({
          scenario: NAME,
          metric: `p50 latency µs, ${body.label}`,
          better: "lower",
          legate: pick("edge", (s) => s.p50Us),
          peer: peer((s) => s.p50Us),
          direct: pick("direct", (s) => s.p50Us),
          target: { text: "≤ 1.1× bare Worker", met: (row) => (row.ratio_to_peer ?? Infinity) <= 1.1 },
        }),
        makeRow({
          scenario: NAME,
          metric: `p99 latency µs, ${body.label} (workerd stalls dominate)`,
          better: "lower",
          legate: pick("edge", (s) => s.p99Us),
          peer: peer((s) => s.p99Us),
          direct: pick("direct", (s) => s.p99Us),
        }),
        makeRow({
          scenario: NAME,
          metric: `errors per run (non-2xx/3xx answers, socket errors), ${body.label}`,
          better: "lower",
          legate: pick("edge", (s) => s.errors),
          peer: peer((s) => s.errors),
          direct: pick("direct", (s) => s.errors),
          target: { text: "0", met: (row) => row.runs.legate.every((e) => e === 0) },
        }),
      );
      // The Envoy-minimum Worker (bench/workers/envoy-floor.ts): what Envoy's default proxying costs
      // in workerd with no engine at all, as a reference for the edge and against the bare Worker.
      const floorPeer = (f: (s: Sample) => number) => ({ name: "Envoy-minimum Worker", values: pick("floor", f) });
      rows.push(
        makeRow({
          scenario: NAME,
          metric: `requests/s, ${body.label}, vs the Envoy-minimum Worker`,
          better: "higher",
          legate: pick("edge", (s) => s.rps),
          peer: floorPeer((s) => s.rps),
          direct: pick("direct", (s) => s.rps),
        }),
        makeRow({
          scenario: NAME,
          metric: `requests/s, ${body.label}: the Envoy-minimum Worker (as legate) vs the bare Worker`,
          better: "higher",
          legate: pick("floor", (s) => s.rps),
          peer: peer((s) => s.rps),
          direct: pick("direct", (s) => s.rps),
        }),
      );
      if (pid !== undefined) {
        rows.push(
          makeRow({
            scenario: NAME,
            metric: `workerd CPU µs/request, ${body.label}, vs the Envoy-minimum Worker`,
            better: "lower",
            legate: pick("edge", (s) => s.cpuUs!),
            peer: floorPeer((s) => s.cpuUs!),
          }),
          makeRow({
            scenario: NAME,
            metric: `workerd CPU µs/request, ${body.label}: the Envoy-minimum Worker (as legate) vs the bare Worker`,
            better: "lower",
            legate: pick("floor", (s) => s.cpuUs!),
            peer: peer((s) => s.cpuUs!),
          }),
        );
        rows.push(
          makeRow({
            scenario: NAME,
            metric: `workerd CPU µs/request, ${body.label}`,
            better: "lower",
            legate: pick("edge", (s) => s.cpuUs!),
            peer: peer((s) => s.cpuUs!),
          }),
        );
      }
    }
    return rows;
  },
};

/** One request to each target and body before timing: 200, the right length, and the edge's own headers. */
async function checkTargets(urls: Record<Target, string>): Promise<void> {
  for (const t of ORDER) {
    for (const body of BODIES) {
      const res = await fetch(urls[t] + body.path);
      const got = (await res.arrayBuffer()).byteLength;
      if (res.status !== 200 || got !== body.bytes) throw new Error(`${t} ${body.path}: ${res.status} with ${got} bytes, expected 200 with ${body.bytes}`);
      if (t === "edge" && !res.headers.has("x-envoy-upstream-service-time")) {
        throw new Error(`edge ${body.path}: no x-envoy-upstream-service-time; the answer did not come through Legate's router`);
      }
    }
  }
}
