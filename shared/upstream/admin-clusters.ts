/**
 * Envoy's admin `/clusters` output for cluster runtimes, in its text format and as `?format=json`
 * (Envoy's `ClusterStatuses`). Live: it reads the hosts, health, outlier state and breaker counts of
 * this isolate (edge) or process (tcp tier) at the moment of the call. Runtime-neutral, so both tiers
 * can render it.
 *
 * Text lines, in Envoy's order: `observability_name`, the circuit-breaker limits per priority
 * (`<cluster>::default_priority::max_connections::1024` …), `added_via_api`, the outlier detector's
 * success-rate figures when the cluster has one (`<cluster>::outlier::success_rate_average::-1` …),
 * then per host its stats (`cx_active`, `cx_connect_fail`, `cx_total`, `rq_active`, `rq_error`,
 * `rq_success`, `rq_timeout`, `rq_total`), `hostname`, `health_flags`, `weight`, `region`, `zone`,
 * `sub_zone`, `canary`, `priority`, `success_rate`, `local_origin_success_rate`.
 *
 * Legate additions (Envoy shows breaker state only as gauges in /stats), after Envoy's cluster lines:
 * `<cluster>::<default|high>_priority::<cx|rq_pending|rq|rq_retry>_active::N` (resources held now)
 * and `…::<cx|rq_pending|rq|rq_retry>_open::0|1`; in JSON, a `legate` object per cluster with the
 * same, plus the priority load and panic state.
 *
 * At the edge a host's `cx_*` count upstream attempts (each in-flight fetch holds one connection of
 * the runtime's pool): `cx_active` = attempts in flight, `cx_total` = attempts sent.
 */
import type { RoutingPriority } from "../config/model.ts";
import type { ClusterRuntime } from "./cluster.ts";
import type { UpstreamHost } from "./host.ts";

interface HostStat {
  name: string;
  type: "COUNTER" | "GAUGE";
  value: number;
}

function hostStats(h: UpstreamHost): HostStat[] {
  return [
    { name: "cx_active", type: "GAUGE", value: h.activeRequests },
    { name: "cx_connect_fail", type: "COUNTER", value: h.cxConnectFail },
    { name: "cx_total", type: "COUNTER", value: h.rqTotal },
    { name: "rq_active", type: "GAUGE", value: h.activeRequests },
    { name: "rq_error", type: "COUNTER", value: h.rqError },
    { name: "rq_success", type: "COUNTER", value: h.rqSuccess },
    { name: "rq_timeout", type: "COUNTER", value: h.rqTimeout },
    { name: "rq_total", type: "COUNTER", value: h.rqTotal },
  ];
}

const PRIORITIES: readonly RoutingPriority[] = ["DEFAULT", "HIGH"];

/** Envoy prints doubles without trailing zeros; -1 means "not computed". */
function num(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Math.round(x * 1e6) / 1e6);
}

function hostSuccessRates(c: ClusterRuntime, h: UpstreamHost): { sr: number; lo: number } {
  const m = c.outlierDetector?.monitor(h);
  return { sr: m?.successRate ?? -1, lo: m?.localOriginSuccessRate ?? -1 };
}

