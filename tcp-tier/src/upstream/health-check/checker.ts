/**
 * Active health checking of one tcp-tier cluster: for each `health_checks` entry, one session per host
 * running Envoy's state machine.
 *
 * - A host starts unhealthy (`failed_active_hc`) and the first check of it decides alone: a success
 *   makes it healthy at once (Envoy does the same, so a cluster does not wait `healthy_threshold`
 *   intervals after startup). The cluster's initialization waits for that first round.
 * - Afterwards `healthy_threshold` consecutive successes make an unhealthy host healthy, and
 *   `unhealthy_threshold` consecutive network failures, timeouts or retriable statuses make a healthy host
 *   unhealthy; a non-retriable bad answer (an unexpected HTTP status, `x-envoy-immediate-health-check-fail`,
 *   a service name mismatch) makes it unhealthy at once.
 * - The next check starts when the previous one ended, after: `no_traffic_interval`
 *   (`no_traffic_healthy_interval` for a healthy host) while the cluster has never had an upstream
 *   connection; else `healthy_edge_interval` / `unhealthy_edge_interval` right after a change, `interval`
 *   for a healthy host and `unhealthy_interval` for an unhealthy one. A random extra time up to
 *   `interval_jitter_percent` of that interval plus up to `interval_jitter` is added. The very first check
 *   waits a random time up to `initial_jitter`.
 * - With several `health_checks`, a host is healthy when every one of them finds it healthy.
 *
 * Stats (`cluster.<name>.health_check.`): counters `attempt`, `success`, `failure`, `network_failure`
 * (network failures and timeouts), `verify_cluster`, `passive_failure` (kept at 0: no HTTP router here; outlier detection does
 * not feed it); gauges `healthy` (hosts the checker finds healthy) and `degraded` (0: degraded hosts are
 * not modelled).
 */
import type { HealthCheckModel } from "../../../../shared/config/model.ts";
import type { Logger } from "../../../../shared/log.ts";
import { compileStringMatcher } from "../../../../shared/http/matchers.ts";
import type { Counter, Gauge, StatsScope } from "../../../../shared/stats/store.ts";
import type { Host } from "../host.ts";
import { type CheckerType, HealthCheckEventLog } from "./event-log.ts";
import { HttpProber, httpCheckHeaders, type HttpCheckPlan } from "./http.ts";
import { TcpProber, tcpCheckPlan, type TcpCheckPlan } from "./tcp.ts";
import { GrpcProber } from "./grpc.ts";
import { RedisProber } from "./redis.ts";
import type { CheckResult, FailureType, HostConnector, Prober } from "./types.ts";

export interface HealthCheckDeps {
  clusterName: string;
  /** The cluster's stats scope (`cluster.<name>.`). */
  stats: StatsScope;
  connector: HostConnector;
  logger: Logger;
  /** Whether the cluster has had an upstream connection yet (until then: `no_traffic_interval`). */
  hadTraffic(): boolean;
  /** A host's active health changed: the cluster applies {@link ClusterHealthChecker.isHealthy} to its load balancer. */
  onHealthChanged(host: Host): void;
  /** Uniform in [0, 1), for jitter. Default Math.random. */
  random?: () => number;
}

interface HealthCheckStats {
  attempt: Counter;
  success: Counter;
  failure: Counter;
  networkFailure: Counter;
  verifyCluster: Counter;
  passiveFailure: Counter;
  healthy: Gauge;
  degraded: Gauge;
}

const CHECKER_TYPES: Record<HealthCheckModel["checker"]["kind"], CheckerType> = { http: "HTTP", tcp: "TCP", grpc: "GRPC", redis: "REDIS" };

/** One `health_checks` entry: its compiled plan and a session per host. */
class Checker {
  readonly model: HealthCheckModel;
  readonly type: CheckerType;
  readonly sessions = new Map<Host, Session>();
  readonly httpPlan: HttpCheckPlan | undefined;
  readonly tcpPlan: TcpCheckPlan | undefined;
  readonly eventLog: HealthCheckEventLog | undefined;
  readonly owner: ClusterHealthChecker;

