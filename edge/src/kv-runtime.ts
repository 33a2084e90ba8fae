/**
 * The edge's KV runtime layer, per isolate: `legate/runtime/current` (shared/kv/layout.ts) read on the
 * config cache's poll (same interval, same request, so no request ever awaits another request's KV
 * read) and published as one {@link RuntimeLayer} that every config version's runtime layers over its
 * static layers. A new document replaces the layer's values in one assignment; a missing key empties
 * the layer (flags were unset); a document that does not parse keeps the previous values and is
 * counted once (`legate.edge.runtime_load_failure`). Each change counts `legate.edge.runtime_reload`.
 */
import { KV_CACHE_TTL_S } from "./config-cache.ts";
import { parseRuntimeDocument, RUNTIME_KEY } from "../../shared/kv/layout.ts";
import type { Logger } from "../../shared/log.ts";
import { RuntimeLayer } from "../../shared/runtime/runtime.ts";
import type { Counter, StatsScope } from "../../shared/stats/store.ts";

export const KV_RUNTIME_LAYER_NAME = "kv";

export class KvRuntime {
  readonly layer = new RuntimeLayer(KV_RUNTIME_LAYER_NAME);
  /** The document version loaded; undefined while KV holds no runtime document. */
  version: number | undefined;
  private readonly kv: KVNamespace;
  private readonly log: Logger;
  private readonly reloads: Counter;
  private readonly failures: Counter;
  private lastBad: string | undefined;

  constructor(kv: KVNamespace, stats: StatsScope, log: Logger) {
    this.kv = kv;
    this.log = log;
    this.reloads = stats.counter("legate.edge.runtime_reload");
    this.failures = stats.counter("legate.edge.runtime_load_failure");
  }

  /** Reads the document once and applies it. Never rejects. */
  async check(): Promise<void> {
    let text: string | null;
    try {
      text = await this.kv.get(RUNTIME_KEY, { cacheTtl: KV_CACHE_TTL_S });
    } catch (e) {
      this.fail(`read:${String(e)}`, `reading ${RUNTIME_KEY} failed: ${String(e)}`);
      return;
    }
    if (text === null) {
      if (this.version !== undefined || this.layer.values.size > 0) {
        this.layer.replace(new Map());
        this.version = undefined;
        this.reloads.inc();
        this.log.info(`${RUNTIME_KEY} is gone: the KV runtime layer is empty`);
      }
      this.lastBad = undefined;
      return;
    }
    const doc = parseRuntimeDocument(text);
    if (!doc) {
      this.fail(text, `${RUNTIME_KEY} is not a runtime document: ${text.slice(0, 200)}; keeping the previous values`);
      return;
    }
    this.lastBad = undefined;
    if (doc.version === this.version) return;
    this.layer.replace(new Map(Object.entries(doc.values)));
    this.version = doc.version;
    this.reloads.inc();
    this.log.info(`loaded KV runtime version ${doc.version} (${Object.keys(doc.values).length} keys)`);
  }

  private fail(key: string, message: string): void {
    if (this.lastBad === key) return;
    this.lastBad = key;
    this.failures.inc();
    this.log.error(message);
  }
}
