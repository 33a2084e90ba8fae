/**
 * Config loading for a serving tcp tier, with Envoy's schema kept out of the serving process.
 *
 * Validating against Envoy's schema means holding every Envoy v3 .proto in a protobufjs Root; loading it
 * grows the process by about 60 MiB of RSS, which V8 keeps after the Root is dropped. A tier that serves
 * needs the schema only at start and at each reload, so it runs the pipeline (tcp-tier/src/config/load.ts)
 * in a short-lived child process (validate-child.ts): the child answers with the canonical config (files
 * inlined) or the issues and exits, and the serving process compiles the canonical config itself, as the
 * edge does with the canonical config it reads from KV. Measured on one machine: about 0.5 s per load.
 *
 * The CLI's one-shot commands (`--mode validate`, push, rollback) load in-process (load.ts): they exit.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compileBootstrap } from "../../../shared/config/compile.ts";
import { type ConfigIssue, isError } from "../../../shared/config/issues.ts";
import type { LoadOptions, LoadResult } from "./load.ts";

/** What the child is asked: a config from files (the CLI's `-c`/`--config-yaml`), or an already parsed value (KV). */
export type ChildRequest =
  | { kind: "files"; options: LoadOptions }
  | { kind: "value"; value: unknown; options: { edgeListener?: string; baseDir?: string } };

/** What the child answers. */
export type ChildAnswer =
  | { ok: true; canonical: Record<string, unknown>; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

/** How long a load may take before it is given up (the schema load alone is under a second). */
const CHILD_TIMEOUT_MS = 60_000;

/**
 * The child's entry: the bundled one next to this module's bundle when Legate runs from its bundle
 * (bin/bundle.js), else the TypeScript source.
 */
function childEntry(): string {
  const bundled = import.meta.url.endsWith(".mjs");
  return fileURLToPath(new URL(bundled ? "./validate-child.mjs" : "./validate-child.ts", import.meta.url));
}

function failed(message: string): LoadResult {
  return { ok: false, issues: [{ kind: "not-envoy", path: "", message }] };
}

/** Runs one request in a child process; never throws. */
function askChild(req: ChildRequest): Promise<ChildAnswer | { error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    let answer: ChildAnswer | undefined;
    const child = fork(childEntry(), [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
    const done = (r: ChildAnswer | { error: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      done({ error: `the config validator did not answer within ${CHILD_TIMEOUT_MS / 1000} s` });
    }, CHILD_TIMEOUT_MS);
    child.on("message", (m: ChildAnswer) => void (answer = m));
    child.on("error", (e) => done({ error: `cannot start the config validator: ${e.message}` }));
    child.on("exit", (code, signal) => {
      if (answer) done(answer);
      else done({ error: `the config validator exited (${signal ?? `code ${code}`}) without an answer` });
    });
    child.send(req);
  });
}

/** Validates in a child process, then compiles the canonical config here. Never throws for a bad config. */
async function loadIsolated(req: ChildRequest, edgeListener: string | undefined): Promise<LoadResult> {
  const a = await askChild(req);
  if ("error" in a) return failed(`cannot load the configuration: ${a.error}`);
  if (!a.ok) return { ok: false, issues: a.issues };
  const compiled = compileBootstrap(a.canonical, { edgeListener });
  // The child compiled the same canonical config without errors; a difference here is a bug, reported as such.
  if (!compiled.model || compiled.issues.some(isError)) {
    return { ok: false, issues: compiled.issues.length ? compiled.issues : [{ kind: "not-envoy", path: "", message: "the validated config did not compile" }] };
  }
  return { ok: true, canonical: a.canonical, model: compiled.model, warnings: a.warnings };
}

/** {@link loadBootstrap}'s isolated form: files (`-c`, `--config-yaml`). */
export function loadBootstrapIsolated(options: LoadOptions): Promise<LoadResult> {
  return loadIsolated({ kind: "files", options }, options.edgeListener);
}

/** {@link validateBootstrapValue}'s isolated form: an already parsed config (from KV). */
export function validateValueIsolated(value: unknown, options: { edgeListener?: string; baseDir?: string }): Promise<LoadResult> {
  return loadIsolated({ kind: "value", value, options }, options.edgeListener);
}
