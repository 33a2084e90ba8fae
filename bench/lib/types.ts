/**
 * The harness's contracts: a {@link Scenario} produces {@link ResultRow}s; bench/run.ts selects
 * scenarios, runs them one after the other, prints the table and writes bench/results/.
 *
 * Adding a scenario (issue 7's tcp-bulk, tcp-rr, redis, udp, postgres, memory): write
 * bench/scenarios/<name>.ts exporting a Scenario, list it in bench/scenarios/index.ts, declare the
 * tools it needs in `requires` (the harness checks them and skips only that scenario, printing the
 * install command), start every process through `ctx.processes` (stopped on every way out), and
 * return one row per figure with the peer and direct figures measured in the same invocation.
 */
import type { CorePlan } from "./cpus.ts";
import type { Processes } from "./processes.ts";

/** A command-line tool a scenario needs (wrk, h2load, haproxy, redis-benchmark, ...). */
export interface ToolRequirement {
  /** The executable looked up on PATH. */
  command: string;
  /** Arguments that print its version (first line kept), e.g. `["-v"]`. */
  versionArgs: string[];
  /** The exact command that installs it on Debian, printed when it is missing. */
  install: string;
}

/** What a scenario gets from the harness. */
export interface ScenarioContext {
  /** `--quick`: a few seconds per scenario, fewer runs; figures for a fast look, not for the record. */
  readonly quick: boolean;
  /** Progress lines (stderr), so stdout keeps the table. */
  log(line: string): void;
  /** Starts child processes; the harness stops whatever is still running when the scenario ends. */
  readonly processes: Processes;
  /** Which cores the client, the origin and the proxy run on (or null: no pinning). */
  readonly cores: CorePlan | null;
  /** A scratch directory for this run (removed at the end). */
  readonly tmpDir: string;
  /** Repository root (absolute, with a trailing slash). */
  readonly root: string;
  /** Records a tool version for the results (`name` → first line of its version output). */
  recordVersion(name: string, version: string): void;
  /**
   * Registers a cleanup (dispose a miniflare, close a server) that the harness runs when the scenario
   * ends, however it ends (latest registered first), and on Ctrl-C.
   */
  defer(cleanup: () => Promise<void> | void): void;
}

export interface Scenario {
  /** Kebab-case; what `npm run bench -- <name>` selects. */
  readonly name: string;
  /** One line for `--list` and the report. */
  readonly description: string;
  /** Tools that must be on PATH; when one is missing the scenario is skipped with the install command. */
  readonly requires?: readonly ToolRequirement[];
  run(ctx: ScenarioContext): Promise<ResultRow[]>;
}

/** The raw per-run values behind a row, in run order, so medians and ranges can be recomputed. */
export interface RowRuns {
  legate: number[];
  peer: number[] | null;
  direct: number[] | null;
}

/**
 * One figure (issue 7's results format). `legate`, `peer` and `direct` are medians over `runs`;
 * ratios are ratios of those medians. Fields that do not apply are null.
 */
export interface ResultRow {
  scenario: string;
  /** What is measured and how, with its unit, e.g. `requests/s, 16 KiB body`. */
  metric: string;
  legate: number;
  peer_name: string | null;
  peer: number | null;
  direct: number | null;
  ratio_to_peer: number | null;
  ratio_to_direct: number | null;
  runs: RowRuns;
  /** `higher` when a larger figure is better (throughput), `lower` for times and costs. */
  better: "higher" | "lower";
  /** A target this figure is held to (issue 7), and whether this run met it; absent when none. */
  target?: { text: string; met: boolean };
}
