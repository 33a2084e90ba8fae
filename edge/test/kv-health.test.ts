/**
 * The edge follows the tcp tier's active health checks through KV: reports under `legate/health/`
 * (written here as tcp-tier/src/kv/health-publisher.ts writes them) are merged per host (the freshest
 * fresh report decides, stale ones are ignored) and set on the cluster the router uses, so traffic
 * leaves an unhealthy host and comes back, and healthy_panic_threshold still applies.
 */
import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { HEALTH_PREFIX, HEALTH_STALE_MS, type HealthReport, healthKey, mergeHealthReports } from "../../shared/kv/layout.ts";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type Echo, ports, pushConfig } from "./helpers.ts";

const host = (port: number) => `127.0.0.1:${port}`;

async function report(node: string, hosts: Record<number, "healthy" | "unhealthy">, ageMs = 0): Promise<void> {
  const r: HealthReport = {
    cluster: "a",
    node,
    reported_at: new Date(Date.now() - ageMs).toISOString(),
    hosts: Object.fromEntries(Object.entries(hosts).map(([p, s]) => [host(Number(p)), s])),
  };
  await env.LEGATE_KV.put(healthKey("a", node), JSON.stringify(r));
}

/** The upstream servers that answered `n` requests. */
async function servers(n: number, send: () => Promise<Response> = () => SELF.fetch("http://edge.example/")): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const res = await send();
    expect(res.status).toBe(200);
    const s = ((await res.json()) as Echo).server;
    seen.set(s, (seen.get(s) ?? 0) + 1);
  }
  return seen;
}

function checkedConfig(): Record<string, unknown> {
  const config = bootstrap({ clusters: { a: [ports.a, ports.b] } }) as { static_resources: { clusters: Record<string, unknown>[] } };
  config.static_resources.clusters[0]!.health_checks = [{ timeout: "1s", interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }];
  return config;
}

describe("health from KV at the edge", () => {
  beforeEach(async () => {
    const listed = await env.LEGATE_KV.list({ prefix: HEALTH_PREFIX });
    await Promise.all(listed.keys.map((k) => env.LEGATE_KV.delete(k.name)));
  });

  it("merges writers host by host: the freshest fresh report wins, stale reports are ignored", () => {
    const now = Date.parse("2026-01-01T00:01:00Z");
    const r = (node: string, at: string, status: "healthy" | "unhealthy"): HealthReport => ({ cluster: "a", node, reported_at: at, hosts: { h: status } });
    expect(mergeHealthReports([r("n1", "2026-01-01T00:00:50Z", "unhealthy"), r("n2", "2026-01-01T00:00:40Z", "healthy")], now)).toEqual(new Map([["h", false]]));
    expect(mergeHealthReports([r("n1", "2026-01-01T00:00:50Z", "unhealthy"), r("n2", "2026-01-01T00:00:55Z", "healthy")], now)).toEqual(new Map([["h", true]]));
    // Older than HEALTH_STALE_MS (30 s): ignored.
    expect(mergeHealthReports([r("n1", "2026-01-01T00:00:20Z", "unhealthy")], now, HEALTH_STALE_MS)).toEqual(new Map());
  });

  it("stops routing to a host a tcp-tier node reports unhealthy, and resumes when it reports it healthy", async () => {
    await pushConfig(checkedConfig());
    expect([...(await servers(6)).keys()].sort()).toEqual(["a", "b"]);

    await report("node-1", { [ports.a]: "healthy", [ports.b]: "unhealthy" });
    expect(await servers(8)).toEqual(new Map([["a", 8]]));

    // A second writer's older "healthy" does not override node-1's fresher verdict.
    await report("node-2", { [ports.a]: "healthy", [ports.b]: "healthy" }, 5000);
    expect(await servers(4)).toEqual(new Map([["a", 4]]));

    // node-1 sees it healthy again.
    await report("node-1", { [ports.a]: "healthy", [ports.b]: "healthy" });
    expect([...(await servers(6)).keys()].sort()).toEqual(["a", "b"]);
  });

  it("ignores stale reports", async () => {
    await pushConfig(checkedConfig());
    await report("node-1", { [ports.b]: "unhealthy" }, HEALTH_STALE_MS + 5000);
    expect([...(await servers(6)).keys()].sort()).toEqual(["a", "b"]);
  });

  it("with every host unhealthy, healthy_panic_threshold (50 %) routes to all of them", async () => {
    await pushConfig(checkedConfig());
    await report("node-1", { [ports.a]: "unhealthy", [ports.b]: "unhealthy" });
    expect([...(await servers(6)).keys()].sort()).toEqual(["a", "b"]);
    // With one of the two unhealthy (50 %, not below the threshold) only the healthy one serves.
    await report("node-1", { [ports.a]: "unhealthy", [ports.b]: "healthy" });
    expect(await servers(4)).toEqual(new Map([["b", 4]]));
  });

  it("x-envoy-immediate-health-check-fail fails the host at once (passive_failure) until a newer report finds it healthy", async () => {
    await pushConfig(checkedConfig());
    const handler = createEdgeHandler();
    const env0 = { LEGATE_CONFIG_POLL_MS: "0", LEGATE_ADMIN_TOKEN: "t" };
    const send = () => call(handler, new Request("http://edge.example/"), env0);
    const fail = await call(handler, new Request("http://edge.example/", { headers: { "x-echo-response-headers": JSON.stringify({ "x-envoy-immediate-health-check-fail": "true" }) } }), env0);
    expect(fail.status).toBe(200);
    const failed = ((await fail.json()) as Echo).server;
    const other = failed === "a" ? "b" : "a";
    expect(await servers(6, send)).toEqual(new Map([[other, 6]]));
    const stats = await (await call(handler, new Request("http://edge.example/__legate/admin/stats?filter=passive_failure", { headers: { authorization: "Bearer t" } }), env0)).text();
    expect(stats).toContain("cluster.a.health_check.passive_failure: 1");
    // A report written before the failure does not clear it (the tcp tier had not checked since) ...
    await report("node-1", { [ports.a]: "healthy", [ports.b]: "healthy" }, 2000);
    expect(await servers(4, send)).toEqual(new Map([[other, 4]]));
    // ... a report written after it does.
    await new Promise((r) => setTimeout(r, 5));
    await report("node-1", { [ports.a]: "healthy", [ports.b]: "healthy" });
    expect([...(await servers(6, send)).keys()].sort()).toEqual(["a", "b"]);
  });

  it("an isolate polling every 300 ms follows a report within the poll interval", async () => {
    await pushConfig(checkedConfig());
    const handler = createEdgeHandler();
    const send = () => call(handler, new Request("http://edge.example/"), { LEGATE_CONFIG_POLL_MS: "300" });
    expect([...(await servers(4, send)).keys()].sort()).toEqual(["a", "b"]);
    await report("node-1", { [ports.b]: "unhealthy" });
    const written = Date.now();
    // Bounded: at most 100 rounds of 4 requests; ends once four in a row avoid b.
    let followedAfter = -1;
    for (let i = 0; i < 100; i++) {
      if (!(await servers(4, send)).has("b")) {
        followedAfter = Date.now() - written;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(followedAfter).toBeGreaterThanOrEqual(0);
    // The documented bound is the poll interval (300 ms) after the write; slack for a loaded machine.
    expect(followedAfter).toBeLessThan(300 + 2000);
  });
});
