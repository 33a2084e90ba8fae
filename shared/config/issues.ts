/**
 * Config problems are values, collected and reported all at once (never thrown one at a time).
 *
 * Four kinds, worded distinctly so an operator knows what to do about each:
 * - `not-envoy`: Envoy itself would refuse it (unknown field, wrong type, bad enum, bad duration).
 * - `unsupported`: valid Envoy, but a feature Legate does not implement; the message names the feature.
 * - `invalid-reference`: well-formed, but inconsistent (a route names an undefined cluster, two listeners
 *   share a name or an address).
 * - `skipped-optional`: an unknown extension marked `is_optional: true`, skipped as Envoy does. A warning:
 *   it does not fail validation.
 */
export type ConfigIssueKind = "not-envoy" | "unsupported" | "invalid-reference" | "skipped-optional";

/** One problem in a config, located by its JSON path (e.g. `static_resources.listeners[0].name`). */
export interface ConfigIssue {
  kind: ConfigIssueKind;
  /** JSON path from the bootstrap root, with `[i]` for array indices and `["key"]` for odd map keys. */
  path: string;
  /** What is wrong, in one sentence, without the path or kind (those are added by {@link formatIssue}). */
  message: string;
}

const KIND_LABEL: Record<ConfigIssueKind, string> = {
  "not-envoy": "not valid Envoy configuration",
  unsupported: "Envoy feature not supported by Legate",
  "invalid-reference": "invalid reference",
  "skipped-optional": "warning: optional extension skipped",
};

/** Renders an issue as one line: `<path>: <kind label>: <message>`. */
export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path || "(root)"}: ${KIND_LABEL[issue.kind]}: ${issue.message}`;
}

/** True when the issue fails validation (everything except skipped optional extensions). */
export function isError(issue: ConfigIssue): boolean {
  return issue.kind !== "skipped-optional";
}

/** Appends a field or index to a JSON path. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

/** An error that carries all the issues of a refused config. */
export class ConfigError extends Error {
  readonly code = "LEGATE_CONFIG_INVALID";
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.filter(isError).map(formatIssue).join("\n"));
    this.issues = issues;
    this.name = "ConfigError";
  }
}
