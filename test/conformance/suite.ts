/**
 * Registers every conformance case file (test/conformance/cases/*.ts, each default-exporting a
 * {@link ConformanceCases}) against one runtime's context, one `describe` per file. Files are found by
 * Vite's `import.meta.glob`, so adding a case file needs no edit here or in the runners.
 */
import { describe } from "vitest";
import type { ConformanceCases, ConformanceContext } from "./context.ts";

declare global {
  interface ImportMeta {
    /** Vite's static glob import (resolved at transform time; the pattern must be a literal). */
    glob<T>(pattern: string, options: { eager: true }): Record<string, T>;
  }
}

const modules = import.meta.glob<{ default: ConformanceCases }>("./cases/*.ts", { eager: true });

/** The case files, by name (`routing` for cases/routing.ts), in name order. */
export const CASE_FILES: readonly string[] = Object.keys(modules).map(caseName).sort();

function caseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1, -".ts".length);
}

export function registerConformanceSuite(ctx: ConformanceContext): void {
  for (const [path, mod] of Object.entries(modules).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (typeof mod.default !== "function") throw new Error(`${path} must default-export (ctx: ConformanceContext) => void`);
    describe(caseName(path), () => mod.default(ctx));
  }
}
