/**
 * `npm start`: Legate's demo, on this machine only (no network needed).
 *
 * 1. starts the demo upstream (demo/upstream.ts) on 127.0.0.1:18080;
 * 2. pushes demo/envoy-demo.yaml to local KV (.wrangler/state, what `wrangler dev` reads);
 * 3. starts the edge (`wrangler dev --local` on 127.0.0.1:8787) and the tcp tier
 *    (`legate -c demo/envoy-demo.yaml`: listener_0 on 10000, admin on 9901);
 * 4. waits until all answer, prints what to curl, and runs until Ctrl-C, then stops everything.
 *
 * `npm start -- --self-test` does the same, then sends those requests itself, checks the answers,
 * prints a report and exits 0 (all passed) or 1. Every wait is bounded; every child is stopped on
 * every way out (including failures), by process group, so wrangler's workerd goes too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { runCli } from "../tcp-tier/src/cli/main.ts";
import { DEMO_UPSTREAM_PORT, type DemoUpstream, startUpstream, UPSTREAM_GREETING } from "../demo/upstream.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CONFIG = "demo/envoy-demo.yaml";
const STATE = ".wrangler/state";
const EDGE_PORT = 8787;
const TCP_PORT = 10000;
const ADMIN_PORT = 9901;
const EDGE_GREETING = "Hello from the Legate edge!";

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
let upstream: DemoUpstream | undefined;

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
    await upstream?.close();
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

async function get(url: string): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers: { connection: "close" } });
  return { status: res.status, body: await res.text() };
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
    [DEMO_UPSTREAM_PORT, "the demo upstream"],
    [TCP_PORT, "the tcp tier's listener_0"],
    [ADMIN_PORT, "the tcp tier's admin interface"],
    [EDGE_PORT, "wrangler dev (the edge)"],
  ];
  for (const [port, what] of ports) {
    if (!(await portFree(port))) {
      await fail(`port ${port} (for ${what}) is already in use on 127.0.0.1; stop whatever holds it (a previous \`npm start\`?) and try again`);
    }
  }

  upstream = await startUpstream(DEMO_UPSTREAM_PORT);
  say(`demo upstream on http://127.0.0.1:${upstream.port}/`);

  say(`pushing ${CONFIG} to local KV (${STATE})...`);
  const pushOut: string[] = [];
  const pushed = await runCli(["push", "--local", "--persist-to", STATE, CONFIG], {
    cwd: ROOT,
    stdout: (s) => void pushOut.push(s),
    stderr: (s) => void pushOut.push(s),
  });
  process.stdout.write(pushOut.map((s) => s.replace(/^(?=.)/gm, "  ")).join(""));
  if (pushed !== 0) await fail(`legate push failed (exit ${pushed})`);

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
      "--show-interactive-dev-session=false",
    ],
    quietEnv,
  );
  const tcp = startChild("tcp", ["bin/legate.js", "-c", CONFIG], process.env);
  say(`started the edge (wrangler dev, pid ${edge.proc.pid}) and the tcp tier (legate, pid ${tcp.proc.pid}); waiting for them...`);

  await waitFor("the tcp tier's admin interface", `http://127.0.0.1:${ADMIN_PORT}/ready`, (a) => a.status === 200, TCP_START_TIMEOUT_MS);
  await waitFor("the tcp tier's listener_0", `http://127.0.0.1:${TCP_PORT}/`, (a) => a.status > 0, TCP_START_TIMEOUT_MS);
  await waitFor("the edge (wrangler dev)", `http://127.0.0.1:${EDGE_PORT}/hello`, (a) => a.status > 0, EDGE_START_TIMEOUT_MS);

  if (selfTest) {
    const code = await runSelfTest();
    await stopAll();
    process.exit(code);
  }

  const tries: [string, string][] = [
    [`curl localhost:${EDGE_PORT}/hello`, "the edge answers itself (direct_response)"],
    [`curl localhost:${EDGE_PORT}/anything`, "the edge routes to the demo upstream"],
    [`curl localhost:${TCP_PORT}/`, "the tcp tier (tcp_proxy on listener_0) to the demo upstream"],
    [`curl localhost:${ADMIN_PORT}/stats`, "the tcp tier's admin interface (also /ready, /clusters, /server_info)"],
  ];
  const width = Math.max(...tries.map(([c]) => c.length)) + 2;
  say(`
Legate is running. Try:

${tries.map(([c, what]) => `  ${c.padEnd(width)}# ${what}`).join("\n")}

Change ${CONFIG} and push it again with \`npx legate push ${CONFIG}\`: the edge picks it up
within a second, no restart. Press Ctrl-C to stop everything.
`);

  // Run until a signal (handled above) or until a child dies on its own.
  const ended = await Promise.race(children.map((c) => c.exited.then((r) => ({ c, r }))));
  if (shuttingDown) return; // the signal handler is stopping everything and will exit
  await fail(`${ended.c.name} exited on its own (code ${ended.r.code}, signal ${ended.r.signal})`);
}

interface Check {
  name: string;
  url: string;
  expect: (a: Answer) => string | undefined;
}

async function runSelfTest(): Promise<number> {
  const has = (text: string) => (a: Answer) =>
    a.status !== 200 ? `HTTP ${a.status}: ${a.body.slice(0, 160).trim()}` : a.body.includes(text) ? undefined : `body lacks "${text}": ${a.body.slice(0, 160).trim()}`;
  const checks: Check[] = [
    { name: "edge direct_response", url: `http://127.0.0.1:${EDGE_PORT}/hello`, expect: has(EDGE_GREETING) },
    { name: "edge route to upstream", url: `http://127.0.0.1:${EDGE_PORT}/via-edge`, expect: has(`${UPSTREAM_GREETING}: GET /via-edge`) },
    { name: "tcp tier tcp_proxy", url: `http://127.0.0.1:${TCP_PORT}/via-tcp`, expect: has(`${UPSTREAM_GREETING}: GET /via-tcp`) },
    { name: "admin /ready", url: `http://127.0.0.1:${ADMIN_PORT}/ready`, expect: has("LIVE") },
    { name: "admin /stats", url: `http://127.0.0.1:${ADMIN_PORT}/stats`, expect: has("cluster.demo_upstream.") },
  ];
  say("\nself-test:");
  let passed = 0;
  let failed = 0;
  for (const c of checks) {
    let problem: string | undefined;
    try {
      problem = c.expect(await get(c.url));
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem === undefined) passed++;
    else failed++;
    say(`  ${problem === undefined ? "PASS" : "FAIL"}  ${c.name}  (${c.url})${problem === undefined ? "" : `\n        ${problem}`}`);
  }
  if (failed > 0) {
    for (const c of children) {
      if (c.tail.length) process.stderr.write(`\n--- last output of ${c.name} ---\n${c.tail.join("\n")}\n`);
    }
  }
  say(`self-test: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().catch((e: unknown) => fail(`unexpected error: ${(e as Error).stack ?? String(e)}`));
