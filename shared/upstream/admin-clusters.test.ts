import { describe, expect, it } from "vitest";
import { StatsStore } from "../stats/store.ts";
import { renderClustersJson, renderClustersText } from "./admin-clusters.ts";
import { DEFAULT_THRESHOLDS } from "./circuit-breakers.ts";
import { ClusterRuntime } from "./cluster.ts";
import { clusterModel, endpoint, FakeClock, outlier } from "./test-helpers.ts";

function runtime() {
  const clock = new FakeClock();
  const model = clusterModel("web", [
    endpoint(80, { weight: 2, locality: { region: "eu", zone: "eu-1", subZone: "r1" } }),
    endpoint(81, { priority: 1 }),
  ], {
    circuitBreakers: { DEFAULT: { ...DEFAULT_THRESHOLDS, maxRequests: 2 }, HIGH: DEFAULT_THRESHOLDS },
    outlierDetection: outlier({ maxEjectionPercent: 50, intervalMs: 100, baseEjectionTimeMs: 1000 }),
  });
  return { c: new ClusterRuntime(model, new StatsStore(), undefined, { now: clock.now, random: () => 0 }), clock };
}

describe("/clusters rendering", () => {
  it("prints Envoy's text format with live host, outlier and breaker state", () => {
    const { c } = runtime();
    const [a, b] = c.hosts;
    const attempt = c.startAttempt(a!)!;
    attempt.onHeaders(200);
    for (let i = 0; i < 5; i++) c.startAttempt(b!)!.onFailure({ kind: "connect_failure" });
    const lines = renderClustersText([c]).trimEnd().split("\n");
    expect(lines.slice(0, 10)).toEqual([
      "web::observability_name::web",
      "web::default_priority::max_connections::1024",
      "web::default_priority::max_pending_requests::1024",
      "web::default_priority::max_requests::2",
      "web::default_priority::max_retries::3",
      "web::high_priority::max_connections::1024",
      "web::high_priority::max_pending_requests::1024",
      "web::high_priority::max_requests::1024",
      "web::high_priority::max_retries::3",
      "web::added_via_api::false",
    ]);
    expect(lines).toContain("web::outlier::success_rate_average::-1");
    expect(lines).toContain("web::default_priority::rq_active::1");
    expect(lines).toContain("web::default_priority::rq_open::0");
    const host = (hp: string) => lines.filter((l) => l.startsWith(`web::${hp}::`)).map((l) => l.slice(`web::${hp}::`.length));
    expect(host("10.0.0.1:80")).toEqual([
      "cx_active::1",
      "cx_connect_fail::0",
      "cx_total::1",
      "rq_active::1",
      "rq_error::0",
      "rq_success::1",
      "rq_timeout::0",
      "rq_total::1",
      "hostname::",
      "health_flags::healthy",
      "weight::2",
      "region::eu",
      "zone::eu-1",
      "sub_zone::r1",
      "canary::false",
      "priority::0",
      "success_rate::-1",
      "local_origin_success_rate::-1",
    ]);
    expect(host("10.0.0.1:81")).toContain("health_flags::/failed_outlier_check");
    expect(host("10.0.0.1:81")).toContain("cx_connect_fail::5");
    expect(host("10.0.0.1:81")).toContain("priority::1");
    attempt.end();
    expect(renderClustersText([c])).toContain("web::default_priority::rq_active::0\n");
  });

  it("renders ClusterStatuses JSON", () => {
    const { c, clock } = runtime();
    c.setHealth("10.0.0.1:80", false);
    const json = renderClustersJson([c]) as { cluster_statuses: Record<string, unknown>[] };
    const s = json.cluster_statuses[0]!;
    expect(s.name).toBe("web");
    expect(s.circuit_breakers).toEqual({
      thresholds: [
        { max_connections: 1024, max_pending_requests: 1024, max_requests: 2, max_retries: 3 },
        { priority: "HIGH", max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
      ],
    });
    const hosts = s.host_statuses as Record<string, unknown>[];
    expect(hosts[0]).toMatchObject({
      address: { socket_address: { address: "10.0.0.1", port_value: 80 } },
      health_status: { eds_health_status: "HEALTHY", failed_active_health_check: true },
      weight: 2,
      priority: 0,
      locality: { region: "eu", zone: "eu-1", sub_zone: "r1" },
    });
    expect((hosts[0]!.stats as unknown[])[0]).toEqual({ name: "cx_active", type: "GAUGE", value: "0" });
    expect((hosts[0]!.stats as unknown[])[1]).toEqual({ name: "cx_connect_fail", value: "0" });
    expect(s.legate).toMatchObject({ priority_load: [0, 100], panic: [false, false], ejections_active: 0 });
    clock.advance(100);
    expect(renderClustersJson([c]).cluster_statuses).toHaveLength(1);
  });
});
