/**
 * HCM timeouts, host port stripping, internal_address_config, virtual clusters and generated hash
 * cookies in configs: Envoy's schema plus Legate's support table (the full Node pipeline), then the
 * compiled model and the refusals.
 */
import { describe, expect, it } from "vitest";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import type { ConfigIssue } from "./issues.ts";
import type { HttpConnectionManagerModel } from "./model.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const TC = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

type Json = Record<string, unknown>;

function config(hcm: Json = {}, vhost: Json = {}, route: Json = {}): Json {
  return {
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress",
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], ...vhost, routes: [{ match: { prefix: "/" }, route: { cluster: "a", ...route } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
          ...hcm,
        } }] }],
      }],
      clusters: [{ name: "a", type: "STATIC", lb_policy: "RING_HASH", load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } }],
    },
  };
}

async function hcmOf(hcm: Json = {}, vhost: Json = {}, route: Json = {}): Promise<HttpConnectionManagerModel> {
  const r = await validateBootstrapValue(config(hcm, vhost, route));
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
}

async function issues(hcm: Json = {}, vhost: Json = {}, route: Json = {}): Promise<Pick<ConfigIssue, "kind" | "path">[]> {
  const r = await validateBootstrapValue(config(hcm, vhost, route));
  if (r.ok) throw new Error("expected the config to be refused");
  return r.issues.map(({ kind, path }) => ({ kind, path }));
}

describe("HCM settings in configs", () => {
  it("leaves Envoy's defaults implicit", async () => {
    const hcm = await hcmOf();
    expect(hcm.streamIdleTimeoutMs).toBeUndefined();
    expect(hcm.requestTimeoutMs).toBeUndefined();
    expect(hcm.stripHostPort).toBeUndefined();
    expect(hcm.internalAddressConfig).toBeUndefined();
    expect(hcm.routeConfig.virtualHosts[0]!.virtualClusters).toBeUndefined();
  });

  it("compiles the timeouts, host port mode and internal addresses", async () => {
    const hcm = await hcmOf({
      stream_idle_timeout: "0s",
      request_timeout: "2.5s",
      strip_any_host_port: true,
      internal_address_config: { unix_sockets: true, cidr_ranges: [{ address_prefix: "192.0.2.77", prefix_len: 24 }, { address_prefix: "2001:db8::1", prefix_len: 32 }] },
    });
    expect(hcm.streamIdleTimeoutMs).toBe(0);
    expect(hcm.requestTimeoutMs).toBe(2500);
    expect(hcm.stripHostPort).toBe("any");
    expect(hcm.internalAddressConfig).toEqual({
      unixSockets: true,
      cidrRanges: [{ address: "192.0.2.0", prefixLen: 24, family: 4 }, { address: "2001:db8::", prefixLen: 32, family: 6 }],
    });
    expect((await hcmOf({ strip_matching_host_port: true })).stripHostPort).toBe("matching");
  });

  it("refuses both host port modes at once, and bad CIDR ranges", async () => {
    expect(await issues({ strip_matching_host_port: true, strip_any_host_port: true })).toContainEqual({ kind: "not-envoy", path: `${TC}.strip_any_host_port` });
    const bad = await issues({ internal_address_config: { cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 33 }] } });
    expect(bad).toContainEqual({ kind: "not-envoy", path: `${TC}.internal_address_config.cidr_ranges[0].prefix_len` });
  });

  it("keeps request_headers_timeout refused", async () => {
    expect(await issues({ request_headers_timeout: "1s" })).toEqual([{ kind: "unsupported", path: `${TC}.request_headers_timeout` }]);
  });

  it("compiles virtual clusters in order", async () => {
    const hcm = await hcmOf({}, {
      virtual_clusters: [
        { name: "reads", headers: [{ name: ":method", string_match: { exact: "GET" } }, { name: ":path", string_match: { prefix: "/api" } }] },
        { name: "tagged", headers: [{ name: "x-tag", present_match: true }] },
      ],
    });
    const vcs = hcm.routeConfig.virtualHosts[0]!.virtualClusters!;
    expect(vcs.map((v) => v.name)).toEqual(["reads", "tagged"]);
    expect(vcs[0]!.headers.map((h) => h.name)).toEqual([":method", ":path"]);
    expect(vcs[1]!.headers).toEqual([{ name: "x-tag", match: { kind: "present", present: true }, invertMatch: false, treatMissingHeaderAsEmpty: false }]);
  });

  it("refuses a virtual cluster without a name or without header matchers, as Envoy does", async () => {
    const vp = `${TC}.route_config.virtual_hosts[0].virtual_clusters[0]`;
    expect(await issues({}, { virtual_clusters: [{ headers: [{ name: "x", present_match: true }] }] })).toContainEqual(expect.objectContaining({ path: `${vp}.name` }));
    expect(await issues({}, { virtual_clusters: [{ name: "none" }] })).toContainEqual({ kind: "not-envoy", path: `${vp}.headers` });
  });

  it("compiles generated hash cookies (ttl, path, attributes)", async () => {
    const hcm = await hcmOf({}, {}, {
      hash_policy: [
        { cookie: { name: "s", ttl: "3600.5s", path: "/", attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure" }] } },
        { cookie: { name: "plain", path: "/ignored" } },
      ],
    });
    const action = hcm.routeConfig.virtualHosts[0]!.routes[0]!.action;
    expect(action.kind === "route" && action.hashPolicy).toEqual([
      { kind: "cookie", name: "s", terminal: false, generate: { ttlSeconds: 3600, path: "/", attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure", value: "" }] } },
      { kind: "cookie", name: "plain", terminal: false },
    ]);
  });
});
