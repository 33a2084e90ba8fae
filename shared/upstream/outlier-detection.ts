/**
 * Envoy's passive outlier detection (`outlier_detection`) for one cluster, per isolate.
 *
 * The router reports the outcome of every attempt ({@link OutlierDetector.putResult}); consecutive
 * failures are judged inline (a host reaching `consecutive_5xx` is ejected at once), success rate and
 * failure percentage at each `interval` sweep, which also returns hosts whose ejection time is over.
 *
 * No background timers: a Worker isolate runs nothing between requests, so the sweeps that Envoy runs
 * on its interval timer run lazily, when the cluster is next used ({@link OutlierDetector.tick}, from
 * host selection and from /clusters). Sweeps stay on Envoy's grid (`start + k × interval`): a host is
 * returned at the first sweep at or after its ejection ends, exactly when Envoy's timer would return
 * it; only the moment the work is done moves to the next request. When several intervals passed
 * without traffic, they are run as one sweep (later ones would have had no data).
 *
 * Results, as Envoy maps them:
 * - `http` with a status: an external-origin result; 5xx is a failure, 502/503/504 also a gateway failure.
 * - `connect_failure`, `reset`, `timeout`: local-origin failures. Without
 *   `split_external_local_origin_errors` they count as HTTP 503 (504 for a timeout); with it they feed
 *   `consecutive_local_origin_failure` and the local-origin success rate, and any HTTP response
 *   counts as a local-origin success.
 *
 * Ejection (Envoy ≥ 1.27): a detected host is ejected when, after ejecting it, at most
 * `max_ejection_percent` of the cluster's hosts would be ejected, or when none is ejected yet and
 * `always_eject_one_host` is set; otherwise `ejections_overflow` counts it. Then, with probability
 * `enforcing_<type>` percent, the ejection is enforced: the host leaves the healthy set for
 * `base_ejection_time × ejections` (capped at `max(max_ejection_time, base_ejection_time)`, plus up to
 * `max_ejection_time_jitter`). Each sweep in which a host is not ejected lowers its ejection count by
 * one, so a host that behaves is ejected for shorter times again.
 *
 * Stats under `cluster.<name>.outlier_detection.`: `ejections_active` (gauge),
 * `ejections_enforced_total`, `ejections_overflow`, `ejections_enforced_<type>`,
 * `ejections_detected_<type>` for the types consecutive_5xx, consecutive_gateway_failure,
 * consecutive_local_origin_failure, success_rate, local_origin_success_rate, failure_percentage,
 * local_origin_failure_percentage; and Envoy's deprecated `ejections_total`, `ejections_consecutive_5xx`.
 */
import type { OutlierDetectionModel } from "../config/model.ts";
import type { Counter, Gauge, StatsScope } from "../stats/store.ts";
import type { UpstreamHost } from "./host.ts";

/** What became of one upstream attempt, as the router saw it. */
export type AttemptOutcome =
  | { kind: "http"; status: number }
  | { kind: "connect_failure" }
  | { kind: "timeout" }
  | { kind: "reset" };

export type EjectionType =
  | "consecutive_5xx"
  | "consecutive_gateway_failure"
  | "consecutive_local_origin_failure"
  | "success_rate"
  | "local_origin_success_rate"
  | "failure_percentage"
  | "local_origin_failure_percentage";

const EJECTION_TYPES: readonly EjectionType[] = [
  "consecutive_5xx",
  "consecutive_gateway_failure",
  "consecutive_local_origin_failure",
  "success_rate",
  "local_origin_success_rate",
  "failure_percentage",
  "local_origin_failure_percentage",
];

/** Envoy's `outlier_detection` defaults (a config with an empty `outlier_detection: {}`). */
export const DEFAULT_OUTLIER_DETECTION: Readonly<OutlierDetectionModel> = Object.freeze({
  consecutive5xx: 5,
  consecutiveGatewayFailure: 5,
  consecutiveLocalOriginFailure: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionTimeJitterMs: 0,
  maxEjectionPercent: 10,
  enforcingConsecutive5xx: 100,
  enforcingConsecutiveGatewayFailure: 0,
  enforcingConsecutiveLocalOriginFailure: 100,
  enforcingSuccessRate: 100,
  enforcingLocalOriginSuccessRate: 100,
  successRateMinimumHosts: 5,
  successRateRequestVolume: 100,
  successRateStdevFactor: 1900,
  failurePercentageThreshold: 85,
  enforcingFailurePercentage: 0,
  enforcingFailurePercentageLocalOrigin: 0,
  failurePercentageMinimumHosts: 5,
  failurePercentageRequestVolume: 50,
  splitExternalLocalOriginErrors: false,
  alwaysEjectOneHost: false,
});

