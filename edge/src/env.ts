/**
 * The Worker's bindings (wrangler.toml), declared on `Cloudflare.Env` so that `env` from
 * `cloudflare:test` and `cloudflare:workers` is typed too. Use {@link Env} in code.
 */
declare global {
  // The runtime's types declare Env in the global namespace Cloudflare; merging into it is the only way.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Cloudflare {
    interface Env {
      /** The KV namespace `legate push` writes to (shared/kv/layout.ts). */
      LEGATE_KV: KVNamespace;
      /** Milliseconds between checks of the config pointer, per isolate. Default "1000"; "0" checks on every request. */
      LEGATE_CONFIG_POLL_MS?: string;
      /** Name of the listener the edge serves, when none is marked with `filter_metadata.legate.edge: true`. Empty = unset. */
      LEGATE_EDGE_LISTENER?: string;
      /** Bearer token for /__legate/admin/ (a Worker secret: `wrangler secret put LEGATE_ADMIN_TOKEN`). Unset = no admin API. */
      LEGATE_ADMIN_TOKEN?: string;
    }
  }
}

export type Env = Cloudflare.Env;
