/**
 * `npm run bench`: Legate's benchmarks (docs/performance.md).
 *
 *   npm run bench                      every scenario
 *   npm run bench -- --quick           every scenario, briefly (a fast look; writes no results)
 *   npm run bench -- <scenario...>     some scenarios (their rows replace theirs in latest.json)
 *   npm run bench -- --list            the scenarios
 *
 * Prints a table on stdout (progress goes to stderr) and writes bench/results/latest.json and a
 * dated copy. A scenario whose tools are missing is skipped with the command that installs them; the
 * others still run. Exit status 1 when a scenario failed, else 0. Every process a scenario starts is
 * stopped when it ends, on failure, and on Ctrl-C.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { planCores } from "./lib/cpus.ts";
import { collectEnvironment, hasTool, toolVersion } from "./lib/env.ts";
import { Processes } from "./lib/processes.ts";
import { formatTable, writeResults } from "./lib/report.ts";
import type { ResultRow, Scenario, ScenarioContext } from "./lib/types.ts";
import { SCENARIOS } from "./scenarios/index.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS_DIR = join(ROOT, "bench", "results");
const CLEANUP_TIMEOUT_MS = 15_000;

const USAGE = `usage: npm run bench [-- [--quick] [scenario...]]
       npm run bench -- --list
scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`;

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function parseArgs(argv: readonly string[]): { quick: boolean; list: boolean; selected: Scenario[] } {
  let quick = false;
  let list = false;
  const names: string[] = [];
  for (const a of argv) {
    if (a === "--quick") quick = true;
    else if (a === "--list") list = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith("-")) fail(`unknown option ${a}`);
    else names.push(a);
  }
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) fail(`unknown scenario ${unknown.join(", ")}`);
  const selected = names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : [...SCENARIOS];
  return { quick, list, selected };
}

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

/** Runs cleanups newest first, each bounded; failures are reported, not thrown. */
async function runCleanups(cleanups: (() => Promise<void> | void)[]): Promise<void> {
  while (cleanups.length) {
    const c = cleanups.pop()!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([Promise.resolve().then(c), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("timed out")), CLEANUP_TIMEOUT_MS)))]);
    } catch (e) {
      log(`cleanup failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function main(): Promise<number> {
  const { quick, list, selected } = parseArgs(process.argv.slice(2));
  if (list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(18)} ${s.description}\n`);
    return 0;
  }
  const cores = planCores();
  const pinning = cores ? `taskset: ${cores.describe}` : "none (fewer than 2 cores, or taskset missing)";
  const env = collectEnvironment(ROOT, quick, pinning);
  const tmpDir = mkdtempSync(join(tmpdir(), "legate-bench-"));
  const processes = new Processes();
  const cleanups: (() => Promise<void> | void)[] = [];

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`\n${signal}: stopping everything`);
    processes.killAllNow();
    void runCleanups(cleanups).finally(() => {
      rmSync(tmpDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  // Whatever ends the process (miniflare's own signal handling exits it too), no child outlives it.
  process.on("exit", () => {
    processes.killAllNow();
    rmSync(tmpDir, { recursive: true, force: true });
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  log(`legate bench${quick ? " (quick)" : ""}: ${selected.map((s) => s.name).join(", ")}`);
  log(`${env.cpu_count} CPUs (${env.cpu_model}), node ${env.versions.node}, workerd ${env.versions.workerd}; pinning: ${pinning}`);

  const rows: ResultRow[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  for (const scenario of selected) {
    const missing = (scenario.requires ?? []).filter((t) => !hasTool(t));
    if (missing.length) {
      const msg = `${scenario.name}: SKIPPED, ${missing.map((t) => `\`${t.command}\``).join(", ")} not found; install with: ${[...new Set(missing.map((t) => t.install))].join(" && ")}`;
      log(msg);
      skipped.push(msg);
      continue;
    }
    for (const t of scenario.requires ?? []) env.versions[t.command] = toolVersion(t.command, t.versionArgs) ?? "(unknown)";
    const ctx: ScenarioContext = {
      quick,
      log,
      processes,
      cores,
      tmpDir,
      root: ROOT,
      recordVersion: (name, version) => void (env.versions[name] = version),
      defer: (c) => void cleanups.push(c),
    };
    const started = performance.now();
    log(`\n== ${scenario.name}: ${scenario.description}`);
    try {
      const got = await scenario.run(ctx);
      rows.push(...got);
      log(`== ${scenario.name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (e) {
      const msg = `${scenario.name}: FAILED: ${e instanceof Error ? e.message : String(e)}`;
      log(msg);
      failed.push(msg);
    } finally {
      await runCleanups(cleanups);
      await processes.stopAll();
    }
  }
  rmSync(tmpDir, { recursive: true, force: true });

  process.stdout.write(rows.length ? `\n${formatTable(rows)}\n` : "\n(no figures)\n");
  process.stdout.write(`\n${env.cpu_count} CPUs (${env.cpu_model}); ${pinning}; ${Object.entries(env.versions).map(([k, v]) => `${k} ${v}`).join("; ")}\n`);
  for (const s of [...skipped, ...failed]) process.stdout.write(`${s}\n`);
  if (quick) process.stdout.write("--quick: results not written (quick figures are not for comparison)\n");
  else if (rows.length) for (const p of writeResults(RESULTS_DIR, rows, env)) process.stdout.write(`wrote ${p}\n`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
