/**
 * `legate runtime set|get|list|unset`: the KV runtime layer, one JSON document at
 * `legate/runtime/current` (shared/kv/layout.ts, docs/kv-layout.md). Both tiers layer it over the
 * config's static runtime layers without a restart. Same targets and flags as `legate push`
 * (`--local` default, `--remote`, `--persist-to`, `--namespace-id`, `--wrangler-config`).
 *
 * A write is read-modify-write of the whole document with `version` + 1. KV allows one write per
 * second per key, so a write within a second of the document's `updated_at` waits out the rest of that
 * second first (at most 1 s). Exit codes: 0 done (including "unchanged"), 1 usage error, missing key
 * (`get`) or any KV failure.
 */
import { isRuntimeKey, parseRuntimeDocument, RUNTIME_KEY, RUNTIME_VALUE_MAX, type RuntimeDocument } from "../../../shared/kv/layout.ts";
import { type KvArgs, kvArgsFromFlags, parseKvCommandLine } from "./args.ts";
import type { ResolvedIo } from "./io.ts";
import { startKvCommand } from "./kv/open.ts";
import { KvError, type KvTarget } from "./kv/target.ts";

/** The kv options in the usage texts of `legate runtime` and `legate endpoints`. */
export const KV_OPTIONS_USAGE = `kv options (as for legate push):
  --local                 the state wrangler dev reads (default)
  --remote                Workers KV through Cloudflare's API (CLOUDFLARE_API_TOKEN)
  --persist-to <dir>      local state directory (default .wrangler/state beside wrangler.toml)
  --namespace-id <id>     overrides the LEGATE_KV binding's id
  --wrangler-config <p>   wrangler.toml / wrangler.json(c) to read
`;

export const RUNTIME_USAGE = `usage: legate runtime set <key> <value> [kv options]
       legate runtime get <key> [kv options]
       legate runtime list [kv options]
       legate runtime unset <key> [kv options]

Runtime flags in Workers KV (${RUNTIME_KEY}), layered over the config's layered_runtime static
layers by both tiers, without a restart or a config push.

${KV_OPTIONS_USAGE}`;

/** KV's per-key write limit. */
const MIN_WRITE_INTERVAL_MS = 1000;

type Action = "set" | "get" | "list" | "unset";

interface RuntimeArgs extends KvArgs {
  action: Action;
  key?: string;
  value?: string;
}

/** Parses the arguments after `runtime`; throws an Error with a usage message. */
export function parseRuntimeArgs(argv: readonly string[]): RuntimeArgs | "help" {
  const { values, positionals } = parseKvCommandLine(argv, {});
  if (values.help) return "help";
  const [action, ...rest] = positionals;
  if (action !== "set" && action !== "get" && action !== "list" && action !== "unset") {
    throw new Error(action === undefined ? "needs an action: set, get, list or unset" : `unknown action '${action}' (set, get, list, unset)`);
  }
  const want = action === "set" ? 2 : action === "list" ? 0 : 1;
  if (rest.length !== want) {
    throw new Error(`'runtime ${action}' takes ${want === 0 ? "no arguments" : want === 1 ? "<key>" : "<key> <value>"}`);
  }
  const out: RuntimeArgs = { ...kvArgsFromFlags(values), action };
  if (rest[0] !== undefined) {
    if (!isRuntimeKey(rest[0])) throw new Error(`'${rest[0]}' is not a runtime key (dotted words of letters, digits, '_' and '-')`);
    out.key = rest[0];
  }
  if (rest[1] !== undefined) {
    if (rest[1] === "") throw new Error("the value must not be empty (use 'legate runtime unset <key>' to remove a key)");
    if (rest[1].length > RUNTIME_VALUE_MAX) throw new Error(`the value is longer than ${RUNTIME_VALUE_MAX} characters`);
    out.value = rest[1];
  }
  return out;
}

