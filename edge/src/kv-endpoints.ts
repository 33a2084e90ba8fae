/**
 * The edge follows `type: EDS` clusters' endpoints through KV (docs/kv-layout.md, "Endpoints"): the
 * document `legate/endpoints/<service name>` (shared/kv/endpoints.ts), written by `legate endpoints`.
 *
 * On each config poll (same interval, same request, in parallel with the pointer read: no request
 * awaits another request's KV I/O) the isolate reads the key of every EDS service of the config it
 * serves, and keeps the last good assignment per service. After the poll, each EDS cluster's runtime
 * (the one the router uses, {@link getClusterRuntime}) is given the assignment with
 * {@link ClusterRuntime.setEndpoints} when it differs from what that runtime last got: hosts that stay
 * keep their state (load, outlier ejection, active health), new hosts join, removed hosts leave, and
 * `health_status` UNHEALTHY/DRAINING/TIMEOUT takes a host out of load balancing. A new config version
 * that rebuilds a cluster's runtime gets the assignment again; one that names a service this isolate
 * never read reads it before the version is published ({@link prepare}), so the first request to it
 * already has hosts.
 *
 * What a read can find:
 * - a document that parses (`parseEndpointsDocument`): it replaces the service's assignment;
 * - no key: the cluster has no endpoints (requests get 503 UH);
 * - a document that does not parse or compile: the previous assignment stays; logged once per text;
 * - a failed read: the previous assignment stays; logged once until a read succeeds.
 *
 * Stats (Envoy's, per cluster, `cluster.<name>.`), counted when a read finds something new (the same
 * text again counts nothing): `update_attempt`; `update_success` for a document applied;
 * `update_rejected` for a bad one; `update_empty` for a missing key or a document without endpoints;
 * `update_failure` for a failed read (every poll); `update_no_rebuild` when a new document leaves a
 * runtime's hosts and their health status as they were. The runtime keeps `membership_change`,
 * `membership_total` and `membership_healthy`. The isolate counts `legate.edge.endpoints_load_failure`
 * for failed reads.
 *
 * Staleness: the poll interval (`LEGATE_CONFIG_POLL_MS`, default 1 s) plus KV propagation on
 * Cloudflare (up to about 60 s; reads use `cacheTtl: 30`). Locally a write shows at the next poll.
 */
import type { BootstrapModel, ClusterModel, EndpointModel } from "../../shared/config/model.ts";
import { endpointsKey, parseEndpointsDocument } from "../../shared/kv/endpoints.ts";
import type { Logger } from "../../shared/log.ts";
import type { Counter, StatsScope } from "../../shared/stats/store.ts";
import { type ClusterRuntime, getClusterRuntime } from "../../shared/upstream/cluster.ts";
import { KV_CACHE_TTL_S } from "./config-cache.ts";

/** One service's assignment as last read; a new object for every change (its identity is the version). */
interface Assignment {
  /** The stored text; null when the key is missing. */
  readonly text: string | null;
  /** The document's `version`; undefined when the key is missing. */
  readonly version: number | undefined;
  readonly endpoints: readonly EndpointModel[];
  readonly overprovisioningFactor: number | undefined;
}

/** What the isolate knows of one EDS service. */
interface ServiceState {
  /** The last good assignment (or the missing key); undefined until a read succeeded. */
  assignment: Assignment | undefined;
  /** The text of the last rejected document, so it is logged and counted once. */
  lastBad: string | undefined;
  /** A read failed and was logged; later failures are counted only, until a read succeeds. */
  failing: boolean;
}

export class KvEndpoints {
  private readonly kv: KVNamespace;
  private readonly stats: StatsScope;
  private readonly log: Logger;
  private readonly failures: Counter;
  private readonly services = new Map<string, ServiceState>();
  /** What each cluster runtime was last given: a new runtime (new config version) is assigned again. */
  private readonly applied = new WeakMap<ClusterRuntime, Assignment>();

  constructor(kv: KVNamespace, stats: StatsScope, log: Logger) {
    this.kv = kv;
    this.stats = stats;
    this.log = log;
    this.failures = stats.counter("legate.edge.endpoints_load_failure");
  }

  /** Reads the document of every EDS service of `model` (the config served now). Never rejects. */
  async check(model: BootstrapModel | undefined): Promise<void> {
    await Promise.all([...edsServices(model)].map(([service, clusters]) => this.read(service, clusters)));
  }

