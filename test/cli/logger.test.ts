import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, formatLogLine } from "../../tcp-tier/src/cli/logger.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("logger", () => {
  it("formats lines as Envoy does: [date time.ms][pid][level][name] message", () => {
    const d = new Date(2026, 10, 24, 6, 45, 1, 23);
    expect(formatLogLine(d, 4242, "info", "main", "hello")).toBe("[2026-11-24 06:45:01.023][4242][info][main] hello\n");
  });

  it("drops lines below the level and uses Envoy's level names", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "warning", write: (l) => void lines.push(l), pid: 1, now: () => new Date(2026, 0, 2, 3, 4, 5, 6) });
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.critical("c");
    expect(lines).toEqual([
      "[2026-01-02 03:04:05.006][1][warning][main] w\n",
      "[2026-01-02 03:04:05.006][1][error][main] e\n",
      "[2026-01-02 03:04:05.006][1][critical][main] c\n",
    ]);
    log.level = "trace";
    log.trace("now");
    expect(lines.at(-1)).toContain("[trace][main] now");
    log.level = "off";
    log.critical("silent");
    expect(lines).toHaveLength(4);
  });

  it("appends to --log-path and not to stderr", () => {
    const dir = mkdtempSync(join(tmpdir(), "legate-log-"));
    dirs.push(dir);
    const path = join(dir, "legate.log");
    const written: string[] = [];
    const a = createLogger({ level: "info", path, write: (l) => void written.push(l) });
    a.info("first");
    a.close();
    const b = createLogger({ level: "info", path, write: (l) => void written.push(l) });
    b.error("second");
    b.close();
    b.error("after close is dropped");
    const text = readFileSync(path, "utf8");
    expect(text).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[info\]\[main\] first\n.*\[error\]\[main\] second\n$/);
    expect(written).toEqual([]);
  });

  it("fails with a stable code when the log file cannot be opened", () => {
    expect(() => createLogger({ level: "info", path: "/nonexistent-dir/x/legate.log" })).toThrow(
      expect.objectContaining({ code: "LEGATE_LOG_PATH" }),
    );
  });
});
