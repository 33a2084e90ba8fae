/**
 * Compiles a cluster's upstream behaviour (called by compile.ts's compileCluster, once per cluster):
 * - the endpoints of `load_assignment` ({@link compileLoadAssignment}, also used for EDS documents);
 * - `load_assignment.policy.overprovisioning_factor`, `common_lb_config` (healthy panic threshold,
 *   locality-weighted LB), `least_request_lb_config`, `ring_hash_lb_config`, `maglev_lb_config`;
 * - `circuit_breakers`, `outlier_detection`.
 * Defaults are applied here, as Envoy documents them. Like compile.ts it trusts nothing: a malformed
 * value becomes a `not-envoy` issue (the validator reports the same things with Envoy's schema).
 */
import { compileAddress } from "./compile-address.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import { Reader } from "./reader.ts";
import type {
  CircuitBreakerThresholdsModel,
  CircuitBreakersModel,
  ClusterLbConfigModel,
  ClusterModel,
  EdsConfigModel,
  EndpointModel,
  LocalityModel,
  OutlierDetectionModel,
  RoutingPriority,
} from "./model.ts";

type Obj = Record<string, unknown>;

/** Envoy's bounds (validate rules in cluster.proto). */
export const MAX_RING_SIZE = 8_388_608;
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

const DEFAULT_THRESHOLDS: CircuitBreakerThresholdsModel = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
  trackRemaining: false,
};


/**
 * Adds the upstream settings to a compiled cluster. `c` is the cluster's JSON, `path` its JSON path.
 * Returns the same object, completed.
 */
export function compileClusterUpstream(issues: ConfigIssue[], cluster: ClusterModel, c: Obj, path: string): ClusterModel {
  const r = new Reader(issues);
  cluster.lbConfig = compileLbConfig(r, c, path);
  if (c.circuit_breakers !== undefined && c.circuit_breakers !== null) cluster.circuitBreakers = compileCircuitBreakers(r, c.circuit_breakers, joinPath(path, "circuit_breakers"));
  if (c.outlier_detection !== undefined && c.outlier_detection !== null) cluster.outlierDetection = compileOutlierDetection(r, c.outlier_detection, joinPath(path, "outlier_detection"));
  return cluster;
}

/**
 * `load_assignment` (a ClusterLoadAssignment): the endpoints, flattened in order, each with its group's
 * priority, locality and locality weight and its own weight and `health_status`. Used for static
 * clusters and for the EDS documents both tiers read from KV (shared/kv/endpoints.ts).
 */
export function compileLoadAssignment(r: Reader, la: unknown, lap: string): EndpointModel[] {
  const endpoints: EndpointModel[] = [];
  const assignment = r.obj(la, lap);
  if (!assignment) return endpoints;
  const groupsPath = joinPath(lap, "endpoints");
  r.arr(assignment.endpoints, groupsPath).forEach((g, i) => {
    const gp = joinPath(groupsPath, i);
    const group = r.obj(g, gp) ?? {};
    const priority = r.uint(group.priority, joinPath(gp, "priority"), 128) ?? 0;
    const localityWeight = r.uint(group.load_balancing_weight, joinPath(gp, "load_balancing_weight"));
    if (localityWeight === 0) r.bad(joinPath(gp, "load_balancing_weight"), "load_balancing_weight must be at least 1");
    const locality = compileLocality(r, group.locality, joinPath(gp, "locality"));
    r.arr(group.lb_endpoints, joinPath(gp, "lb_endpoints")).forEach((lb, j) => {
      const lbp = joinPath(joinPath(gp, "lb_endpoints"), j);
      const lbo = r.obj(lb, lbp) ?? {};
      if (lbo.endpoint === undefined && r.alternative(lbo, lbp, { endpoint_name: "named endpoints" })) return;
      const ep = r.required(r.obj(lbo.endpoint, joinPath(lbp, "endpoint")), joinPath(lbp, "endpoint"), "endpoint");
      if (!ep) return;
      const addr = compileAddress(r, ep.address, joinPath(joinPath(lbp, "endpoint"), "address"));
      const weight = r.uint(lbo.load_balancing_weight, joinPath(lbp, "load_balancing_weight")) ?? 1;
      if (weight === 0) r.bad(joinPath(lbp, "load_balancing_weight"), "load_balancing_weight must be at least 1");
      const status = r.enumOf(lbo.health_status, joinPath(lbp, "health_status"), HEALTH_STATUSES, "UNKNOWN", ENVOY_HEALTH_STATUSES);
      if (!addr) return;
      const e: EndpointModel = { address: addr.address, port: addr.port, weight };
      if (priority !== 0) e.priority = priority;
      if (locality) e.locality = locality;
      if (localityWeight !== undefined) e.localityWeight = localityWeight;
      if (status !== "UNKNOWN") e.healthStatus = status;
      endpoints.push(e);
    });
  });
  return endpoints;
}

