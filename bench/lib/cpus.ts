/**
 * Core pinning and CPU accounting (Linux).
 *
 * With two or more cores and `taskset` on PATH, the proxy under test (workerd, later the tcp tier and
 * its peers) gets a core of its own, and the load generator and the origin share another (three or
 * more cores: one each). Subject and peer get the same cores, so neither gets more CPU than the other;
 * "direct" runs the client and the origin on the same cores they have in the proxied runs.
 */
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { readdirSync, readFileSync } from "node:fs";

export interface CorePlan {
  /** `taskset -c` lists. */
  client: string;
  origin: string;
  proxy: string;
  /** How the cores are used, for the results and docs. */
  describe: string;
}

export function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The pinning plan for this machine, or null (one core, or no taskset): then nothing is pinned. */
export function planCores(cpus = availableParallelism()): CorePlan | null {
  if (cpus < 2 || !hasTaskset()) return null;
  if (cpus === 2) return { client: "0", origin: "0", proxy: "1", describe: "proxy on core 1; load generator and origin on core 0" };
  return { client: "0", origin: "2", proxy: "1", describe: "proxy on core 1; load generator on core 0; origin on core 2" };
}

/** Pins every thread of a running process (`taskset -a -p -c`). */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}

/** Kernel clock ticks per second (utime/stime unit in /proc). */
let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far, all threads (from /proc/<pid>/stat). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may contain spaces) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** The pids of this process's direct children whose command name is `comm` (e.g. the workerd miniflare started). */
export function childPidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    let children = "";
    try {
      children = readFileSync(`/proc/${process.pid}/task/${tid}/children`, "utf8");
    } catch {
      continue;
    }
    for (const p of children.split(" ").filter(Boolean).map(Number)) {
      try {
        if (readFileSync(`/proc/${p}/comm`, "utf8").trim() === comm) pids.push(p);
      } catch {
        // Exited meanwhile.
      }
    }
  }
  return pids;
}