/** Envoy's text format for `/clusters`. Runs due outlier sweeps first, so the state shown is current. */
export function renderClustersText(clusters: Iterable<ClusterRuntime>): string {
  const lines: string[] = [];
  for (const c of clusters) {
    c.refresh();
    const n = c.name;
    lines.push(`${n}::observability_name::${n}`);
    for (const p of PRIORITIES) {
      const t = c.breakers.resources(p);
      const label = `${n}::${p.toLowerCase()}_priority`;
      lines.push(
        `${label}::max_connections::${t.connections.limit}`,
        `${label}::max_pending_requests::${t.pending.limit}`,
        `${label}::max_requests::${t.requests.limit}`,
        `${label}::max_retries::${t.retries.limit}`,
      );
    }
    lines.push(`${n}::added_via_api::false`);
    const od = c.outlierDetector;
    if (od) {
      const f = od.successRateFigures;
      lines.push(
        `${n}::outlier::success_rate_average::${num(f.successRateAverage)}`,
        `${n}::outlier::success_rate_ejection_threshold::${num(f.successRateEjectionThreshold)}`,
        `${n}::outlier::local_origin_success_rate_average::${num(f.localOriginSuccessRateAverage)}`,
        `${n}::outlier::local_origin_success_rate_ejection_threshold::${num(f.localOriginSuccessRateEjectionThreshold)}`,
      );
    }
    for (const p of PRIORITIES) {
      const t = c.breakers.resources(p);
      const label = `${n}::${p.toLowerCase()}_priority`;
      lines.push(
        `${label}::cx_active::${t.connections.count}`,
        `${label}::rq_pending_active::${t.pending.count}`,
        `${label}::rq_active::${t.requests.count}`,
        `${label}::rq_retry_active::${t.retries.count}`,
        `${label}::cx_open::${t.connections.count >= t.connections.limit ? 1 : 0}`,
        `${label}::rq_pending_open::${t.pending.count >= t.pending.limit ? 1 : 0}`,
        `${label}::rq_open::${t.requests.count >= t.requests.limit ? 1 : 0}`,
        `${label}::rq_retry_open::${t.retries.count >= t.retries.limit ? 1 : 0}`,
      );
    }
    for (const h of c.hosts) {
      const a = `${n}::${h.hostPort}`;
      for (const s of hostStats(h)) lines.push(`${a}::${s.name}::${s.value}`);
      const { sr, lo } = hostSuccessRates(c, h);
      lines.push(
        `${a}::hostname::`,
        `${a}::health_flags::${h.healthFlags}`,
        `${a}::weight::${h.weight}`,
        `${a}::region::${h.locality.region}`,
        `${a}::zone::${h.locality.zone}`,
        `${a}::sub_zone::${h.locality.subZone}`,
        `${a}::canary::false`,
        `${a}::priority::${h.priority}`,
        `${a}::success_rate::${num(sr)}`,
        `${a}::local_origin_success_rate::${num(lo)}`,
      );
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** Envoy's `ClusterStatuses` JSON for `/clusters?format=json` (uint64 stat values as strings, as proto3 JSON). */
export function renderClustersJson(clusters: Iterable<ClusterRuntime>): { cluster_statuses: unknown[] } {
  const out: unknown[] = [];
  for (const c of clusters) {
    c.refresh();
    const od = c.outlierDetector;
    const f = od?.successRateFigures;
    const status: Record<string, unknown> = {
      name: c.name,
      added_via_api: false,
    };
    if (f && f.successRateEjectionThreshold >= 0) status.success_rate_ejection_threshold = { value: f.successRateEjectionThreshold };
    if (f && f.localOriginSuccessRateEjectionThreshold >= 0) status.local_origin_success_rate_ejection_threshold = { value: f.localOriginSuccessRateEjectionThreshold };
    status.host_statuses = c.hosts.map((h) => {
      const health: Record<string, unknown> = { eds_health_status: h.edsHealthStatus ?? "HEALTHY" };
      if (h.failedOutlierCheck) health.failed_outlier_check = true;
      if (h.failedActiveHc) health.failed_active_health_check = true;
      const { sr, lo } = hostSuccessRates(c, h);
      const hs: Record<string, unknown> = {
        address: { socket_address: { address: h.address, port_value: h.port } },
        stats: hostStats(h).map((s) => (s.type === "GAUGE" ? { name: s.name, type: "GAUGE", value: String(s.value) } : { name: s.name, value: String(s.value) })),
        health_status: health,
      };
      if (sr >= 0) hs.success_rate = { value: sr };
      hs.weight = h.weight;
      hs.hostname = "";
      hs.priority = h.priority;
      if (lo >= 0) hs.local_origin_success_rate = { value: lo };
      const loc: Record<string, string> = {};
      if (h.locality.region) loc.region = h.locality.region;
      if (h.locality.zone) loc.zone = h.locality.zone;
      if (h.locality.subZone) loc.sub_zone = h.locality.subZone;
      hs.locality = loc;
      return hs;
    });
    status.circuit_breakers = {
      thresholds: PRIORITIES.map((p) => {
        const t = c.breakers.resources(p);
        return {
          ...(p === "HIGH" ? { priority: "HIGH" } : {}),
          max_connections: t.connections.limit,
          max_pending_requests: t.pending.limit,
          max_requests: t.requests.limit,
          max_retries: t.retries.limit,
        };
      }),
    };
    status.observability_name = c.name;
    status.legate = {
      priority_load: [...c.priorityLoad],
      panic: c.priorityLoad.map((_, i) => c.inPanic(i)),
      ejections_active: od?.activeEjections ?? 0,
      circuit_breakers: Object.fromEntries(
        PRIORITIES.map((p) => {
          const t = c.breakers.resources(p);
          return [
            p.toLowerCase(),
            {
              cx_active: t.connections.count,
              rq_pending_active: t.pending.count,
              rq_active: t.requests.count,
              rq_retry_active: t.retries.count,
              cx_open: t.connections.count >= t.connections.limit,
              rq_pending_open: t.pending.count >= t.pending.limit,
              rq_open: t.requests.count >= t.requests.limit,
              rq_retry_open: t.retries.count >= t.retries.limit,
            },
          ];
        }),
      ),
    };
    out.push(status);
  }
  return { cluster_statuses: out };
}
