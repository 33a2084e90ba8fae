/**
 * `npm start`: Legate's demo, on this machine only (no network needed): both tiers as one system on
 * one local KV (what `wrangler dev` reads).
 *
 * 1. starts the demo upstreams (demo/upstream.ts: web-a, web-b, canary, api-1, api-2 on
 *    127.0.0.1:18081-18085) and their control server (18090: stop and start them by name);
 * 2. pushes demo/envoy-demo.yaml to local KV (.wrangler/state) and gives the EDS cluster `api` its first
 *    endpoint (`legate endpoints add api 127.0.0.1:18084`);
 * 3. starts the edge (`wrangler dev --local` on 127.0.0.1:8787, admin API token `demo-admin-token`) and
 *    the tcp tier (`legate --config-from-kv` with LEGATE_KV=local: the pushed config, listeners 10000
 *    and 10001, admin 9901; it runs the health checks and publishes them, and follows config pushes,
 *    runtime flags and endpoints);
 * 4. waits until all answer, prints what to try (the README's walkthrough), and runs until Ctrl-C.
 *
 * `npm start -- --self-test` does the same, then walks through the system itself (health, runtime
 * flags, endpoints: see {@link runSelfTest}), prints a report with the delays it measured and exits 0
 * (all passed) or 1. Every wait is bounded; every child is stopped on every way out (including
 * failures), by process group, so wrangler's workerd goes too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { runCli } from "../tcp-tier/src/cli/main.ts";
import { DEMO_CONTROL_PORT, DEMO_UPSTREAMS, type DemoUpstreams, startDemoUpstreams, UPSTREAM_GREETING } from "../demo/upstream.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONFIG = "demo/envoy-demo.yaml";
const STATE = ".wrangler/state";
const EDGE_PORT = 8787;
const TCP_PORT = 10000;
const TCP_API_PORT = 10001;
const ADMIN_PORT = 9901;
const EDGE_GREETING = "Hello from the Legate edge!";
const ADMIN_TOKEN = "demo-admin-token";
const EDGE_ADMIN = `http://127.0.0.1:${EDGE_PORT}/__legate/admin`;
/** The KV options every `legate` command of the demo passes. */
const KV = ["--local", "--persist-to", STATE];

const EDGE_START_TIMEOUT_MS = 60_000;
const TCP_START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 5_000;

const selfTest = process.argv.includes("--self-test");
const unknown = process.argv.slice(2).filter((a) => a !== "--self-test");
if (unknown.length) {
  process.stderr.write(`usage: npm start [-- --self-test]\n(unknown argument: ${unknown[0]})\n`);
  process.exit(1);
}

const say = (s: string): void => void process.stdout.write(`${s}\n`);

/** A child process in its own process group, with the tail of its output kept for error reports. */
interface Child {
  name: string;
  proc: ChildProcess;
  tail: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive: boolean;
}

const children: Child[] = [];
let upstreams: DemoUpstreams | undefined;

function startChild(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const child: Child = {
    name,
    proc,
    tail: [],
    alive: true,
    exited: new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal }))),
  };
  void child.exited.then(() => (child.alive = false));
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      child.tail.push(line);
      if (child.tail.length > 60) child.tail.shift();
      if (!selfTest) process.stdout.write(`[${name}] ${line}\n`);
    }
  };
  proc.stdout!.on("data", onData);
  proc.stderr!.on("data", onData);
  children.push(child);
  return child;
}

function killGroup(child: Child, signal: NodeJS.Signals): void {
  if (!child.alive || child.proc.pid === undefined) return;
  try {
    process.kill(-child.proc.pid, signal);
  } catch {
    // Already gone.
  }
}

let stopping: Promise<void> | undefined;
/** Set when the user asked to stop: children exiting from then on are expected, not failures. */
let shuttingDown = false;

