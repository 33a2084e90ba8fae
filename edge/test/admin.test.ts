import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONFIG_POINTER_KEY } from "../../shared/kv/layout.ts";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, pushConfig, settle } from "./helpers.ts";

const ADMIN = "http://front.example/__legate/admin";
const PATHS = ["/ready", "/config_dump", "/stats", "/stats/prometheus", "/stats?format=json", "/clusters", "/runtime", "/nope"];
const TOKEN = "s3cret-admin-token";
const withToken = { LEGATE_ADMIN_TOKEN: TOKEN };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("admin API without a token configured", () => {
  it("answers every admin path exactly as an unmatched route (404 NR, no body)", async () => {
    await pushConfig(bootstrap({ virtualHosts: [{ name: "v", domains: ["nothing.example"], routes: [] }] }));
    const unrouted = await SELF.fetch("http://front.example/__legate/other");
    for (const path of PATHS) {
      for (const headers of [{}, bearer("anything")]) {
        const res = await SELF.fetch(`${ADMIN}${path}`, { headers });
        expect(res.status).toBe(404);
        expect(res.headers.get("x-legate-response-flags")).toBe("NR");
        expect(res.headers.get("www-authenticate")).toBeNull();
        expect(await res.text()).toBe("");
      }
    }
    expect(unrouted.status).toBe(404);
    expect([...unrouted.headers]).toEqual([...(await SELF.fetch(`${ADMIN}/ready`)).headers]);
  });

  it("carries the HCM's server_name like a real route miss", async () => {
    await pushConfig(bootstrap({ hcm: { server_name: "front-door" }, virtualHosts: [{ name: "v", domains: ["nothing.example"], routes: [] }] }));
    const unrouted = await SELF.fetch("http://front.example/__legate/other");
    const admin = await SELF.fetch(`${ADMIN}/stats`);
    expect(unrouted.headers.get("server")).toBe("front-door");
    expect(admin.status).toBe(404);
    expect([...admin.headers]).toEqual([...unrouted.headers]);
  });
});

