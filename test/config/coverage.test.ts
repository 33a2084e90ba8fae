/**
 * Keeps the support table (shared/config/coverage.ts), Envoy's schema, docs/config-coverage.md and the
 * corpus of real Envoy configs (test/fixtures/envoy-configs, a copy of ../shared/envoy-configs) in agreement.
 */
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Enum, Type } from "protobufjs";
import { describe, expect, it } from "vitest";
import { EXTENSION_POINTS, SUPPORTED, coverageRows } from "../../shared/config/coverage.ts";
import { EXTENSIONS } from "../../shared/config/extensions.ts";
import { BOOTSTRAP_TYPE } from "../../shared/config/validate.ts";
import { loadEnvoySchema } from "../../tcp-tier/src/config/envoy-schema.ts";
import { runCli } from "../../tcp-tier/src/cli/main.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const doc = readFileSync(join(repo, "docs", "config-coverage.md"), "utf8");
// A copy of ../shared/envoy-configs, so a clone tests on its own; .ci/run checks the copy is current.
const corpusDir = resolve(repo, "test", "fixtures", "envoy-configs");

function region(name: string): string {
  const m = new RegExp(`<!-- ${name}:begin -->\\n([\\s\\S]*?)<!-- ${name}:end -->`).exec(doc);
  if (!m) throw new Error(`docs/config-coverage.md has no ${name} region`);
  return m[1]!;
}

/** Table rows of a generated region, as cells with backticks removed. */
function rows(name: string): string[][] {
  return region(name)
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) => l.slice(2, -2).split(" | ").map((c) => c.replace(/`/g, "").trim()));
}

async function schemaType(name: string): Promise<Type> {
  const { root } = await loadEnvoySchema();
  const t = root.lookup(`.${name}`);
  if (!t || !("fieldsArray" in t)) throw new Error(`${name} is not a message in Envoy's schema`);
  return t as Type;
}

describe("support table", () => {
  it("names only messages, fields and enum values that exist in Envoy's schema", async () => {
    for (const [message, support] of Object.entries(SUPPORTED)) {
      const t = await schemaType(message);
      for (const [field, f] of Object.entries(support.fields)) {
        const pf = t.fields[field];
        expect(pf, `${message}.${field}`).toBeDefined();
        if (f.values) {
          const e = pf!.resolvedType as Enum | null;
          expect(e && "valuesById" in e, `${message}.${field} is an enum`).toBe(true);
          for (const v of f.values) expect(Object.keys(e!.values), `${message}.${field}`).toContain(v);
        }
      }
      for (const field of Object.keys(support.features ?? {})) {
        expect(t.fields[field], `feature of ${message}.${field}`).toBeDefined();
        expect(support.fields[field], `${message}.${field} is both supported and named as unsupported`).toBeUndefined();
      }
    }
    for (const name of Object.keys(EXTENSION_POINTS)) await schemaType(name);
  });

  it("covers every message reachable through supported fields and extensions", async () => {
    const roots = [BOOTSTRAP_TYPE, ...EXTENSIONS.map((e) => e.typeUrl.slice(e.typeUrl.lastIndexOf("/") + 1))];
    const seen = new Set<string>();
    const queue = [...roots];
    while (queue.length) {
      const name = queue.pop()!;
      if (seen.has(name) || name.startsWith("google.protobuf.")) continue;
      seen.add(name);
      expect(SUPPORTED[name], `${name} is reachable but has no row in the support table`).toBeDefined();
      const t = await schemaType(name);
      for (const field of Object.keys(SUPPORTED[name]?.fields ?? {})) {
        const rt = t.fields[field]!.resolvedType;
        if (rt && "fieldsArray" in rt) queue.push(rt.fullName.slice(1));
      }
    }
  });
});

describe("docs/config-coverage.md", () => {
  it("lists exactly the supported fields", () => {
    const documented = rows("coverage-table").map(([message, field, values]) => `${message}.${field} [${values}]`);
    const table = coverageRows().map((r) => `${r.message}.${r.field} [${r.values?.join(", ") ?? ""}]`);
    expect(documented.sort()).toEqual(table.sort());
  });

  it("lists exactly the supported extensions", () => {
    const documented = rows("extensions").map(([names, typeUrl, category]) => `${names} ${typeUrl} ${category}`);
    const table = EXTENSIONS.map((e) => `${[e.name, ...e.aliases].join(", ")} ${e.typeUrl} ${e.category}`);
    expect(documented.sort()).toEqual(table.sort());
  });
});

describe("corpus of real Envoy configs", () => {
  it("`legate --mode validate` validates each config or refuses it with located, classified errors, as the doc says", async () => {
    const files = readdirSync(corpusDir).filter((f) => /\.ya?ml$/.test(f)).sort();
    expect(files.length).toBeGreaterThan(50);
    let ok = 0;
    for (const f of files) {
      const path = join(corpusDir, f);
      let stdout = "";
      let stderr = "";
      const code = await runCli(["--mode", "validate", "-c", path], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
      if (code === 0) {
        ok++;
        expect(stdout, f).toBe(`configuration '${path}' OK\n`);
        continue;
      }
      expect(code, `${f}: ${stderr}`).toBe(1);
      expect(stdout, f).toBe("");
      const lines = stderr.trimEnd().split("\n");
      expect(lines.length, f).toBeGreaterThan(0);
      // Every line names a JSON path and one of the kinds a real Envoy config can earn here:
      // never "not valid Envoy configuration" (these are Envoy's own configs), never a stack trace.
      for (const line of lines) {
        expect(line, f).toMatch(/^[A-Za-z_][^ ]*: (Envoy feature not supported by Legate|invalid reference|warning: optional extension skipped): \S/);
      }
    }
    const figure = region("corpus-figure").trim();
    expect(figure).toBe(`${ok} of ${files.length} real Envoy configurations (../shared/envoy-configs) validate`);
  });
});
