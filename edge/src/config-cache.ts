/**
 * The edge's config, per isolate: read from KV (shared/kv/layout.ts), compiled, swapped atomically.
 *
 * On a request, when more than `pollMs` passed since the last check (0: every request), the pointer
 * `legate/config/current` is read; when it names a new version, that version's body is read, parsed,
 * compiled, and built (route table, filter chain) into a {@link ConfigSnapshot} that replaces the
 * previous one in one assignment. Requests arriving during a check wait for that same check: there is
 * at most one in flight per isolate.
 *
 * Fail closed, lose nothing: a missing, unparseable or invalid version keeps the previous snapshot
 * serving; it is logged and counted once (`legate.edge.config_load_failure`). A version that failed to
 * parse or compile is not retried (versions are content hashes: the same text fails the same way); a
 * missing body is retried on the next check (KV may not have propagated it yet). Each successful swap
 * counts `legate.edge.config_reload`.
 *
 * Staleness: a push reaches an isolate within `pollMs` plus KV propagation (about 60 s; reads pass
 * `cacheTtl: 30`, inside that bound). Locally (miniflare) KV is immediate.
 *
 * The same check, by the same request, also reads the KV runtime flags (kv-runtime.ts), the EDS
 * clusters' endpoints (kv-endpoints.ts) and the tcp tier's health reports (kv-health.ts), and applies
 * the endpoints, then the health, to the served version's clusters. A new version's EDS services that
 * were never read are read before it is published, so it starts with their hosts.
 */
import { compileBootstrap } from "../../shared/config/compile.ts";
import { formatIssue, isError } from "../../shared/config/issues.ts";
import type { BootstrapModel, ListenerModel } from "../../shared/config/model.ts";
import { CONFIG_POINTER_KEY, type ConfigPointer, configVersionKey, parseConfigPointer } from "../../shared/kv/layout.ts";
import type { Logger } from "../../shared/log.ts";
import type { Counter, StatsScope } from "../../shared/stats/store.ts";
import type { KvEndpoints } from "./kv-endpoints.ts";
import type { KvHealth } from "./kv-health.ts";
import type { KvRuntime } from "./kv-runtime.ts";

/** KV's minimum edge-cache time (seconds); shorter than the default 60 s, so pushes show up sooner. */
export const KV_CACHE_TTL_S = 30;
/** Default LEGATE_CONFIG_POLL_MS. */
export const DEFAULT_POLL_MS = 1000;
/** How many config issues a load failure logs (the CLI shows them all at push time). */
const LOGGED_ISSUES = 10;

/** One loaded config version and what was built from it. Immutable once published. */
export interface ConfigSnapshot<T> {
  version: string;
  pointer: ConfigPointer;
  /** The canonical JSON text as read from KV (for /config_dump). */
  text: string;
  model: BootstrapModel;
  /** The listener the edge serves. */
  listener: ListenerModel;
  /** What `build` made of it (the edge's HTTP engine). */
  built: T;
  /** When this isolate loaded it. */
  loadedAt: Date;
}

export interface ConfigCacheOptions<T> {
  kv: KVNamespace;
  /** Minimum milliseconds between pointer checks; 0 checks on every request. */
  pollMs: number;
  /** LEGATE_EDGE_LISTENER, when set. */
  edgeListener?: string;
  /** Root stats scope of the isolate. */
  stats: StatsScope;
  log: Logger;
  /** Builds the runtime objects of a compiled config; may throw (the version then fails to load). */
  build(model: BootstrapModel, listener: ListenerModel, version: string): T;
  /** Wall-clock milliseconds. Default `Date.now`. */
  now?: () => number;
  /**
   * The KV runtime layer (edge/src/kv-runtime.ts), checked on every pointer check, in parallel with it
   * and by the same request (so it never awaits another request's I/O).
   */
  kvRuntime?: KvRuntime;
  /** The tcp tier's health reports (edge/src/kv-health.ts), read with each check and applied after it. */
  kvHealth?: KvHealth;
  /** EDS clusters' endpoints (edge/src/kv-endpoints.ts), read with each check and applied after it, before health. */
  kvEndpoints?: KvEndpoints;
}

