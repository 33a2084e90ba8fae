/**
 * Runtime flags through KV at the edge: `legate/runtime/current` (written here as `legate runtime set`
 * writes it) layered over the config's static layers, read by route runtime_fraction and weighted
 * clusters without a config push, and shown by /runtime.
 */
import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { RUNTIME_KEY, type RuntimeDocument } from "../../shared/kv/layout.ts";
import { createEdgeHandler, type EdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type Echo, ports, pushConfig } from "./helpers.ts";

const ADMIN = "http://front.example/__legate/admin";
const TOKEN = "kv-runtime-admin-token";

let version = 0;
async function setFlags(values: Record<string, string>): Promise<void> {
  const doc: RuntimeDocument = { version: ++version, updated_at: new Date().toISOString(), values };
  await env.LEGATE_KV.put(RUNTIME_KEY, JSON.stringify(doc));
}

const answer = (name: string) => ({ status: 200, body: { inline_string: name } });
const SHIFT_KEY = "routing.traffic_shift.api";

/**
 * Sends `n` requests, counts the bodies. Through SELF (polls KV on every request) by default; with
 * `handler`, through that handler with a long poll interval, so only its first request reads KV (fast).
 */
async function split(n: number, handler?: EdgeHandler): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const url = "http://edge.example/api";
    const res = handler ? await call(handler, new Request(url), { LEGATE_CONFIG_POLL_MS: "600000" }) : await SELF.fetch(url);
    const body = await res.text();
    counts.set(body, (counts.get(body) ?? 0) + 1);
  }
  return counts;
}