/** `ClusterLoadAssignment.policy.overprovisioning_factor` as a factor (140 → 1.4); undefined when unset. */
export function compileOverprovisioning(r: Reader, policyValue: unknown, policyPath: string): number | undefined {
  const policy = r.obj(policyValue, policyPath);
  if (!policy) return undefined;
  const f = r.uint(policy.overprovisioning_factor, joinPath(policyPath, "overprovisioning_factor"));
  if (f === 0) return r.bad(joinPath(policyPath, "overprovisioning_factor"), "overprovisioning_factor must be greater than 0");
  return f === undefined ? undefined : f / 100;
}

const HEALTH_STATUSES = ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT"] as const;
const ENVOY_HEALTH_STATUSES = [...HEALTH_STATUSES, "DEGRADED"] as const;

/** Envoy's default `initial_fetch_timeout`. */
const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/**
 * `eds_cluster_config` of a `type: EDS` cluster. Legate's EDS source is Workers KV, written by
 * `legate endpoints` (docs/kv-layout.md): `eds_config` may be absent or name the aggregated source
 * (`ads: {}`), with `resource_api_version: V3` and `initial_fetch_timeout`; a management server
 * (`api_config_source`) or a file (`path_config_source`) is refused by the support table.
 */
export function compileEdsConfig(r: Reader, c: Obj, path: string, clusterName: string): EdsConfigModel {
  const ep = joinPath(path, "eds_cluster_config");
  const eds = r.obj(c.eds_cluster_config, ep) ?? {};
  const serviceName = r.str(eds.service_name, joinPath(ep, "service_name")) || clusterName;
  const sp = joinPath(ep, "eds_config");
  const source = r.obj(eds.eds_config, sp) ?? {};
  const initialFetchTimeoutMs = r.durationMs(source.initial_fetch_timeout, joinPath(sp, "initial_fetch_timeout")) ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
  return { serviceName, initialFetchTimeoutMs };
}

function compileLocality(r: Reader, v: unknown, path: string): LocalityModel | undefined {
  const l = r.obj(v, path);
  if (!l) return undefined;
  return {
    region: r.str(l.region, joinPath(path, "region")) ?? "",
    zone: r.str(l.zone, joinPath(path, "zone")) ?? "",
    subZone: r.str(l.sub_zone, joinPath(path, "sub_zone")) ?? "",
  };
}