  constructor(model: HealthCheckModel, owner: ClusterHealthChecker) {
    this.model = model;
    this.owner = owner;
    const c = model.checker;
    this.type = CHECKER_TYPES[c.kind];
    if (c.kind === "http") {
      this.httpPlan = {
        model: c,
        headers: httpCheckHeaders(c, owner.deps.clusterName),
        ...(c.serviceNameMatcher ? { serviceNameMatcher: compileStringMatcher(c.serviceNameMatcher) } : {}),
        verifyCluster: owner.stats.verifyCluster,
      };
    } else if (c.kind === "tcp") {
      this.tcpPlan = tcpCheckPlan(c);
    }
    this.eventLog = model.eventLogPath ? new HealthCheckEventLog(model.eventLogPath, owner.deps.logger) : undefined;
  }

  prober(host: Host): Prober {
    const { connector, clusterName } = this.owner.deps;
    const c = this.model.checker;
    const reuse = this.model.reuseConnection;
    switch (c.kind) {
      case "http": return new HttpProber(this.httpPlan!, host.address, host.port, connector, reuse);
      case "tcp": return new TcpProber(this.tcpPlan!, host.address, host.port, connector, reuse);
      case "grpc": return new GrpcProber(c, clusterName, host.address, host.port, connector, reuse);
      case "redis": return new RedisProber(c, host.address, host.port, connector, reuse);
    }
  }

  updateHealthyGauge(): void {
    let n = 0;
    for (const s of this.sessions.values()) if (!s.unhealthy) n++;
    this.owner.stats.healthy.set(n);
  }
}

/** One host under one checker. */
class Session {
  unhealthy = true;
  firstCheck = true;
  private numHealthy = 0;
  private numUnhealthy = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  /** Incremented per check, so a late result of an abandoned check is ignored. */
  private checkId = 0;
  private stopped = false;
  private readonly prober: Prober;
  private readonly checker: Checker;
  readonly host: Host;

  constructor(checker: Checker, host: Host) {
    this.checker = checker;
    this.host = host;
    this.prober = checker.prober(host);
  }

  start(): void {
    const jitter = this.checker.model.initialJitterMs;
    this.schedule(jitter > 0 ? Math.floor(this.checker.owner.random() * jitter) : 0);
  }

  stop(): void {
    this.stopped = true;
    this.checkId++;
    if (this.timer) clearTimeout(this.timer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.prober.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), ms);
    // The first check is awaited by cluster warming (firstRound), before any listener holds the process open.
    if (!this.firstCheck) this.timer.unref();
  }

  private run(): void {
    this.timer = undefined;
    const id = ++this.checkId;
    this.checker.owner.stats.attempt.inc();
    this.timeoutTimer = setTimeout(() => {
      if (id !== this.checkId) return;
      this.checkId++;
      this.prober.abort();
      this.onResult({ ok: false, type: "NETWORK_TIMEOUT", retriable: false });
    }, this.checker.model.timeoutMs);
    if (!this.firstCheck) this.timeoutTimer.unref();
    this.prober.check((r) => {
      if (id !== this.checkId || this.stopped) return;
      this.checkId++;
      this.onResult(r);
    });
  }

  private onResult(r: CheckResult): void {
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    if (this.stopped) return;
    const changed = r.ok ? this.handleSuccess() : this.handleFailure(r.type, r.retriable);
    const wasFirst = this.firstCheck;
    this.firstCheck = false;
    if (changed) {
      this.checker.updateHealthyGauge();
      this.checker.owner.deps.onHealthChanged(this.host);
    }
    if (wasFirst) this.checker.owner.firstCheckDone(this);
    this.schedule(this.interval(changed));
  }

  private handleSuccess(): boolean {
    this.numUnhealthy = 0;
    this.checker.owner.stats.success.inc();
    if (!this.unhealthy) return false;
    if (!this.firstCheck && ++this.numHealthy < this.checker.model.healthyThreshold) return false;
    this.unhealthy = false;
    this.numHealthy = 0;
    this.log({ add_healthy_event: { first_check: this.firstCheck } });
    return true;
  }

  private handleFailure(type: FailureType, retriable: boolean): boolean {
    const stats = this.checker.owner.stats;
    this.numHealthy = 0;
    stats.failure.inc();
    if (type !== "ACTIVE") stats.networkFailure.inc();
    let changed = false;
    if (!this.unhealthy && ((type === "ACTIVE" && !retriable) || ++this.numUnhealthy >= this.checker.model.unhealthyThreshold)) {
      this.unhealthy = true;
      this.numUnhealthy = 0;
      changed = true;
      this.log({ eject_unhealthy_event: { failure_type: type } });
    }
    if (!changed && (this.firstCheck || this.checker.model.alwaysLogHealthCheckFailures)) {
      this.log({ health_check_failure_event: { failure_type: type, first_check: this.firstCheck } });
    }
    return changed;
  }

  private log(event: Parameters<HealthCheckEventLog["log"]>[4]): void {
    this.checker.eventLog?.log(this.checker.type, this.checker.owner.deps.clusterName, this.host.address, this.host.port, event);
  }

  /** Envoy's interval choice, with jitter. */
  private interval(changed: boolean): number {
    const m = this.checker.model;
    const healthy = !this.unhealthy;
    let base: number;
    if (!this.checker.owner.deps.hadTraffic()) base = healthy ? m.noTrafficHealthyIntervalMs : m.noTrafficIntervalMs;
    else if (healthy) base = changed ? m.healthyEdgeIntervalMs : m.intervalMs;
    else base = changed ? m.unhealthyEdgeIntervalMs : m.unhealthyIntervalMs;
    const random = this.checker.owner.random;
    let jitter = 0;
    if (m.intervalJitterPercent > 0) jitter += Math.floor(random() * ((m.intervalJitterPercent * base) / 100));
    if (m.intervalJitterMs > 0) jitter += Math.floor(random() * m.intervalJitterMs);
    return base + jitter;
  }
}

