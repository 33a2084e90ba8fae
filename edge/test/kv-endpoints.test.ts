/**
 * The edge follows `type: EDS` clusters through KV: documents under `legate/endpoints/` (written here as
 * `legate endpoints` writes them, shared/kv/endpoints.ts) give the cluster the router uses its hosts, on
 * the config poll. Hosts are added, drained and removed without a config push; a bad document keeps
 * the last assignment; hosts that stay keep their state.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { ENDPOINTS_PREFIX, type EndpointsDocument, endpointsKey } from "../../shared/kv/endpoints.ts";
import { HEALTH_PREFIX, type HealthReport, healthKey } from "../../shared/kv/layout.ts";
import type { Logger } from "../../shared/log.ts";
import { createEdgeHandler, type EdgeHandler } from "../src/handler.ts";
import type { Env } from "../src/env.ts";
import { bootstrap, call, type Echo, ports, pushConfig } from "./helpers.ts";
import { admin, hostLines, sleep, withToken } from "./upstream-helpers.ts";

const SERVICE = "svc-v1";
const hostPort = (port: number) => `127.0.0.1:${port}`;

type Json = Record<string, unknown>;
type Status = "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT";

/** A bootstrap whose `*` route goes to the EDS cluster `svc` (service `svc-v1`); `extra` is merged into the cluster. */
function edsConfig(extra: Json = {}): Json {
  const config = bootstrap({
    clusters: {},
    virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "svc" } }] }],
  }) as { static_resources: { clusters: Json[] } };
  config.static_resources.clusters.push({
    name: "svc",
    type: "EDS",
    connect_timeout: "1s",
    eds_cluster_config: { service_name: SERVICE, eds_config: { ads: {}, resource_api_version: "V3" } },
    ...extra,
  });
  return config;
}

/** Writes the service's document as the CLI does: `hosts` are ports, optionally with a health_status. */
async function putEndpoints(version: number, hosts: (number | [number, Status])[], extra: Json = {}): Promise<void> {
  const doc: EndpointsDocument = {
    version,
    updated_at: new Date().toISOString(),
    cluster_load_assignment: {
      cluster_name: SERVICE,
      endpoints: [
        {
          lb_endpoints: hosts.map((h) => {
            const [port, status] = typeof h === "number" ? [h, undefined] : h;
            return { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...(status ? { health_status: status } : {}) };
          }),
        },
      ],
      ...extra,
    },
  };
  await env.LEGATE_KV.put(endpointsKey(SERVICE), JSON.stringify(doc));
}

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (msg: string) => void lines.push(`${level}: ${msg}`);
  return { level: "debug", lines, debug: push("debug"), info: push("info"), warn: push("warn"), error: push("error") };
}

/** The servers that answered `n` requests through `handler` (every answer must be a 200). */
async function servers(handler: EdgeHandler, n: number, overrides: Partial<Env> = withToken): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const res = await call(handler, new Request("http://edge.example/"), overrides);
    expect(res.status).toBe(200);
    const s = ((await res.json()) as Echo).server;
    seen.set(s, (seen.get(s) ?? 0) + 1);
  }
  return seen;
}

const keys = (m: Map<string, number>) => [...m.keys()].sort();
const stat = (handler: EdgeHandler, name: string) => handler.stats.values().get(`cluster.svc.${name}`) ?? 0;