/** Stops every child (SIGTERM to its group, SIGKILL after {@link STOP_TIMEOUT_MS}) and the upstream. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all(
      children.map(async (c) => {
        killGroup(c, "SIGTERM");
        const timer = setTimeout(() => killGroup(c, "SIGKILL"), STOP_TIMEOUT_MS);
        await c.exited;
        clearTimeout(timer);
        // Grandchildren (workerd) may outlive their parent: make sure the whole group is gone.
        killGroup({ ...c, alive: true }, "SIGKILL");
      }),
    );
    await upstreams?.close();
  })();
  return stopping;
}

// Last resort if this process dies some other way: no child may outlive the demo.
process.on("exit", () => {
  for (const c of children) killGroup({ ...c, alive: true }, "SIGKILL");
});

async function fail(message: string): Promise<never> {
  process.stderr.write(`\ndemo: ${message}\n`);
  for (const c of children) {
    if (c.tail.length) process.stderr.write(`\n--- last output of ${c.name} ---\n${c.tail.join("\n")}\n`);
  }
  await stopAll();
  process.exit(1);
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}


interface Answer {
  status: number;
  body: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers: { connection: "close", ...headers } });
  return { status: res.status, body: await res.text() };
}

/** Runs a `legate` command in-process; its output is indented under the demo's, or kept for errors. */
async function legate(args: string[], env: Record<string, string> = {}): Promise<string> {
  const out: string[] = [];
  const code = await runCli(args, { cwd: ROOT, env: { ...process.env, ...env }, stdout: (s) => void out.push(s), stderr: (s) => void out.push(s) });
  const text = out.join("");
  if (code !== 0) throw new Error(`legate ${args.join(" ")} failed (exit ${code}): ${text.trim()}`);
  return text;
}

