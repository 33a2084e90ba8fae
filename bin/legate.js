#!/usr/bin/env node
// The `legate` executable. Legate's sources are TypeScript that Node runs directly (type stripping,
// on by default from Node 22.18 / 23.6); the tcp tier runs from a bundle of them (bin/bundle.js). On an older Node, re-run this file with the Node the project
// installs (the `node` devDependency puts Node 24 in node_modules/.bin), so a plain `node` 20 on PATH
// still works.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [major, minor] = process.versions.node.split(".").map(Number);
const stripsTypes = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);

if (!stripsTypes) {
  const candidates = ["../node_modules/.bin/node", "../node_modules/node/bin/node"].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const node = candidates.find((p) => existsSync(p));
  if (!node) {
    process.stderr.write(
      `legate needs Node >= 22.18 (it runs TypeScript directly); this is Node ${process.versions.node}.\n` +
        "Run `npm install` in the legate folder (it installs Node 24 as a dev dependency) or use a newer Node.\n",
    );
    process.exit(1);
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  // The child gets terminal signals itself (same process group); forward the ones sent to us alone.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => {
    if (signal) {
      // Die of the same signal, so our parent sees what the child saw.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
} else {
  // Node 22.18–23.x print an ExperimentalWarning for type stripping on every start; drop that one only.
  const listeners = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name === "ExperimentalWarning" && /type stripping/i.test(w.message)) return;
    for (const l of listeners) l(w);
  });
  await import(await entry());
}

/**
 * What to run: the bundle (bin/bundle.js) when it is as new as the sources, built first (in a child
 * process, so esbuild never loads here) when it is missing or stale; the TypeScript sources when
 * LEGATE_FROM_SOURCE is set or the build fails (same behaviour, more memory; the failure is said once).
 */
async function entry() {
  const source = "../tcp-tier/src/main.ts";
  if (process.env.LEGATE_FROM_SOURCE) return source;
  const { freshBundle } = await import("./bundle.js");
  const fresh = freshBundle();
  if (fresh) return fresh;
  const built = spawnSync(process.execPath, [fileURLToPath(new URL("./bundle.js", import.meta.url))], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const rebuilt = built.status === 0 ? freshBundle() : undefined;
  if (rebuilt) return rebuilt;
  const why = (built.stderr || built.error?.message || `exit ${built.status}`).trim().split("\n")[0];
  process.stderr.write(`legate: running the TypeScript sources (building the bundle failed: ${why})\n`);
  return source;
}
