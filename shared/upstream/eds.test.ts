/**
 * EDS in shared/: the `type: EDS` cluster config through Envoy's schema and the support table, the
 * stored endpoints document (shared/kv/endpoints.ts), and membership updates on a running cluster
 * (ClusterRuntime.setEndpoints): hosts that stay keep their state, DRAINING hosts get no traffic.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { endpointsKey, parseEndpointsDocument } from "../kv/endpoints.ts";
import { StatsStore } from "../stats/store.ts";
import { ClusterRuntime } from "./cluster.ts";
import { clusterModel, endpoint, FakeClock, outlier, seeded, tally } from "./test-helpers.ts";

function bootstrap(clusters: string): unknown {
  return parse(`
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: svc
  clusters:
${clusters.replace(/^/gm, "  ")}`);
}

const EDS_CLUSTER = `
- name: svc
  type: EDS
  connect_timeout: 1s
  eds_cluster_config:
    service_name: svc-v1
    eds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 2.5s }
`;

describe("type: EDS clusters in the config", () => {
  it("compile to an EDS model with the service name and initial fetch timeout, and no endpoints", async () => {
    const r = await validateBootstrapValue(bootstrap(EDS_CLUSTER));
    expect(r.ok ? [] : r.issues).toEqual([]);
    if (!r.ok) return;
    const c = r.model.clusters.get("svc")!;
    expect(c.type).toBe("EDS");
    expect(c.endpoints).toEqual([]);
    expect(c.eds).toEqual({ serviceName: "svc-v1", initialFetchTimeoutMs: 2500 });
  });

  it("default the service name to the cluster name and the fetch timeout to 15 s", async () => {
    const r = await validateBootstrapValue(bootstrap("- { name: svc, type: EDS, eds_cluster_config: { eds_config: { ads: {} } } }"));
    expect(r.ok ? [] : r.issues).toEqual([]);
    if (r.ok) expect(r.model.clusters.get("svc")!.eds).toEqual({ serviceName: "svc", initialFetchTimeoutMs: 15_000 });
  });

  it("refuse other EDS sources, a load_assignment on an EDS cluster, and DEGRADED, naming the path", async () => {
    const r = await validateBootstrapValue(bootstrap(`
- name: svc
  type: EDS
  eds_cluster_config: { eds_config: { api_config_source: { api_type: GRPC } } }
- name: other
  type: EDS
  load_assignment: { cluster_name: other }
- name: st
  load_assignment:
    cluster_name: st
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
        health_status: DEGRADED
`));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
    expect(byPath["static_resources.clusters[0].eds_cluster_config.eds_config.api_config_source"]).toMatch(/xDS management servers/);
    expect(byPath["static_resources.clusters[1].load_assignment"]).toMatch(/EDS cluster takes its endpoints from KV/);
    expect(byPath["static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].health_status"]).toMatch(/DEGRADED/);
  });

  it("static endpoints carry health_status: DRAINING marks the host failed_eds_health", async () => {
    const r = await validateBootstrapValue(bootstrap(`
- name: svc
  load_assignment:
    cluster_name: svc
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
        health_status: DRAINING
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } }
        health_status: UNKNOWN
`));
    expect(r.ok ? [] : r.issues).toEqual([]);
    if (!r.ok) return;
    const runtime = new ClusterRuntime(r.model.clusters.get("svc")!, new StatsStore());
    expect(runtime.hosts.map((h) => [h.hostPort, h.healthFlags])).toEqual([["127.0.0.1:1", "/failed_eds_health"], ["127.0.0.1:2", "healthy"]]);
    for (let i = 0; i < 20; i++) expect(runtime.chooseHost()?.port).toBe(2);
  });
});

function doc(assignment: unknown, version = 1): string {
  return JSON.stringify({ version, updated_at: "2026-11-24T10:00:00.000Z", cluster_load_assignment: assignment });
}

const ep = (port: number, extra: Record<string, unknown> = {}) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...extra });

describe("the endpoints document", () => {
  it("is keyed by the URL-encoded service name", () => {
    expect(endpointsKey("svc/v1 a")).toBe("legate/endpoints/svc%2Fv1%20a");
  });

  it("parses into endpoints with priority, locality, weight, health status and the overprovisioning factor", () => {
    const p = parseEndpointsDocument(doc({
      cluster_name: "svc",
      policy: { overprovisioning_factor: 200 },
      endpoints: [
        { locality: { region: "eu" }, lb_endpoints: [ep(1, { load_balancing_weight: 3 }), ep(2, { health_status: "DRAINING" })] },
        { priority: 1, lb_endpoints: [ep(3)] },
      ],
    }, 7), "svc");
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.document.version).toBe(7);
    expect(p.overprovisioningFactor).toBe(2);
    expect(p.endpoints).toEqual([
      { address: "127.0.0.1", port: 1, weight: 3, locality: { region: "eu", zone: "", subZone: "" } },
      { address: "127.0.0.1", port: 2, weight: 1, locality: { region: "eu", zone: "", subZone: "" }, healthStatus: "DRAINING" },
      { address: "127.0.0.1", port: 3, weight: 1, priority: 1 },
    ]);
  });

  it("refuses what is not a whole valid document, saying why", () => {
    const bad = (text: string) => {
      const p = parseEndpointsDocument(text, "svc");
      return p.ok ? "ok" : p.error;
    };
    expect(bad("{")).toMatch(/not JSON/);
    expect(bad("[]")).toMatch(/not a JSON object/);
    expect(bad(JSON.stringify({ version: -1, cluster_load_assignment: {} }))).toMatch(/version/);
    expect(bad(JSON.stringify({ version: 1 }))).toMatch(/cluster_load_assignment/);
    expect(bad(doc({ cluster_name: "other" }))).toMatch(/expected the EDS service name "svc"/);
    expect(bad(doc({ endpoints: [{ lb_endpoints: [ep(1, { load_balancing_weight: 0 })] }] }))).toMatch(/load_balancing_weight must be at least 1/);
    expect(bad(doc({ endpoints: [{ lb_endpoints: [ep(1, { health_status: "DEGRADED" })] }] }))).toMatch(/DEGRADED/);
    expect(bad(doc({ endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "/x" } } } }] }] }))).toMatch(/Unix domain sockets/);
    expect(bad(doc({ cluster_name: "svc", endpoints: [] }))).toBe("ok");
  });
});

describe("ClusterRuntime.setEndpoints", () => {
  it("starts an EDS cluster empty, then routes to the assignment, keeping hosts that stay", () => {
    const stats = new StatsStore();
    const c = new ClusterRuntime(clusterModel("svc", [], { type: "EDS" }), stats, undefined, { random: seeded(1) });
    expect(c.chooseHost()).toBeUndefined();
    c.setEndpoints([endpoint(1), endpoint(2)]);
    const first = c.host("10.0.0.1:1")!;
    first.rqTotal = 5;
    first.failedActiveHc = true;
    c.setEndpoints([endpoint(1), endpoint(2), endpoint(3)]);
    expect(c.host("10.0.0.1:1")).toBe(first);
    expect(first.rqTotal).toBe(5);
    expect(first.failedActiveHc).toBe(true);
    const picks = tally(Array.from({ length: 60 }, () => c.chooseHost()!), (h) => h.hostPort);
    expect(picks).toEqual({ "10.0.0.1:2": 30, "10.0.0.1:3": 30 });
    expect(stats.gauge("cluster.svc.membership_total").value).toBe(3);
    expect(stats.gauge("cluster.svc.membership_healthy").value).toBe(2);
    expect(stats.counter("cluster.svc.membership_change").value).toBe(2);
  });

  it("DRAINING takes a host out of rotation on the same object; clearing it brings the host back", () => {
    const c = new ClusterRuntime(clusterModel("svc", [endpoint(1), endpoint(2)]), new StatsStore());
    const two = c.host("10.0.0.1:2")!;
    c.setEndpoints([endpoint(1), endpoint(2, { healthStatus: "DRAINING" })]);
    expect(c.host("10.0.0.1:2")).toBe(two);
    expect(two.healthFlags).toBe("/failed_eds_health");
    for (let i = 0; i < 10; i++) expect(c.chooseHost()!.port).toBe(1);
    c.setEndpoints([endpoint(1), endpoint(2)]);
    expect(new Set(Array.from({ length: 10 }, () => c.chooseHost()!.port))).toEqual(new Set([1, 2]));
  });

  it("a host whose weight or priority changes is a new host; a removed host is gone", () => {
    const c = new ClusterRuntime(clusterModel("svc", [endpoint(1), endpoint(2)]), new StatsStore());
    const one = c.host("10.0.0.1:1")!;
    c.setEndpoints([endpoint(1, { weight: 5 })]);
    expect(c.host("10.0.0.1:1")).not.toBe(one);
    expect(c.host("10.0.0.1:1")!.weight).toBe(5);
    expect(c.host("10.0.0.1:2")).toBeUndefined();
    expect(c.setHealth("10.0.0.1:2", false)).toBe(false);
  });

  it("keeps outlier-detection state for hosts that stay and forgets removed ones", () => {
    const clock = new FakeClock();
    const stats = new StatsStore();
    const model = clusterModel("svc", [endpoint(1), endpoint(2), endpoint(3)], { outlierDetection: outlier({ consecutive5xx: 2, maxEjectionPercent: 100 }) });
    const c = new ClusterRuntime(model, stats, undefined, { now: clock.now });
    const one = c.host("10.0.0.1:1")!;
    const two = c.host("10.0.0.1:2")!;
    c.onResult(one, { kind: "http", status: 500 });
    c.onResult(one, { kind: "http", status: 500 });
    expect(one.failedOutlierCheck).toBe(true);
    c.onResult(two, { kind: "http", status: 500 });
    c.setEndpoints([endpoint(1), endpoint(2)]);
    expect(one.failedOutlierCheck).toBe(true);
    // The second 5xx in a row still counts: the monitor of host 2 was kept.
    c.onResult(two, { kind: "http", status: 500 });
    expect(two.failedOutlierCheck).toBe(true);
    expect(stats.gauge("cluster.svc.outlier_detection.ejections_active").value).toBe(2);
    c.setEndpoints([endpoint(2)]);
    expect(stats.gauge("cluster.svc.outlier_detection.ejections_active").value).toBe(1);
  });

  it("an assignment's overprovisioning factor replaces the cluster's", () => {
    const model = clusterModel("svc", [], {
      lbConfig: { healthyPanicThresholdPercent: 0, localityWeighted: false, overprovisioningFactor: 1.4, leastRequest: { choiceCount: 2, activeRequestBias: 1 }, ringHash: { minimumRingSize: 1024, maximumRingSize: 8_388_608, hashFunction: "XX_HASH" }, maglev: { tableSize: 65537 } },
    });
    const c = new ClusterRuntime(model, new StatsStore());
    const p0 = [endpoint(1), endpoint(2, { healthStatus: "UNHEALTHY" })];
    const p1 = [endpoint(3, { priority: 1 })];
    c.setEndpoints([...p0, ...p1]);
    // Half of priority 0 healthy: 50 % × 1.4 = 70 % stays there.
    expect(c.priorityLoad).toEqual([70, 30]);
    c.setEndpoints([...p0, ...p1], 2);
    expect(c.priorityLoad).toEqual([100, 0]);
  });
});

describe("DRAINING hosts are excluded", () => {
  it("even in panic mode, and they do not count in their priority's health", () => {
    const c = new ClusterRuntime(clusterModel("svc", []), new StatsStore(), undefined, { random: seeded(3) });
    // Three of four hosts draining, the fourth failed: without exclusion the level would be in panic
    // and balance over all four.
    c.setEndpoints([endpoint(1, { healthStatus: "DRAINING" }), endpoint(2, { healthStatus: "DRAINING" }), endpoint(3, { healthStatus: "DRAINING" }), endpoint(4, { healthStatus: "UNHEALTHY" })]);
    expect(c.inPanic(0)).toBe(true);
    for (let i = 0; i < 20; i++) expect(c.chooseHost()?.port).toBe(4);
    // One healthy host of two counted (the draining one is not): 50 % health, not panic at the default 50 %.
    c.setEndpoints([endpoint(1, { healthStatus: "DRAINING" }), endpoint(2), endpoint(3, { healthStatus: "UNHEALTHY" })]);
    expect(c.inPanic(0)).toBe(false);
    for (let i = 0; i < 20; i++) expect(c.chooseHost()?.port).toBe(2);
  });
});