function compileLbConfig(r: Reader, c: Obj, path: string): ClusterLbConfigModel {
  const cfg: ClusterLbConfigModel = {
    healthyPanicThresholdPercent: 50,
    localityWeighted: false,
    overprovisioningFactor: 1.4,
    leastRequest: { choiceCount: 2, activeRequestBias: 1 },
    ringHash: { minimumRingSize: 1024, maximumRingSize: MAX_RING_SIZE, hashFunction: "XX_HASH" },
    maglev: { tableSize: 65537 },
  };
  const lap = joinPath(path, "load_assignment");
  const policyPath = joinPath(lap, "policy");
  const factor = compileOverprovisioning(r, r.obj(c.load_assignment, lap)?.policy, policyPath);
  if (factor !== undefined) cfg.overprovisioningFactor = factor;

  const cp = joinPath(path, "common_lb_config");
  const common = r.obj(c.common_lb_config, cp);
  if (common) {
    const t = r.percent(common.healthy_panic_threshold, joinPath(cp, "healthy_panic_threshold"));
    // Envoy truncates the threshold to whole percent.
    if (t !== undefined) cfg.healthyPanicThresholdPercent = Math.floor(t);
    if (r.obj(common.locality_weighted_lb_config, joinPath(cp, "locality_weighted_lb_config"))) cfg.localityWeighted = true;
  }

  const lp = joinPath(path, "least_request_lb_config");
  const lr = r.obj(c.least_request_lb_config, lp);
  if (lr) {
    const n = r.uint(lr.choice_count, joinPath(lp, "choice_count"));
    if (n !== undefined && n < 2) r.bad(joinPath(lp, "choice_count"), "choice_count must be at least 2");
    else if (n !== undefined) cfg.leastRequest.choiceCount = n;
    const bp = joinPath(lp, "active_request_bias");
    const bias = r.obj(lr.active_request_bias, bp);
    if (bias) {
      const b = r.num(bias.default_value, joinPath(bp, "default_value")) ?? 0;
      if (b < 0) r.bad(joinPath(bp, "default_value"), "active_request_bias must be at least 0.0");
      else cfg.leastRequest.activeRequestBias = b;
      r.str(bias.runtime_key, joinPath(bp, "runtime_key"));
    }
  }

  const rp = joinPath(path, "ring_hash_lb_config");
  const rh = r.obj(c.ring_hash_lb_config, rp);
  if (rh) {
    const min = r.uint(rh.minimum_ring_size, joinPath(rp, "minimum_ring_size"), MAX_RING_SIZE);
    const max = r.uint(rh.maximum_ring_size, joinPath(rp, "maximum_ring_size"), MAX_RING_SIZE);
    if (min !== undefined) cfg.ringHash.minimumRingSize = min;
    if (max !== undefined) cfg.ringHash.maximumRingSize = max;
    if (cfg.ringHash.minimumRingSize > cfg.ringHash.maximumRingSize) {
      r.bad(rp, `ring hash: minimum_ring_size (${cfg.ringHash.minimumRingSize}) > maximum_ring_size (${cfg.ringHash.maximumRingSize})`);
    }
    const hf = rh.hash_function;
    if (hf !== undefined && hf !== null) {
      if (hf === "XX_HASH" || hf === "MURMUR_HASH_2") cfg.ringHash.hashFunction = hf;
      else if (hf === 0 || hf === 1) cfg.ringHash.hashFunction = hf === 0 ? "XX_HASH" : "MURMUR_HASH_2";
      else r.bad(joinPath(rp, "hash_function"), `expected one of XX_HASH, MURMUR_HASH_2, got ${JSON.stringify(hf)}`);
    }
  }

  const mp = joinPath(path, "maglev_lb_config");
  const mg = r.obj(c.maglev_lb_config, mp);
  if (mg) {
    const size = r.uint(mg.table_size, joinPath(mp, "table_size"), MAX_MAGLEV_TABLE_SIZE);
    if (size !== undefined) {
      if (!isPrime(size)) r.bad(joinPath(mp, "table_size"), `the Maglev table size must be a prime number, got ${size}`);
      else cfg.maglev.tableSize = size;
    }
  }
  return cfg;
}

/** Trial division; table sizes are at most ~5M and checked once per config. */
function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function compileCircuitBreakers(r: Reader, v: unknown, path: string): CircuitBreakersModel | undefined {
  const cb = r.obj(v, path);
  if (!cb) return undefined;
  const out: Partial<Record<RoutingPriority, CircuitBreakerThresholdsModel>> = {};
  const tp = joinPath(path, "thresholds");
  r.arr(cb.thresholds, tp).forEach((t, i) => {
    const p = joinPath(tp, i);
    const o = r.obj(t, p);
    if (!o) return;
    const pr = o.priority ?? "DEFAULT";
    const priority: RoutingPriority | undefined = pr === "DEFAULT" || pr === 0 ? "DEFAULT" : pr === "HIGH" || pr === 1 ? "HIGH" : undefined;
    if (!priority) {
      r.bad(joinPath(p, "priority"), `expected one of DEFAULT, HIGH, got ${JSON.stringify(pr)}`);
      return;
    }
    // Envoy: with several thresholds for one priority, the first one is used.
    if (out[priority]) return;
    const th: CircuitBreakerThresholdsModel = {
      maxConnections: r.uint(o.max_connections, joinPath(p, "max_connections")) ?? DEFAULT_THRESHOLDS.maxConnections,
      maxPendingRequests: r.uint(o.max_pending_requests, joinPath(p, "max_pending_requests")) ?? DEFAULT_THRESHOLDS.maxPendingRequests,
      maxRequests: r.uint(o.max_requests, joinPath(p, "max_requests")) ?? DEFAULT_THRESHOLDS.maxRequests,
      maxRetries: r.uint(o.max_retries, joinPath(p, "max_retries")) ?? DEFAULT_THRESHOLDS.maxRetries,
      trackRemaining: r.bool(o.track_remaining, joinPath(p, "track_remaining")) ?? false,
    };
    const bp = joinPath(p, "retry_budget");
    const budget = r.obj(o.retry_budget, bp);
    if (budget) {
      th.retryBudget = {
        budgetPercent: r.percent(budget.budget_percent, joinPath(bp, "budget_percent")) ?? 20,
        minRetryConcurrency: r.uint(budget.min_retry_concurrency, joinPath(bp, "min_retry_concurrency")) ?? 3,
      };
    }
    out[priority] = th;
  });
  return { DEFAULT: out.DEFAULT ?? { ...DEFAULT_THRESHOLDS }, HIGH: out.HIGH ?? { ...DEFAULT_THRESHOLDS } };
}

