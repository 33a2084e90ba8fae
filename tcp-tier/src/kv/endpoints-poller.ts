/**
 * The tcp tier's EDS source (issue 6): the endpoints of `type: EDS` clusters, read from KV
 * (`legate/endpoints/<service>`, shared/kv/endpoints.ts, written by `legate endpoints`).
 *
 * - {@link EdsSource}: per process, the last applied assignment of each EDS service and the clusters
 *   following it. Clusters subscribe by service name (tcp-tier/src/upstream/cluster.ts); a cluster built
 *   later (a hot reload) starts from the last known assignment at once. With `--concurrency N` > 1 the
 *   primary owns the poller and its source, and each worker has a source fed by the primary's messages
 *   (tcp-tier/src/workers/).
 * - {@link KvEndpointsPoller}: reads the key of every EDS service of the running config every
 *   `LEGATE_KV_POLL_MS` and publishes what changed. A missing key means no endpoints; a document that does
 *   not parse or compile is rejected (logged once, counted by the clusters as `update_rejected`) and the
 *   last applied assignment stays; a failed read keeps it too (logged once). A document already applied
 *   (same version and content) is skipped.
 */
import type { BootstrapModel, EndpointModel } from "../../../shared/config/model.ts";
import { endpointsKey, parseEndpointsDocument } from "../../../shared/kv/endpoints.ts";
import type { Logger } from "../../../shared/log.ts";
import { PollLoop } from "./poll-loop.ts";
import { DEFAULT_KV_POLL_MS, type KvReader } from "./runtime-poller.ts";

/** One applied ClusterLoadAssignment (compiled). Plain data: it travels to the workers as JSON. */
export interface EdsAssignment {
  /** The document's version. */
  version: number;
  endpoints: EndpointModel[];
  /** `policy.overprovisioning_factor` / 100 when the assignment sets it. */
  overprovisioningFactor?: number;
}

/** What happened to one service's key. */
export type EdsUpdate =
  | { kind: "assignment"; assignment: EdsAssignment }
  /** The key is gone: the cluster has no endpoints. */
  | { kind: "removed" }
  /** A new document that does not parse or compile: kept out, counted. */
  | { kind: "rejected"; error: string };

type Subscriber = (update: EdsUpdate) => void;

/** The EDS service name of each `type: EDS` cluster of a config, by cluster name. */
export function edsServices(model: Pick<BootstrapModel, "clusters">): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, c] of model.clusters) if (c.type === "EDS") out.set(name, c.eds?.serviceName ?? name);
  return out;
}

/** The startup/reload error when a config has EDS clusters but the tcp tier does not read KV; undefined when fine. */
export function edsWithoutKvError(model: Pick<BootstrapModel, "clusters">): string | undefined {
  const names = [...edsServices(model).keys()];
  if (names.length === 0) return undefined;
  const list = names.map((n) => `'${n}'`).join(", ");
  return `cluster${names.length > 1 ? "s" : ""} ${list} ${names.length > 1 ? "are" : "is"} type: EDS, and EDS needs LEGATE_KV (local, remote or edge): the endpoints come from KV (legate endpoints); set LEGATE_KV or use a STATIC cluster`;
}

export class EdsSource {
  /** Per service: the last assignment applied, or null when the key is known to be absent. */
  private readonly state = new Map<string, EdsAssignment | null>();
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly listeners: ((service: string, update: EdsUpdate) => void)[] = [];

  /** The last applied assignment of `service`; null when the key is absent; undefined when never read. */
  current(service: string): EdsAssignment | null | undefined {
    return this.state.get(service);
  }

  /** Calls `fn` with every later update of `service`. Returns the unsubscribe function. */
  subscribe(service: string, fn: Subscriber): () => void {
    let set = this.subscribers.get(service);
    if (!set) this.subscribers.set(service, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.subscribers.get(service) === set) this.subscribers.delete(service);
    };
  }

  /** Calls `fn` after every update of any service (the primary forwards them to its workers). */
  onUpdate(fn: (service: string, update: EdsUpdate) => void): void {
    this.listeners.push(fn);
  }

  /** Records and delivers one update. */
  publish(service: string, update: EdsUpdate): void {
    if (update.kind === "assignment") this.state.set(service, update.assignment);
    else if (update.kind === "removed") this.state.set(service, null);
    for (const fn of [...(this.subscribers.get(service) ?? [])]) fn(update);
    for (const fn of this.listeners) fn(service, update);
  }

  /** Every known service's state, for a worker that starts. */
  snapshot(): [string, EdsAssignment | null][] {
    return [...this.state];
  }

  /** Replays a snapshot as updates (a worker's start, or a worker that may have missed updates). */
  load(entries: readonly [string, EdsAssignment | null][]): void {
    for (const [service, a] of entries) this.publish(service, a ? { kind: "assignment", assignment: a } : { kind: "removed" });
  }
}