describe("EDS endpoints from KV at the edge", () => {
  beforeEach(async () => {
    for (const prefix of [ENDPOINTS_PREFIX, HEALTH_PREFIX]) {
      const listed = await env.LEGATE_KV.list({ prefix });
      await Promise.all(listed.keys.map((k) => env.LEGATE_KV.delete(k.name)));
    }
  });

  it("routes to the document's hosts and follows added and removed hosts without a config push", async () => {
    await putEndpoints(1, [ports.a, ports.b]);
    const version = await pushConfig(edsConfig());
    const handler = createEdgeHandler({ log: recordingLog() });
    // The first request after the version loads already has the hosts (read before the version is published).
    expect(keys(await servers(handler, 6))).toEqual(["a", "b"]);
    expect(stat(handler, "update_attempt")).toBe(1);
    expect(stat(handler, "update_success")).toBe(1);
    expect(handler.stats.gauge("cluster.svc.membership_total").value).toBe(2);
    expect(handler.stats.gauge("cluster.svc.membership_healthy").value).toBe(2);

    await putEndpoints(2, [ports.a, ports.b, ports.c]);
    expect(keys(await servers(handler, 9))).toEqual(["a", "b", "c"]);
    expect(stat(handler, "update_attempt")).toBe(2);
    expect(stat(handler, "update_success")).toBe(2);
    expect(stat(handler, "membership_change")).toBeGreaterThanOrEqual(2);
    expect(handler.stats.gauge("cluster.svc.membership_total").value).toBe(3);

    await putEndpoints(3, [ports.c]);
    expect(await servers(handler, 4)).toEqual(new Map([["c", 4]]));
    // The same document read again at every poll counts nothing more.
    expect(stat(handler, "update_attempt")).toBe(3);
    // A new version with the same hosts: applied, but nothing to rebuild.
    await putEndpoints(4, [ports.c]);
    expect(await servers(handler, 2)).toEqual(new Map([["c", 2]]));
    expect(stat(handler, "update_success")).toBe(4);
    expect(stat(handler, "update_no_rebuild")).toBe(1);

    // /config_dump still shows the pushed config; the version did not change.
    const dump = (await (await admin(handler, "/config_dump")).json()) as { configs: { version_info?: string }[] };
    expect(dump.configs[1]!.version_info).toBe(version);
  });

  it("DRAINING takes a host out of rotation while the others serve; /clusters shows it", async () => {
    await pushConfig(edsConfig());
    await putEndpoints(1, [ports.a, ports.b, ports.c]);
    const handler = createEdgeHandler({ log: recordingLog() });
    expect(keys(await servers(handler, 9))).toEqual(["a", "b", "c"]);
    await putEndpoints(2, [ports.a, ports.b, [ports.c, "DRAINING"]]);
    expect(keys(await servers(handler, 9))).toEqual(["a", "b"]);
    expect(handler.stats.gauge("cluster.svc.membership_healthy").value).toBe(2);
    // Only the health status changed: same hosts, no membership change.
    expect(handler.stats.gauge("cluster.svc.membership_total").value).toBe(3);

    const text = await (await admin(handler, "/clusters")).text();
    expect(hostLines(text, "svc", hostPort(ports.c))).toContain("health_flags::/failed_eds_health");
    expect(hostLines(text, "svc", hostPort(ports.a))).toContain("health_flags::healthy");
    const json = (await (await admin(handler, "/clusters?format=json")).json()) as {
      cluster_statuses: { name: string; host_statuses: { address: { socket_address: { port_value: number } }; health_status: { eds_health_status: string } }[] }[];
    };
    const svc = json.cluster_statuses.find((c) => c.name === "svc")!;
    expect(svc.host_statuses.map((h) => [h.address.socket_address.port_value, h.health_status.eds_health_status])).toEqual([
      [ports.a, "HEALTHY"],
      [ports.b, "HEALTHY"],
      [ports.c, "DRAINING"],
    ]);

    // Back to HEALTHY: it serves again.
    await putEndpoints(3, [ports.a, ports.b, [ports.c, "HEALTHY"]]);
    expect(keys(await servers(handler, 9))).toEqual(["a", "b", "c"]);
  });

  it("a missing key leaves the cluster without endpoints: 503 UH", async () => {
    await pushConfig(edsConfig());
    const handler = createEdgeHandler({ log: recordingLog() });
    // Never written: no endpoints from the start.
    let res = await call(handler, new Request("http://edge.example/"), withToken);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UH");
    await res.text();

    await putEndpoints(1, [ports.a]);
    expect(await servers(handler, 2)).toEqual(new Map([["a", 2]]));
    const emptyBefore = stat(handler, "update_empty");

    await env.LEGATE_KV.delete(endpointsKey(SERVICE));
    res = await call(handler, new Request("http://edge.example/"), withToken);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UH");
    await res.text();
    expect(stat(handler, "update_empty")).toBe(emptyBefore + 1);
    expect(handler.stats.gauge("cluster.svc.membership_total").value).toBe(0);
    expect(stat(handler, "upstream_cx_none_healthy")).toBeGreaterThanOrEqual(2);
  });

  it("an assignment with no endpoints counts update_empty and answers 503 UH", async () => {
    await pushConfig(edsConfig());
    await putEndpoints(1, [ports.a]);
    const handler = createEdgeHandler({ log: recordingLog() });
    expect(await servers(handler, 2)).toEqual(new Map([["a", 2]]));
    await putEndpoints(2, []);
    const res = await call(handler, new Request("http://edge.example/"), withToken);
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UH");
    await res.text();
    expect(stat(handler, "update_success")).toBe(2);
    expect(stat(handler, "update_empty")).toBe(1);
  });

  it("a bad document keeps the previous assignment, counts update_rejected and is logged once", async () => {
    await pushConfig(edsConfig());
    await putEndpoints(1, [ports.a, ports.b]);
    const log = recordingLog();
    const handler = createEdgeHandler({ log });
    expect(keys(await servers(handler, 4))).toEqual(["a", "b"]);

    await env.LEGATE_KV.put(endpointsKey(SERVICE), "{not json");
    expect(keys(await servers(handler, 6))).toEqual(["a", "b"]);
    expect(stat(handler, "update_rejected")).toBe(1);
    expect(log.lines.filter((l) => l.startsWith("error:") && l.includes(endpointsKey(SERVICE)))).toHaveLength(1);
    expect(log.lines.find((l) => l.startsWith("error:"))).toMatch(/not a valid endpoints document: not JSON.*keeping version 1/);

    // A document for another service (cluster_name mismatch) and one that does not compile are refused too.
    await putEndpoints(2, [ports.c], { cluster_name: "other" });
    expect(keys(await servers(handler, 4))).toEqual(["a", "b"]);
    await putEndpoints(3, [ports.c], { policy: { overprovisioning_factor: 0 } });
    expect(keys(await servers(handler, 4))).toEqual(["a", "b"]);
    expect(stat(handler, "update_rejected")).toBe(3);
    expect(stat(handler, "update_success")).toBe(1);
    expect(log.lines.filter((l) => l.startsWith("error:"))).toHaveLength(3);

    // A good one applies again.
    await putEndpoints(4, [ports.c]);
    expect(await servers(handler, 3)).toEqual(new Map([["c", 3]]));
    expect(stat(handler, "update_success")).toBe(2);
  });

  it("hosts that stay keep their state across updates; a new host gets its KV health in the same check", async () => {
    const checked = edsConfig({ health_checks: [{ timeout: "1s", interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }] });
    await pushConfig(checked);
    await putEndpoints(1, [ports.a, ports.b, ports.c]);
    const handler = createEdgeHandler({ log: recordingLog() });
    expect(keys(await servers(handler, 6))).toEqual(["a", "b", "c"]);

    // A tcp-tier node reports b unhealthy, and d (not a member yet) unhealthy.
    const report: HealthReport = {
      cluster: "svc",
      node: "node-1",
      reported_at: new Date().toISOString(),
      hosts: { [hostPort(ports.a)]: "healthy", [hostPort(ports.b)]: "unhealthy", [hostPort(ports.c)]: "healthy", [hostPort(ports.d)]: "unhealthy" },
    };
    await env.LEGATE_KV.put(healthKey("svc", "node-1"), JSON.stringify(report));
    expect(keys(await servers(handler, 6))).toEqual(["a", "c"]);
    const before = await (await admin(handler, "/clusters")).text();
    const rqTotal = (text: string, port: number) => Number(hostLines(text, "svc", hostPort(port)).find((l) => l.startsWith("rq_total::"))!.slice("rq_total::".length));
    const aTotal = rqTotal(before, ports.a);
    expect(aTotal).toBeGreaterThan(0);
    const cTotal = rqTotal(before, ports.c);
    expect(cTotal).toBeGreaterThan(0);

    // v2 adds d and changes c's weight (a new host for Envoy and Legate: its counters start again).
    await env.LEGATE_KV.put(endpointsKey(SERVICE), JSON.stringify({
      version: 2,
      updated_at: new Date().toISOString(),
      cluster_load_assignment: {
        cluster_name: SERVICE,
        endpoints: [{
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.a } } } },
            { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.b } } } },
            { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.c } } }, load_balancing_weight: 2 },
            { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.d } } } },
          ],
        }],
      },
    }));
    // The check this admin call runs applies the endpoints, then the health: d is unhealthy at once.
    const after = await (await admin(handler, "/clusters")).text();
    expect(hostLines(after, "svc", hostPort(ports.d))).toContain("health_flags::/failed_active_hc");
    expect(hostLines(after, "svc", hostPort(ports.b))).toContain("health_flags::/failed_active_hc");
    expect(rqTotal(after, ports.a)).toBe(aTotal);
    expect(rqTotal(after, ports.c)).toBe(0);
    expect(hostLines(after, "svc", hostPort(ports.c))).toContain("weight::2");
    expect(keys(await servers(handler, 6))).toEqual(["a", "c"]);
  });

  it("a new config version that rebuilds the EDS cluster gets the assignment again; an unchanged one keeps its runtime", async () => {
    await pushConfig(edsConfig());
    await putEndpoints(1, [ports.a, ports.b]);
    const handler = createEdgeHandler({ log: recordingLog() });
    expect(keys(await servers(handler, 4))).toEqual(["a", "b"]);

    // The cluster changes (lb_policy): a new runtime, given the known assignment before the version serves.
    await pushConfig(edsConfig({ lb_policy: "RANDOM" }));
    const first = await call(handler, new Request("http://edge.example/"), withToken);
    expect(first.status).toBe(200);
    await first.text();
    expect(keys(await servers(handler, 20))).toEqual(["a", "b"]);
    expect(handler.stats.gauge("cluster.svc.membership_total").value).toBe(2);
    // Nothing new was read from KV.
    expect(stat(handler, "update_attempt")).toBe(1);

    // Another service name: read before that version serves.
    await env.LEGATE_KV.put(endpointsKey("svc-v2"), JSON.stringify({
      version: 7,
      updated_at: new Date().toISOString(),
      cluster_load_assignment: { cluster_name: "svc-v2", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.d } } } }] }] },
    }));
    await pushConfig(edsConfig({ eds_cluster_config: { service_name: "svc-v2" } }));
    expect(await servers(handler, 3)).toEqual(new Map([["d", 3]]));
  });

  it("with LEGATE_CONFIG_POLL_MS=300 a document change is seen within the poll interval", async () => {
    await pushConfig(edsConfig());
    await putEndpoints(1, [ports.a]);
    const handler = createEdgeHandler({ log: recordingLog() });
    const slow = { LEGATE_CONFIG_POLL_MS: "300" };
    expect(await servers(handler, 2, slow)).toEqual(new Map([["a", 2]]));
    await putEndpoints(2, [ports.b]);
    const written = Date.now();
    // Bounded: at most 100 rounds; ends once two requests in a row reach b.
    let followedAfter = -1;
    for (let i = 0; i < 100; i++) {
      const seen = await servers(handler, 2, slow);
      if (seen.get("b") === 2) {
        followedAfter = Date.now() - written;
        break;
      }
      expect(seen.get("a")).toBeGreaterThan(0);
      await sleep(50);
    }
    expect(followedAfter).toBeGreaterThanOrEqual(0);
    // The documented bound is the poll interval (300 ms) after the write; slack for a loaded machine.
    expect(followedAfter).toBeLessThan(300 + 2000);
  });
});
