/**
 * The Workers KV layout both tiers and the CLI share (docs/kv-layout.md describes it for operators).
 *
 * - `legate/config/v/<version>`: one validated config, canonical JSON (proto field names, sorted keys).
 *   `<version>` is the SHA-256 of that text, hex: identical configs share a version.
 * - `legate/config/current`: the pointer, JSON {@link ConfigPointer}; written last, so a reader never
 *   sees a pointer to a version that is not there yet.
 * - `legate/config/history`: JSON array of {@link ConfigPointer}, newest first, at most
 *   {@link HISTORY_LIMIT}; versions that fall off the end are deleted, the rest stay for rollback.
 */
export const KV_PREFIX = "legate/";
export const CONFIG_POINTER_KEY = `${KV_PREFIX}config/current`;
export const CONFIG_HISTORY_KEY = `${KV_PREFIX}config/history`;
export const HISTORY_LIMIT = 20;

export function configVersionKey(version: string): string {
  return `${KV_PREFIX}config/v/${version}`;
}

export interface ConfigPointer {
  version: string;
  /** ISO 8601 time of the push. */
  pushed_at: string;
  /** Where the config came from (file path or `--config-yaml`), for operators. */
  source?: string;
}

/** JSON with object keys sorted at every level, so equal configs hash equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The content version of a canonical config text: SHA-256, lower-case hex (WebCrypto; any runtime). */
export async function configVersion(canonicalText: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalText));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
