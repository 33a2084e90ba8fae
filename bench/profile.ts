/**
 * CPU profiles inside workerd, taken through its V8 inspector (CDP `Profiler`):
 *
 *   node bench/profile.ts engine [--iterations N]   the engine-overhead loop (bench/micro/loops.ts) in the bench Worker
 *   node bench/profile.ts edge [--seconds S] [--path /small|/16k]   the real edge Worker under wrk, as edge-http runs it
 *   common: [--out file.cpuprofile] [--top N] [--hcm '{"stream_idle_timeout":"0s"}'] (merged into the HCM)
 *
 * Writes the profile (open it in Chrome DevTools or speedscope) and prints the functions with the
 * most self time. A developer's tool, not a scenario: `npm run bench` does not run it.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { bundleWorker, readWorkerSettings } from "./lib/bundle.ts";
import { loadConfig, pushToLocalKv } from "./lib/config-pipeline.ts";
import { Processes, waitForOutput } from "./lib/processes.ts";
import { freePort } from "./lib/tcp-peers.ts";
import { startWorkerd } from "./lib/workerd.ts";
import { runWrk } from "./lib/wrk.ts";
import { engineBootstrap, smallRouteConfig } from "./micro/engine-fixture.ts";
import { edgeBootstrap, staticCluster, thousandRouteBootstrap } from "./micro/route-fixture.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A minimal CDP client over the runtime's WebSocket. */
async function cdp(url: string): Promise<{ send(method: string, params?: object): Promise<unknown>; close(): void }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let next = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.addEventListener("message", (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  });
  return {
    send(method, params = {}) {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

/** Self time per function (name, file:line), in samples. */
function selfTimes(profile: Profile): { name: string; samples: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    const file = f.url.split("/").pop() ?? "";
    const key = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([name, samples]) => ({ name, samples })).sort((a, b) => b.samples - a.samples);
}

interface Options {
  out: string;
  top: number;
  hcm: Record<string, unknown> | undefined;
}

/** Samples `work` in the Worker named `worker` through the inspector on `port`; writes and summarizes the profile. */
async function sample(port: number, worker: string, script: string, o: Options, work: () => Promise<string>): Promise<void> {
  const client = await cdp(`ws://127.0.0.1:${port}/core:user:${worker}`);
  await client.send("Profiler.enable");
  await client.send("Profiler.setSamplingInterval", { interval: 100 });
  await client.send("Profiler.start");
  const summary = await work();
  const { profile } = (await client.send("Profiler.stop")) as { profile: Profile };
  client.close();
  writeFileSync(o.out, JSON.stringify(profile));
  copyFileSync(script, o.out.replace(/\.cpuprofile$/, "") + ".worker.js");
  const rows = selfTimes(profile);
  const total = rows.reduce((s, r) => s + r.samples, 0);
  console.log(`${summary}; ${total} samples; profile in ${o.out}, the bundled Worker beside it`);
  for (const row of rows.slice(0, o.top)) console.log(`${((100 * row.samples) / total).toFixed(1).padStart(5)} %  ${row.name}`);
}

/** The engine-overhead loop in the bench Worker. */
async function profileEngine(processes: Processes, tmp: string, o: Options, iterations: number): Promise<void> {
  const bootstrap = engineBootstrap() as { static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[] } };
  if (o.hcm) Object.assign(bootstrap.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config, o.hcm);
  const engine = await loadConfig(bootstrap, "the engine-overhead config");
  const table = await loadConfig(thousandRouteBootstrap(), "the 1,000-route config");
  const script = await bundleWorker(processes, ROOT, join(tmp, "engine-bench"), join(ROOT, "bench/workers/engine-bench.ts"));
  const inspectorPort = await freePort();
  const host = await startWorkerd([{ name: "bench", scriptPath: script }], { settings: readWorkerSettings(ROOT), inspectorPort, log: (l) => console.error(l) });
  try {
    const base = host.urls.get("bench")!;
    const setup = await fetch(new URL("/setup", base), { method: "POST", body: JSON.stringify({ routeTable: table.canonical, engine: engine.canonical }) });
    if (!setup.ok) throw new Error(`setup failed: ${await setup.text()}`);
    const run = async (): Promise<{ elapsedMs: number }> => (await (await fetch(new URL(`/engine?mode=engine&iterations=${iterations}`, base))).json()) as { elapsedMs: number };
    await run(); // warm-up: let V8 optimize before sampling
    await sample(inspectorPort, "bench", script, o, async () => {
      const r = await run();
      return `${iterations} requests through the engine in ${r.elapsedMs} ms: ${((r.elapsedMs * 1000) / iterations).toFixed(1)} µs/request (profiler on)`;
    });
  } finally {
    await host.dispose();
  }
}

/** The real edge Worker (as edge-http runs it) under wrk. */
async function profileEdge(processes: Processes, tmp: string, o: Options, seconds: number, path: string): Promise<void> {
  const origin = processes.start("origin", process.execPath, [join(ROOT, "bench/lib/origin-server.ts")], { cwd: ROOT });
  const port = Number((await waitForOutput(origin, /listening (\d+)/, 10_000))[1]);
  const config = await loadConfig(edgeBootstrap(smallRouteConfig("origin"), [staticCluster("origin", port)], o.hcm), "the edge-http config");
  const persistTo = join(tmp, "edge-state");
  await pushToLocalKv(config, persistTo, "legate-profile-kv");
  const script = await bundleWorker(processes, ROOT, join(tmp, "edge-bundle"));
  const settings = readWorkerSettings(ROOT);
  const inspectorPort = await freePort();
  const host = await startWorkerd([{ name: "edge", scriptPath: script, bindings: settings.vars, kvNamespaces: { LEGATE_KV: "legate-profile-kv" } }], {
    settings,
    persistTo,
    inspectorPort,
    log: (l) => console.error(l),
  });
  try {
    const url = host.urls.get("edge")!.replace(/\/$/, "") + path;
    await runWrk(processes, url, { connections: 16, threads: 1, durationS: 2, timeoutS: 5 });
    await sample(inspectorPort, "edge", script, o, async () => {
      const r = await runWrk(processes, url, { connections: 16, threads: 1, durationS: seconds, timeoutS: 5 });
      return `edge ${path}: ${Math.round(r.rps)} requests/s for ${seconds} s (profiler on)`;
    });
  } finally {
    await host.dispose();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      iterations: { type: "string", default: "20000" },
      seconds: { type: "string", default: "8" },
      path: { type: "string", default: "/small" },
      out: { type: "string" },
      hcm: { type: "string" },
      top: { type: "string", default: "40" },
    },
  });
  const target = positionals[0] ?? "engine";
  if (target !== "engine" && target !== "edge") throw new Error("usage: node bench/profile.ts engine|edge [options]");
  const o: Options = { out: values.out ?? `${target}.cpuprofile`, top: Number(values.top), hcm: values.hcm ? (JSON.parse(values.hcm) as Record<string, unknown>) : undefined };
  const processes = new Processes();
  const tmp = mkdtempSync(join(tmpdir(), "legate-profile-"));
  try {
    if (target === "engine") await profileEngine(processes, tmp, o, Number(values.iterations));
    else await profileEdge(processes, tmp, o, Number(values.seconds), values.path);
  } finally {
    await processes.stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
