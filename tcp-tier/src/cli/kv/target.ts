/**
 * The one storage contract `legate push`, `versions` and `rollback` are written against. Three
 * implementations: {@link ./local.ts} (the miniflare state `wrangler dev` reads),
 * {@link ./remote.ts} (Workers KV through Cloudflare's REST API) and, for the tcp tier only,
 * {@link ./edge.ts} (the edge Worker's admin API).
 */
export interface KvTarget {
  /** Human description for output, e.g. `local KV (namespace ..., state .wrangler/state)`. */
  readonly description: string;
  /** The value, or null when the key does not exist. Throws {@link KvError} on any other failure. */
  get(key: string): Promise<string | null>;
  /** Creates or overwrites the key. Throws {@link KvError}. */
  put(key: string, value: string): Promise<void>;
  /** Deletes the key; deleting a missing key succeeds. Throws {@link KvError}. */
  delete(key: string): Promise<void>;
  /** Key names under `prefix` (at most `limit`), when the target can list (local and edge). */
  list?(prefix: string, limit: number): Promise<string[]>;
  /** Releases resources (the local target's workerd process). Called once, after the last use. */
  close(): Promise<void>;
}

/**
 * A KV failure, with a stable code: `LEGATE_KV_CONFIG` (missing token/account/namespace, unreadable
 * wrangler config), `LEGATE_KV_HTTP` (the API answered an error), `LEGATE_KV_NETWORK` (no answer),
 * `LEGATE_KV_LOCAL` (the local state could not be opened), `LEGATE_KV_DATA` (a stored value that is not
 * what Legate wrote, e.g. a pointer that is not JSON).
 */
export class KvError extends Error {
  readonly code: "LEGATE_KV_CONFIG" | "LEGATE_KV_HTTP" | "LEGATE_KV_NETWORK" | "LEGATE_KV_LOCAL" | "LEGATE_KV_DATA";
  constructor(code: KvError["code"], message: string) {
    super(message);
    this.code = code;
    this.name = "KvError";
  }
}