/** Polls `url` until `ok` accepts an answer, a child dies, or the deadline passes. */
async function waitFor(what: string, url: string, ok: (a: Answer) => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    const dead = children.find((c) => !c.alive);
    if (dead && !shuttingDown) await fail(`${dead.name} exited while waiting for ${what}`);
    try {
      const a = await get(url);
      if (ok(a)) return;
      last = `HTTP ${a.status}: ${a.body.slice(0, 100).trim()}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await fail(`${what} did not come up within ${timeoutMs / 1000} s (${url}: ${last})`);
}

async function main(): Promise<void> {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      say(`\n${sig}: stopping the demo...`);
      void stopAll().then(() => process.exit(selfTest ? 1 : 0));
    });
  }

  const ports: [number, string][] = [
    ...Object.entries(DEMO_UPSTREAMS).map(([name, port]): [number, string] => [port, `the demo upstream ${name}`]),
    [DEMO_CONTROL_PORT, "the demo upstreams' control server"],
    [TCP_PORT, "the tcp tier's listener_0"],
    [TCP_API_PORT, "the tcp tier's api_tcp listener"],
    [ADMIN_PORT, "the tcp tier's admin interface"],
    [EDGE_PORT, "wrangler dev (the edge)"],
  ];
  for (const [port, what] of ports) {
    if (!(await portFree(port))) {
      await fail(`port ${port} (for ${what}) is already in use on 127.0.0.1; stop whatever holds it (a previous \`npm start\`?) and try again`);
    }
  }

  upstreams = await startDemoUpstreams();
  say(`demo upstreams: ${Object.entries(DEMO_UPSTREAMS).map(([n, p]) => `${n} on :${p}`).join(", ")}; control on :${DEMO_CONTROL_PORT}`);

  say(`pushing ${CONFIG} to local KV (${STATE}), with a clean slate for runtime flags and the api endpoints...`);
  const setup = [
    await legate(["push", ...KV, CONFIG]),
    // A previous run may have left flags and endpoints behind: start from the config's own state.
    await legate(["runtime", "unset", "routing.traffic_shift.canary", ...KV]).catch(() => ""),
    await legate(["endpoints", "set", "api", "demo/api-endpoints.yaml", ...KV]),
  ];
  process.stdout.write(setup.join("").replace(/^(?=.)/gm, "  "));

  const quietEnv: NodeJS.ProcessEnv = {
    ...process.env,
    // Keep wrangler off the network: no metrics, no update check (it runs with the banner), no
    // Request.cf download (miniflare would fetch it; its built-in placeholder is used instead).
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_HIDE_BANNER: "true",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
  };
  const edge = startChild(
    "edge",
    [
      "node_modules/wrangler/bin/wrangler.js",
      "dev",
      "--local",
      "--ip",
      "127.0.0.1",
      "--port",
      String(EDGE_PORT),
      "--persist-to",
      STATE,
      "--var",
      `LEGATE_ADMIN_TOKEN:${ADMIN_TOKEN}`,
      "--show-interactive-dev-session=false",
    ],
    quietEnv,
  );
  // The tcp tier on the same KV: runtime flags and endpoints in, health verdicts out.
  const tcpEnv = { ...process.env, LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: STATE };
  // It serves the config just pushed, and follows the next pushes (--config-from-kv), as the edge does.
  const tcp = startChild("tcp", ["bin/legate.js", "--config-from-kv", "--concurrency", "1"], tcpEnv);
  say(`started the edge (wrangler dev, pid ${edge.proc.pid}) and the tcp tier (legate, pid ${tcp.proc.pid}); waiting for them...`);

  await waitFor("the tcp tier's admin interface", `http://127.0.0.1:${ADMIN_PORT}/ready`, (a) => a.status === 200, TCP_START_TIMEOUT_MS);
  await waitFor("the tcp tier's listener_0", `http://127.0.0.1:${TCP_PORT}/`, (a) => a.status > 0, TCP_START_TIMEOUT_MS);
  await waitFor("the edge (wrangler dev)", `http://127.0.0.1:${EDGE_PORT}/hello`, (a) => a.status > 0, EDGE_START_TIMEOUT_MS);

  if (selfTest) {
    const code = await runSelfTest();
    await stopAll();
    process.exit(code);
  }

  say(`
Legate is running: the edge on http://localhost:${EDGE_PORT}, the tcp tier on :${TCP_PORT} and :${TCP_API_PORT},
its admin on :${ADMIN_PORT}, the edge's admin under ${EDGE_ADMIN}/ (token ${ADMIN_TOKEN}).
Follow the walkthrough in README.md ("A tour of the demo"), for example:

  curl localhost:${EDGE_PORT}/hello                                # the edge answers itself
  curl localhost:${EDGE_PORT}/                                     # the edge to web-a / web-b
  curl -X POST localhost:${DEMO_CONTROL_PORT}/upstreams/web-b/stop         # take a host down...
  curl localhost:${ADMIN_PORT}/clusters | grep health_flags         # ...the tcp tier's health check sees it
  npx legate runtime set routing.traffic_shift.canary 30           # 30 % of / to canary
  npx legate endpoints add api 127.0.0.1:18085                     # a new endpoint, no restart

Press Ctrl-C to stop everything.
`);

  // Run until a signal (handled above) or until a child dies on its own.
  const ended = await Promise.race(children.map((c) => c.exited.then((r) => ({ c, r }))));
  if (shuttingDown) return; // the signal handler is stopping everything and will exit
  await fail(`${ended.c.name} exited on its own (code ${ended.r.code}, signal ${ended.r.signal})`);
}

/** The demo upstream that answered (`web-a`, `canary`, ...), or a description of what came back instead. */
function answeredBy(a: Answer): string {
  const m = a.status === 200 ? new RegExp(`^${UPSTREAM_GREETING} ([a-z0-9-]+):`).exec(a.body) : null;
  return m ? m[1]! : `HTTP ${a.status}`;
}

