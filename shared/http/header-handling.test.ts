/**
 * The engine's header handling end to end in Node: configs through the Node loader, requests through
 * createHttpEngine, real echo upstreams on loopback reached with Node's fetch.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EchoServers, startEchoServers } from "../../test/echo-servers.ts";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import type { HttpConnectionManagerModel } from "../config/model.ts";
import { createStaticRuntime } from "../runtime/runtime.ts";
import { StatsStore } from "../stats/store.ts";
import { createHttpEngine, type HttpEngine } from "./engine.ts";
import { ProxyError } from "./errors.ts";
import type { UpstreamRequest, UpstreamTransport } from "./upstream-transport.ts";

/** Node's fetch, sending the :authority as x-forwarded-host as the edge's transport does. */
const transport: UpstreamTransport = {
  async fetch(req: UpstreamRequest): Promise<Response> {
    const headers = req.headers;
    headers.delete("host");
    const forwarded = headers.get("x-forwarded-host");
    headers.set("x-forwarded-host", forwarded ? `${forwarded}, ${req.authority}` : req.authority);
    try {
      return await fetch(req.url, { method: req.method, headers, body: req.body, redirect: "manual", duplex: "half" } as RequestInit);
    } catch (e) {
      throw new ProxyError("upstream_connect_failure", String(e), { cause: e });
    }
  },
};

let echo: EchoServers;
beforeAll(async () => {
  echo = await startEchoServers();
});
afterAll(async () => {
  await echo.close();
});

interface Echo {
  server: string;
  url: string;
  headers: Record<string, string>;
}

type Json = Record<string, unknown>;

/** An engine for an HCM with `hcm` settings and `routeConfig`, clusters a..d on the echo servers. */
async function engine(hcm: Json, routeConfig: Json, options: { random?: () => number; runtime?: Map<string, number>; stats?: StatsStore } = {}): Promise<HttpEngine> {
  const loaded = await validateBootstrapValue({
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "ingress",
          ...hcm,
          route_config: { name: "rc", ...routeConfig },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        } }] }],
      }],
      clusters: ["a", "b", "c", "d"].map((name, i) => ({
        name,
        load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: echo.ports[i] } } } }] }] },
      })),
    },
  });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return createHttpEngine({
    hcm: loaded.model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel,
    clusters: loaded.model.clusters,
    transport,
    stats: options.stats ?? new StatsStore(),
    random: options.random,
    runtime: options.runtime ? createStaticRuntime(options.runtime) : undefined,
  });
}

const vhosts = (routes: Json[], vhost: Json = {}) => ({ virtual_hosts: [{ name: "all", domains: ["*"], routes, ...vhost }] });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function echoOf(e: HttpEngine, url: string, init: RequestInit = {}): Promise<{ res: Response; echo: Echo }> {
  const res = await e.handle(new Request(url, init));
  return { res, echo: (await res.json()) as Echo };
}

