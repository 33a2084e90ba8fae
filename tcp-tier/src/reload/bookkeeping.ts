/**
 * What a reload does besides swapping listeners and clusters, the same for the single-process server
 * (server.ts) and the workers' primary (workers/primary.ts): Envoy-style counters
 * `server.config_reload.{attempt,success,rejected}`, the outcome shown by /server_info, the admin
 * context's view of the config, and the statsd sinks, restarted when their config changed.
 */
import type { BootstrapModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Counter, StatsStore } from "../../../shared/stats/store.ts";
import type { AdminContext, ServerState } from "../admin/handlers.ts";
import { StatsdSinks } from "../stats/statsd.ts";
import { type ReloadOutcome, stableJson } from "./apply.ts";

type Next = { model: BootstrapModel; canonical: Record<string, unknown> };

export class ReloadBookkeeping {
  private readonly stats: StatsStore;
  private readonly state: ServerState;
  private readonly logger: Logger;
  private readonly counters: { attempt: Counter; success: Counter; rejected: Counter };
  private sinks: StatsdSinks | undefined;

  constructor(stats: StatsStore, state: ServerState, logger: Logger) {
    this.stats = stats;
    this.state = state;
    this.logger = logger;
    this.counters = {
      attempt: stats.counter("server.config_reload.attempt"),
      success: stats.counter("server.config_reload.success"),
      rejected: stats.counter("server.config_reload.rejected"),
    };
  }

  /** Starts the statsd sinks of the first config (none when it configures none). */
  startSinks(model: BootstrapModel): void {
    this.sinks = this.makeSinks(model);
  }

  /** Stops the sinks (server shutdown). */
  closeSinks(): void {
    this.sinks?.close();
    this.sinks = undefined;
  }

  attempted(): void {
    this.counters.attempt.inc();
  }

  /** A refused config: counted, shown by /server_info, logged; the running config keeps serving. */
  rejected(error: string): void {
    this.counters.rejected.inc();
    this.state.lastReload = { time: new Date().toISOString(), ok: false, error };
    this.logger.error(`config reload rejected, the running config keeps serving: ${error}`);
  }

  /** A config now serving: the admin context follows it, sinks restart if theirs changed, and it is counted and logged. */
  succeeded(ctx: AdminContext, next: Next, runningAdmin: unknown, outcome: Omit<ReloadOutcome, "generation">): void {
    const sinksChanged = stableJson(next.model.statsSinks) !== stableJson(ctx.model.statsSinks);
    ctx.model = next.model;
    ctx.canonical = next.canonical;
    ctx.configTime = Date.now();
    ctx.runtime.load(next.canonical);
    if (sinksChanged) {
      // The new sinks start from what the old ones sent, so no increment is lost or sent twice.
      const sent = this.sinks?.close();
      this.sinks = this.makeSinks(next.model, sent);
    }
    if (stableJson(next.canonical.admin) !== stableJson(runningAdmin)) {
      this.logger.warn("the admin section changed: it takes effect on restart (the admin port is not rebound on reload)");
    }
    this.counters.success.inc();
    this.state.lastReload = { time: new Date().toISOString(), ok: true };
    this.logger.info(
      `config reloaded: listeners added [${outcome.added.join(", ")}], modified [${outcome.modified.join(", ")}], removed [${outcome.removed.join(", ")}], unchanged [${outcome.kept.join(", ")}]`,
    );
  }

  private makeSinks(m: BootstrapModel, baseline?: ReadonlyMap<Counter, number>): StatsdSinks | undefined {
    return m.statsSinks?.statsd.length ? new StatsdSinks(m.statsSinks.statsd, m.statsSinks.flushIntervalMs, this.stats, this.logger, baseline) : undefined;
  }
}
