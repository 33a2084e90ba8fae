/** The machine and tool versions a run was measured with, recorded with every result row. */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism, cpus, release } from "node:os";
import { join } from "node:path";
import type { ToolRequirement } from "./types.ts";

export interface RunEnvironment {
  /** ISO time the run started. */
  date: string;
  commit: string | null;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean | null;
  cpu_count: number;
  cpu_model: string;
  os: string;
  kernel: string;
  /** How processes were pinned, or why not. */
  pinning: string;
  quick: boolean;
  /** Tool → version string. */
  versions: Record<string, string>;
}

function firstLine(s: string): string {
  return s.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
}

/** The first line a tool prints for its version arguments (stdout or stderr), or undefined when it is not on PATH. */
export function toolVersion(command: string, args: readonly string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return undefined;
  return firstLine(`${r.stdout ?? ""}\n${r.stderr ?? ""}`) || "(unknown version)";
}

/** True when `tool.command` is on PATH. */
export function hasTool(tool: ToolRequirement): boolean {
  return toolVersion(tool.command, tool.versionArgs) !== undefined;
}

function packageVersion(root: string, name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "(not installed)";
  }
}

function git(root: string, args: string[]): string | null {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function osName(): string {
  if (!existsSync("/etc/os-release")) return process.platform;
  const m = readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]*)"?/m);
  return m?.[1] ?? process.platform;
}

export function collectEnvironment(root: string, quick: boolean, pinning: string): RunEnvironment {
  const commit = git(root, ["rev-parse", "HEAD"]);
  const status = git(root, ["status", "--porcelain"]);
  return {
    date: new Date().toISOString(),
    commit,
    dirty: status === null ? null : status !== "",
    cpu_count: availableParallelism(),
    cpu_model: cpus()[0]?.model.trim() ?? "unknown",
    os: osName(),
    kernel: release(),
    pinning,
    quick,
    versions: {
      node: process.version,
      workerd: packageVersion(root, "workerd"),
      miniflare: packageVersion(root, "miniflare"),
      wrangler: packageVersion(root, "wrangler"),
      taskset: toolVersion("taskset", ["-V"]) ?? "(not installed)",
    },
  };
}
