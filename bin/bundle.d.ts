// Types for bin/bundle.js (plain JavaScript: it runs before any TypeScript does).
/** Where builds go by default: node_modules/.cache/legate. */
export const CACHE: string;
/** The file URL of the current build's main.mjs in `cache` when no input is newer than the build, else undefined. */
export function freshBundle(cache?: string): string | undefined;
/** Builds the bundle into `cache` and points its current.json at it; resolves to the build's folder. */
export function buildBundle(cache?: string): Promise<string>;