/** Per-host detector state (Envoy's host monitor). */
export class HostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  /** Times ejected, lowered by one per sweep the host spends in service. Multiplies the ejection time. */
  numEjections = 0;
  /** Monotonic ms when the current ejection ends (meaningful while ejected). */
  ejectedUntil = 0;
  /** This interval's external-origin results (all results when errors are not split). */
  extTotal = 0;
  extSuccess = 0;
  /** This interval's local-origin results (split mode only). */
  localTotal = 0;
  localSuccess = 0;
  /** Success rate (percent) computed at the last sweep; -1 when the host lacked volume. */
  successRate = -1;
  localOriginSuccessRate = -1;
}

/** Cluster-level success-rate figures of the last sweep, -1 when not computed (as /clusters shows them). */
export interface SuccessRateFigures {
  successRateAverage: number;
  successRateEjectionThreshold: number;
  localOriginSuccessRateAverage: number;
  localOriginSuccessRateEjectionThreshold: number;
}

export interface OutlierDetectorOptions {
  /** Monotonic milliseconds. Default `performance.now()`. Tests pass a fake clock. */
  now?: () => number;
  /** Uniform in [0, 1), for enforcement percentages and jitter. Default `Math.random`. */
  random?: () => number;
  /** Called after a host's `failedOutlierCheck` changed (the cluster rebuilds its healthy sets). */
  onHealthChanged?: (host: UpstreamHost) => void;
}

export class OutlierDetector {
  readonly config: OutlierDetectionModel;
  private hosts: readonly UpstreamHost[];
  private readonly monitors = new Map<UpstreamHost, HostMonitor>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onHealthChanged: (host: UpstreamHost) => void;
  private nextSweep: number;
  private figures: SuccessRateFigures = { successRateAverage: -1, successRateEjectionThreshold: -1, localOriginSuccessRateAverage: -1, localOriginSuccessRateEjectionThreshold: -1 };

  private readonly ejectionsActive: Gauge;
  private readonly enforcedTotal: Counter;
  private readonly overflow: Counter;
  private readonly legacyTotal: Counter;
  private readonly legacyConsecutive5xx: Counter;
  private readonly enforced = new Map<EjectionType, Counter>();
  private readonly detected = new Map<EjectionType, Counter>();

  /**
   * @param hosts every host of the cluster (all priorities); {@link setHosts} replaces them when the
   *   membership changes.
   * @param scope the cluster's stats scope (`cluster.<name>.`).
   */
  constructor(config: OutlierDetectionModel, hosts: readonly UpstreamHost[], scope: StatsScope, options: OutlierDetectorOptions = {}) {
    this.config = config;
    this.hosts = hosts;
    for (const h of hosts) this.monitors.set(h, new HostMonitor());
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.onHealthChanged = options.onHealthChanged ?? (() => {});
    this.nextSweep = this.now() + config.intervalMs;
    const od = scope.scope("outlier_detection.");
    this.ejectionsActive = od.gauge("ejections_active");
    this.enforcedTotal = od.counter("ejections_enforced_total");
    this.overflow = od.counter("ejections_overflow");
    this.legacyTotal = od.counter("ejections_total");
    this.legacyConsecutive5xx = od.counter("ejections_consecutive_5xx");
    for (const t of EJECTION_TYPES) {
      this.enforced.set(t, od.counter(`ejections_enforced_${t}`));
      this.detected.set(t, od.counter(`ejections_detected_${t}`));
    }
    this.ejectionsActive.set(0);
  }

  /**
   * New membership (an EDS update): hosts that stay keep their monitors (counts, ejection state); new
   * hosts start fresh; removed hosts are forgotten (an ejected host that leaves no longer counts).
   */
  setHosts(hosts: readonly UpstreamHost[]): void {
    const keep = new Set(hosts);
    for (const h of this.monitors.keys()) if (!keep.has(h)) this.monitors.delete(h);
    for (const h of hosts) if (!this.monitors.has(h)) this.monitors.set(h, new HostMonitor());
    this.hosts = hosts;
    this.ejectionsActive.set(this.activeEjections);
  }