describe("admin API with a token", () => {
  it("refuses a missing or wrong token with 401", async () => {
    const handler = createEdgeHandler();
    for (const headers of [{}, bearer("wrong"), bearer(`${TOKEN}x`), bearer(TOKEN.slice(0, -1)), { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }, { authorization: TOKEN }]) {
      for (const path of PATHS) {
        const res = await call(handler, new Request(`${ADMIN}${path}`, { headers }), withToken);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe('Bearer realm="legate-admin"');
        await res.text();
      }
    }
  });

  it("reports PRE_INITIALIZING until a config is loaded, then LIVE", async () => {
    await env.LEGATE_KV.delete(CONFIG_POINTER_KEY);
    const handler = createEdgeHandler();
    const ready = () => call(handler, new Request(`${ADMIN}/ready`, { headers: bearer(TOKEN) }), withToken);
    let res = await ready();
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("PRE_INITIALIZING\n");
    await pushConfig(bootstrap());
    res = await ready();
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("LIVE\n");
  });

  it("dumps the config in Envoy's ConfigDump shape with the KV version", async () => {
    const config = bootstrap();
    const version = await pushConfig(config);
    const handler = createEdgeHandler();
    const res = await call(handler, new Request(`${ADMIN}/config_dump`, { headers: bearer(TOKEN) }), withToken);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const dump = (await res.json()) as { configs: Record<string, unknown>[] };
    expect(dump.configs.map((c) => c["@type"])).toEqual([
      "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
      "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
      "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    ]);
    const [boot, listeners, clusters] = dump.configs as [
      { bootstrap: unknown; last_updated: string },
      { version_info: string; static_listeners: { listener: Record<string, unknown> }[] },
      { version_info: string; static_clusters: { cluster: Record<string, unknown> }[] },
    ];
    expect(boot.bootstrap).toEqual(config);
    expect(Number.isNaN(Date.parse(boot.last_updated))).toBe(false);
    expect(listeners.version_info).toBe(version);
    expect(listeners.static_listeners.map((l) => [l.listener["@type"], l.listener.name])).toEqual([["type.googleapis.com/envoy.config.listener.v3.Listener", "edge"]]);
    expect(clusters.version_info).toBe(version);
    expect(clusters.static_clusters.map((c) => c.cluster.name)).toEqual(["a"]);
  });

  it("prints the runtime layers and values in Envoy's /runtime shape", async () => {
    const config = bootstrap() as Record<string, unknown>;
    config.layered_runtime = {
      layers: [
        { name: "base", static_layer: { routing: { canary: 10 }, feature: { enabled: true } } },
        { name: "override", static_layer: { "routing.canary": 25, only_here: "x" } },
      ],
    };
    await pushConfig(config);
    const handler = createEdgeHandler();
    const res = await call(handler, new Request(`${ADMIN}/runtime`, { headers: bearer(TOKEN) }), withToken);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      layers: ["base", "override"],
      entries: {
        "feature.enabled": { layer_values: ["true", ""], final_value: "true" },
        only_here: { layer_values: ["", "x"], final_value: "x" },
        "routing.canary": { layer_values: ["10", "25"], final_value: "25" },
      },
    });
  });

  it("shows stats that reflect traffic, in text, JSON and Prometheus formats", async () => {
    await pushConfig(bootstrap());
    const handler = createEdgeHandler();
    for (let i = 0; i < 2; i++) await (await call(handler, new Request("http://front.example/traffic"))).text();
    await settle();
    const admin = async (path: string) => {
      const res = await call(handler, new Request(`${ADMIN}${path}`, { headers: bearer(TOKEN) }), withToken);
      return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
    };

    const text = await admin("/stats");
    expect(text.status).toBe(200);
    expect(text.body).toContain("cluster.a.upstream_rq_total: 2\n");
    expect(text.body).toContain("cluster.a.upstream_rq_200: 2\n");
    expect(text.body).toContain("http.ingress_http.downstream_rq_2xx: 2\n");
    expect(text.body).toContain("legate.edge.config_reload: 1\n");
    expect(text.body).toMatch(/^cluster\.a\.upstream_rq_time: P0\(/m);

    const filtered = await admin("/stats?filter=upstream_rq_2");
    expect(filtered.body.trim().split("\n")).toEqual(["cluster.a.upstream_rq_200: 2", "cluster.a.upstream_rq_2xx: 2"]);
    expect((await admin("/stats?filter=(")).status).toBe(400);

    const used = await admin("/stats?usedonly");
    expect(used.body).not.toContain(": 0\n");

    const json = await admin("/stats?format=json");
    expect(json.type).toBe("application/json");
    const stats = (JSON.parse(json.body) as { stats: { name: string; value: number }[] }).stats;
    expect(stats).toContainEqual({ name: "cluster.a.upstream_rq_total", value: 2 });
    expect(stats.map((s) => s.name)).toEqual([...stats.map((s) => s.name)].sort());

    for (const path of ["/stats/prometheus", "/stats?format=prometheus"]) {
      const prom = await admin(path);
      expect(prom.status).toBe(200);
      expect(prom.type).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(prom.body).toContain('envoy_cluster_upstream_rq_total{envoy_cluster_name="a"} 2\n');
      expect(prom.body).toContain("# TYPE envoy_cluster_upstream_rq_time histogram\n");
    }
  });

  it("answers unknown admin paths with 404 and the list of endpoints, and refuses writes", async () => {
    const handler = createEdgeHandler();
    const unknown = await call(handler, new Request(`${ADMIN}/no_such_endpoint`, { headers: bearer(TOKEN) }), withToken);
    expect(unknown.status).toBe(404);
    const list = await unknown.text();
    expect(list).toContain("/__legate/admin/stats/prometheus");
    expect(list).toContain("/__legate/admin/clusters");
    const post = await call(handler, new Request(`${ADMIN}/stats`, { method: "POST", headers: bearer(TOKEN) }), withToken);
    expect(post.status).toBe(405);
    await post.text();
  });
});
