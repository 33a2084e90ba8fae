/**
 * The tcp tier pointed at KV (docs/kv-layout.md, "The tcp tier and KV"): chosen by environment, so the
 * Envoy command line stays Envoy's.
 *
 * - `LEGATE_KV`: `local` (the miniflare state `wrangler dev` reads, as `legate push --local`),
 *   `remote` (Cloudflare's REST API, `CLOUDFLARE_API_TOKEN`, as `legate push --remote`) or `edge` (the
 *   edge Worker's admin API: `LEGATE_KV_EDGE_URL`, `LEGATE_KV_EDGE_TOKEN`; cli/kv/edge.ts). Unset or
 *   empty: the tcp tier does not read KV.
 * - `LEGATE_KV_PERSIST_TO`, `LEGATE_KV_NAMESPACE_ID`, `LEGATE_KV_WRANGLER_CONFIG`: as `--persist-to`,
 *   `--namespace-id`, `--wrangler-config`.
 * - `LEGATE_KV_POLL_MS`: poll interval of runtime flags and EDS endpoints (default 1000, minimum 100).
 * - `LEGATE_NODE_ID`: this node's name in health keys (default: the bootstrap's `node.id`, else the
 *   host name).
 */
import { hostname } from "node:os";
import type { Logger } from "../../../shared/log.ts";
import type { KvArgs } from "../cli/args.ts";
import { edgeKvOptionsFromEnv } from "../cli/kv/edge.ts";
import { openKvTarget } from "../cli/kv/open.ts";
import type { KvTarget } from "../cli/kv/target.ts";
import { EdsSource, KvEndpointsPoller } from "./endpoints-poller.ts";
import { type HealthSourceCluster, KvHealthPublisher } from "./health-publisher.ts";
import { DEFAULT_KV_POLL_MS, KvRuntimePoller } from "./runtime-poller.ts";

export interface KvControl {
  readonly target: KvTarget;
  /** LEGATE_KV_POLL_MS. */
  readonly pollMs: number;
  readonly runtime: KvRuntimePoller;
  /** The endpoints of the running config's EDS clusters (kv/endpoints-poller.ts). */
  readonly endpoints: KvEndpointsPoller;
  /** What the clusters (or, with workers, the primary) follow: `endpoints.source`. */
  readonly eds: EdsSource;
  /**
   * Starts publishing the active-health-check verdicts of `clusters()` (those with `health_checks`) as
   * node `nodeId` (kv/health-publisher.ts). At most once.
   */
  startHealth(clusters: () => Iterable<HealthSourceCluster>, nodeId: string): KvHealthPublisher;
  close(): Promise<void>;
}

/** This node's id in health keys: LEGATE_NODE_ID, else the bootstrap's `node.id`, else the host name. */
export function healthNodeId(env: Record<string, string | undefined>, bootstrapNodeId: string | undefined): string {
  return env.LEGATE_NODE_ID || bootstrapNodeId || hostname();
}

/** Reads the environment; undefined when LEGATE_KV is unset. Throws on a bad setting. */
export function kvArgsFromEnv(env: Record<string, string | undefined>): { kv: KvArgs; pollMs: number } | undefined {
  const mode = env.LEGATE_KV;
  if (mode === undefined || mode === "") return undefined;
  if (mode !== "local" && mode !== "remote" && mode !== "edge") throw new Error(`LEGATE_KV='${mode}' is not 'local', 'remote' or 'edge'`);
  // A missing or bad LEGATE_KV_EDGE_URL / LEGATE_KV_EDGE_TOKEN is a startup error naming the variable.
  if (mode === "edge") edgeKvOptionsFromEnv(env);
  const kv: KvArgs = { target: mode };
  if (env.LEGATE_KV_PERSIST_TO) kv.persistTo = env.LEGATE_KV_PERSIST_TO;
  if (env.LEGATE_KV_NAMESPACE_ID) kv.namespaceId = env.LEGATE_KV_NAMESPACE_ID;
  if (env.LEGATE_KV_WRANGLER_CONFIG) kv.wranglerConfig = env.LEGATE_KV_WRANGLER_CONFIG;
  let pollMs = DEFAULT_KV_POLL_MS;
  const p = env.LEGATE_KV_POLL_MS;
  if (p !== undefined && p !== "") {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 100) throw new Error(`LEGATE_KV_POLL_MS='${p}' is not an integer of at least 100`);
    pollMs = n;
  }
  return { kv, pollMs };
}

/**
 * Opens the target and starts the runtime poller and the endpoints poller of `edsServices` (the running
 * config's EDS service names; first reads awaited). Undefined when LEGATE_KV is unset.
 */
/**
 * Runs `fn` (a first use of a KV target) and removes the SIGINT/SIGTERM handlers it added: the local
 * target opens miniflare on first use, which adds handlers that exit at once (code 130/143). The CLI
 * has its own (drain, then close KV, which disposes of miniflare).
 */
export async function withoutKvSignalHandlers<T>(fn: () => Promise<T>): Promise<T> {
  const before = { SIGINT: process.listeners("SIGINT"), SIGTERM: process.listeners("SIGTERM") };
  try {
    return await fn();
  } finally {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
    }
  }
}

/** Opens the KV target the environment names (LEGATE_KV); undefined when it names none. Throws on a bad setting. */
export function openKvFromEnv(env: Record<string, string | undefined>, cwd: string): { target: KvTarget; pollMs: number } | undefined {
  const settings = kvArgsFromEnv(env);
  if (!settings) return undefined;
  return { target: openKvTarget(settings.kv, env, cwd).target, pollMs: settings.pollMs };
}

/**
 * Starts the runtime and endpoints pollers (first reads awaited). Undefined when LEGATE_KV is unset.
 * `opened`: a target already opened with {@link openKvFromEnv} (`--config-from-kv` reads the config first).
 */
export async function startKvControl(
  env: Record<string, string | undefined>,
  cwd: string,
  logger: Logger,
  edsServices: Iterable<string> = [],
  opened?: { target: KvTarget; pollMs: number },
): Promise<KvControl | undefined> {
  const kv = opened ?? openKvFromEnv(env, cwd);
  if (!kv) return undefined;
  const { target } = kv;
  const settings = { pollMs: kv.pollMs };
  const runtime = new KvRuntimePoller(target, logger, settings.pollMs);
  const eds = new EdsSource();
  const endpoints = new KvEndpointsPoller(target, eds, logger, settings.pollMs);
  try {
    await withoutKvSignalHandlers(async () => {
      await runtime.start();
      await endpoints.start(edsServices);
    });
  } catch (e) {
    await runtime.close();
    await target.close().catch(() => undefined);
    throw e;
  }
  logger.info(`reading runtime flags from ${target.description} every ${settings.pollMs} ms`);
  if (endpoints.watched.length) logger.info(`reading the endpoints of EDS services ${endpoints.watched.map((s) => `'${s}'`).join(", ")} every ${settings.pollMs} ms`);
  let health: KvHealthPublisher | undefined;
  return {
    target,
    pollMs: settings.pollMs,
    runtime,
    endpoints,
    eds,
    startHealth(clusters, nodeId) {
      if (health) return health;
      health = new KvHealthPublisher(target, nodeId, clusters, logger);
      health.start();
      logger.info(`publishing active health check results to ${target.description} as node '${nodeId}'`);
      return health;
    },
    async close() {
      await health?.close();
      await runtime.close();
      await endpoints.close();
      await target.close().catch(() => undefined);
    },
  };
}
