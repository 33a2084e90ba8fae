/**
 * Routing in workerd: a routing table in the style of Envoy's documented examples, and weighted
 * clusters at the edge. (The runtime-neutral route-matching cases also run here through the conformance
 * suite: test/conformance/cases/route-matching.ts.)
 */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { bootstrap, type Echo, ports, pushConfig } from "./helpers.ts";

/** A route answering its own name, so the test sees which one matched. */
const named = (name: string, match: Record<string, unknown>) => ({ name, match, direct_response: { status: 200, body: { inline_string: name } } });
const vhost = (name: string, domains: string[], routes: Record<string, unknown>[]) => ({ name, domains, routes });

/** Each request with the cluster (or route) Envoy would pick for it. */
describe("a routing table from Envoy's documented examples", () => {
  const up = (name: string, match: Record<string, unknown>, cluster: string, extra: Record<string, unknown> = {}) => ({ name, match, route: { cluster, ...extra } });

  beforeAll(async () => {
    await pushConfig(bootstrap({
      clusters: { a: [ports.a], b: [ports.b], c: [ports.c], d: [ports.d] },
      virtualHosts: [
        vhost("api", ["api.example.com"], [
          up("grpc", { prefix: "/", grpc: {} }, "d"),
          up("exact", { path: "/v1/health" }, "a"),
          up("regex", { safe_regex: { regex: "/v1/users/[0-9]+(/.*)?" } }, "b"),
          up("modifier", { safe_regex: { regex: "/v1/(?i:Admin)/.*" } }, "c"),
          up("separated", { path_separated_prefix: "/v1/orders" }, "c"),
          up("post", { prefix: "/v1/", headers: [{ name: ":method", string_match: { exact: "POST" } }] }, "d"),
          up("beta", { prefix: "/v1/", headers: [{ name: "x-beta", present_match: true }] }, "b"),
          up("debug", { prefix: "/v1/", query_parameters: [{ name: "debug", string_match: { exact: "true" } }] }, "c"),
          up("never", { prefix: "/", runtime_fraction: { default_value: { numerator: 0 } } }, "d"),
          up("always", { prefix: "/v1/", runtime_fraction: { default_value: { numerator: 100 } } }, "a"),
          named("fallback", { prefix: "/" }),
        ]),
        vhost("www", ["www.example.com", "*.example.com"], [
          up("static", { prefix: "/static/" }, "b"),
          named("www-other", { prefix: "/" }),
        ]),
      ],
    }));
  });

  const table: { host: string; path: string; init?: RequestInit; expect: string }[] = [
    { host: "api.example.com", path: "/v1/health", expect: "a" },
    { host: "api.example.com", path: "/v1/health?verbose=1", expect: "a" },
    { host: "api.example.com", path: "/v1/users/42", expect: "b" },
    { host: "api.example.com", path: "/v1/users/42/orders?x=1", expect: "b" },
    { host: "api.example.com", path: "/v1/ADMIN/x", expect: "c" },
    { host: "api.example.com", path: "/v1/orders", expect: "c" },
    { host: "api.example.com", path: "/v1/orders/7", expect: "c" },
    { host: "api.example.com", path: "/v1/ordersx", expect: "a" },
    { host: "api.example.com", path: "/v1/users/abc", init: { method: "POST", body: "x" }, expect: "d" },
    { host: "api.example.com", path: "/v1/items", init: { headers: { "x-beta": "" } }, expect: "b" },
    { host: "api.example.com", path: "/v1/items?debug=true", expect: "c" },
    { host: "api.example.com", path: "/v1/items?debug=false", expect: "a" },
    { host: "api.example.com", path: "/svc.Greeter/Hello", init: { method: "POST", headers: { "content-type": "application/grpc" }, body: "x" }, expect: "d" },
    { host: "api.example.com", path: "/other", expect: "fallback" },
    { host: "www.example.com", path: "/static/app.js", expect: "b" },
    { host: "shop.example.com", path: "/static/app.js", expect: "b" },
    { host: "shop.example.com", path: "/", expect: "www-other" },
  ];

  it("sends each request where Envoy would", async () => {
    for (const row of table) {
      const res = await SELF.fetch(`http://${row.host}${row.path}`, row.init);
      const text = await res.text();
      const got = res.headers.get("content-type")?.startsWith("application/json") ? (JSON.parse(text) as Echo).server : text;
      expect(got, `${row.host}${row.path}`).toBe(row.expect);
    }
  });
});

describe("weighted clusters at the edge", () => {
  beforeAll(async () => {
    await pushConfig(bootstrap({
      clusters: { a: [ports.a], b: [ports.b] },
      virtualHosts: [vhost("w", ["*"], [
        { match: { prefix: "/" }, route: { weighted_clusters: { header_name: "x-pick", clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }] } } },
      ])],
    }));
  });

  it("splits a bounded number of requests by weight", async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const server = ((await (await SELF.fetch("http://w.example/")).json()) as Echo).server;
      counts[server] = (counts[server] ?? 0) + 1;
    }
    // 50 expected for a (σ ≈ 6): the bounds are over 4σ away.
    expect(counts["a"]).toBeGreaterThanOrEqual(20);
    expect(counts["a"]).toBeLessThanOrEqual(80);
    expect((counts["a"] ?? 0) + (counts["b"] ?? 0)).toBe(200);
  });

  it("picks consistently from header_name", async () => {
    for (const [pick, server] of [["0", "a"], ["1", "b"], ["3", "b"], ["4", "a"], ["7", "b"]] as const) {
      expect(((await (await SELF.fetch("http://w.example/", { headers: { "x-pick": pick } })).json()) as Echo).server, pick).toBe(server);
    }
  });
});
