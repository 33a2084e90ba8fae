/**
 * Draining: listeners that no longer accept (replaced or removed by a hot reload, stopped by
 * /drain_listeners, or all of them on SIGTERM) keep their open connections until those finish or the
 * drain time (`--drain-time-s`, Envoy's default 600 s) runs out; then the rest are closed. A cluster
 * manager retired by a reload is closed with the last of its listeners.
 */
import type { Logger } from "../../../shared/log.ts";
import type { Gauge, StatsStore } from "../../../shared/stats/store.ts";
import type { ActiveListener } from "../listener/listener-manager.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";

/** How often draining listeners are checked for their last connection. */
const POLL_MS = 50;

interface Group {
  listeners: Set<ActiveListener>;
  clusters: ClusterManager | undefined;
  deadline: number;
}

export class Drainer {
  private readonly groups = new Set<Group>();
  private readonly drainMs: number;
  private readonly logger: Logger;
  private readonly gauge: Gauge;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly idleWaiters = new Set<() => void>();

  constructor(drainMs: number, stats: StatsStore, logger: Logger) {
    this.drainMs = drainMs;
    this.logger = logger;
    this.gauge = stats.gauge("listener_manager.total_listeners_draining");
  }

  /** Drains `listeners` (already not accepting); closes `clusters` once they are all closed. */
  drain(listeners: readonly ActiveListener[], clusters?: ClusterManager): void {
    if (!listeners.length && !clusters) return;
    this.groups.add({ listeners: new Set(listeners), clusters, deadline: Date.now() + this.drainMs });
    this.update();
    this.timer ??= setInterval(() => this.sweep(), POLL_MS);
    this.sweep();
  }

  /** Listeners still draining. */
  get listeners(): ActiveListener[] {
    return [...this.groups].flatMap((g) => [...g.listeners]);
  }

  /** Resolves when nothing is draining any more (at once when nothing is). */
  idle(): Promise<void> {
    if (this.groups.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /** Ends every drain now: closes the remaining connections and retired cluster managers. */
  async closeAll(): Promise<void> {
    const groups = [...this.groups];
    this.groups.clear();
    await Promise.all(groups.map((g) => this.finish(g)));
    this.stop();
  }

  private sweep(): void {
    const now = Date.now();
    for (const g of this.groups) {
      for (const l of g.listeners) {
        if (l.connectionCount === 0 || now >= g.deadline) {
          if (l.connectionCount > 0) this.logger.info(`listener "${l.model.name}": drain time over, closing ${l.connectionCount} remaining connection(s)`);
          g.listeners.delete(l);
          void l.close();
        }
      }
      if (g.listeners.size === 0) {
        this.groups.delete(g);
        g.clusters?.close();
      }
    }
    this.update();
    if (this.groups.size === 0) this.stop();
  }

  private async finish(g: Group): Promise<void> {
    await Promise.all([...g.listeners].map((l) => l.close()));
    g.clusters?.close();
  }

  private update(): void {
    this.gauge.set(this.listeners.length);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.update();
    for (const w of this.idleWaiters) w();
    this.idleWaiters.clear();
  }
}
