/**
 * The cluster's upstream settings through the whole config path: Envoy's schema and Legate's support
 * table (the Node validator), then compile, then the runtime built from the model.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { compileBootstrap } from "../config/compile.ts";
import { StatsStore } from "../stats/store.ts";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { ClusterRuntime } from "./cluster.ts";

const LISTENER = `
  listeners:
  - name: edge
    address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
    metadata: { filter_metadata: { legate: { edge: true } } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route:
                  cluster: web
                  hash_policy:
                  - header: { header_name: X-User }
                  - cookie: { name: session }
                    terminal: true
                  - connection_properties: { source_ip: true }
                  - query_parameter: { name: shard }
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;

function config(cluster: string): unknown {
  return parse(`static_resources:\n${LISTENER}\n  clusters:\n${cluster.replace(/^/gm, "  ")}`);
}

const FULL = `
- name: web
  type: STATIC
  lb_policy: RING_HASH
  ring_hash_lb_config: { minimum_ring_size: 64, maximum_ring_size: 4096, hash_function: MURMUR_HASH_2 }
  common_lb_config:
    healthy_panic_threshold: { value: 40.9 }
    locality_weighted_lb_config: {}
  circuit_breakers:
    thresholds:
    - { max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 2, track_remaining: true }
    - priority: HIGH
      max_requests: 50
      retry_budget: { budget_percent: { value: 30 }, min_retry_concurrency: 4 }
    - { priority: HIGH, max_requests: 1 }
  outlier_detection:
    consecutive_5xx: 3
    interval: 0.1s
    base_ejection_time: 0.2s
    max_ejection_percent: 50
    enforcing_consecutive_gateway_failure: 100
    split_external_local_origin_errors: true
    always_eject_one_host: true
  load_assignment:
    cluster_name: web
    policy: { overprovisioning_factor: 200 }
    endpoints:
    - locality: { region: eu, zone: eu-1, sub_zone: rack-a }
      load_balancing_weight: 3
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } }
        load_balancing_weight: 2
      - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 80 } } }
    - priority: 1
      locality: { region: us }
      lb_endpoints:
      - endpoint: { address: { socket_address: { address: 10.0.1.1, port_value: 80 } } }
- name: mg
  lb_policy: MAGLEV
  maglev_lb_config: { table_size: 1031 }
- name: lr
  lb_policy: LEAST_REQUEST
  least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: lr.bias } }
`;

describe("cluster upstream settings", () => {
  it("validate against Envoy's schema and the support table, and compile with defaults applied", async () => {
    const r = await validateBootstrapValue(config(FULL));
    expect(r.ok ? [] : r.issues).toEqual([]);
    if (!r.ok) return;
    const c = r.model.clusters.get("web")!;
    expect(c.lbPolicy).toBe("RING_HASH");
    expect(c.lbConfig).toEqual({
      healthyPanicThresholdPercent: 40,
      localityWeighted: true,
      overprovisioningFactor: 2,
      leastRequest: { choiceCount: 2, activeRequestBias: 1 },
      ringHash: { minimumRingSize: 64, maximumRingSize: 4096, hashFunction: "MURMUR_HASH_2" },
      maglev: { tableSize: 65537 },
    });
    expect(r.model.clusters.get("mg")!.lbConfig!.maglev).toEqual({ tableSize: 1031 });
    expect(r.model.clusters.get("lr")!.lbConfig!.leastRequest).toEqual({ choiceCount: 3, activeRequestBias: 0.5 });
    expect(c.circuitBreakers).toEqual({
      DEFAULT: { maxConnections: 10, maxPendingRequests: 5, maxRequests: 20, maxRetries: 2, trackRemaining: true },
      HIGH: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 50, maxRetries: 3, trackRemaining: false, retryBudget: { budgetPercent: 30, minRetryConcurrency: 4 } },
    });
    expect(c.outlierDetection).toMatchObject({
      consecutive5xx: 3,
      intervalMs: 100,
      baseEjectionTimeMs: 200,
      maxEjectionTimeMs: 300_000,
      maxEjectionPercent: 50,
      enforcingConsecutive5xx: 100,
      enforcingConsecutiveGatewayFailure: 100,
      enforcingFailurePercentage: 0,
      successRateStdevFactor: 1900,
      splitExternalLocalOriginErrors: true,
      alwaysEjectOneHost: true,
    });
    expect(c.endpoints).toEqual([
      { address: "10.0.0.1", port: 80, weight: 2, locality: { region: "eu", zone: "eu-1", subZone: "rack-a" }, localityWeight: 3 },
      { address: "10.0.0.2", port: 80, weight: 1, locality: { region: "eu", zone: "eu-1", subZone: "rack-a" }, localityWeight: 3 },
      { address: "10.0.1.1", port: 80, weight: 1, priority: 1, locality: { region: "us", zone: "", subZone: "" } },
    ]);
    const route = r.model.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(route.kind === "http_connection_manager" && route.routeConfig.virtualHosts[0]!.routes[0]!.action).toMatchObject({
      kind: "route",
      cluster: "web",
      hashPolicy: [
        { kind: "header", headerName: "x-user", terminal: false },
        { kind: "cookie", name: "session", terminal: true },
        { kind: "source_ip", terminal: false },
        { kind: "query_parameter", name: "shard", terminal: false },
      ],
    });
    const runtime = new ClusterRuntime(c, new StatsStore());
    expect(runtime.hosts.map((h) => [h.hostPort, h.priority, h.localityKey])).toEqual([
      ["10.0.0.1:80", 0, "eu/eu-1/rack-a"],
      ["10.0.0.2:80", 0, "eu/eu-1/rack-a"],
      ["10.0.1.1:80", 1, "us//"],
    ]);
  });

  it("an empty outlier_detection gets Envoy's defaults; no circuit_breakers leaves the model's field out", async () => {
    const r = await validateBootstrapValue(config(`
- name: web
  outlier_detection: {}
  load_assignment:
    cluster_name: web
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } } }] }]
`));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const c = r.model.clusters.get("web")!;
    expect(c.circuitBreakers).toBeUndefined();
    expect(c.outlierDetection).toMatchObject({ consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10, enforcingConsecutiveGatewayFailure: 0, successRateRequestVolume: 100, failurePercentageThreshold: 85 });
    expect(c.lbConfig!.healthyPanicThresholdPercent).toBe(50);
  });

  it("refuses what Legate does not run, naming the feature", async () => {
    const r = await validateBootstrapValue(config(`
- name: web
  common_lb_config: { zone_aware_lb_config: {} }
  circuit_breakers: { per_host_thresholds: [{ max_connections: 1 }] }
  outlier_detection: { successful_active_health_check_uneject_host: false }
  load_assignment:
    cluster_name: web
    policy: { weighted_priority_health: true }
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 80 } } } }] }]
`));
    expect(r.ok).toBe(false);
    const messages = r.ok ? [] : r.issues.map((i) => `${i.kind} ${i.path}`);
    expect(messages).toEqual([
      "unsupported static_resources.clusters[0].common_lb_config.zone_aware_lb_config",
      "unsupported static_resources.clusters[0].circuit_breakers.per_host_thresholds",
      "unsupported static_resources.clusters[0].outlier_detection.successful_active_health_check_uneject_host",
      "unsupported static_resources.clusters[0].load_assignment.policy.weighted_priority_health",
    ]);
  });

  it("compile fails closed on values Envoy would refuse (even when validation was skipped)", () => {
    const { issues } = compileBootstrap(config(`
- name: web
  ring_hash_lb_config: { minimum_ring_size: 2048, maximum_ring_size: 1024 }
  maglev_lb_config: { table_size: 1000 }
  least_request_lb_config: { choice_count: 1 }
  outlier_detection: { interval: 0s }
  route: {}
`));
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining([
      "static_resources.clusters[0].ring_hash_lb_config",
      "static_resources.clusters[0].maglev_lb_config.table_size",
      "static_resources.clusters[0].least_request_lb_config.choice_count",
      "static_resources.clusters[0].outlier_detection.interval",
    ]));
  });

  it("refuses hash policies Legate cannot evaluate", () => {
    const cfg = config(`
- name: web
  load_assignment: { cluster_name: web }
`) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { route_config: { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] } } }[] }[] }[] } };
    const route = cfg.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config.virtual_hosts[0]!.routes[0]!.route;
    route.hash_policy = [{ cookie: { name: "s", ttl: "10s", attributes: [{ name: "a;b" }] } }, { filter_state: { key: "k" } }, { header: { header_name: "a" }, query_parameter: { name: "b" } }];
    const { issues } = compileBootstrap(cfg);
    const hp = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.hash_policy";
    expect(issues).toEqual([
      { kind: "unsupported", path: `${hp}[0].cookie.attributes[0]`, message: "a cookie attribute containing ';' is not supported by Legate" },
      { kind: "unsupported", path: `${hp}[1].filter_state`, message: "`filter_state` hash policies are not supported by Legate" },
      { kind: "not-envoy", path: `${hp}[2]`, message: "only one of header, query_parameter may be set" },
    ]);
  });
});
