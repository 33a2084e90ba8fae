/**
 * An upstream host of a cluster at runtime: the endpoint from the config, its place in the cluster
 * (priority, locality, weight), the load on it, and its health as the two health sources see it.
 *
 * Health has three independent sources, as in Envoy's host health flags:
 * - `failedActiveHc`: active health checking. The edge has no checker of its own; the tcp tier's
 *   checkers publish health to KV and the edge applies it with {@link ClusterRuntime.setHealth}.
 * - `failedOutlierCheck`: passive outlier detection (shared/upstream/outlier-detection.ts).
 * - `failedEdsHealth`: the endpoint's `health_status` (UNHEALTHY, DRAINING, TIMEOUT), from the
 *   config or an EDS assignment in KV.
 * A host is healthy when no flag is set.
 */
import type { EdsHealthStatus, EndpointModel, LocalityModel } from "../config/model.ts";
import type { LbHost } from "../lb/types.ts";

const EMPTY_LOCALITY: LocalityModel = Object.freeze({ region: "", zone: "", subZone: "" });

/** `address:port`, with IPv6 addresses in brackets (Envoy's host address string). */
export function formatHostPort(address: string, port: number): string {
  return `${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/** A locality as one string key: `region/zone/sub_zone`. */
export function localityKey(l: LocalityModel): string {
  return `${l.region}/${l.zone}/${l.subZone}`;
}

export class UpstreamHost implements LbHost {
  readonly endpoint: EndpointModel;
  readonly address: string;
  readonly port: number;
  /** `address:port` (IPv6 in brackets): the name in /clusters and `%UPSTREAM_HOST%`. */
  readonly hostPort: string;
  /** The string RING_HASH and MAGLEV hash this host by (Envoy hashes the address). */
  readonly hashKey: string;
  /** `load_balancing_weight`, at least 1. */
  readonly weight: number;
  /** 0 is the highest priority. */
  readonly priority: number;
  readonly locality: LocalityModel;
  /** `region/zone/sub_zone`. */
  readonly localityKey: string;
  /** The locality's `load_balancing_weight`, when configured. */
  readonly localityWeight: number | undefined;

  /**
   * Requests in flight to this host. The router increments it when an attempt is sent and decrements
   * it when that attempt ends (response body done, reset, or abandoned); LEAST_REQUEST reads it.
   */
  activeRequests = 0;
  /** Attempts sent to this host (Envoy's per-host `rq_total`). */
  rqTotal = 0;
  /** Attempts that ended in a 5xx or a local-origin failure (`rq_error`). */
  rqError = 0;
  /** Attempts that got a non-5xx response (`rq_success`). */
  rqSuccess = 0;
  /** Connect failures to this host (`cx_connect_fail`). */
  cxConnectFail = 0;
  /** Attempts that timed out (`rq_timeout`). */
  rqTimeout = 0;

  /** Set from active health checking (the tcp tier's health feed through KV). */
  failedActiveHc = false;
  /**
   * Wall-clock ms of the last immediate health-check failure (`x-envoy-immediate-health-check-fail` on
   * a response; ClusterRuntime.immediateHealthCheckFail); undefined when none is pending.
   */
  immediateHcFailAt: number | undefined;
  /** Set while outlier detection has ejected the host. */
  failedOutlierCheck = false;
  /** The endpoint's `health_status` (absent: UNKNOWN); an EDS update may change it on a kept host. */
  edsHealthStatus: EdsHealthStatus | undefined;

  constructor(endpoint: EndpointModel) {
    this.endpoint = endpoint;
    this.address = endpoint.address;
    this.port = endpoint.port;
    this.hostPort = formatHostPort(endpoint.address, endpoint.port);
    this.hashKey = this.hostPort;
    this.weight = Math.max(1, endpoint.weight);
    this.priority = endpoint.priority ?? 0;
    this.locality = endpoint.locality ?? EMPTY_LOCALITY;
    this.localityKey = localityKey(this.locality);
    this.localityWeight = endpoint.localityWeight;
    this.edsHealthStatus = endpoint.healthStatus;
  }

  /** `health_status` UNHEALTHY, DRAINING or TIMEOUT (Envoy's FAILED_EDS_HEALTH). */
  get failedEdsHealth(): boolean {
    const s = this.edsHealthStatus;
    return s !== undefined && s !== "HEALTHY";
  }

  /**
   * `health_status: DRAINING`: out of load balancing entirely, even in panic mode, and not counted in
   * its priority's health (Envoy's excluded hosts). UNHEALTHY and TIMEOUT hosts are only unhealthy.
   */
  get excluded(): boolean {
    return this.edsHealthStatus === "DRAINING";
  }

  /** No health source excludes the host. */
  get healthy(): boolean {
    return !this.failedActiveHc && !this.failedOutlierCheck && !this.failedEdsHealth;
  }

  /** Envoy's `health_flags` for /clusters: `healthy`, or the failures joined by `/`. */
  get healthFlags(): string {
    if (this.healthy) return "healthy";
    const flags: string[] = [];
    if (this.failedActiveHc) flags.push("/failed_active_hc");
    if (this.failedOutlierCheck) flags.push("/failed_outlier_check");
    if (this.failedEdsHealth) flags.push("/failed_eds_health");
    return flags.join("");
  }

  /** Whether `e` describes this host with the same place in the cluster (address, weight, priority, locality). */
  sameEndpoint(e: EndpointModel): boolean {
    const l = e.locality ?? EMPTY_LOCALITY;
    return formatHostPort(e.address, e.port) === this.hostPort && Math.max(1, e.weight) === this.weight && (e.priority ?? 0) === this.priority
      && localityKey(l) === this.localityKey && e.localityWeight === this.localityWeight;
  }
}

/**
 * The host list for a new set of endpoints (an EDS update), keeping the objects of hosts that stay
 * with the same address, weight, priority and locality, so their load, stats and health (active
 * checks, outlier ejection) carry over; their `health_status` is updated. Other endpoints get new
 * hosts from `make`. Order follows `endpoints`; a duplicate address keeps its first entry.
 */
export function reconcileHosts<H extends UpstreamHost>(current: readonly H[], endpoints: readonly EndpointModel[], make: (e: EndpointModel) => H): H[] {
  const byHostPort = new Map<string, H>();
  for (const h of current) byHostPort.set(h.hostPort, h);
  const seen = new Set<string>();
  const next: H[] = [];
  for (const e of endpoints) {
    const key = formatHostPort(e.address, e.port);
    if (seen.has(key)) continue;
    seen.add(key);
    const kept = byHostPort.get(key);
    if (kept && kept.sameEndpoint(e)) {
      kept.edsHealthStatus = e.healthStatus;
      next.push(kept);
    } else {
      next.push(make(e));
    }
  }
  return next;
}
