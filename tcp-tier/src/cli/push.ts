/**
 * The config push protocol over a {@link KvTarget}, written once for local and remote KV
 * (docs/kv-layout.md is the operator's description):
 *
 * 1. the body, `legate/config/v/<version>` (canonical JSON; version = its SHA-256);
 * 2. the history, newest first, distinct versions, at most HISTORY_LIMIT;
 * 3. the pointer `legate/config/current`, last, so a reader never finds a pointer whose body was not
 *    written before it;
 * 4. then the bodies of versions that fell off the history are deleted — after the pointer moved, so
 *    no pointer a reader may still hold names a deleted body.
 *
 * Pushing the current version again writes nothing. Callers validate before planning: nothing here
 * looks at the config beyond hashing and diffing it.
 */
import {
  canonicalJson,
  CONFIG_HISTORY_KEY,
  CONFIG_POINTER_KEY,
  type ConfigPointer,
  configVersion,
  configVersionKey,
  HISTORY_LIMIT,
} from "../../../shared/kv/layout.ts";
import { type ConfigDiff, diffConfigs } from "./config-diff.ts";
import { KvError, type KvTarget } from "./kv/target.ts";

export interface KvConfigState {
  /** The current pointer, or undefined when nothing was pushed yet. */
  pointer?: ConfigPointer;
  /** Newest first. */
  history: ConfigPointer[];
}

export interface PushPlan {
  kind: "push" | "rollback";
  version: string;
  /** The body to write (push) or that is already stored (rollback). */
  text: string;
  /** What the pointer names now (undefined: nothing pushed yet). */
  before?: ConfigPointer;
  /** True when `version` is already current: nothing is written. */
  unchanged: boolean;
  /** The new pointer value. */
  pointer: ConfigPointer;
  history: ConfigPointer[];
  /** Keys written, in write order. */
  writes: string[];
  /** Keys deleted (after the writes). */
  deletes: string[];
  /** What changes for readers, from the current body to the new one. */
  diff: ConfigDiff;
}

function isPointer(v: unknown): v is ConfigPointer {
  if (v === null || typeof v !== "object") return false;
  const p = v as Record<string, unknown>;
  return typeof p.version === "string" && /^[0-9a-f]{64}$/.test(p.version) && typeof p.pushed_at === "string";
}

/** Reads pointer and history. Throws {@link KvError} (`LEGATE_KV_DATA`) when either is not what Legate writes. */
export async function readConfigState(target: KvTarget): Promise<KvConfigState> {
  const [pointerText, historyText] = await Promise.all([target.get(CONFIG_POINTER_KEY), target.get(CONFIG_HISTORY_KEY)]);
  const state: KvConfigState = { history: [] };
  if (pointerText !== null) {
    let p: unknown;
    try {
      p = JSON.parse(pointerText);
    } catch {
      p = undefined;
    }
    if (!isPointer(p)) throw new KvError("LEGATE_KV_DATA", `${CONFIG_POINTER_KEY} holds something Legate did not write: ${pointerText.slice(0, 120)}`);
    state.pointer = p;
  }
  if (historyText !== null) {
    let h: unknown;
    try {
      h = JSON.parse(historyText);
    } catch {
      h = undefined;
    }
    if (!Array.isArray(h) || !h.every(isPointer)) {
      throw new KvError("LEGATE_KV_DATA", `${CONFIG_HISTORY_KEY} holds something Legate did not write: ${historyText.slice(0, 120)}`);
    }
    state.history = h;
  }
  return state;
}

