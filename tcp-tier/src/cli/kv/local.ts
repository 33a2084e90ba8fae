/**
 * The local KV target: the same persisted state `wrangler dev` (and `wrangler kv key get --local`)
 * reads. Wrangler keeps local resources under `<persist-to>/v3` (`.wrangler/state/v3` by default) and
 * opens KV through miniflare with the binding's namespace id; this target does exactly the same, so
 * a push is visible to a running or later `wrangler dev` with the same `--persist-to`.
 */
import type { Miniflare } from "miniflare";
import { KvError, type KvTarget } from "./target.ts";

export interface LocalKvOptions {
  /** The state directory (what `wrangler dev --persist-to` takes), absolute. */
  persistTo: string;
  /** The namespace id wrangler dev uses for the binding (its `id`, or the binding name when it has none). */
  namespaceId: string;
}

type KvNamespaceLike = {
  list(opts: { prefix: string; limit: number }): Promise<{ keys: { name: string }[] }>;
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
};

/** Opens miniflare lazily (on first use): `legate push --dry-run` against an empty state stays cheap. */
export function localKvTarget(opts: LocalKvOptions): KvTarget {
  let mf: Miniflare | undefined;
  let ns: Promise<KvNamespaceLike> | undefined;

  const open = (): Promise<KvNamespaceLike> => {
    ns ??= (async () => {
      try {
        const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
        mf = new Miniflare(
          convertV4MiniflareOptions({
            script: 'addEventListener("fetch", (e) => e.respondWith(new Response(null, { status: 404 })))',
            resourcePersistencePath: `${opts.persistTo}/v3`,
            kvNamespaces: { NAMESPACE: opts.namespaceId },
            // No Request.cf download: nothing here needs it, and it would reach the internet.
            cf: false,
          }),
        );
        return (await mf.getKVNamespace("NAMESPACE")) as unknown as KvNamespaceLike;
      } catch (e) {
        throw new KvError("LEGATE_KV_LOCAL", `cannot open local KV state in '${opts.persistTo}': ${(e as Error).message}`);
      }
    })();
    return ns;
  };

  const wrap = async <T>(what: string, f: (n: KvNamespaceLike) => Promise<T>): Promise<T> => {
    const n = await open();
    try {
      return await f(n);
    } catch (e) {
      throw new KvError("LEGATE_KV_LOCAL", `local KV ${what} failed: ${(e as Error).message}`);
    }
  };

  return {
    description: `local KV (namespace ${opts.namespaceId}, state ${opts.persistTo})`,
    get: (key) => wrap(`get '${key}'`, (n) => n.get(key)),
    put: (key, value) => wrap(`put '${key}'`, (n) => n.put(key, value)),
    delete: (key) => wrap(`delete '${key}'`, (n) => n.delete(key)),
    list: (prefix, limit) => wrap(`list '${prefix}'`, async (n) => (await n.list({ prefix, limit })).keys.map((k) => k.name)),
    async close() {
      if (ns) await ns.catch(() => undefined);
      if (mf) await mf.dispose();
      mf = undefined;
      ns = undefined;
    },
  };
}
