/**
 * Bundles Workers with wrangler's own bundler, offline: `wrangler deploy --dry-run --outdir <dir>`
 * builds exactly what `wrangler deploy` would upload (esbuild, the nodejs_compat handling, the
 * compatibility settings of wrangler.toml) and stops before any network call.
 *
 * - The edge Worker: the repository's wrangler.toml as it is (main = edge/src/index.ts).
 * - Bench Workers (bench/workers/*.ts): a generated wrangler.toml in the scratch directory with the
 *   same compatibility_date, compatibility_flags and keep_names as the edge, so both are built and run
 *   under the same settings.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseToml } from "../../tcp-tier/src/cli/wrangler-config.ts";
import type { Processes } from "./processes.ts";

const BUNDLE_TIMEOUT_MS = 120_000;

/** The edge's Worker settings from wrangler.toml. */
export interface WorkerSettings {
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** `[vars]` as strings. */
  vars: Record<string, string>;
  /** `keep_names` (wrangler's default: true). */
  keepNames: boolean;
}

export function readWorkerSettings(root: string): WorkerSettings {
  const toml = parseToml(readFileSync(join(root, "wrangler.toml"), "utf8"));
  const date = toml.compatibility_date;
  if (typeof date !== "string") throw new Error("wrangler.toml has no compatibility_date");
  const flags = Array.isArray(toml.compatibility_flags) ? toml.compatibility_flags.filter((f): f is string => typeof f === "string") : [];
  const vars: Record<string, string> = {};
  if (toml.vars && typeof toml.vars === "object") for (const [k, v] of Object.entries(toml.vars)) vars[k] = String(v);
  return { compatibilityDate: date, compatibilityFlags: flags, vars, keepNames: toml.keep_names !== false };
}

/**
 * Bundles one Worker and returns the path of the bundled ES module. `entry` absent: the edge Worker
 * of the repository's wrangler.toml; otherwise a bench Worker entry (absolute path).
 */
export async function bundleWorker(processes: Processes, root: string, outDir: string, entry?: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const args = [join(root, "node_modules/wrangler/bin/wrangler.js"), "deploy", "--dry-run", "--outdir", join(outDir, "dist")];
  if (entry !== undefined) {
    const s = readWorkerSettings(root);
    const toml = join(outDir, "wrangler.toml");
    writeFileSync(
      toml,
      [
        `name = "legate-bench"`,
        `main = ${JSON.stringify(entry)}`,
        `compatibility_date = ${JSON.stringify(s.compatibilityDate)}`,
        `compatibility_flags = ${JSON.stringify(s.compatibilityFlags)}`,
        `keep_names = ${s.keepNames}`,
        "",
      ].join("\n"),
    );
    args.push("--config", toml);
  }
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" };
  await processes.run("wrangler bundle", process.execPath, args, BUNDLE_TIMEOUT_MS, { cwd: root, env });
  const js = readdirSync(join(outDir, "dist")).filter((f) => f.endsWith(".js"));
  if (js.length !== 1) throw new Error(`expected one bundled module in ${outDir}/dist, found: ${js.join(", ") || "none"}`);
  return join(outDir, "dist", js[0]!);
}