describe("request headers the upstream sees", () => {
  it("at the edge with use_remote_address: XFF from cf-connecting-ip, XFP, external address, a request id, no x-envoy controls", async () => {
    const e = await engine({ use_remote_address: true }, vhosts([{ match: { prefix: "/" }, route: { cluster: "a" } }]));
    const { res, echo: up } = await echoOf(e, "https://shop.example/cart", {
      headers: { "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.1", "x-request-id": "client-chosen", "x-envoy-retry-on": "5xx", "x-envoy-upstream-rq-timeout-ms": "1", connection: "x-secret", "x-secret": "1" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("server")).toBe("envoy");
    expect(up.headers["x-forwarded-for"]).toBe("198.51.100.1, 203.0.113.7");
    expect(up.headers["x-forwarded-proto"]).toBe("https");
    expect(up.headers["x-envoy-external-address"]).toBe("203.0.113.7");
    expect(up.headers["x-request-id"]).toMatch(UUID);
    expect(up.headers["x-envoy-retry-on"]).toBeUndefined();
    expect(up.headers["x-envoy-upstream-rq-timeout-ms"]).toBeUndefined();
    expect(up.headers["x-secret"]).toBeUndefined();
    expect(up.headers["x-forwarded-host"]).toBe("shop.example");
  });

  it("by default (no use_remote_address): keeps the client's XFF and request id, appends nothing", async () => {
    const e = await engine({ always_set_request_id_in_response: true, server_name: "legate" }, vhosts([{ match: { prefix: "/" }, route: { cluster: "a" } }]));
    const { res, echo: up } = await echoOf(e, "http://shop.example/", { headers: { "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "10.0.0.1", "x-request-id": "rid-1", "x-envoy-ip-tags": "tag" } });
    expect(up.headers["x-forwarded-for"]).toBe("10.0.0.1");
    expect(up.headers["x-request-id"]).toBe("rid-1");
    // A single internal XFF address makes the request internal: its x-envoy headers are kept.
    expect(up.headers["x-envoy-internal"]).toBe("true");
    expect(up.headers["x-envoy-ip-tags"]).toBe("tag");
    expect(res.headers.get("x-request-id")).toBe("rid-1");
    expect(res.headers.get("server")).toBe("legate");
  });

  it("applies mutations in Envoy's order with formatted values", async () => {
    const add = (key: string, value: string, action = "APPEND_IF_EXISTS_OR_ADD") => ({ header: { key, value }, append_action: action });
    const e = await engine({ use_remote_address: true }, {
      request_headers_to_add: [add("x-level", "config", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-trail", "config")],
      ...vhosts([{
        match: { prefix: "/" },
        route: { cluster: "a" },
        request_headers_to_add: [add("x-level", "route", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-trail", "route"), add("x-client", "%DOWNSTREAM_REMOTE_ADDRESS%|%REQ(user-agent)%|%PROTOCOL%"), add("x-only-new", "x", "ADD_IF_ABSENT"), add("x-empty", "%REQ(x-nope)%")],
        request_headers_to_remove: ["x-drop"],
      }], { request_headers_to_add: [add("x-level", "vhost", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-trail", "vhost")] }),
    });
    const { echo: up } = await echoOf(e, "http://h/", { headers: { "cf-connecting-ip": "2001:db8::5", "user-agent": "ua", "x-drop": "1", "x-only-new": "kept" } });
    expect(up.headers["x-level"]).toBe("config");
    expect(up.headers["x-trail"]).toBe("route, vhost, config");
    expect(up.headers["x-client"]).toBe("[2001:db8::5]:0|ua|HTTP/1.1");
    expect(up.headers["x-only-new"]).toBe("kept");
    expect(up.headers["x-empty"]).toBeUndefined();
    expect(up.headers["x-drop"]).toBeUndefined();
  });
});

describe("rewrites", () => {
  it("rewrites the prefix and keeps the original path in x-envoy-original-path", async () => {
    const e = await engine({}, vhosts([
      { match: { prefix: "/prefix/" }, route: { cluster: "a", prefix_rewrite: "/" } },
      { match: { prefix: "/prefix" }, route: { cluster: "a", prefix_rewrite: "/" } },
      { match: { prefix: "/service/" }, route: { cluster: "a", regex_rewrite: { pattern: { regex: "^/service/([^/]+)(/.*)$" }, substitution: "\\2/instance/\\1" } } },
      { match: { prefix: "/host" }, route: { cluster: "a", host_rewrite_literal: "api.internal" } },
      { match: { prefix: "/from-header" }, route: { cluster: "a", host_rewrite_header: "x-host" } },
      { match: { prefix: "/" }, route: { cluster: "a" } },
    ]));
    const one = await echoOf(e, "http://h/prefix/etc?x=1");
    expect(one.echo.url).toBe("/etc?x=1");
    expect(one.echo.headers["x-envoy-original-path"]).toBe("/prefix/etc?x=1");
    expect((await echoOf(e, "http://h/prefix")).echo.url).toBe("/");
    const regex = await echoOf(e, "http://h/service/foo/v1/api?q");
    expect(regex.echo.url).toBe("/v1/api/instance/foo?q");
    expect(regex.echo.headers["x-envoy-original-path"]).toBe("/service/foo/v1/api?q");
    expect((await echoOf(e, "http://h/host")).echo.headers["x-forwarded-host"]).toBe("api.internal");
    expect((await echoOf(e, "http://h/from-header", { headers: { "x-host": "other.internal" } })).echo.headers["x-forwarded-host"]).toBe("other.internal");
    expect((await echoOf(e, "http://h/from-header")).echo.headers["x-forwarded-host"]).toBe("h");
    const plain = await echoOf(e, "http://h/x", { headers: { "x-envoy-original-path": "/forged" } });
    expect(plain.echo.headers["x-envoy-original-path"]).toBe("/forged");
  });
});

describe("redirects", () => {
  it("answers with the status and location, response mutations, and counts a direct response", async () => {
    const stats = new StatsStore();
    const e = await engine({}, vhosts([
      { match: { prefix: "/old/" }, redirect: { prefix_rewrite: "/new/", response_code: "TEMPORARY_REDIRECT" }, response_headers_to_add: [{ header: { key: "x-redirected", value: "yes" } }] },
      { match: { prefix: "/" }, redirect: { https_redirect: true } },
    ]), { stats });
    const r1 = await e.handle(new Request("http://www.example.com/old/a?b=1"));
    expect(r1.status).toBe(307);
    expect(r1.headers.get("location")).toBe("http://www.example.com/new/a?b=1");
    expect(r1.headers.get("x-redirected")).toBe("yes");
    expect(await r1.text()).toBe("");
    const r2 = await e.handle(new Request("http://www.example.com:80/x", { headers: { "x-forwarded-proto": "http" } }));
    expect(r2.status).toBe(301);
    expect(r2.headers.get("location")).toBe("https://www.example.com/x");
    expect(stats.values().get("http.ingress.rq_direct_response")).toBe(2);
  });
});

describe("clusters picked at routing time", () => {
  it("splits weighted clusters by the stream's random value", async () => {
    let n = 0;
    const e = await engine({}, vhosts([{ match: { prefix: "/" }, route: { weighted_clusters: { clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }] } } }]), { random: () => n++ });
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) seen.push((await echoOf(e, "http://h/")).echo.server);
    expect(seen).toEqual(["a", "b", "b", "b", "a", "b", "b", "b"]);
  });

  it("honours runtime_fraction with the runtime the engine is given", async () => {
    let n = 0;
    const routes = vhosts([
      { match: { prefix: "/", runtime_fraction: { default_value: { numerator: 0 }, runtime_key: "shift.to.b" } }, route: { cluster: "b" } },
      { match: { prefix: "/" }, route: { cluster: "a" } },
    ]);
    const e = await engine({}, routes, { random: () => n++, runtime: new Map([["shift.to.b", 50]]) });
    const seen: Record<string, number> = {};
    for (let i = 0; i < 10; i++) {
      const s = (await echoOf(e, "http://h/")).echo.server;
      seen[s] = (seen[s] ?? 0) + 1;
    }
    // random values 0..9: those below 50 (% 100) go to b.
    expect(seen).toEqual({ b: 10 });
  });

  it("answers 503 NC, with the route's response headers, when cluster_header names no cluster", async () => {
    const e = await engine({}, vhosts([{ match: { prefix: "/" }, route: { cluster_header: "x-cluster" }, response_headers_to_add: [{ header: { key: "x-route", value: "r" } }] }]));
    const ok = await echoOf(e, "http://h/", { headers: { "x-cluster": "c" } });
    expect(ok.echo.server).toBe("c");
    expect(ok.res.headers.get("x-route")).toBe("r");
    for (const headers of [{}, { "x-cluster": "nowhere" }] as Record<string, string>[]) {
      const res = await e.handle(new Request("http://h/", { headers }));
      expect(res.status).toBe(503);
      expect(res.headers.get("x-legate-response-flags")).toBe("NC");
      expect(res.headers.get("x-route")).toBe("r");
      await res.text();
    }
  });
});
