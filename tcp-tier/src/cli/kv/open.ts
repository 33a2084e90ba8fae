/**
 * Chooses and opens the KV target for `push`, `versions` and `rollback` from the command line, the
 * environment and the wrangler config (which names the LEGATE_KV namespace and, optionally, the account).
 */
import { dirname, resolve } from "node:path";
import type { KvArgs } from "../args.ts";
import type { ResolvedIo } from "../io.ts";
import { findWranglerConfig, KV_BINDING, readWranglerConfig, type WranglerConfig, WranglerConfigError } from "../wrangler-config.ts";
import { edgeKvOptionsFromEnv, edgeKvTarget } from "./edge.ts";
import { localKvTarget } from "./local.ts";
import { DEFAULT_API_BASE_URL, remoteKvTarget } from "./remote.ts";
import { KvError, type KvTarget } from "./target.ts";

export interface OpenedKv {
  target: KvTarget;
  /** The wrangler config read, if any. */
  wrangler?: WranglerConfig;
}

const PLACEHOLDER_ID = /^0+$/;

/**
 * Resolves the target. Throws {@link KvError} (`LEGATE_KV_CONFIG`) with an actionable message when a
 * token, account or namespace id (or, for `edge`, LEGATE_KV_EDGE_URL or LEGATE_KV_EDGE_TOKEN) is missing. Opens nothing yet: the local target starts miniflare on
 * first use, the remote one sends nothing until asked.
 */
export function openKvTarget(args: KvArgs, env: Record<string, string | undefined>, cwd: string): OpenedKv {
  // The tcp tier's LEGATE_KV=edge: no wrangler config, no namespace; the edge's admin API and its token.
  if (args.target === "edge") return { target: edgeKvTarget(edgeKvOptionsFromEnv(env)) };
  let wrangler: WranglerConfig | undefined;
  const configPath = args.wranglerConfig !== undefined ? resolve(cwd, args.wranglerConfig) : findWranglerConfig(cwd);
  if (configPath !== undefined) {
    try {
      wrangler = readWranglerConfig(configPath);
    } catch (e) {
      if (e instanceof WranglerConfigError) throw new KvError("LEGATE_KV_CONFIG", e.message);
      throw e;
    }
  }
  const binding = wrangler?.kvNamespaces.find((n) => n.binding === KV_BINDING);
  const noConfig = `no wrangler config found (wrangler.json, wrangler.jsonc or wrangler.toml in ${cwd} or a parent); pass --wrangler-config <path> or --namespace-id <id>`;
  const noBinding = `${wrangler?.path} has no ${KV_BINDING} binding in kv_namespaces; add one or pass --namespace-id <id>`;

  if (args.target === "local") {
    let namespaceId = args.namespaceId;
    if (namespaceId === undefined) {
      if (!wrangler) throw new KvError("LEGATE_KV_CONFIG", noConfig);
      if (!binding) throw new KvError("LEGATE_KV_CONFIG", noBinding);
      // As wrangler dev: the binding's id, or its name when it has none.
      namespaceId = binding.id ?? binding.binding;
    }
    const base = wrangler ? dirname(wrangler.path) : cwd;
    const persistTo = args.persistTo !== undefined ? resolve(cwd, args.persistTo) : resolve(base, ".wrangler/state");
    return { target: localKvTarget({ persistTo, namespaceId }), ...(wrangler ? { wrangler } : {}) };
  }

  const apiToken = env.CLOUDFLARE_API_TOKEN;
  if (!apiToken) {
    throw new KvError(
      "LEGATE_KV_CONFIG",
      "CLOUDFLARE_API_TOKEN is not set: create an API token with Workers KV Storage edit permission and export it",
    );
  }
  const accountId = env.CLOUDFLARE_ACCOUNT_ID || wrangler?.accountId;
  if (!accountId) {
    throw new KvError(
      "LEGATE_KV_CONFIG",
      `no Cloudflare account id: set CLOUDFLARE_ACCOUNT_ID or account_id in ${wrangler?.path ?? "the wrangler config"}`,
    );
  }
  let namespaceId = args.namespaceId;
  if (namespaceId === undefined) {
    if (!wrangler) throw new KvError("LEGATE_KV_CONFIG", noConfig);
    if (!binding) throw new KvError("LEGATE_KV_CONFIG", noBinding);
    if (binding.id === undefined || PLACEHOLDER_ID.test(binding.id)) {
      throw new KvError(
        "LEGATE_KV_CONFIG",
        `the ${KV_BINDING} binding in ${wrangler.path} has no real namespace id` +
          `${binding.id !== undefined ? ` (${binding.id} is the placeholder)` : ""}: create one with ` +
          "`npx wrangler kv namespace create LEGATE_KV` and put its id there, or pass --namespace-id <id>",
      );
    }
    namespaceId = binding.id;
  }
  const baseUrl = env.CLOUDFLARE_API_BASE_URL || DEFAULT_API_BASE_URL;
  return { target: remoteKvTarget({ apiToken, accountId, namespaceId, baseUrl }), ...(wrangler ? { wrangler } : {}) };
}

/** The edge's LEGATE_EDGE_LISTENER from the wrangler config's [vars], when set and non-empty. */
export function edgeListenerFromWrangler(wrangler: WranglerConfig | undefined): string | undefined {
  const v = wrangler?.vars.LEGATE_EDGE_LISTENER;
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * The start every KV subcommand shares (`legate runtime`, `legate status`): parse its arguments, print
 * its usage for `help`, open its KV target. Returns the exit code instead when it should stop there.
 */
export function startKvCommand<A extends KvArgs>(
  name: string,
  argv: readonly string[],
  parse: (argv: readonly string[]) => A | "help",
  usage: string,
  io: ResolvedIo,
): { args: A; target: KvTarget } | number {
  let args: A | "help";
  try {
    args = parse(argv);
  } catch (e) {
    io.stderr(`error: ${name}: ${(e as Error).message}\n\n${usage}`);
    return 1;
  }
  if (args === "help") {
    io.stdout(usage);
    return 0;
  }
  try {
    return { args, target: openKvTarget(args, io.env, io.cwd).target };
  } catch (e) {
    io.stderr(`error: ${(e as Error).message}\n`);
    return 1;
  }
}