/** Polls the endpoints keys of the running config's EDS services and publishes changes to an {@link EdsSource}. */
export class KvEndpointsPoller {
  readonly source: EdsSource;
  private readonly reader: KvReader;
  private readonly logger: Logger;
  private services = new Set<string>();
  /** Per service: the text last read (null: no key), so an unchanged or rejected document is handled once. */
  private readonly lastText = new Map<string, string | null>();
  /** Per service: the read failure last logged. */
  private readonly failing = new Map<string, string>();
  private readonly loop: PollLoop;

  constructor(reader: KvReader, source: EdsSource, logger: Logger, pollMs = DEFAULT_KV_POLL_MS) {
    this.reader = reader;
    this.source = source;
    this.logger = logger;
    this.loop = new PollLoop(pollMs, () => Promise.all([...this.services].map((s) => this.check(s))).then(() => undefined));
  }

  /** The services read (in no order). */
  get watched(): string[] {
    return [...this.services];
  }

  /** Reads every service once now (awaited: listeners start with the endpoints KV holds), then every `pollMs`. */
  async start(services: Iterable<string>): Promise<void> {
    this.services = new Set(services);
    await this.poll();
    this.loop.start();
  }

  /**
   * Replaces the set of services read (a hot reload's config). Services new to the set are read at once
   * (awaited), so a reload's new EDS clusters start with their endpoints.
   */
  async setServices(services: Iterable<string>): Promise<void> {
    const next = new Set(services);
    const added = [...next].filter((s) => !this.services.has(s));
    for (const s of this.services) {
      if (next.has(s)) continue;
      this.lastText.delete(s);
      this.failing.delete(s);
    }
    this.services = next;
    if (added.length) {
      await this.loop.idle();
      await Promise.all(added.map((s) => this.check(s)));
    }
  }

  /** One pass over the services, or the pass already running. Never rejects. */
  poll(): Promise<void> {
    return this.loop.run();
  }

  /** Stops polling; waits for a pass in flight. */
  close(): Promise<void> {
    return this.loop.close();
  }

  private async check(service: string): Promise<void> {
    const key = endpointsKey(service);
    let text: string | null;
    try {
      text = await this.reader.get(key);
    } catch (e) {
      const msg = (e as Error).message;
      if (this.failing.get(service) !== msg) {
        this.logger.error(`reading ${key} from ${this.reader.description} failed: ${msg}; keeping the endpoints last applied`);
      }
      this.failing.set(service, msg);
      return;
    }
    if (this.failing.delete(service)) this.logger.info(`reading ${key} works again`);
    if (!this.services.has(service)) return;
    if (this.lastText.has(service) && this.lastText.get(service) === text) return;
    this.lastText.set(service, text);
    const current = this.source.current(service);
    if (text === null) {
      if (current === null) return;
      if (current !== undefined) this.logger.info(`${key} is gone: EDS service '${service}' has no endpoints`);
      this.source.publish(service, { kind: "removed" });
      return;
    }
    const parsed = parseEndpointsDocument(text, service);
    if (!parsed.ok) {
      this.logger.error(`${key} is rejected: ${parsed.error}; keeping the endpoints last applied`);
      this.source.publish(service, { kind: "rejected", error: parsed.error });
      return;
    }
    // Applied already (the same version and content, e.g. read before a reload). The content is compared
    // too: after `legate endpoints delete` a new document starts again at version 1.
    if (current && current.version === parsed.document.version && JSON.stringify(current.endpoints) === JSON.stringify(parsed.endpoints)
      && current.overprovisioningFactor === parsed.overprovisioningFactor) return;
    const assignment: EdsAssignment = {
      version: parsed.document.version,
      endpoints: parsed.endpoints,
      ...(parsed.overprovisioningFactor !== undefined ? { overprovisioningFactor: parsed.overprovisioningFactor } : {}),
    };
    this.logger.info(`loaded endpoints of EDS service '${service}' version ${assignment.version} (${assignment.endpoints.length} endpoints) from ${this.reader.description}`);
    this.source.publish(service, { kind: "assignment", assignment });
  }
}
