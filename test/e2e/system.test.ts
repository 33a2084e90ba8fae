/**
 * The two tiers as one system, end to end (issue 6): `npm start -- --self-test` run as a user runs
 * it. It starts the demo upstreams, pushes the demo config, runtime flags and EDS endpoints to a local
 * KV, starts the edge in `wrangler dev` and the tcp tier with LEGATE_KV=local on that same KV, and
 * checks, with real HTTP requests:
 * - health: a stopped upstream is failed by the tcp tier's active check and the edge stops routing to
 *   it; restarted, traffic returns;
 * - runtime: `legate runtime set routing.traffic_shift.canary 30` sends 250-350 of 1,000 edge requests
 *   to canary; unset, none;
 * - endpoints: `legate endpoints add` reaches both tiers; `legate endpoints drain` takes the host out.
 * Here the report is checked step by step, so a failure names the step and the measured delays.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** wrangler dev's start, the health and runtime waits, 1,000 requests through wrangler dev, and stopping. */
const RUN_TIMEOUT_MS = 170_000;

function runSelfTest(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["scripts/demo.ts", "--self-test"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (out += b.toString("utf8")));
    // The demo stops its own children on SIGTERM (by process group) and exits.
    const timer = setTimeout(() => child.kill("SIGTERM"), RUN_TIMEOUT_MS - 10_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe("both tiers on one KV (npm start -- --self-test)", () => {
  it("health, runtime flags and endpoints flow through KV to both tiers", { timeout: RUN_TIMEOUT_MS }, async () => {
    const { code, out } = await runSelfTest();
    const passed = [...out.matchAll(/^ {2}PASS {2}(.+)$/gm)].map((m) => m[1]);
    const report = out.slice(out.indexOf("self-test:"));
    expect(passed, report).toEqual([
      "edge direct_response",
      "edge routes / to web (both hosts)",
      "tcp tier tcp_proxy to web",
      "edge routes /api to the EDS endpoint api-1",
      "tcp tier tcp_proxy to the EDS endpoint api-1",
      "tcp tier admin /clusters shows web's health",
      "edge admin /clusters (token)",
      "stop web-b: the tcp tier's check fails it, the edge stops sending it traffic",
      "restart web-b: traffic returns",
      "runtime flag routing.traffic_shift.canary=30: 1,000 requests at the edge",
      "unset the flag: traffic returns to web",
      "legate endpoints add api 127.0.0.1:18085: both tiers route to api-2",
      "legate status: both tiers see KV's flags, and the same health",
      "legate endpoints drain api 127.0.0.1:18084: api-1 gets no new traffic",
    ]);
    expect(out).toMatch(/self-test: 14 passed, 0 failed/);
    expect(code).toBe(0);
  });
});
