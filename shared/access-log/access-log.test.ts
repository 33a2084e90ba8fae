import { mkdtempSync, readFileSync, rmSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AccessLogModel } from "../config/model.ts";
import { createAccessLogs } from "./access-log.ts";
import type { AccessLogRecord } from "./record.ts";

const rec = (over: Partial<AccessLogRecord> = {}): AccessLogRecord => ({ startTime: 0, durationMs: 50, responseCode: 200, responseFlags: [], bytesReceived: 0, bytesSent: 0, ...over });
const text = (t: string): AccessLogModel["format"] => ({ kind: "text", text: t, omitEmptyValues: false });

describe("createAccessLogs", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("returns nothing to do when there is no logger", () => {
    expect(createAccessLogs([], { sinks: { stdout() {}, stderr() {} } })).toBeUndefined();
  });

  it("runs each logger's filter, with runtime values overriding comparison values", () => {
    const out: string[] = [];
    const runtime = new Map<string, string | number>([["log.min", 500]]);
    const logs = createAccessLogs(
      [
        { name: "errors", sink: { kind: "stdout" }, format: text("err %RESPONSE_CODE%"), filter: { kind: "status_code", op: "GE", value: 400, runtimeKey: "log.min" } },
        { name: "slow", sink: { kind: "stderr" }, format: text("slow %DURATION%"), filter: { kind: "duration", op: "GE", value: 100, runtimeKey: "log.slow" } },
        { name: "either", sink: { kind: "stdout" }, format: text("or %RESPONSE_CODE%"), filter: { kind: "or", filters: [{ kind: "response_flag", flags: [] }, { kind: "status_code", op: "EQ", value: 204, runtimeKey: "x" }] } },
      ],
      { sinks: { stdout: (l) => void out.push(l), stderr: (l) => void out.push(l) }, runtime: (k) => runtime.get(k) },
    )!;
    logs.log(rec({ responseCode: 404 }));
    logs.log(rec({ responseCode: 503, durationMs: 150.9, responseFlags: ["UF"] }));
    logs.log(rec({ responseCode: 204 }));
    expect(out).toEqual(["err 503", "slow 150", "or 503", "or 204"]);
  });

  it("writes through a tier's file sink (the tcp tier appends to the path)", () => {
    dir = mkdtempSync(join(tmpdir(), "legate-access-log-"));
    const path = join(dir, "access.log");
    const logs = createAccessLogs([{ name: "envoy.access_loggers.file", sink: { kind: "file", path }, format: text("%RESPONSE_CODE% %BYTES_SENT%\n") }], {
      sinks: { stdout() {}, stderr() {}, file: (p) => (entry) => appendFileSync(p, entry) },
    })!;
    logs.log(rec({ bytesSent: 12 }));
    logs.log(rec({ responseCode: 502 }));
    expect(readFileSync(path, "utf8")).toBe("200 12\n502 0\n");
  });

  it("refuses a file logger in a tier without files, and a format that does not compile", () => {
    const sinks = { stdout() {}, stderr() {} };
    expect(() => createAccessLogs([{ name: "f", sink: { kind: "file", path: "/tmp/x" }, format: text("x") }], { sinks, path: "hcm.access_log" }))
      .toThrow(/hcm\.access_log\[0\].*cannot write files/);
    expect(() => createAccessLogs([{ name: "s", sink: { kind: "stdout" }, format: text("%NOPE%") }], { sinks })).toThrow(/unknown command operator %NOPE%/);
  });

  it("keeps logging to the other loggers when one sink throws", () => {
    const out: string[] = [];
    const logs = createAccessLogs(
      [{ name: "a", sink: { kind: "stderr" }, format: text("a") }, { name: "b", sink: { kind: "stdout" }, format: text("b") }],
      { sinks: { stderr: () => { throw new Error("disk full"); }, stdout: (l) => void out.push(l) } },
    )!;
    logs.log(rec());
    expect(out).toEqual(["b"]);
  });
});
