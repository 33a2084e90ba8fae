/**
 * The tcp tier's logger: Envoy's default line format, to stderr or to `--log-path`.
 *
 * `[2026-11-24 06:45:01.123][1234][info][main] message` — local time with milliseconds, the process
 * id, the level name (Envoy's: trace, debug, info, warning, error, critical) and the logger name.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { LogLevel, Logger } from "../../../shared/log.ts";

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warning: 3, error: 4, critical: 5, off: 6 };

/** {@link Logger} plus Envoy's two outer levels and a way to release the log file. */
export interface CliLogger extends Logger {
  trace(msg: string): void;
  critical(msg: string): void;
  /** Closes the log file, if one was opened. Called once, when the process is about to exit. */
  close(): void;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Append to this file (created if missing). Without it, lines go to `write`. */
  path?: string;
  /** Where lines go when there is no `path` (default: process.stderr). */
  write?: (line: string) => void;
  /** The `[name]` field (default `main`). */
  name?: string;
  /** Default: process.pid. */
  pid?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Formats one log line (with its trailing newline) in Envoy's default format. */
export function formatLogLine(date: Date, pid: number, level: Exclude<LogLevel, "off">, name: string, msg: string): string {
  const stamp =
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  return `[${stamp}][${pid}][${level}][${name}] ${msg}\n`;
}

/**
 * Creates the logger. Throws (code `LEGATE_LOG_PATH`) when `path` cannot be opened for appending.
 * Writes are synchronous so that nothing logged before a crash or `process.exit` is lost.
 */
export function createLogger(opts: LoggerOptions): CliLogger {
  const name = opts.name ?? "main";
  const pid = opts.pid ?? process.pid;
  const now = opts.now ?? (() => new Date());
  let fd: number | undefined;
  if (opts.path !== undefined) {
    try {
      fd = openSync(opts.path, "a");
    } catch (e) {
      const err = new Error(`cannot open log file '${opts.path}': ${(e as Error).message}`) as Error & { code: string };
      err.code = "LEGATE_LOG_PATH";
      throw err;
    }
  }
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  let threshold = RANK[opts.level];
  let level = opts.level;

  const emit = (lvl: Exclude<LogLevel, "off">, msg: string): void => {
    if (RANK[lvl] < threshold) return;
    const line = formatLogLine(now(), pid, lvl, name, msg);
    if (opts.path === undefined) write(line);
    else if (fd !== undefined) writeSync(fd, line);
  };

  return {
    get level(): LogLevel {
      return level;
    },
    set level(l: LogLevel) {
      level = l;
      threshold = RANK[l];
    },
    trace: (m) => emit("trace", m),
    debug: (m) => emit("debug", m),
    info: (m) => emit("info", m),
    warn: (m) => emit("warning", m),
    error: (m) => emit("error", m),
    critical: (m) => emit("critical", m),
    close() {
      if (fd !== undefined) {
        closeSync(fd);
        fd = undefined;
      }
    },
  };
}
