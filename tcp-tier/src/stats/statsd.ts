/**
 * Envoy's statsd sink (`envoy.stat_sinks.statsd`) over UDP, as Envoy's UdpStatsdSink writes it:
 * - every `stats_flush_interval`: each counter that has ever counted as `<prefix>.<name>:<delta>|c`
 *   (the increase since the last flush), each gauge as `<prefix>.<name>:<value>|g`;
 * - each histogram sample as it is recorded: `<prefix>.<name>:<value>|ms` (a statsd timer).
 * One metric per datagram, no tags (Envoy's plain statsd sink). Sends are fire-and-forget: an unreachable
 * statsd server loses metrics, never blocks or fails the server. `/reset_counters` does not lose
 * increments the sink has not sent yet (Envoy's rule: the reset affects only /stats).
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Logger } from "../../../shared/log.ts";
import type { Counter, Histogram, StatsStore } from "../../../shared/stats/store.ts";

export interface StatsdTarget {
  address: string;
  port: number;
  prefix: string;
}

/** A statsd value: integers as they are, fractions with up to 3 decimals (histogram samples are ms). */
function num(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

export class StatsdSinks {
  private readonly targets: { target: StatsdTarget; socket: Socket }[] = [];
  private readonly stats: StatsStore;
  /** Counter values at the last flush (after a reset: what was left to send, carried as a negative baseline). */
  private readonly sent = new Map<Counter, number>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly logger: Logger;
  private closed = false;

  /**
   * `baseline`: counter values already sent by a sink this one replaces (a hot reload changed the sinks),
   * so the first flush sends increases, not totals. Without it, the first flush sends every counter's total.
   */
  constructor(targets: readonly StatsdTarget[], flushIntervalMs: number, stats: StatsStore, logger: Logger, baseline?: ReadonlyMap<Counter, number>) {
    this.stats = stats;
    if (baseline) for (const [c, v] of baseline) this.sent.set(c, v);
    this.logger = logger;
    for (const target of targets) {
      const socket = createSocket(isIPv6(target.address) ? "udp6" : "udp4");
      socket.on("error", (err) => this.logger.debug(`statsd ${target.address}:${target.port}: ${err.message}`));
      socket.unref();
      this.targets.push({ target, socket });
    }
    stats.onHistogramSample((h, v) => this.sample(h, v));
    stats.onBeforeResetCounters(() => {
      if (this.closed) return;
      // Keep the unsent increase: after the reset, delta = value - (sent - value_before) .
      for (const c of this.stats.snapshot().counters) this.sent.set(c, (this.sent.get(c) ?? 0) - c.value);
    });
    this.timer = setInterval(() => this.flush(), Math.max(1, flushIntervalMs));
    this.timer.unref();
  }

  /** Sends counters and gauges now (also called on each interval). */
  flush(): void {
    if (!this.targets.length) return;
    const { counters, gauges } = this.stats.snapshot();
    const lines: string[] = [];
    for (const c of counters) {
      const last = this.sent.get(c);
      // Envoy sends the counters that were ever used.
      if (last === undefined && c.value === 0) continue;
      lines.push(`${c.name}:${num(c.value - (last ?? 0))}|c`);
      this.sent.set(c, c.value);
    }
    for (const g of gauges) lines.push(`${g.name}:${num(g.value)}|g`);
    for (const line of lines) this.send(line);
  }

  private sample(h: Histogram, value: number): void {
    this.send(`${h.name}:${num(value)}|ms`);
  }

  private send(line: string): void {
    for (const { target, socket } of this.targets) {
      socket.send(`${target.prefix}.${line}`, target.port, target.address);
    }
  }

  /** Stops flushing and closes the sockets (after one last flush, so nothing counted is lost). Returns what was sent, as a successor's baseline. */
  close(): ReadonlyMap<Counter, number> {
    clearInterval(this.timer);
    this.flush();
    this.stats.onHistogramSample(undefined);
    this.closed = true;
    // Closed on the next turn, so the datagrams of the last flush leave first.
    const sockets = this.targets.map((t) => t.socket);
    this.targets.length = 0;
    setImmediate(() => {
      for (const socket of sockets) socket.close();
    });
    return this.sent;
  }
}
