/**
 * Hot reload: turning the running set of listeners and clusters into the one a new config describes,
 * without dropping an established connection.
 *
 * - A listener whose canonical config is unchanged (and whose clusters are unchanged: tcp_proxy resolves
 *   its cluster once per config) is kept as is: same socket, same connections.
 * - A changed listener at the same address takes over the old listen socket (no moment of refused
 *   connections, as Envoy hands a changed listener the same socket); the old one stops accepting and its
 *   connections drain.
 * - A removed listener stops accepting and drains. A new one binds.
 * - Clusters: when any cluster changed, a new cluster manager is built and warmed (DNS clusters resolved,
 *   EDS clusters given the last known assignment or waited for) before the swap, and every listener is rebuilt against it; the old one is closed when its listeners
 *   have drained.
 * - Draining lasts until the listener's connections are gone or `--drain-time-s` has passed; then the
 *   remaining connections are closed.
 * - UDP listeners are not hot-reloaded: a config that adds, removes or changes one, or changes clusters
 *   while UDP listeners run (their udp_proxy holds its clusters), is refused (restart to apply it).
 * - Anything that fails before the swap (filter build, bind) leaves the running set untouched.
 */
import type { BootstrapModel, ListenerModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { StatsStore } from "../../../shared/stats/store.ts";
import type { ServerState } from "../admin/handlers.ts";
import { type ActiveListener, ListenerManager } from "../listener/listener-manager.ts";
import { ClusterManager } from "../upstream/cluster-manager.ts";
import { createStaticRuntime, type Runtime } from "../../../shared/runtime/runtime.ts";
import type { EdsSource } from "../kv/endpoints-poller.ts";

/** What one config runs: its clusters and the listeners accepting for it. */
export interface Generation {
  model: BootstrapModel;
  canonical: Record<string, unknown>;
  clusters: ClusterManager;
  /** tcp-tier listeners, accepting, in config order. */
  listeners: ActiveListener[];
}

export interface ReloadDeps {
  stats: StatsStore;
  logger: Logger;
  serverState: ServerState;
  /** Called with listeners (and possibly a cluster manager) that stopped accepting and must drain. */
  drain(listeners: ActiveListener[], clusters: ClusterManager | undefined): void;
  /** The server's live layered runtime (static < KV < admin); absent, the new config's static layers. */
  runtime?: Runtime;
  /** Where a new cluster manager's EDS clusters get their endpoints (the last known assignment at once). */
  eds?: EdsSource;
}

type Obj = Record<string, unknown>;

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function staticResources(canonical: Obj): Obj {
  return (canonical.static_resources as Obj | undefined) ?? {};
}

/** JSON with sorted keys, so two equal configs compare equal whatever their key order. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

function canonicalListeners(canonical: Obj): Map<string, string> {
  return new Map(list(staticResources(canonical).listeners).map((l) => [String(l.name ?? ""), stableJson(l)]));
}

/** True when `next` asks for the address `old` has bound (port 0 in both configs counts as the same: the kernel's earlier choice). */
function sameAddress(old: ActiveListener, next: ListenerModel): boolean {
  const a = old.model.address;
  const b = next.address;
  return a.address === b.address && a.protocol === b.protocol && (a.port === b.port || old.boundAddress?.port === b.port);
}

export interface ReloadOutcome {
  generation: Generation;
  added: string[];
  modified: string[];
  removed: string[];
  kept: string[];
}

/**
 * Builds and swaps in the new generation. Rejects (leaving `current` serving) when a filter cannot be
 * built or a new address cannot be bound.
 */
export async function applyReload(current: Generation, next: { model: BootstrapModel; canonical: Obj }, deps: ReloadDeps): Promise<ReloadOutcome> {
  const { stats, logger } = deps;
  const clustersSame = stableJson(list(staticResources(current.canonical).clusters)) === stableJson(list(staticResources(next.canonical).clusters));
  const udpJson = (g: { model: BootstrapModel; canonical: Obj }) => {
    const all = canonicalListeners(g.canonical);
    return g.model.listeners.filter((m) => !m.edge && m.address.protocol === "UDP").map((m) => `${m.name}=${all.get(m.name)}`).join("\n");
  };
  const udp = udpJson(current);
  if (udp !== udpJson(next)) throw new Error("UDP listeners were added, removed or changed: UDP listener changes take effect on restart, not on reload");
  if (udp && !clustersSame) throw new Error("clusters changed while UDP listeners run: their udp_proxy keeps its clusters until restart, so this reload needs a restart");
  const clusters = clustersSame ? current.clusters : new ClusterManager(next.model.clusters, stats, logger, deps.eds, deps.runtime ?? createStaticRuntime(next.model.runtime));
  try {
    if (!clustersSame) await clusters.initialize();
    const oldJson = canonicalListeners(current.canonical);
    const newJson = canonicalListeners(next.canonical);
    const oldByName = new Map(current.listeners.map((l) => [l.model.name, l]));
    const tcpModels = next.model.listeners.filter((m) => !m.edge && m.address.protocol === "TCP");
    const keep = new Map<string, ActiveListener>();
    const toBuild: ListenerModel[] = [];
    for (const m of tcpModels) {
      const old = oldByName.get(m.name);
      if (old && clustersSame && oldJson.get(m.name) === newJson.get(m.name)) keep.set(m.name, old);
      else toBuild.push(m);
    }
    // Edge listeners are skipped by the manager; only tcp-tier ones are built here.
    const built = toBuild.length ? new ListenerManager(toBuild, { clusterManager: clusters, stats, logger, serverState: deps.serverState, runtime: deps.runtime ?? createStaticRuntime(next.model.runtime) }).all() : [];
    const adopt = new Map<ActiveListener, ActiveListener>();
    const bound: ActiveListener[] = [];
    try {
      for (const l of built) {
        const old = oldByName.get(l.model.name);
        if (old && old.accepting && sameAddress(old, l.model)) adopt.set(l, old);
        else {
          await l.bind();
          bound.push(l);
        }
      }
    } catch (err) {
      await Promise.all(bound.map((l) => l.close()));
      throw err;
    }

    // The swap: nothing below can fail.
    for (const [l, old] of adopt) l.adoptSocket(old);
    const builtByName = new Map(built.map((l) => [l.model.name, l]));
    const listeners = tcpModels.map((m) => keep.get(m.name) ?? builtByName.get(m.name)!);
    const retired = current.listeners.filter((l) => !keep.has(l.model.name) || keep.get(l.model.name) !== l);
    const removed = current.listeners.filter((l) => !tcpModels.some((m) => m.name === l.model.name)).map((l) => l.model.name);
    const modified = built.filter((l) => oldByName.has(l.model.name)).map((l) => l.model.name);
    const added = built.filter((l) => !oldByName.has(l.model.name)).map((l) => l.model.name);
    for (const l of retired) if (l.accepting) await l.stopAccepting();
    // The old clusters stay up for the draining connections, but their health checks and EDS updates
    // stop now: the new clusters check the same hosts and follow the same services, under the same stat names.
    if (!clustersSame) {
      current.clusters.stopHealthChecks();
      current.clusters.stopEdsUpdates();
    }
    deps.drain(retired, clustersSame ? undefined : current.clusters);

    stats.counter("listener_manager.listener_added").inc(added.length);
    stats.counter("listener_manager.listener_modified").inc(modified.length);
    stats.counter("listener_manager.listener_removed").inc(removed.length);
    stats.gauge("listener_manager.total_listeners_active").set(listeners.length);
    for (const l of [...bound]) logger.info(`listener "${l.model.name}" listening on ${l.boundAddress?.address}:${l.boundAddress?.port}`);
    return {
      generation: { model: next.model, canonical: next.canonical, clusters, listeners },
      added,
      modified,
      removed,
      kept: [...keep.keys()],
    };
  } catch (err) {
    if (!clustersSame) clusters.close();
    throw err;
  }
}
