/**
 * `legate runtime set|get|list|unset` against the local state `wrangler dev` reads: the document it
 * writes is read back with a second miniflare (the edge reads the same key through its binding).
 */
import { afterAll, describe, expect, it } from "vitest";
import { parseRuntimeDocument, RUNTIME_KEY } from "../../shared/kv/layout.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { parseRuntimeArgs } from "../../tcp-tier/src/cli/runtime-commands.ts";
import { removeTempDirs, runCliCaptured, tempDir } from "./helpers.ts";

const NS = "00000000000000000000000000000000";

afterAll(() => removeTempDirs());

const legate = (dir: string, ...argv: string[]): ReturnType<typeof runCliCaptured> => runCliCaptured([...argv, "--persist-to", dir, "--namespace-id", NS], dir);

async function readBack(dir: string): Promise<string | null> {
  const t = localKvTarget({ persistTo: dir, namespaceId: NS });
  try {
    return await t.get(RUNTIME_KEY);
  } finally {
    await t.close();
  }
}

describe("legate runtime", () => {
  it("parses its arguments and refuses bad ones", () => {
    expect(parseRuntimeArgs(["set", "a.b", "30", "--remote"])).toEqual({ target: "remote", action: "set", key: "a.b", value: "30" });
    expect(parseRuntimeArgs(["list", "--persist-to", "x"])).toEqual({ target: "local", persistTo: "x", action: "list" });
    expect(parseRuntimeArgs(["--help"])).toBe("help");
    expect(() => parseRuntimeArgs(["set", "a.b"])).toThrow(/<key> <value>/);
    expect(() => parseRuntimeArgs(["get", "bad key"])).toThrow(/not a runtime key/);
    expect(() => parseRuntimeArgs(["set", "a", ""])).toThrow(/must not be empty/);
    expect(() => parseRuntimeArgs(["frob"])).toThrow(/unknown action/);
    expect(() => parseRuntimeArgs(["list", "--local", "--remote"])).toThrow(/exclude/);
    expect(() => parseRuntimeArgs(["list", "--bogus"])).toThrow();
  });

  it("set, get, list and unset write one versioned document, at most once per second", async () => {
    const dir = tempDir("legate-kv-runtime-");
    expect((await legate(dir, "runtime", "list")).stdout).toMatch(/no runtime flags/);

    const set1 = await legate(dir, "runtime", "set", "routing.traffic_shift.api", "30");
    expect(set1).toMatchObject({ code: 0, stderr: "" });
    expect(set1.stdout).toMatch(/set routing\.traffic_shift\.api=30 .*runtime version 1/);
    const set2 = await legate(dir, "runtime", "set", "upstream.base_retry_backoff_ms", "50");
    expect(set2.stdout).toMatch(/runtime version 2/);

    const doc = parseRuntimeDocument((await readBack(dir))!);
    expect(doc?.version).toBe(2);
    expect(doc?.values).toEqual({ "routing.traffic_shift.api": "30", "upstream.base_retry_backoff_ms": "50" });

    const get = await legate(dir, "runtime", "get", "routing.traffic_shift.api");
    expect(get).toMatchObject({ code: 0, stdout: "30\n" });
    const missing = await legate(dir, "runtime", "get", "nope");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/'nope' is not set/);
    expect((await legate(dir, "runtime", "set", "routing.traffic_shift.api", "30")).stdout).toMatch(/^unchanged/);

    const list = await legate(dir, "runtime", "list");
    expect(list.stdout.split("\n").slice(1)).toEqual(["routing.traffic_shift.api=30", "upstream.base_retry_backoff_ms=50", ""]);

    const unset = await legate(dir, "runtime", "unset", "routing.traffic_shift.api");
    expect(unset.stdout).toMatch(/runtime version 3/);
    const after = parseRuntimeDocument((await readBack(dir))!)!;
    expect(after.values).toEqual({ "upstream.base_retry_backoff_ms": "50" });
    // KV's one write per second per key: each write is at least 1 s after the one before.
    expect(Date.parse(after.updated_at) - Date.parse(doc!.updated_at)).toBeGreaterThanOrEqual(1000);
  }, 30_000);

  it("refuses a stored value that is not a runtime document, writing nothing", async () => {
    const dir = tempDir("legate-kv-runtime-bad-");
    const t = localKvTarget({ persistTo: dir, namespaceId: NS });
    try {
      await t.put(RUNTIME_KEY, "not json");
    } finally {
      await t.close();
    }
    const r = await legate(dir, "runtime", "set", "a", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a runtime document.*LEGATE_KV_DATA/);
    expect(await readBack(dir)).toBe("not json");
  }, 30_000);
});
