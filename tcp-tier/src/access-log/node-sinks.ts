/**
 * The tcp tier's access log sinks: `envoy.access_loggers.stdout` / `stderr` write to the process
 * streams, `envoy.access_loggers.file` appends to a file. As Envoy's access log manager does, one file is
 * opened once per path for the life of the process and shared by every logger (and config version)
 * naming it; writes are asynchronous and kept in order by the stream.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { AccessLogSinks } from "../../../shared/access-log/sinks.ts";
import type { Logger } from "../../../shared/log.ts";

const files = new Map<string, WriteStream>();

function openFile(path: string, logger?: Logger): WriteStream {
  let stream = files.get(path);
  if (!stream) {
    stream = createWriteStream(path, { flags: "a" });
    // A log file that cannot be written must not take the process down: report it once and drop entries.
    stream.on("error", (err) => {
      logger?.warn(`access log ${path}: ${err.message}`);
      files.delete(path);
    });
    files.set(path, stream);
  }
  return stream;
}

/** Sinks writing to stdout, stderr and files; `logger` hears about files that cannot be written. */
export function nodeAccessLogSinks(logger?: Logger): AccessLogSinks {
  return {
    stdout: (entry) => void process.stdout.write(entry),
    stderr: (entry) => void process.stderr.write(entry),
    file(path) {
      const stream = openFile(path, logger);
      return (entry) => {
        if (!stream.destroyed) stream.write(entry);
      };
    },
  };
}