/** Why the last check did not load a version, remembered so each failure is counted and logged once. */
interface Failure {
  key: string;
  /** True when the same version would fail again (parse/compile/build): it is not re-read. */
  permanent: boolean;
}

export class ConfigCache<T> {
  private readonly options: ConfigCacheOptions<T>;
  private readonly now: () => number;
  private readonly reloads: Counter;
  private readonly failures: Counter;
  private current: ConfigSnapshot<T> | undefined;
  private lastCheck = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private failure: Failure | undefined;
  private warnedNoPointer = false;

  constructor(options: ConfigCacheOptions<T>) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.reloads = options.stats.counter("legate.edge.config_reload");
    this.failures = options.stats.counter("legate.edge.config_load_failure");
  }

  /** The KV runtime layer polled with the config, when there is one. */
  get kvRuntime(): KvRuntime | undefined {
    return this.options.kvRuntime;
  }

  /** The snapshot serving now, without checking KV. */
  get snapshot(): ConfigSnapshot<T> | undefined {
    return this.current;
  }

  /**
   * The snapshot to serve this request with. Undefined only when no valid config was ever loaded.
   * Never rejects.
   *
   * When a KV check is due, the request that notices starts it and waits for it, so it sees a new
   * version at once. Requests arriving while that check runs do not wait for it: they are served the
   * current snapshot. workerd ties a promise's continuation to the request whose I/O settled it, so a
   * request awaiting another request's KV read failed with "Cannot perform I/O on behalf of a different
   * request" (measured by `npm run bench`: about 0.3 % of requests under load). Only while nothing was
   * ever loaded does a request run a check of its own instead.
   * `waitUntil` keeps a started check alive if its request goes away first.
   */
  async get(waitUntil?: (p: Promise<unknown>) => void): Promise<ConfigSnapshot<T> | undefined> {
    if (!this.inFlight && this.now() - this.lastCheck >= this.options.pollMs) {
      this.lastCheck = this.now();
      const check = this.guardedCheck().finally(() => {
        this.inFlight = undefined;
      });
      this.inFlight = check;
      waitUntil?.(check);
      await check;
      return this.current;
    }
    if (this.current) return this.current;
    const own = this.guardedCheck();
    waitUntil?.(own);
    await own;
    return this.current;
  }

  private guardedCheck(): Promise<void> {
    const config = this.check().catch((e: unknown) => this.fail("unexpected", false, `unexpected error: ${String(e)}`));
    const { kvRuntime, kvHealth, kvEndpoints } = this.options;
    if (!kvRuntime && !kvHealth && !kvEndpoints) return config;
    return Promise.all([
      config,
      kvRuntime?.check().catch(() => undefined),
      // The endpoints of the version served when the check started; a version this check loads had its unread services read before it was published.
      kvEndpoints?.check(this.current?.model).catch(() => undefined),
      kvHealth?.check().catch(() => undefined),
    ]).then(() => {
      // After the config check: a version loaded by this very check gets them too. Endpoints first, so new hosts get their health.
      try {
        kvEndpoints?.apply(this.current?.model);
      } catch (e) {
        this.options.log.error(`applying EDS endpoints failed: ${String(e)}`);
      }
      try {
        kvHealth?.apply(this.current?.model);
      } catch (e) {
        this.options.log.error(`applying health reports failed: ${String(e)}`);
      }
    });
  }

  private async check(): Promise<void> {
    const { kv, log } = this.options;
    let pointerText: string | null;
    try {
      pointerText = await kv.get(CONFIG_POINTER_KEY, { cacheTtl: KV_CACHE_TTL_S });
    } catch (e) {
      this.fail("kv-pointer", false, `reading ${CONFIG_POINTER_KEY} failed: ${String(e)}`);
      return;
    }
    if (pointerText === null) {
      if (!this.warnedNoPointer) {
        this.warnedNoPointer = true;
        log.warn(this.current
          ? `${CONFIG_POINTER_KEY} is gone; still serving version ${this.current.version}`
          : `no config in KV yet (${CONFIG_POINTER_KEY} is missing): answering 503 until one is pushed`);
      }
      return;
    }
    this.warnedNoPointer = false;
    const pointer = parseConfigPointer(pointerText);
    if (!pointer) {
      this.fail(`pointer:${pointerText}`, true, `${CONFIG_POINTER_KEY} is not a config pointer: ${pointerText.slice(0, 200)}`);
      return;
    }
    const { version } = pointer;
    if (version === this.current?.version) {
      this.failure = undefined;
      return;
    }
    if (this.failure?.key === version && this.failure.permanent) return;

    let text: string | null;
    try {
      text = await kv.get(configVersionKey(version), { cacheTtl: KV_CACHE_TTL_S });
    } catch (e) {
      this.fail(version, false, `reading config version ${version} failed: ${String(e)}`);
      return;
    }
    if (text === null) {
      this.fail(version, false, `config version ${version} is named by ${CONFIG_POINTER_KEY} but ${configVersionKey(version)} is missing`);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      this.fail(version, true, `config version ${version} is not JSON: ${String(e)}`);
      return;
    }
    const edgeListener = this.options.edgeListener || undefined;
    const { model, issues } = compileBootstrap(json, { edgeListener });
    const errors = issues.filter(isError);
    if (!model || errors.length) {
      const shown = errors.slice(0, LOGGED_ISSUES).map(formatIssue).join("; ");
      const more = errors.length > LOGGED_ISSUES ? ` (and ${errors.length - LOGGED_ISSUES} more)` : "";
      this.fail(version, true, `config version ${version} does not compile: ${shown}${more}`);
      return;
    }
    const listener = model.listeners.find((l) => l.edge);
    if (!listener) {
      this.fail(version, true, `config version ${version} has no edge listener: mark one with metadata.filter_metadata.legate.edge: true or set LEGATE_EDGE_LISTENER`);
      return;
    }
    let built: T;
    try {
      built = this.options.build(model, listener, version);
    } catch (e) {
      this.fail(version, true, `config version ${version} cannot run at the edge: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (this.options.kvEndpoints) {
      // Same request: its own reads. Never rejects; a failure leaves the EDS clusters empty until a read succeeds.
      try {
        await this.options.kvEndpoints.prepare(model);
      } catch (e) {
        log.error(`reading the EDS endpoints of config version ${version} failed: ${String(e)}`);
      }
    }
    const previous = this.current?.version;
    this.current = { version, pointer, text, model, listener, built, loadedAt: new Date() };
    this.failure = undefined;
    this.reloads.inc();
    log.info(`loaded config version ${version} (listener "${listener.name}")${previous ? `, replacing ${previous}` : ""}`);
  }

  private fail(key: string, permanent: boolean, message: string): void {
    const repeat = this.failure?.key === key;
    this.failure = { key, permanent };
    if (repeat) return;
    this.failures.inc();
    const serving = this.current ? `; still serving version ${this.current.version}` : "; no config loaded, answering 503";
    this.options.log.error(`config load failed: ${message}${serving}`);
  }
}

/** Parses LEGATE_CONFIG_POLL_MS: a non-negative integer, else the default. */
export function parsePollMs(value: string | undefined, log: Logger): number {
  if (value === undefined || value === "") return DEFAULT_POLL_MS;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 0) return n;
  log.warn(`LEGATE_CONFIG_POLL_MS="${value}" is not a non-negative integer; using ${DEFAULT_POLL_MS}`);
  return DEFAULT_POLL_MS;
}
