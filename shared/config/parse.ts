/**
 * Parses Envoy config text (YAML or JSON; JSON is YAML) into plain JSON values.
 * YAML anchors and merge keys are resolved, as Envoy's YAML loader does.
 */
import { parseDocument } from "yaml";
import type { ConfigIssue } from "./issues.ts";

export interface ParseResult {
  value?: unknown;
  issues: ConfigIssue[];
}

export function parseConfigText(text: string): ParseResult {
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    return {
      issues: doc.errors.map((e) => ({
        kind: "not-envoy" as const,
        path: "",
        message: `cannot parse as YAML or JSON at line ${e.linePos?.[0]?.line ?? "?"}, column ${e.linePos?.[0]?.col ?? "?"}: ${e.message.split(" at line ")[0]}`,
      })),
    };
  }
  const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  if (value === null || value === undefined) return { value: {}, issues: [] };
  if (typeof value !== "object" || Array.isArray(value)) {
    return { issues: [{ kind: "not-envoy", path: "", message: "the bootstrap must be a mapping (object)" }] };
  }
  return { value, issues: [] };
}
