/**
 * `health_checks` through the full config pipeline (Envoy's schema, Legate's support table, the
 * compiler): defaults, the checkers compiled, and what is refused (unbuilt fields, other custom
 * checkers, HTTP/2 HTTP checks, health checks on clusters the edge routes to).
 */
import { describe, expect, it } from "vitest";
import { validateBootstrapValue } from "../src/config/load.ts";
import type { ClusterModel } from "../../shared/config/model.ts";

type Json = Record<string, unknown>;
const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const REDIS = "type.googleapis.com/envoy.extensions.health_checkers.redis.v3.Redis";
const HC = "static_resources.clusters[0].health_checks[0]";

const base = { timeout: "1s", interval: "5s", unhealthy_threshold: 3, healthy_threshold: 2 };

function config(hc: Json, edge = false): Json {
  const listener = edge
    ? {
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress",
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "up" } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
        } }] }],
      }
    : {
        name: "proxy",
        address: { socket_address: { address: "127.0.0.1", port_value: 10001 } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: "tp", cluster: "up" } }] }],
      };
  return {
    static_resources: {
      listeners: [listener],
      clusters: [{
        name: "up",
        load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] },
        health_checks: [hc],
      }],
    },
  };
}

async function cluster(hc: Json): Promise<ClusterModel> {
  const r = await validateBootstrapValue(config(hc));
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model.clusters.get("up")!;
}

async function refused(hc: Json, edge = false): Promise<{ kind: string; path: string; message: string }[]> {
  const r = await validateBootstrapValue(config(hc, edge));
  if (r.ok) throw new Error("expected the config to be refused");
  return r.issues.map(({ kind, path, message }) => ({ kind, path, message }));
}

describe("health_checks config", () => {
  it("applies Envoy's defaults to an HTTP check", async () => {
    const c = await cluster({ ...base, http_health_check: { path: "/healthz" } });
    expect(c.healthChecks).toEqual([{
      timeoutMs: 1000,
      intervalMs: 5000,
      initialJitterMs: 0,
      intervalJitterMs: 0,
      intervalJitterPercent: 0,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
      unhealthyIntervalMs: 5000,
      unhealthyEdgeIntervalMs: 5000,
      healthyEdgeIntervalMs: 5000,
      noTrafficIntervalMs: 60_000,
      noTrafficHealthyIntervalMs: 60_000,
      reuseConnection: true,
      alwaysLogHealthCheckFailures: false,
      checker: { kind: "http", path: "/healthz", method: "GET", expectedStatuses: [[200, 201]], retriableStatuses: [], requestHeadersToAdd: [], requestHeadersToRemove: [] },
    }]);
  });

  it("compiles intervals, jitter, statuses, headers and the other checkers", async () => {
    const c = await cluster({
      ...base,
      unhealthy_interval: "2s",
      healthy_edge_interval: "0.5s",
      no_traffic_interval: "10s",
      interval_jitter: "0.1s",
      interval_jitter_percent: 10,
      initial_jitter: "0.2s",
      reuse_connection: false,
      event_log_path: "/tmp/hc.log",
      http_health_check: {
        path: "/h",
        host: "svc.local",
        method: "HEAD",
        expected_statuses: [{ start: 200, end: 300 }],
        retriable_statuses: [{ start: 503, end: 504 }],
        request_headers_to_add: [{ header: { key: "X-A", value: "1" } }],
        request_headers_to_remove: ["user-agent"],
        service_name_matcher: { exact: "svc" },
      },
    });
    const hc = c.healthChecks![0]!;
    expect(hc).toMatchObject({ unhealthyIntervalMs: 2000, unhealthyEdgeIntervalMs: 2000, healthyEdgeIntervalMs: 500, noTrafficIntervalMs: 10_000, noTrafficHealthyIntervalMs: 10_000, intervalJitterMs: 100, intervalJitterPercent: 10, initialJitterMs: 200, reuseConnection: false, eventLogPath: "/tmp/hc.log" });
    expect(hc.checker).toMatchObject({ kind: "http", host: "svc.local", method: "HEAD", expectedStatuses: [[200, 300]], retriableStatuses: [[503, 504]], requestHeadersToRemove: ["user-agent"], serviceNameMatcher: { kind: "exact", value: "svc" } });
    expect((await cluster({ ...base, tcp_health_check: { send: { text: "50494E47" }, receive: [{ binary: "UE9ORw==" }] } })).healthChecks![0]!.checker).toEqual({ kind: "tcp", send: "50494e47", receive: ["504f4e47"] });
    expect((await cluster({ ...base, tcp_health_check: {} })).healthChecks![0]!.checker).toEqual({ kind: "tcp", receive: [] });
    expect((await cluster({ ...base, grpc_health_check: { service_name: "s" } })).healthChecks![0]!.checker).toEqual({ kind: "grpc", serviceName: "s" });
    expect((await cluster({ ...base, custom_health_check: { name: "envoy.health_checkers.redis", typed_config: { "@type": REDIS, key: "m" } } })).healthChecks![0]!.checker).toEqual({ kind: "redis", key: "m" });
  });

  it("refuses what is not built, with the feature named", async () => {
    const http = { path: "/h" };
    expect(await refused({ ...base, http_health_check: http, alt_port: 8080 })).toContainEqual(expect.objectContaining({ kind: "unsupported", path: `${HC}.alt_port` }));
    expect(await refused({ ...base, http_health_check: http, event_logger: [{ name: "envoy.health_check.event_sinks.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.health_check.event_sinks.file.v3.HealthCheckEventFileSink", event_log_path: "/tmp/x" } }] }))
      .toContainEqual(expect.objectContaining({ path: `${HC}.event_logger` }));
    expect(await refused({ ...base, http_health_check: { ...http, codec_client_type: "HTTP2" } })).toContainEqual(expect.objectContaining({ kind: "unsupported", path: `${HC}.http_health_check.codec_client_type` }));
    expect(await refused({ ...base, http_health_check: { ...http, response_buffer_size: 10 } })).toContainEqual(expect.objectContaining({ kind: "unsupported", path: `${HC}.http_health_check.response_buffer_size` }));
    const thrift = await refused({ ...base, custom_health_check: { name: "envoy.health_checkers.thrift", typed_config: { "@type": "type.googleapis.com/envoy.extensions.health_checkers.thrift.v3.Thrift" } } });
    expect(thrift).toContainEqual(expect.objectContaining({ kind: "unsupported", path: `${HC}.custom_health_check` }));
  });

  it("refuses malformed checks", async () => {
    expect(await refused({ ...base, tcp_health_check: { send: { text: "abc" } } })).toContainEqual(expect.objectContaining({ path: `${HC}.tcp_health_check.send.text` }));
    expect(await refused({ ...base, http_health_check: { path: "/h", expected_statuses: [{ start: 300, end: 200 }] } })).toContainEqual(expect.objectContaining({ path: `${HC}.http_health_check.expected_statuses[0]` }));
    const { timeout: _t, ...noTimeout } = base;
    expect((await refused({ ...noTimeout, tcp_health_check: {} })).some((i) => i.path.startsWith(`${HC}.timeout`) || i.path === HC)).toBe(true);
  });

  it("accepts health_checks on a cluster the edge routes to (the edge follows the tcp tier's verdicts through KV)", async () => {
    const r = await validateBootstrapValue(config({ ...base, http_health_check: { path: "/h" } }, true));
    expect(r.ok).toBe(true);
  });
});
