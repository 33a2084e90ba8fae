/**
 * Access log filters (`AccessLog.filter`), compiled once per config into predicates over a finished
 * stream: `status_code_filter` and `duration_filter` (comparison EQ/GE/LE against a value that a runtime
 * key may override, as Envoy's RuntimeUInt32), `and_filter`, `or_filter` and `response_flag_filter`.
 */
import type { AccessLogFilterModel } from "../config/model.ts";
import type { AccessLogRecord } from "./record.ts";

/** True when the entry must be written. */
export type AccessLogPredicate = (record: AccessLogRecord) => boolean;

/** Reads a runtime value (Envoy's runtime); undefined when the key is not set. */
export type RuntimeLookup = (key: string) => string | number | boolean | undefined;

function comparison(op: "EQ" | "GE" | "LE", value: number, runtimeKey: string, runtime: RuntimeLookup | undefined, read: (r: AccessLogRecord) => number): AccessLogPredicate {
  const target = (): number => {
    const v = runtime?.(runtimeKey);
    const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined;
    return n ?? value;
  };
  switch (op) {
    case "EQ":
      return (r) => read(r) === target();
    case "GE":
      return (r) => read(r) >= target();
    case "LE":
      return (r) => read(r) <= target();
  }
}

export function compileAccessLogFilter(model: AccessLogFilterModel, runtime?: RuntimeLookup): AccessLogPredicate {
  switch (model.kind) {
    case "status_code":
      return comparison(model.op, model.value, model.runtimeKey, runtime, (r) => r.responseCode ?? 0);
    case "duration":
      // Envoy compares the whole stream's duration in milliseconds.
      return comparison(model.op, model.value, model.runtimeKey, runtime, (r) => Math.floor(r.durationMs ?? 0));
    case "and": {
      const all = model.filters.map((f) => compileAccessLogFilter(f, runtime));
      return (r) => all.every((p) => p(r));
    }
    case "or": {
      const any = model.filters.map((f) => compileAccessLogFilter(f, runtime));
      return (r) => any.some((p) => p(r));
    }
    case "response_flag": {
      // No flags listed: any flag at all passes.
      if (model.flags.length === 0) return (r) => r.responseFlags.length > 0;
      const wanted = new Set(model.flags);
      return (r) => r.responseFlags.some((f) => wanted.has(f));
    }
  }
}