/** Reads the document: undefined when the key is absent; a stored value that is not one throws LEGATE_KV_DATA. */
export async function readRuntimeDocument(target: KvTarget): Promise<RuntimeDocument | undefined> {
  const text = await target.get(RUNTIME_KEY);
  if (text === null) return undefined;
  const doc = parseRuntimeDocument(text);
  if (!doc) throw new KvError("LEGATE_KV_DATA", `${RUNTIME_KEY} in ${target.description} is not a runtime document; fix or delete it`);
  return doc;
}

/**
 * KV's one write per second per key, for the CLI's versioned documents (runtime, endpoints): waits out
 * the rest of the second after `updatedAt` (the document's last write, ISO 8601), at most 1 s.
 */
export async function waitForWriteSlot(updatedAt: string | undefined, now: () => number = Date.now): Promise<void> {
  const last = updatedAt !== undefined ? Date.parse(updatedAt) : NaN;
  if (!Number.isFinite(last)) return;
  const wait = Math.min(MIN_WRITE_INTERVAL_MS, last + MIN_WRITE_INTERVAL_MS - now());
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** Writes `values` as the next version, waiting out KV's one-write-per-second-per-key limit. */
export async function writeRuntimeDocument(
  target: KvTarget,
  previous: RuntimeDocument | undefined,
  values: Record<string, string>,
  now: () => number = Date.now,
): Promise<RuntimeDocument> {
  await waitForWriteSlot(previous?.updated_at, now);
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(values).sort()) sorted[k] = values[k]!;
  const doc: RuntimeDocument = { version: (previous?.version ?? 0) + 1, updated_at: new Date(now()).toISOString(), values: sorted };
  await target.put(RUNTIME_KEY, JSON.stringify(doc));
  return doc;
}

/** Prints a KV command's failure as `error: <message> [<code>]`; returns the exit code (1). */
export function reportKvFailure(e: unknown, io: ResolvedIo): number {
  const code = e instanceof KvError ? ` [${e.code}]` : "";
  io.stderr(`error: ${(e as Error).message}${code}\n`);
  return 1;
}

/** `legate runtime ...`. */
export async function runRuntime(argv: readonly string[], io: ResolvedIo): Promise<number> {
  const started = startKvCommand("runtime", argv, parseRuntimeArgs, RUNTIME_USAGE, io);
  if (typeof started === "number") return started;
  const { args: a, target } = started;
  try {
    const doc = await readRuntimeDocument(target);
    const values = { ...(doc?.values ?? {}) };
    switch (a.action) {
      case "list": {
        if (!doc || Object.keys(values).length === 0) {
          io.stdout(`no runtime flags in ${target.description}\n`);
          return 0;
        }
        io.stdout(`runtime flags in ${target.description} (version ${doc.version}, updated ${doc.updated_at}):\n`);
        for (const [k, v] of Object.entries(values).sort(([x], [y]) => (x < y ? -1 : 1))) io.stdout(`${k}=${v}\n`);
        return 0;
      }
      case "get": {
        const v = values[a.key!];
        if (v === undefined) {
          io.stderr(`runtime key '${a.key}' is not set in ${target.description}\n`);
          return 1;
        }
        io.stdout(`${v}\n`);
        return 0;
      }
      case "set": {
        if (values[a.key!] === a.value) {
          io.stdout(`unchanged: ${a.key}=${a.value} already in ${target.description}; nothing written\n`);
          return 0;
        }
        values[a.key!] = a.value!;
        const written = await writeRuntimeDocument(target, doc, values);
        io.stdout(`set ${a.key}=${a.value} in ${target.description} (runtime version ${written.version})\n`);
        return 0;
      }
      case "unset": {
        if (!(a.key! in values)) {
          io.stdout(`unchanged: '${a.key}' is not set in ${target.description}; nothing written\n`);
          return 0;
        }
        delete values[a.key!];
        const written = await writeRuntimeDocument(target, doc, values);
        io.stdout(`unset ${a.key} in ${target.description} (runtime version ${written.version})\n`);
        return 0;
      }
    }
  } catch (e) {
    return reportKvFailure(e, io);
  } finally {
    await target.close().catch(() => undefined);
  }
}
