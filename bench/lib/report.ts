/**
 * The run's output: a table on stdout, and bench/results/latest.json plus a dated copy.
 *
 * The results file is an array of rows (issue 7's format: scenario, metric, legate, peer_name, peer,
 * direct, ratio_to_peer, ratio_to_direct, runs), each with its own `env` (machine, tool versions,
 * commit, date), so rows from different runs can sit in one file. A run of some scenarios replaces
 * those scenarios' rows in latest.json and keeps the others. `--quick` runs write nothing: their
 * figures are for a fast look, not for comparison across commits.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunEnvironment } from "./env.ts";
import { formatNumber, summarize } from "./stats.ts";
import type { ResultRow } from "./types.ts";

export type StoredRow = ResultRow & { env: RunEnvironment };

function range(values: readonly number[] | null): string {
  if (!values || values.length === 0) return "—";
  const s = summarize(values);
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
}

function times(r: number | null): string {
  return r === null ? "—" : `${r.toFixed(2)}×`;
}

/** The table: one line per row, medians with min–max, ratios, and the target when there is one. */
export function formatTable(rows: readonly ResultRow[]): string {
  const header = ["scenario", "metric", "Legate median (min–max)", "peer", "peer median (min–max)", "direct median (min–max)", "×peer", "×direct", "target"];
  const lines = rows.map((r) => [
    r.scenario,
    r.metric,
    range(r.runs.legate),
    r.peer_name ?? "—",
    range(r.runs.peer),
    range(r.runs.direct),
    times(r.ratio_to_peer),
    times(r.ratio_to_direct),
    r.target ? `${r.target.text}: ${r.target.met ? "met" : "NOT met"}` : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(fmt)].join("\n");
}

/** The dated file name: `2025-01-31T0915Z.json` (UTC, to the minute). */
export function datedName(iso: string): string {
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z.json`;
}

/**
 * Writes latest.json (this run's rows, plus the rows of scenarios it did not run) and a dated copy.
 * Returns the paths written.
 */
export function writeResults(dir: string, rows: readonly ResultRow[], env: RunEnvironment): string[] {
  mkdirSync(dir, { recursive: true });
  const latest = join(dir, "latest.json");
  const ran = new Set(rows.map((r) => r.scenario));
  let kept: StoredRow[] = [];
  if (existsSync(latest)) {
    try {
      const old = JSON.parse(readFileSync(latest, "utf8")) as unknown;
      if (Array.isArray(old)) kept = (old as StoredRow[]).filter((r) => typeof r?.scenario === "string" && !ran.has(r.scenario));
    } catch {
      kept = [];
    }
  }
  const stored: StoredRow[] = [...rows.map((r) => ({ ...r, env })), ...kept];
  const text = `${JSON.stringify(stored, null, 2)}\n`;
  const dated = join(dir, datedName(env.date));
  writeFileSync(latest, text);
  writeFileSync(dated, text);
  return [latest, dated];
}
