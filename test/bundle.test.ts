// bin/bundle.js: the tcp tier's bundle that bin/legate.js runs, and when it counts as fresh.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle, freshBundle } from "../bin/bundle.js";

describe("the tcp tier's bundle", () => {
  let cache: string;
  let dir: string;
  beforeAll(async () => {
    cache = mkdtempSync(join(tmpdir(), "legate-bundle-"));
    dir = await buildBundle(cache);
  }, 60_000);
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  const pointer = () => JSON.parse(readFileSync(join(cache, "current.json"), "utf8")) as { dir: string; startedAt: number; inputs: string[] };

  it("has the CLI, the worker and the validator as entries, and is fresh right after its build", () => {
    const files = readdirSync(dir);
    for (const entry of ["main.mjs", "worker-main.mjs", "validate-child.mjs"]) expect(files).toContain(entry);
    expect(freshBundle(cache)).toBe(`file://${join(dir, "main.mjs")}`);
    const p = pointer();
    expect(p.inputs).toContain("tcp-tier/src/main.ts");
    expect(p.inputs).toContain("shared/config/compile.ts");
    expect(p.inputs).toContain("package.json");
    // Packages stay in node_modules: protobufjs is imported, not inlined.
    expect(p.inputs.some((i) => i.includes("node_modules"))).toBe(false);
  });

  it("keeps the serving path free of Envoy's schema: protobufjs is imported only by the validator's chunks", () => {
    const importers = readdirSync(dir).filter((f) => /from\s*"protobufjs"/.test(readFileSync(join(dir, f), "utf8")));
    expect(importers.length).toBeGreaterThan(0);
    expect(importers).not.toContain("main.mjs");
    expect(importers).not.toContain("worker-main.mjs");
    // `serve` loads main.mjs, then its own chunk (a dynamic import) and what that imports statically.
    const text = (f: string) => readFileSync(join(dir, f), "utf8");
    const serveChunk = readdirSync(dir).find((f) => text(f).includes("function loadForServe("));
    expect(serveChunk).toBeDefined();
    const loaded = new Set<string>();
    const visit = (f: string): void => {
      if (loaded.has(f)) return;
      loaded.add(f);
      for (const m of text(f).matchAll(/from\s*"\.\/(chunk-[^"]+)"/g)) visit(m[1]!);
    };
    visit("main.mjs");
    visit(serveChunk!);
    visit("worker-main.mjs");
    expect(loaded.size).toBeGreaterThan(3);
    for (const c of loaded) expect(importers, c).not.toContain(c);
  });

  it("holds only ASCII, so V8 keeps each chunk's source as one byte per character", () => {
    for (const f of readdirSync(dir)) expect(/[^\x00-\x7f]/.test(readFileSync(join(dir, f), "utf8")), f).toBe(false);
  });

  it("is stale when a source is newer than the build, or gone, or the build folder is missing", () => {
    const good = pointer();
    const write = (p: object) => writeFileSync(join(cache, "current.json"), JSON.stringify(p));
    try {
      write({ ...good, startedAt: 0 });
      expect(freshBundle(cache)).toBeUndefined();
      write({ ...good, inputs: [...good.inputs, "tcp-tier/src/no-such-file.ts"] });
      expect(freshBundle(cache)).toBeUndefined();
      write({ ...good, dir: "build-gone" });
      expect(freshBundle(cache)).toBeUndefined();
      writeFileSync(join(cache, "current.json"), "{ not json");
      expect(freshBundle(cache)).toBeUndefined();
    } finally {
      write(good);
    }
    expect(freshBundle(cache)).toBeDefined();
  });
});