function compileOutlierDetection(r: Reader, v: unknown, path: string): OutlierDetectionModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const p = (k: string) => joinPath(path, k);
  const baseEjectionTimeMs = r.positiveDurationMs(o.base_ejection_time, p("base_ejection_time")) ?? 30_000;
  const maxEjectionTimeMs = r.positiveDurationMs(o.max_ejection_time, p("max_ejection_time"));
  return {
    consecutive5xx: r.uint(o.consecutive_5xx, p("consecutive_5xx")) ?? 5,
    consecutiveGatewayFailure: r.uint(o.consecutive_gateway_failure, p("consecutive_gateway_failure")) ?? 5,
    consecutiveLocalOriginFailure: r.uint(o.consecutive_local_origin_failure, p("consecutive_local_origin_failure")) ?? 5,
    intervalMs: r.positiveDurationMs(o.interval, p("interval")) ?? 10_000,
    baseEjectionTimeMs,
    // Envoy: the default (300 s) or base_ejection_time, whichever is larger.
    maxEjectionTimeMs: maxEjectionTimeMs ?? Math.max(300_000, baseEjectionTimeMs),
    maxEjectionTimeJitterMs: r.durationMs(o.max_ejection_time_jitter, p("max_ejection_time_jitter")) ?? 0,
    maxEjectionPercent: r.pct(o.max_ejection_percent, p("max_ejection_percent"), 10),
    enforcingConsecutive5xx: r.pct(o.enforcing_consecutive_5xx, p("enforcing_consecutive_5xx"), 100),
    enforcingConsecutiveGatewayFailure: r.pct(o.enforcing_consecutive_gateway_failure, p("enforcing_consecutive_gateway_failure"), 0),
    enforcingConsecutiveLocalOriginFailure: r.pct(o.enforcing_consecutive_local_origin_failure, p("enforcing_consecutive_local_origin_failure"), 100),
    enforcingSuccessRate: r.pct(o.enforcing_success_rate, p("enforcing_success_rate"), 100),
    enforcingLocalOriginSuccessRate: r.pct(o.enforcing_local_origin_success_rate, p("enforcing_local_origin_success_rate"), 100),
    successRateMinimumHosts: r.uint(o.success_rate_minimum_hosts, p("success_rate_minimum_hosts")) ?? 5,
    successRateRequestVolume: r.uint(o.success_rate_request_volume, p("success_rate_request_volume")) ?? 100,
    successRateStdevFactor: r.uint(o.success_rate_stdev_factor, p("success_rate_stdev_factor")) ?? 1900,
    failurePercentageThreshold: r.pct(o.failure_percentage_threshold, p("failure_percentage_threshold"), 85),
    enforcingFailurePercentage: r.pct(o.enforcing_failure_percentage, p("enforcing_failure_percentage"), 0),
    enforcingFailurePercentageLocalOrigin: r.pct(o.enforcing_failure_percentage_local_origin, p("enforcing_failure_percentage_local_origin"), 0),
    failurePercentageMinimumHosts: r.uint(o.failure_percentage_minimum_hosts, p("failure_percentage_minimum_hosts")) ?? 5,
    failurePercentageRequestVolume: r.uint(o.failure_percentage_request_volume, p("failure_percentage_request_volume")) ?? 50,
    splitExternalLocalOriginErrors: r.bool(o.split_external_local_origin_errors, p("split_external_local_origin_errors")) ?? false,
    alwaysEjectOneHost: r.bool(o.always_eject_one_host, p("always_eject_one_host")) ?? false,
  };
}