async function who(url: string): Promise<string> {
  try {
    return answeredBy(await get(url));
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every 100 ms until `done` holds for `streak` answers in a row; returns the
 * milliseconds from the start to the first answer of that streak. Throws after `timeoutMs`.
 */
async function until(what: string, probe: () => Promise<string>, done: (answer: string) => boolean, timeoutMs: number, streak = 1): Promise<number> {
  const start = Date.now();
  let run = 0;
  let runStart = 0;
  let last = "";
  while (Date.now() - start < timeoutMs) {
    last = await probe();
    if (done(last)) {
      if (run++ === 0) runStart = Date.now() - start;
      if (run >= streak) return runStart;
    } else {
      run = 0;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s (last answer: ${last})`);
}

/** Sends `n` requests to `url`, `concurrency` at a time; counts who answered. */
async function spread(url: string, n: number, concurrency = 8): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      const by = await who(url);
      counts[by] = (counts[by] ?? 0) + 1;
    }
  }));
  return counts;
}

interface Step {
  name: string;
  run: () => Promise<string>;
}

/**
 * The self-test: the README's walkthrough, checked. The delays it reports are measured on this run;
 * the bounds are the documented ones (docs/kv-layout.md) with room for a loaded machine.
 */
async function runSelfTest(): Promise<number> {
  const edge = `http://127.0.0.1:${EDGE_PORT}`;
  const control = `http://127.0.0.1:${DEMO_CONTROL_PORT}`;
  const admin = `http://127.0.0.1:${ADMIN_PORT}`;
  const has = async (url: string, text: string, headers: Record<string, string> = {}) => {
    const a = await get(url, headers);
    if (a.status !== 200 || !a.body.includes(text)) throw new Error(`${url}: HTTP ${a.status}, body lacks "${text}": ${a.body.slice(0, 200).trim()}`);
    return "ok";
  };
  const post = async (url: string) => {
    const res = await fetch(url, { method: "POST", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (res.status !== 200) throw new Error(`POST ${url}: HTTP ${res.status}`);
    await res.text();
  };
  const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const steps: Step[] = [
    { name: "edge direct_response", run: () => has(`${edge}/hello`, EDGE_GREETING) },
    {
      name: "edge routes / to web (both hosts)",
      run: async () => {
        const c = await spread(`${edge}/`, 20, 4);
        if (c["web-a"] === undefined || c["web-b"] === undefined || c["web-a"] + c["web-b"] !== 20) throw new Error(`answers: ${JSON.stringify(c)}`);
        return JSON.stringify(c);
      },
    },
    {
      name: "tcp tier tcp_proxy to web",
      run: async () => {
        const by = await who(`http://127.0.0.1:${TCP_PORT}/`);
        if (!by.startsWith("web-")) throw new Error(`answered by ${by}`);
        return `answered by ${by}`;
      },
    },
    { name: "edge routes /api to the EDS endpoint api-1", run: () => has(`${edge}/api/x`, `${UPSTREAM_GREETING} api-1:`) },
    { name: "tcp tier tcp_proxy to the EDS endpoint api-1", run: () => has(`http://127.0.0.1:${TCP_API_PORT}/`, `${UPSTREAM_GREETING} api-1:`) },
    { name: "tcp tier admin /clusters shows web's health", run: () => has(`${admin}/clusters`, "web::127.0.0.1:18082::health_flags::healthy") },
    { name: "edge admin /clusters (token)", run: () => has(`${EDGE_ADMIN}/clusters`, "web::127.0.0.1:18082::health_flags::healthy", bearer) },
    {
      name: "stop web-b: the tcp tier's check fails it, the edge stops sending it traffic",
      run: async () => {
        await post(`${control}/upstreams/web-b/stop`);
        const tcpMs = await until("tcp tier marks web-b", async () => (await get(`${admin}/clusters`)).body, (b) => b.includes("web::127.0.0.1:18082::health_flags::/failed_active_hc"), 10_000);
        // The edge is done once 20 requests in a row are answered by web-a.
        const edgeMs = await until("edge avoids web-b", () => who(`${edge}/`), (w) => w === "web-a", 15_000, 20);
        await has(`${EDGE_ADMIN}/clusters`, "web::127.0.0.1:18082::health_flags::/failed_active_hc", bearer);
        // The edge's delay is counted from the stop, not from the tcp tier's verdict.
        return `the tcp tier failed it ${tcpMs} ms after the stop; the edge stopped routing to it ${tcpMs + edgeMs} ms after the stop (${edgeMs} ms after the verdict)`;
      },
    },
    {
      name: "restart web-b: traffic returns",
      run: async () => {
        await post(`${control}/upstreams/web-b/start`);
        const ms = await until("edge routes to web-b again", () => who(`${edge}/`), (w) => w === "web-b", 15_000);
        return `edge answered by web-b after ${ms} ms`;
      },
    },
    {
      name: "runtime flag routing.traffic_shift.canary=30: 1,000 requests at the edge",
      run: async () => {
        await legate(["runtime", "set", "routing.traffic_shift.canary", "30", ...KV]);
        const ms = await until("edge sends some traffic to canary", () => who(`${edge}/`), (w) => w === "canary", 10_000);
        const c = await spread(`${edge}/`, 1000);
        const canary = c.canary ?? 0;
        // 30 % of 1,000: the binomial standard deviation is 14.5, so 250-350 is beyond 3.4 of them.
        if (canary < 250 || canary > 350 || (c["web-a"] ?? 0) + (c["web-b"] ?? 0) + canary !== 1000) throw new Error(`answers: ${JSON.stringify(c)}`);
        return `first canary answer after ${ms} ms; split ${JSON.stringify(c)}`;
      },
    },
    {
      name: "unset the flag: traffic returns to web",
      run: async () => {
        await legate(["runtime", "unset", "routing.traffic_shift.canary", ...KV]);
        const ms = await until("edge stops sending to canary", () => who(`${edge}/`), (w) => w.startsWith("web-"), 10_000, 50);
        return `50 in a row to web after ${ms} ms`;
      },
    },
    {
      name: "legate endpoints add api 127.0.0.1:18085: both tiers route to api-2",
      run: async () => {
        await legate(["endpoints", "add", "api", "127.0.0.1:18085", ...KV]);
        const edgeMs = await until("edge reaches api-2", () => who(`${edge}/api/x`), (w) => w === "api-2", 10_000);
        const tcpMs = await until("tcp tier reaches api-2", () => who(`http://127.0.0.1:${TCP_API_PORT}/`), (w) => w === "api-2", 10_000);
        return `edge after ${edgeMs} ms, tcp tier after ${tcpMs} ms`;
      },
    },
    {
      name: "legate status: both tiers see KV's flags, and the same health",
      run: async () => {
        await legate(["runtime", "set", "routing.traffic_shift.canary", "0", ...KV]);
        const out = await until(
          "both tiers see the flag",
          () => legate(["status", ...KV, "--admin", admin, "--admin", EDGE_ADMIN], { LEGATE_ADMIN_TOKEN: ADMIN_TOKEN }).catch((e: unknown) => (e as Error).message),
          (text) => text.split("sees the KV flags").length === 3,
          10_000,
        ).then(() => legate(["status", ...KV, "--admin", admin, "--admin", EDGE_ADMIN], { LEGATE_ADMIN_TOKEN: ADMIN_TOKEN }));
        for (const want of ["routing.traffic_shift.canary=0", "cluster web: 127.0.0.1:18081 healthy; 127.0.0.1:18082 healthy"]) {
          if (!out.includes(want)) throw new Error(`status lacks "${want}":\n${out}`);
        }
        return "both admin APIs agree with KV";
      },
    },
    {
      name: "legate endpoints drain api 127.0.0.1:18084: api-1 gets no new traffic",
      run: async () => {
        await legate(["endpoints", "drain", "api", "127.0.0.1:18084", ...KV]);
        const edgeMs = await until("edge avoids api-1", () => who(`${edge}/api/x`), (w) => w === "api-2", 10_000, 20);
        const tcpMs = await until("tcp tier avoids api-1", () => who(`http://127.0.0.1:${TCP_API_PORT}/`), (w) => w === "api-2", 10_000, 20);
        return `edge after ${edgeMs} ms, tcp tier after ${tcpMs} ms`;
      },
    },
  ];
  say("\nself-test:");
  let passed = 0;
  let failed = 0;
  for (const step of steps) {
    let detail: string;
    let ok = true;
    try {
      detail = await step.run();
    } catch (e) {
      ok = false;
      detail = (e as Error).message;
    }
    if (ok) passed++;
    else failed++;
    say(`  ${ok ? "PASS" : "FAIL"}  ${step.name}\n        ${detail}`);
    if (!ok) break;
  }
  if (failed > 0) {
    for (const c of children) {
      if (c.tail.length) process.stderr.write(`\n--- last output of ${c.name} ---\n${c.tail.join("\n")}\n`);
    }
  }
  say(`self-test: ${passed} passed, ${failed} failed${passed + failed < steps.length ? `, ${steps.length - passed - failed} not run` : ""}`);
  return failed === 0 ? 0 : 1;
}

main().catch((e: unknown) => fail(`unexpected error: ${(e as Error).stack ?? String(e)}`));
