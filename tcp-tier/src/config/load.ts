/**
 * The whole config pipeline in Node, as Envoy loads a bootstrap:
 * text → parseConfigText → schema walk against envoy.config.bootstrap.v3.Bootstrap (shared/config/validate.ts)
 * → canonical JSON → compileBootstrap → BootstrapModel. Issues from every stage are collected; the config is
 * refused when any of them is an error (see shared/config/issues.ts).
 *
 * Used by the CLI before every push (so KV only ever holds canonical, validated configs) and by the tcp tier
 * at start and reload. The Envoy schema is loaded once per process (tcp-tier/src/config/envoy-schema.ts).
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { compileBootstrap } from "../../../shared/config/compile.ts";
import { type ConfigIssue, isError } from "../../../shared/config/issues.ts";
import type { BootstrapModel } from "../../../shared/config/model.ts";
import { parseConfigText } from "../../../shared/config/parse.ts";
import { mergeCanonical, validateAgainstSchema } from "../../../shared/config/validate.ts";
import { loadEnvoySchema } from "./envoy-schema.ts";

/** What to load. At least one of `path` and `configYaml` is required. */
export interface LoadOptions {
  /** The bootstrap file (Envoy's `-c`/`--config-path`), YAML or JSON. */
  path?: string;
  /**
   * Envoy's `--config-yaml`: YAML (or JSON) merged into the file's config with protobuf MergeFrom semantics,
   * or the whole config when there is no `path`.
   */
  configYaml?: string;
  /** Name of the listener the edge serves (LEGATE_EDGE_LISTENER), besides one marked in its metadata. */
  edgeListener?: string;
  /** Where relative `DataSource.filename`s resolve (Envoy: the working directory). Default `process.cwd()`. */
  baseDir?: string;
}

/**
 * The outcome. `ok: true` carries the canonical config (what `legate push` stores), its compiled model and
 * any warnings (skipped optional extensions). `ok: false` carries every issue, warnings included.
 */
export type LoadResult =
  | { ok: true; canonical: Record<string, unknown>; model: BootstrapModel; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

const CONFIG_YAML = " (in --config-yaml)";

/** Loads, validates and compiles a bootstrap from a file and/or `--config-yaml` text. Never throws for a bad config. */
export async function loadBootstrap(opts: LoadOptions): Promise<LoadResult> {
  const hasPath = opts.path !== undefined && opts.path !== "";
  if (!hasPath && opts.configYaml === undefined) {
    return fail([{ kind: "not-envoy", path: "", message: "at least one of a config path or --config-yaml is required" }]);
  }

  let fileValue: unknown;
  if (hasPath) {
    const path = opts.path!;
    if (/\.pb(_text)?$/.test(path)) {
      return fail([{ kind: "unsupported", path: "", message: `${path}: binary and text protobuf bootstraps are not supported by Legate; use YAML or JSON` }]);
    }
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      return fail([{ kind: "not-envoy", path: "", message: `cannot read the config file ${JSON.stringify(path)}: ${(err as Error).message}` }]);
    }
    const parsed = parseConfigText(text);
    if (parsed.issues.length) return fail(parsed.issues.map((i) => ({ ...i, message: `${path}: ${i.message}` })));
    fileValue = parsed.value;
  }

  let yamlValue: unknown;
  if (opts.configYaml !== undefined) {
    const parsed = parseConfigText(opts.configYaml);
    if (parsed.issues.length) return fail(parsed.issues.map((i) => ({ ...i, message: i.message + CONFIG_YAML })));
    yamlValue = parsed.value;
  }

  const cwd = opts.baseDir ?? process.cwd();
  if (yamlValue === undefined) return validateBootstrapValue(fileValue, { edgeListener: opts.edgeListener, baseDir: cwd });
  if (!hasPath) return validateBootstrapValue(yamlValue, { edgeListener: opts.edgeListener, baseDir: cwd });

  // Both: canonicalise each part (the JSON mapping alone), merge as protobuf does, then validate the result.
  const { root } = await loadEnvoySchema();
  const a = validateAgainstSchema(root, fileValue, { mode: "syntax" });
  const b = validateAgainstSchema(root, yamlValue, { mode: "syntax" });
  const partIssues = [...a.issues, ...b.issues.map((i) => ({ ...i, message: i.message + CONFIG_YAML }))];
  const merged = mergeCanonical(root, a.canonical, b.canonical);
  const result = await validateBootstrapValue(merged, { edgeListener: opts.edgeListener, baseDir: cwd });
  if (partIssues.length === 0) return result;
  const seen = new Set(partIssues.map((i) => i.path));
  const rest = result.ok ? result.warnings : result.issues;
  return fail([...partIssues, ...rest.filter((i) => !seen.has(i.path))]);
}

/**
 * Validates and compiles an already-parsed config (plain JSON values, e.g. from YAML). `baseDir` resolves
 * relative `DataSource.filename`s (default: the working directory, as Envoy).
 */
export async function validateBootstrapValue(
  value: unknown,
  opts: { edgeListener?: string; baseDir?: string } = {},
): Promise<LoadResult> {
  const { root } = await loadEnvoySchema();
  const baseDir = opts.baseDir ?? process.cwd();
  const walked = validateAgainstSchema(root, value, {
    readFile: (name) => {
      try {
        return { bytes: readFileSync(resolve(baseDir, name)) };
      } catch (err) {
        return { error: (err as Error).message };
      }
    },
  });
  const compiled = compileBootstrap(walked.canonical, { edgeListener: opts.edgeListener });
  const issues = [...walked.issues, ...withoutRepeats(compiled.issues, walked.issues)];
  if (issues.some(isError) || !compiled.model) return fail(issues);
  return { ok: true, canonical: walked.canonical, model: compiled.model, warnings: issues };
}

function fail(issues: ConfigIssue[]): LoadResult {
  return { ok: false, issues };
}

function related(a: string, b: string): boolean {
  const under = (x: string, y: string) => x.startsWith(y) && (x[y.length] === "." || x[y.length] === "[");
  return a === b || under(a, b) || under(b, a);
}

/**
 * Drops compile issues that restate what the schema walk already reported: compile reads the same canonical
 * JSON, so a value the walk refused (and left out) would otherwise come back as "required" or "expected ...".
 * References (unknown clusters, duplicates) are compile's alone and always kept.
 */
function withoutRepeats(compiled: ConfigIssue[], walked: ConfigIssue[]): ConfigIssue[] {
  return compiled.filter((c) => {
    if (c.kind === "invalid-reference") return !walked.some((w) => w.kind === c.kind && w.path === c.path && w.message === c.message);
    if (c.kind === "unsupported") return !walked.some((w) => w.path === c.path);
    return !walked.some((w) => related(w.path, c.path));
  });
}