function parseBody(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function plan(
  kind: PushPlan["kind"],
  state: KvConfigState,
  entry: ConfigPointer,
  text: string,
  beforeBody: unknown,
  afterBody: unknown,
): PushPlan {
  const version = entry.version;
  const unchanged = state.pointer?.version === version;
  const history = [entry, ...state.history.filter((h) => h.version !== version)].slice(0, HISTORY_LIMIT);
  const kept = new Set(history.map((h) => h.version));
  const deletes = [...new Set(state.history.map((h) => h.version))].filter((v) => !kept.has(v)).map(configVersionKey);
  const writes = kind === "push" ? [configVersionKey(version), CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY] : [CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY];
  return {
    kind,
    version,
    text,
    ...(state.pointer ? { before: state.pointer } : {}),
    unchanged,
    pointer: entry,
    history: unchanged ? state.history : history,
    writes: unchanged ? [] : writes,
    deletes: unchanged ? [] : deletes,
    diff: diffConfigs(beforeBody, afterBody),
  };
}

/**
 * Plans a push of a validated canonical config. Reads pointer, history and the current body; writes nothing.
 * `source` is recorded for operators (file path or `--config-yaml`); `now` stamps the entry.
 */
export async function planPush(target: KvTarget, canonical: unknown, source: string, now = new Date()): Promise<PushPlan> {
  const text = canonicalJson(canonical);
  const version = await configVersion(text);
  const state = await readConfigState(target);
  const beforeBody = state.pointer ? parseBody(await target.get(configVersionKey(state.pointer.version))) : undefined;
  const entry: ConfigPointer = { version, pushed_at: now.toISOString(), source };
  const p = plan("push", state, entry, text, beforeBody, JSON.parse(text));
  if (p.unchanged && beforeBody === undefined) {
    // The pointer names this version but its body is gone (someone deleted it): write it again.
    return { ...p, unchanged: false, writes: [configVersionKey(version)], deletes: [] };
  }
  return p;
}

/**
 * Finds the kept version a rollback names: a full version or a unique prefix among the history (and
 * the pointer). Throws {@link KvError} (`LEGATE_KV_DATA`) when none or several match.
 */
export function resolveVersion(state: KvConfigState, prefix: string): ConfigPointer {
  const candidates = new Map<string, ConfigPointer>();
  for (const h of [...state.history, ...(state.pointer ? [state.pointer] : [])]) {
    if (h.version.startsWith(prefix) && !candidates.has(h.version)) candidates.set(h.version, h);
  }
  if (candidates.size === 0) {
    throw new KvError("LEGATE_KV_DATA", `no kept version matches '${prefix}' (see \`legate versions\`)`);
  }
  if (candidates.size > 1) {
    throw new KvError("LEGATE_KV_DATA", `'${prefix}' matches ${candidates.size} versions: ${[...candidates.keys()].join(", ")}; give more digits`);
  }
  return [...candidates.values()][0]!;
}

export interface RollbackTarget {
  entry: ConfigPointer;
  /** The stored body of that version. */
  text: string;
  state: KvConfigState;
}

/** Reads what a rollback to `prefix` would point at. Throws {@link KvError} when it is not kept or its body is gone. */
export async function readRollbackTarget(target: KvTarget, prefix: string): Promise<RollbackTarget> {
  const state = await readConfigState(target);
  const entry = resolveVersion(state, prefix);
  const text = await target.get(configVersionKey(entry.version));
  if (text === null) {
    throw new KvError("LEGATE_KV_DATA", `the body of version ${entry.version} (${configVersionKey(entry.version)}) is missing; it cannot be rolled back to`);
  }
  return { entry, text, state };
}

/** Plans re-pointing to a kept (and, by the caller, re-validated) version. Writes nothing. */
export async function planRollback(target: KvTarget, rb: RollbackTarget, now = new Date()): Promise<PushPlan> {
  const { state, entry, text } = rb;
  const beforeBody = state.pointer ? parseBody(await target.get(configVersionKey(state.pointer.version))) : undefined;
  const newEntry: ConfigPointer = { version: entry.version, pushed_at: now.toISOString(), ...(entry.source !== undefined ? { source: entry.source } : {}) };
  return plan("rollback", state, newEntry, text, beforeBody, parseBody(text));
}

/** Carries out a plan in the protocol's order (body, history, pointer, then deletes). No-op when unchanged. */
export async function applyPlan(target: KvTarget, p: PushPlan): Promise<void> {
  for (const key of p.writes) {
    if (key === CONFIG_POINTER_KEY) await target.put(key, JSON.stringify(p.pointer));
    else if (key === CONFIG_HISTORY_KEY) await target.put(key, JSON.stringify(p.history));
    else await target.put(key, p.text);
  }
  for (const key of p.deletes) await target.delete(key);
}
