/**
 * wrk, the HTTP/1.1 load generator (Debian package `wrk`), run for a fixed duration with a fixed
 * number of connections; its summary comes back as JSON through bench/lib/wrk-report.lua.
 */
import { fileURLToPath } from "node:url";
import type { Processes } from "./processes.ts";
import type { ToolRequirement } from "./types.ts";

export const WRK: ToolRequirement = { command: "wrk", versionArgs: ["-v"], install: "sudo apt-get update && sudo apt-get install -y wrk" };

const REPORT_SCRIPT = fileURLToPath(new URL("./wrk-report.lua", import.meta.url));

export interface WrkOptions {
  /** Open connections (keep-alive), spread over `threads`. */
  connections: number;
  threads: number;
  durationS: number;
  /** Requests slower than this count as timeouts. */
  timeoutS: number;
  /** `taskset -c` list for wrk; absent: not pinned. */
  cpus?: string;
}

export interface WrkResult {
  requests: number;
  /** Requests per second over the run. */
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  /** Non-2xx/3xx answers. */
  statusErrors: number;
  /** Connect, read and write errors and timeouts. */
  socketErrors: number;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  status_errors: number;
  timeouts: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
}

/** Runs wrk against `url` (bounded: its duration plus a margin). */
export async function runWrk(processes: Processes, url: string, o: WrkOptions): Promise<WrkResult> {
  const args = ["-t", String(o.threads), "-c", String(o.connections), "-d", `${o.durationS}s`, "--timeout", `${o.timeoutS}s`, "-s", REPORT_SCRIPT, url];
  const out = await processes.run("wrk", "wrk", args, (o.durationS + 15) * 1000, o.cpus !== undefined ? { cpus: o.cpus } : {});
  const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no summary:\n${out}`);
  const j = JSON.parse(line.slice("WRK_JSON ".length)) as WrkJson;
  return {
    requests: j.requests,
    rps: j.requests / (j.duration_us / 1e6),
    p50Us: j.p50_us,
    p90Us: j.p90_us,
    p99Us: j.p99_us,
    maxUs: j.max_us,
    statusErrors: j.status_errors,
    socketErrors: j.connect_errors + j.read_errors + j.write_errors + j.timeouts,
  };
}
