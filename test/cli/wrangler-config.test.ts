import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findWranglerConfig, parseToml, readWranglerConfig, stripJsonc } from "../../tcp-tier/src/cli/wrangler-config.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "legate-wrangler-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("wrangler config reader", () => {
  it("reads the project's own wrangler.toml", () => {
    const c = readWranglerConfig(new URL("../../wrangler.toml", import.meta.url).pathname);
    expect(c.kvNamespaces).toEqual([{ binding: "LEGATE_KV", id: "00000000000000000000000000000000" }]);
    expect(c.vars).toMatchObject({ LEGATE_CONFIG_POLL_MS: "1000", LEGATE_EDGE_LISTENER: "" });
  });

  it("parses the TOML that wrangler configs use", () => {
    const t = parseToml(`
# comment
name = "w" # trailing comment
account_id = 'abc'
compatibility_flags = ["nodejs_compat", "x"]
n = 1_000
f = -1.5e3
b = true
kv_namespaces = [
  { binding = "A", id = "1" }, # first
  { binding = "B", preview_id = "p" },
]
[vars]
"quoted key" = "a\\"b\\u00e9"
multi = """
line1
line2"""
[[d1_databases]]
binding = "DB"
[[d1_databases]]
binding = "DB2"
[env.prod.vars]
X = "y"
`);
    expect(t).toEqual({
      name: "w",
      account_id: "abc",
      compatibility_flags: ["nodejs_compat", "x"],
      n: 1000,
      f: -1500,
      b: true,
      kv_namespaces: [
        { binding: "A", id: "1" },
        { binding: "B", preview_id: "p" },
      ],
      vars: { "quoted key": 'a"bé', multi: "line1\nline2" },
      d1_databases: [{ binding: "DB" }, { binding: "DB2" }],
      env: { prod: { vars: { X: "y" } } },
    });
  });

  it("reads [[kv_namespaces]] tables and account_id", () => {
    const dir = tempDir();
    const p = join(dir, "wrangler.toml");
    writeFileSync(p, 'account_id = "acc"\n[[kv_namespaces]]\nbinding = "LEGATE_KV"\nid = "ns1"\npreview_id = "ns2"\n');
    expect(readWranglerConfig(p)).toEqual({ path: p, accountId: "acc", kvNamespaces: [{ binding: "LEGATE_KV", id: "ns1", previewId: "ns2" }], vars: {} });
  });

  it("reports malformed TOML with a line number", () => {
    expect(() => parseToml('a = "x"\nb = \n')).toThrow(/line 2/);
    expect(() => parseToml('a = 1\na = 2\n')).toThrow(/duplicate key 'a'/);
  });

  it("reads wrangler.jsonc with comments and trailing commas, and prefers it as wrangler does", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "wrangler.toml"), 'account_id = "from-toml"\n');
    writeFileSync(
      join(dir, "wrangler.jsonc"),
      '{\n  // c\n  "account_id": "from-jsonc", /* x */\n  "kv_namespaces": [{ "binding": "LEGATE_KV", "id": "a//b", },],\n}\n',
    );
    const nested = join(dir, "a", "b");
    mkdirSync(nested, { recursive: true });
    const found = findWranglerConfig(nested)!;
    expect(found).toBe(join(dir, "wrangler.jsonc"));
    expect(readWranglerConfig(found)).toMatchObject({ accountId: "from-jsonc", kvNamespaces: [{ binding: "LEGATE_KV", id: "a//b" }] });
    expect(stripJsonc('{"a": "x,}", }')).toBe('{"a": "x,}" }');
  });
});