  /**
   * Reads the services of `model` (a version about to be published) that this isolate never read,
   * then gives its EDS clusters what is known, so the version starts with its hosts. Called by the
   * config check that loaded `model`, before it is published. Never rejects.
   */
  async prepare(model: BootstrapModel): Promise<void> {
    const unread = [...edsServices(model)].filter(([service]) => this.services.get(service)?.assignment === undefined);
    await Promise.all(unread.map(([service, clusters]) => this.read(service, clusters)));
    this.apply(model);
  }

  /**
   * Gives each EDS cluster of `model` its service's assignment, where its runtime has not had it yet.
   * Call before health is applied (health iterates the hosts this sets).
   */
  apply(model: BootstrapModel | undefined): void {
    if (!model) return;
    for (const cluster of model.clusters.values()) {
      if (!cluster.eds) continue;
      const assignment = this.services.get(cluster.eds.serviceName)?.assignment;
      if (!assignment) continue;
      const runtime = getClusterRuntime(cluster, this.stats);
      const previous = this.applied.get(runtime);
      if (previous === assignment) continue;
      const hostsBefore = runtime.hosts;
      const statusBefore = hostsBefore.map((h) => h.edsHealthStatus);
      runtime.setEndpoints(assignment.endpoints, assignment.overprovisioningFactor);
      this.applied.set(runtime, assignment);
      const hosts = runtime.hosts;
      const unchanged = previous !== undefined && assignment.overprovisioningFactor === previous.overprovisioningFactor
        && hosts.length === hostsBefore.length && hosts.every((h, i) => h === hostsBefore[i] && h.edsHealthStatus === statusBefore[i]);
      if (unchanged) runtime.stats.counter("update_no_rebuild").inc();
    }
  }

  /** Reads one service's key and keeps what it finds; `clusters` are the ones counting the update. */
  private async read(service: string, clusters: readonly ClusterModel[]): Promise<void> {
    let state = this.services.get(service);
    if (!state) this.services.set(service, (state = { assignment: undefined, lastBad: undefined, failing: false }));
    const key = endpointsKey(service);
    const count = (name: string) => {
      for (const c of clusters) this.stats.counter(`cluster.${c.name}.${name}`).inc();
    };
    let text: string | null;
    try {
      text = await this.kv.get(key, { cacheTtl: KV_CACHE_TTL_S });
    } catch (e) {
      this.failures.inc();
      count("update_attempt");
      count("update_failure");
      if (!state.failing) this.log.error(`reading ${key} failed: ${String(e)}; keeping the endpoints of EDS service "${service}" as they are`);
      state.failing = true;
      return;
    }
    state.failing = false;
    const current = state.assignment;
    if (current && current.text === text) {
      state.lastBad = undefined;
      return;
    }
    if (text === null) {
      state.assignment = { text: null, version: undefined, endpoints: [], overprovisioningFactor: undefined };
      state.lastBad = undefined;
      count("update_attempt");
      count("update_empty");
      this.log.info(`${key} is missing: EDS service "${service}" has no endpoints${current ? "" : " yet"}`);
      return;
    }
    if (text === state.lastBad) return;
    const parsed = parseEndpointsDocument(text, service);
    count("update_attempt");
    if (!parsed.ok) {
      state.lastBad = text;
      count("update_rejected");
      const kept = current ? (current.version === undefined ? "no endpoints (the key was missing)" : `version ${current.version}`) : "no endpoints";
      this.log.error(`${key} is not a valid endpoints document: ${parsed.error}; keeping ${kept}`);
      return;
    }
    state.lastBad = undefined;
    state.assignment = { text, version: parsed.document.version, endpoints: parsed.endpoints, overprovisioningFactor: parsed.overprovisioningFactor };
    count("update_success");
    if (parsed.endpoints.length === 0) count("update_empty");
    this.log.info(`loaded ${key} version ${parsed.document.version} (${parsed.endpoints.length} endpoints)`);
  }
}

/** The EDS services of a config, each with the clusters that use it. */
function edsServices(model: BootstrapModel | undefined): Map<string, ClusterModel[]> {
  const out = new Map<string, ClusterModel[]>();
  if (!model) return out;
  for (const c of model.clusters.values()) {
    if (!c.eds) continue;
    let list = out.get(c.eds.serviceName);
    if (!list) out.set(c.eds.serviceName, (list = []));
    list.push(c);
  }
  return out;
}
