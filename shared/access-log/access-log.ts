/**
 * The access logs of one HCM (or, later, one tcp_proxy), built once per config version from the
 * compiled model: each logger's format compiled into segment functions, its filter into a predicate, its
 * sink opened. Per finished stream, {@link AccessLogs.log} runs every logger whose filter passes.
 */
import { ConfigError } from "../config/issues.ts";
import type { AccessLogModel } from "../config/model.ts";
import { compileAccessLogFilter, type AccessLogPredicate, type RuntimeLookup } from "./filter.ts";
import { compileJsonFormat, compileTextFormat, type FormatIssue, type Formatter } from "./format.ts";
import type { AccessLogRecord } from "./record.ts";
import type { AccessLogSink, AccessLogSinks } from "./sinks.ts";

export interface AccessLogOptions {
  sinks: AccessLogSinks;
  /** `%HOSTNAME%`. Default unset (`-`). */
  hostname?: string;
  /** Runtime values that override filter comparison values. */
  runtime?: RuntimeLookup;
  /** JSON path of the `access_log` list, for config errors. Default `access_log`. */
  path?: string;
}

export interface AccessLogs {
  /** Number of loggers (never 0: {@link createAccessLogs} returns undefined then). */
  readonly count: number;
  /** Writes the entry of one finished stream to every logger whose filter passes. Never throws. */
  log(record: AccessLogRecord): void;
}

/** Compiles a logger's format (for the engine, and for compile-time checks of the config). */
export function compileAccessLogFormat(model: AccessLogModel, hostname?: string): { format: Formatter; issues: FormatIssue[] } {
  const f = model.format;
  return f.kind === "text"
    ? compileTextFormat(f.text, { hostname, omitEmptyValues: f.omitEmptyValues })
    : compileJsonFormat(f.json, f.typed, { hostname, omitEmptyValues: f.omitEmptyValues });
}

/**
 * Builds the loggers; undefined when there are none (so the engine skips all access log work). Throws a
 * ConfigError for a format that does not compile or a file logger in a tier without files.
 */
export function createAccessLogs(models: readonly AccessLogModel[], options: AccessLogOptions): AccessLogs | undefined {
  if (models.length === 0) return undefined;
  const base = options.path ?? "access_log";
  const issues: ConstructorParameters<typeof ConfigError>[0] = [];
  const loggers: { format: Formatter; filter?: AccessLogPredicate; sink: AccessLogSink }[] = [];
  models.forEach((m, i) => {
    const path = `${base}[${i}]`;
    const { format, issues: formatIssues } = compileAccessLogFormat(m, options.hostname);
    for (const fi of formatIssues) issues.push({ kind: fi.kind, path, message: fi.message });
    let sink: AccessLogSink | undefined;
    if (m.sink.kind === "file") {
      if (!options.sinks.file) issues.push({ kind: "unsupported", path, message: `${m.name}: this tier cannot write files (a Worker has no file system); use envoy.access_loggers.stdout` });
      else sink = options.sinks.file(m.sink.path);
    } else {
      sink = options.sinks[m.sink.kind];
    }
    if (sink) loggers.push({ format, sink, filter: m.filter ? compileAccessLogFilter(m.filter, options.runtime) : undefined });
  });
  if (issues.length) throw new ConfigError(issues);
  return {
    count: loggers.length,
    log(record) {
      for (const l of loggers) {
        try {
          if (l.filter && !l.filter(record)) continue;
          l.sink(l.format(record));
        } catch {
          // A failing sink must not take the others (or the stream) down; there is no one left to tell.
        }
      }
    },
  };
}