/** Every health check of one cluster, over its current hosts. */
export class ClusterHealthChecker {
  readonly deps: HealthCheckDeps;
  readonly stats: HealthCheckStats;
  readonly random: () => number;
  private readonly checkers: Checker[];
  private closed = false;
  /** Sessions whose first check has not ended yet, and who waits for that. */
  private readonly pendingFirst = new Set<Session>();
  private firstWaiters: (() => void)[] = [];

  constructor(models: readonly HealthCheckModel[], deps: HealthCheckDeps) {
    this.deps = deps;
    this.random = deps.random ?? Math.random;
    const s = deps.stats.scope("health_check.");
    this.stats = {
      attempt: s.counter("attempt"),
      success: s.counter("success"),
      failure: s.counter("failure"),
      networkFailure: s.counter("network_failure"),
      verifyCluster: s.counter("verify_cluster"),
      passiveFailure: s.counter("passive_failure"),
      healthy: s.gauge("healthy"),
      degraded: s.gauge("degraded"),
    };
    this.checkers = models.map((m) => new Checker(m, this));
  }

  /**
   * Follows the cluster's host set: new hosts get their sessions (and start unhealthy, as the cluster
   * marks them), removed hosts' sessions stop. Hosts kept (same object) keep their state.
   */
  setHosts(hosts: readonly Host[]): void {
    if (this.closed) return;
    const keep = new Set(hosts);
    for (const c of this.checkers) {
      for (const [host, session] of c.sessions) {
        if (keep.has(host)) continue;
        session.stop();
        c.sessions.delete(host);
        this.firstCheckDone(session);
      }
      for (const host of hosts) {
        if (c.sessions.has(host)) continue;
        const session = new Session(c, host);
        c.sessions.set(host, session);
        this.pendingFirst.add(session);
        session.start();
      }
      c.updateHealthyGauge();
    }
  }

  /** Whether every health check finds `host` healthy (false before its first check passed). */
  isHealthy(host: Host): boolean {
    return this.checkers.every((c) => c.sessions.get(host)?.unhealthy === false);
  }

  /** Resolves when every host added so far has had its first check (or the checker closed). */
  firstRound(): Promise<void> {
    if (this.pendingFirst.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.firstWaiters.push(resolve));
  }

  /** @internal A session's first check ended (or it stopped). */
  firstCheckDone(session: Session): void {
    if (!this.pendingFirst.delete(session) || this.pendingFirst.size > 0) return;
    const waiters = this.firstWaiters;
    this.firstWaiters = [];
    for (const w of waiters) w();
  }

  /** Stops every session (timers, connections) and closes the event logs. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.checkers) {
      for (const s of c.sessions.values()) s.stop();
      c.sessions.clear();
      void c.eventLog?.close();
    }
    this.pendingFirst.clear();
    const waiters = this.firstWaiters;
    this.firstWaiters = [];
    for (const w of waiters) w();
  }
}
