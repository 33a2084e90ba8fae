// The tcp tier's bundle: its TypeScript (tcp-tier/src and shared/) built by esbuild into a few ES modules
// under node_modules/.cache/legate/<build>/, which bin/legate.js runs when it is as new as its sources.
//
// Why: running the .ts sources directly costs the serving process memory it never gives back. Node's type
// stripper (a WebAssembly module) grows with every file it strips, and loading ~120 modules one by one
// warms up (and JIT-compiles) Node's module loader. Measured on one idle tier (Node 24.9, two tcp_proxy
// listeners): about 103 MiB RSS from the sources, 60 MiB from the bundle. docs/tcp-tier.md "Memory" has
// the figures. Packages in node_modules stay outside the bundle (imported from there as usual).
//
// `node bin/bundle.js` builds it (`npm install` runs this as `prepare`); bin/legate.js builds it again, in a
// child process, when a source is newer than the build. LEGATE_FROM_SOURCE=1 runs the sources instead.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** Where builds go (a test passes its own). */
export const CACHE = join(ROOT, "node_modules", ".cache", "legate");
/** The bundle's entry points (each becomes `<name>.mjs`): the CLI, a `--concurrency` worker, the config validator. */
const ENTRIES = {
  main: "tcp-tier/src/main.ts",
  "worker-main": "tcp-tier/src/workers/worker-main.ts",
  "validate-child": "tcp-tier/src/config/validate-child.ts",
};
/** Files besides the bundled sources whose change makes a build stale. */
const ALSO = ["bin/bundle.js", "package.json"];

/**
 * The file URL of the current build's `main.mjs` when every input is at most as new as the build;
 * undefined when there is no build or it is stale. One stat per input (about 130), no reads of sources.
 */
export function freshBundle(cache = CACHE) {
  let pointer;
  try {
    pointer = JSON.parse(readFileSync(join(cache, "current.json"), "utf8"));
  } catch {
    return undefined;
  }
  const main = join(cache, pointer.dir, "main.mjs");
  if (!existsSync(main)) return undefined;
  // Plain concatenation, not path.join: this runs on every start, for every input.
  for (const rel of pointer.inputs) {
    const st = statSync(ROOT + rel, { throwIfNoEntry: false });
    if (!st || st.mtimeMs > pointer.startedAt) return undefined; // changed or removed
  }
  return new URL(`file://${main}`).href;
}

/** Builds the bundle and points current.json at it. Resolves to the build's folder. */
export async function buildBundle(cache = CACHE) {
  const { build } = await import("esbuild");
  // Sources changed during the build are newer than this instant, so the next start rebuilds.
  const startedAt = Date.now();
  const tmp = join(cache, `.tmp-${process.pid}-${startedAt}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES)),
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node22",
      packages: "external",
      outdir: tmp,
      outExtension: { ".js": ".mjs" },
      chunkNames: "chunk-[hash]",
      metafile: true,
      logLevel: "silent",
    });
    const inputs = [...Object.keys(result.metafile.inputs).map((p) => relative(ROOT, join(ROOT, p))), ...ALSO];
    const dir = `build-${startedAt}-${process.pid}`;
    asciiOnly(tmp);
    renameSync(tmp, join(cache, dir));
    const pointer = join(cache, "current.json");
    writeFileSync(`${pointer}.${process.pid}.tmp`, JSON.stringify({ dir, startedAt, inputs }, null, 1));
    renameSync(`${pointer}.${process.pid}.tmp`, pointer);
    pruneOldBuilds(cache, dir);
    return join(cache, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * esbuild escapes non-ASCII characters in strings, but keeps them in the doc comments it preserves, and
 * one such character makes V8 hold the whole chunk's source as a two-byte string (twice the memory). They
 * are replaced by `?` when every line holding one is a comment line; a file where one sits elsewhere is
 * left as it is.
 */
function asciiOnly(dir) {
  const nonAscii = /[^\x00-\x7f]/g;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const text = readFileSync(p, "utf8");
    nonAscii.lastIndex = 0;
    if (!nonAscii.test(text)) continue;
    const onlyInComments = text.split("\n").every((line) => {
      nonAscii.lastIndex = 0;
      return !nonAscii.test(line) || /^\s*(\/\*\*?|\*|\/\/)/.test(line);
    });
    if (onlyInComments) writeFileSync(p, text.replace(nonAscii, "?"));
  }
}

/**
 * Removes builds other than `keep` that are over a day old. A running tier may still load chunks of the
 * build it started from (a reload's validator, a worker restart), so recent ones stay.
 */
function pruneOldBuilds(cache, keep) {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  let names;
  try {
    names = readdirSync(cache);
  } catch {
    return;
  }
  for (const name of names) {
    if (name === keep || !(name.startsWith("build-") || name.startsWith(".tmp-"))) continue;
    const p = join(cache, name);
    try {
      if (statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
    } catch {
      // Another process pruned it.
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  const dir = await buildBundle();
  process.stdout.write(`legate: built the tcp tier's bundle in ${relative(ROOT, dir)} (${Math.round(performance.now() - t0)} ms)\n`);
}
