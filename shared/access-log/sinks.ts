/**
 * Where access log entries go. Each tier provides its sinks: the edge writes stdout/stderr entries with
 * `console.log` / `console.error` (Workers logs, `wrangler tail`) and has no files; the tcp tier writes
 * to the process streams and appends to files.
 */

/** Receives formatted entries (each as formatted, usually ending with a newline). Called synchronously. */
export type AccessLogSink = (entry: string) => void;

export interface AccessLogSinks {
  /** `envoy.access_loggers.stdout`. */
  stdout: AccessLogSink;
  /** `envoy.access_loggers.stderr`. */
  stderr: AccessLogSink;
  /**
   * `envoy.access_loggers.file`: opens (once per config version) the sink appending to `path`.
   * Absent in a tier without files: a config with a file logger is then refused.
   */
  file?(path: string): AccessLogSink;
}

/** `console.log` adds its own newline: drop the entry's last one. */
const line = (entry: string) => (entry.endsWith("\n") ? entry.slice(0, -1) : entry);

/** The console as stdout and stderr, and no files: what the edge has. */
export const consoleSinks: AccessLogSinks = {
  stdout: (entry) => console.log(line(entry)),
  stderr: (entry) => console.error(line(entry)),
};