describe("runtime flags from KV", () => {
  beforeEach(async () => {
    await env.LEGATE_KV.delete(RUNTIME_KEY);
  });

  it("a KV flag shifts 30 % of a route's traffic and unsetting it shifts it back", async () => {
    await pushConfig(bootstrap({
      virtualHosts: [{
        name: "all",
        domains: ["*"],
        routes: [
          { match: { prefix: "/api", runtime_fraction: { default_value: { numerator: 0 }, runtime_key: SHIFT_KEY } }, direct_response: answer("canary") },
          { match: { prefix: "/" }, direct_response: answer("stable") },
        ],
      }],
    }));
    expect(await split(20)).toEqual(new Map([["stable", 20]]));

    await setFlags({ [SHIFT_KEY]: "30" });
    const n = 1000;
    const counts = await split(n, createEdgeHandler());
    const canary = counts.get("canary") ?? 0;
    expect(canary + (counts.get("stable") ?? 0)).toBe(n);
    // p = 0.3: sigma = sqrt(1000 * 0.3 * 0.7) ≈ 14.5; ±5 sigma is [227, 373].
    expect(canary).toBeGreaterThanOrEqual(227);
    expect(canary).toBeLessThanOrEqual(373);

    await env.LEGATE_KV.delete(RUNTIME_KEY);
    expect(await split(50)).toEqual(new Map([["stable", 50]]));
  });

  it("the KV layer wins over the static layer; removing a key falls back to the static value", async () => {
    const config = bootstrap({
      virtualHosts: [{
        name: "all",
        domains: ["*"],
        routes: [
          { match: { prefix: "/", runtime_fraction: { default_value: { numerator: 0 }, runtime_key: SHIFT_KEY } }, direct_response: answer("canary") },
          { match: { prefix: "/" }, direct_response: answer("stable") },
        ],
      }],
    }) as Record<string, unknown>;
    config.layered_runtime = { layers: [{ name: "static", static_layer: { [SHIFT_KEY]: 100, other: "s" } }] };
    await pushConfig(config);
    expect(await split(10)).toEqual(new Map([["canary", 10]]));

    await setFlags({ [SHIFT_KEY]: "0", only_kv: "k" });
    expect(await split(10)).toEqual(new Map([["stable", 10]]));

    const res = await call(createEdgeHandler(), new Request(`${ADMIN}/runtime`, { headers: { authorization: `Bearer ${TOKEN}` } }), { LEGATE_ADMIN_TOKEN: TOKEN });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      layers: ["static", "kv"],
      entries: {
        only_kv: { layer_values: ["", "k"], final_value: "k" },
        other: { layer_values: ["s", ""], final_value: "s" },
        [SHIFT_KEY]: { layer_values: ["100", "0"], final_value: "0" },
      },
    });

    await setFlags({ only_kv: "k" });
    expect(await split(10)).toEqual(new Map([["canary", 10]]));
  });

  it("weighted_clusters runtime_key_prefix weights come from KV, to real upstreams", async () => {
    await pushConfig(bootstrap({
      clusters: { a: [ports.a], b: [ports.b] },
      virtualHosts: [{
        name: "all",
        domains: ["*"],
        routes: [{
          match: { prefix: "/" },
          route: { weighted_clusters: { runtime_key_prefix: "routing.weights", clusters: [{ name: "a", weight: 100 }, { name: "b", weight: 0 }] } },
        }],
      }],
    }));
    const servers = async (n: number): Promise<Set<string>> => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const res = await SELF.fetch("http://edge.example/w");
        expect(res.status).toBe(200);
        seen.add(((await res.json()) as Echo).server);
      }
      return seen;
    };
    expect(await servers(5)).toEqual(new Set(["a"]));
    await setFlags({ "routing.weights.a": "0", "routing.weights.b": "100" });
    expect(await servers(5)).toEqual(new Set(["b"]));
  });

  it("upstream.maintenance_mode.<cluster> from KV answers that share of the cluster's requests 503 UO at once", async () => {
    await pushConfig(bootstrap({ clusters: { a: [ports.a] } }));
    const handler = createEdgeHandler();
    const envOf = { LEGATE_CONFIG_POLL_MS: "0", LEGATE_ADMIN_TOKEN: TOKEN };
    const get = async (url: string, headers: Record<string, string> = {}) => {
      const r = await call(handler, new Request(url, { headers }), envOf);
      return { status: r.status, headers: r.headers, body: await r.text() };
    };
    expect((await get("http://edge.example/m")).status).toBe(200);

    await setFlags({ "upstream.maintenance_mode.a": "100" });
    const res = await get("http://edge.example/m");
    expect(res.status).toBe(503);
    expect(res.headers.get("x-envoy-overloaded")).toBe("true");
    expect(res.body).toBe("maintenance mode");
    const stats = (await get(`${ADMIN}/stats?filter=upstream_rq_maintenance_mode`, { authorization: `Bearer ${TOKEN}` })).body;
    expect(stats).toContain("cluster.a.upstream_rq_maintenance_mode: 1");

    // Half the requests: both outcomes show up over 40 requests (each has probability 2^-40 of not).
    await setFlags({ "upstream.maintenance_mode.a": "50" });
    const codes = new Set<number>();
    for (let i = 0; i < 40; i++) codes.add((await get("http://edge.example/m")).status);
    expect(codes).toEqual(new Set([200, 503]));

    await setFlags({});
    expect((await get("http://edge.example/m")).status).toBe(200);
  });

  it("a document that is not a runtime document keeps the previous values", async () => {
    await pushConfig(bootstrap({
      virtualHosts: [{
        name: "all",
        domains: ["*"],
        routes: [
          { match: { prefix: "/", runtime_fraction: { default_value: { numerator: 0 }, runtime_key: SHIFT_KEY } }, direct_response: answer("canary") },
          { match: { prefix: "/" }, direct_response: answer("stable") },
        ],
      }],
    }));
    await setFlags({ [SHIFT_KEY]: "100" });
    expect(await split(5)).toEqual(new Map([["canary", 5]]));
    await env.LEGATE_KV.put(RUNTIME_KEY, "{not json");
    expect(await split(5)).toEqual(new Map([["canary", 5]]));
    await env.LEGATE_KV.put(RUNTIME_KEY, JSON.stringify({ version: 99, values: { "bad key!": "1" } }));
    expect(await split(5)).toEqual(new Map([["canary", 5]]));
  });
});
