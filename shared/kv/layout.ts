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

/** Parses a stored pointer; undefined when it is not one (readers then keep the config they run). */
export function parseConfigPointer(text: string): ConfigPointer | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null) return undefined;
    const { version, pushed_at: pushedAt, source } = v as Record<string, unknown>;
    if (typeof version !== "string" || version === "" || version.length > 128 || version.includes("/")) return undefined;
    return { version, pushed_at: typeof pushedAt === "string" ? pushedAt : "", ...(typeof source === "string" ? { source } : {}) };
  } catch {
    return undefined;
  }
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

/**
 * `legate/runtime/current`: the KV runtime layer, one JSON {@link RuntimeDocument}. One key, so a reader
 * sees every flag of one version together, and `legate runtime set` writes it at most once per second
 * (KV's per-key write limit).
 */
export const RUNTIME_KEY = `${KV_PREFIX}runtime/current`;
/** Longest runtime key and value `legate runtime set` accepts (the whole document stays small). */
export const RUNTIME_KEY_MAX = 256;
export const RUNTIME_VALUE_MAX = 1024;

export interface RuntimeDocument {
  /** Increases by one on every write; readers compare it to skip unchanged documents. */
  version: number;
  /** ISO 8601 time of the last write. */
  updated_at: string;
  /** Flag values as strings, keyed by Envoy runtime key (e.g. `routing.traffic_shift.api`). */
  values: Record<string, string>;
}

/** A runtime key as Envoy spells them: dotted words of letters, digits, `_` and `-`. */
export function isRuntimeKey(key: string): boolean {
  return key.length > 0 && key.length <= RUNTIME_KEY_MAX && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key);
}

/** Parses a stored runtime document; undefined when it is not one (readers then keep what they had). */
export function parseRuntimeDocument(text: string): RuntimeDocument | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const { version, updated_at: updatedAt, values } = v as Record<string, unknown>;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) return undefined;
  if (typeof values !== "object" || values === null || Array.isArray(values)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(values)) {
    if (!isRuntimeKey(k)) return undefined;
    if (typeof val === "string") out[k] = val;
    else if (typeof val === "number" || typeof val === "boolean") out[k] = String(val);
    else return undefined;
  }
  return { version, updated_at: typeof updatedAt === "string" ? updatedAt : "", values: out };
}

/**
 * `legate/health/<cluster>/<node id>`: one tcp-tier node's active-health-check view of one cluster,
 * JSON {@link HealthReport}. One writer per key (that node), written on change and refreshed every
 * {@link HEALTH_REFRESH_MS}, never more than once per second. The edge lists `legate/health/` and
 * merges the writers host by host: the freshest report that is not stale decides.
 */
export const HEALTH_PREFIX = `${KV_PREFIX}health/`;
/** A writer re-publishes an unchanged report this often, so readers can tell it is alive. */
export const HEALTH_REFRESH_MS = 10_000;
/** Reports older than this are ignored by readers (three missed refreshes). */
export const HEALTH_STALE_MS = 30_000;

export function healthKey(cluster: string, nodeId: string): string {
  return `${HEALTH_PREFIX}${encodeURIComponent(cluster)}/${encodeURIComponent(nodeId)}`;
}

export interface HealthReport {
  cluster: string;
  node: string;
  /** ISO 8601 time the node wrote it. */
  reported_at: string;
  /** Per host (`address:port`, IPv6 in brackets): the node's active-health-check verdict. */
  hosts: Record<string, "healthy" | "unhealthy">;
}

export function parseHealthReport(text: string): HealthReport | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const { cluster, node, reported_at: at, hosts } = v as Record<string, unknown>;
  if (typeof cluster !== "string" || typeof node !== "string" || typeof at !== "string" || !Number.isFinite(Date.parse(at))) return undefined;
  if (typeof hosts !== "object" || hosts === null || Array.isArray(hosts)) return undefined;
  const out: Record<string, "healthy" | "unhealthy"> = {};
  for (const [h, s] of Object.entries(hosts)) {
    if (s !== "healthy" && s !== "unhealthy") return undefined;
    out[h] = s;
  }
  return { cluster, node, reported_at: at, hosts: out };
}

/**
 * Merges the reports of one cluster: per host, the freshest report that is at most `staleMs` old
 * decides. Hosts no fresh report mentions are absent (the reader leaves them as they are: healthy).
 */
export function mergeHealthReports(reports: readonly HealthReport[], now: number, staleMs = HEALTH_STALE_MS): Map<string, boolean> {
  return new Map([...mergeHealthReportsWithTime(reports, now, staleMs)].map(([h, v]) => [h, v.healthy]));
}

/** {@link mergeHealthReports} with the time (ms) of the report that decided each host. */
export function mergeHealthReportsWithTime(reports: readonly HealthReport[], now: number, staleMs = HEALTH_STALE_MS): Map<string, { healthy: boolean; at: number }> {
  const best = new Map<string, { at: number; healthy: boolean }>();
  for (const r of reports) {
    const at = Date.parse(r.reported_at);
    if (!(now - at <= staleMs)) continue;
    for (const [host, status] of Object.entries(r.hosts)) {
      const cur = best.get(host);
      if (!cur || at > cur.at || (at === cur.at && status === "unhealthy")) best.set(host, { at, healthy: status === "healthy" });
    }
  }
  return best;
}