  /** The monitor of a host of this cluster (for /clusters and tests). */
  monitor(host: UpstreamHost): HostMonitor | undefined {
    return this.monitors.get(host);
  }

  /** Cluster-wide success-rate figures of the last sweep. */
  get successRateFigures(): SuccessRateFigures {
    return this.figures;
  }

  /** Hosts ejected now. */
  get activeEjections(): number {
    let n = 0;
    for (const h of this.hosts) if (h.failedOutlierCheck) n++;
    return n;
  }

  /**
   * Records the outcome of one attempt to `host`. Called by the router once per attempt, when the
   * response headers arrive or the attempt fails. May eject the host at once (consecutive failures).
   */
  putResult(host: UpstreamHost, outcome: AttemptOutcome): void {
    const m = this.monitors.get(host);
    if (!m) return;
    const c = this.config;
    if (outcome.kind === "http") {
      if (c.splitExternalLocalOriginErrors) {
        // A response arrived: the connection worked (Envoy's LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL).
        m.consecutiveLocalOriginFailure = 0;
        m.localTotal++;
        m.localSuccess++;
      }
      this.putHttpStatus(host, m, outcome.status);
      return;
    }
    if (!c.splitExternalLocalOriginErrors) {
      this.putHttpStatus(host, m, outcome.kind === "timeout" ? 504 : 503);
      return;
    }
    m.localTotal++;
    if (++m.consecutiveLocalOriginFailure === c.consecutiveLocalOriginFailure) {
      this.detect(host, "consecutive_local_origin_failure", c.enforcingConsecutiveLocalOriginFailure);
      m.consecutiveLocalOriginFailure = 0;
    }
  }

  private putHttpStatus(host: UpstreamHost, m: HostMonitor, status: number): void {
    const c = this.config;
    m.extTotal++;
    if (status < 500 || status > 599) {
      m.extSuccess++;
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
      return;
    }
    // Envoy fires each detection when the count reaches the threshold exactly, then resets that count.
    if (status === 502 || status === 503 || status === 504) {
      if (++m.consecutiveGatewayFailure === c.consecutiveGatewayFailure) {
        this.detect(host, "consecutive_gateway_failure", c.enforcingConsecutiveGatewayFailure);
        m.consecutiveGatewayFailure = 0;
      }
    } else {
      m.consecutiveGatewayFailure = 0;
    }
    if (++m.consecutive5xx === c.consecutive5xx) {
      this.detect(host, "consecutive_5xx", c.enforcingConsecutive5xx);
      m.consecutive5xx = 0;
    }
  }

  /**
   * Runs the interval sweep when one is due: returns hosts whose ejection is over, lowers ejection
   * counts, and judges success rate and failure percentage on the interval's results. Called on every
   * host selection (O(1) when no sweep is due) and before /clusters renders.
   */
  tick(): void {
    const now = this.now();
    if (now < this.nextSweep) return;
    const interval = this.config.intervalMs;
    const elapsed = Math.floor((now - this.nextSweep) / interval) + 1;
    const sweepAt = this.nextSweep + (elapsed - 1) * interval;
    this.nextSweep = sweepAt + interval;
    this.sweep(sweepAt, elapsed);
  }

  /** The ejection duration for a host ejected `numEjections` times (without jitter). */
  ejectionTimeMs(numEjections: number): number {
    const c = this.config;
    return Math.min(c.baseEjectionTimeMs * numEjections, Math.max(c.maxEjectionTimeMs, c.baseEjectionTimeMs));
  }

  private sweep(at: number, sweeps: number): void {
    for (const host of this.hosts) {
      const m = this.monitors.get(host)!;
      if (host.failedOutlierCheck) {
        if (at >= m.ejectedUntil) {
          host.failedOutlierCheck = false;
          this.ejectionsActive.dec();
          this.onHealthChanged(host);
        }
      } else if (m.numEjections > 0) {
        m.numEjections = Math.max(0, m.numEjections - sweeps);
      }
    }
    this.judgeRates();
    for (const m of this.monitors.values()) {
      m.extTotal = m.extSuccess = m.localTotal = m.localSuccess = 0;
    }
  }

  /** Success rate and failure percentage over this interval's results. */
  private judgeRates(): void {
    const c = this.config;
    const local = c.splitExternalLocalOriginErrors;
    const external = this.judgeRate(
      (m) => m.extTotal,
      (m) => m.extSuccess,
      (m, rate) => (m.successRate = rate),
      "success_rate",
      c.enforcingSuccessRate,
      "failure_percentage",
      c.enforcingFailurePercentage,
    );
    this.figures = { ...this.figures, successRateAverage: external.average, successRateEjectionThreshold: external.threshold };
    if (local) {
      const lo = this.judgeRate(
        (m) => m.localTotal,
        (m) => m.localSuccess,
        (m, rate) => (m.localOriginSuccessRate = rate),
        "local_origin_success_rate",
        c.enforcingLocalOriginSuccessRate,
        "local_origin_failure_percentage",
        c.enforcingFailurePercentageLocalOrigin,
      );
      this.figures = { ...this.figures, localOriginSuccessRateAverage: lo.average, localOriginSuccessRateEjectionThreshold: lo.threshold };
    }
  }

  private judgeRate(
    total: (m: HostMonitor) => number,
    success: (m: HostMonitor) => number,
    record: (m: HostMonitor, rate: number) => void,
    srType: EjectionType,
    srEnforcing: number,
    fpType: EjectionType,
    fpEnforcing: number,
  ): { average: number; threshold: number } {
    const c = this.config;
    const srHosts: [UpstreamHost, number][] = [];
    const fpHosts: [UpstreamHost, number][] = [];
    for (const host of this.hosts) {
      const m = this.monitors.get(host)!;
      const t = total(m);
      const rate = t > 0 ? (100 * success(m)) / t : -1;
      record(m, t >= c.successRateRequestVolume ? rate : -1);
      // Envoy leaves hosts already ejected out of both computations.
      if (host.failedOutlierCheck || t === 0) continue;
      if (t >= c.successRateRequestVolume) srHosts.push([host, rate]);
      if (t >= c.failurePercentageRequestVolume) fpHosts.push([host, rate]);
    }
    let average = -1;
    let threshold = -1;
    if (srHosts.length > 0 && srHosts.length >= c.successRateMinimumHosts) {
      let sum = 0;
      for (const [, r] of srHosts) sum += r;
      const mean = sum / srHosts.length;
      let variance = 0;
      for (const [, r] of srHosts) variance += (r - mean) ** 2;
      const stdev = Math.sqrt(variance / srHosts.length);
      average = mean;
      threshold = mean - (c.successRateStdevFactor / 1000) * stdev;
      for (const [host, r] of srHosts) {
        if (r < threshold && !host.failedOutlierCheck) this.detect(host, srType, srEnforcing);
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= c.failurePercentageMinimumHosts) {
      for (const [host, r] of fpHosts) {
        if (100 - r >= c.failurePercentageThreshold && !host.failedOutlierCheck) this.detect(host, fpType, fpEnforcing);
      }
    }
    return { average, threshold };
  }

  /** A detected outlier: counts it, then ejects it if the ejection limit and enforcement allow. */
  private detect(host: UpstreamHost, type: EjectionType, enforcingPercent: number): void {
    if (host.failedOutlierCheck) return;
    this.detected.get(type)!.inc();
    const c = this.config;
    const active = this.activeEjections;
    const afterPercent = (100 * (active + 1)) / this.hosts.length;
    if (!(afterPercent <= Math.min(100, c.maxEjectionPercent) || (c.alwaysEjectOneHost && active === 0))) {
      this.overflow.inc();
      return;
    }
    if (type === "consecutive_5xx" || type === "success_rate") this.legacyTotal.inc();
    if (type === "consecutive_5xx") this.legacyConsecutive5xx.inc();
    if (!(this.random() * 100 < enforcingPercent)) return;
    const m = this.monitors.get(host)!;
    m.numEjections++;
    const jitter = c.maxEjectionTimeJitterMs > 0 ? this.random() * c.maxEjectionTimeJitterMs : 0;
    m.ejectedUntil = this.now() + this.ejectionTimeMs(m.numEjections) + jitter;
    host.failedOutlierCheck = true;
    this.ejectionsActive.inc();
    this.enforcedTotal.inc();
    this.enforced.get(type)!.inc();
    this.onHealthChanged(host);
  }
}
