/**
 * The HCM's header handling, rewrites and redirects: what the upstream receives and what the client
 * gets back. X-Forwarded-For / -Proto and x-envoy-external-address from the client address
 * (`use_remote_address`), x-request-id, `server`, Connection-named headers, request/response header
 * mutations in Envoy's order, prefix/regex/host rewrites, redirects, and cluster_header.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { bootstrap, type Echo, type Json } from "../config.ts";
import type { ConformanceContext, RequestOptions } from "../context.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const add = (key: string, value: string, append_action = "APPEND_IF_EXISTS_OR_ADD") => ({ header: { key, value }, append_action });

export default function headerHandling(ctx: ConformanceContext): void {
  /** Loads an HCM with `hcm` settings and a full `route_config`, over clusters `a` and `b`. */
  async function load(hcm: Json, routeConfig: Json): Promise<void> {
    await ctx.loadConfig(bootstrap(ctx, { clusters: { a: [ctx.upstreamPorts[0]!], b: [ctx.upstreamPorts[1]!] }, hcm: { ...hcm, route_config: { name: "rc", ...routeConfig } } }));
  }

  /** Sends a request that reaches an echo upstream; returns the response and what the upstream saw. */
  async function upstream(url: string, init?: RequestInit, options?: RequestOptions): Promise<{ res: Response; echo: Echo }> {
    const res = await ctx.request(new Request(url, init), options);
    return { res, echo: (await res.json()) as Echo };
  }

  const allToA = { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }] };

  describe("the HCM's own headers", () => {
    it("with use_remote_address, takes the client from the connection: XFF, XFP, external address, a new request id", async () => {
      await load({ use_remote_address: true }, allToA);
      const { res, echo } = await upstream("https://shop.example/x", {
        headers: { "x-forwarded-for": "198.51.100.1", "x-request-id": "from-client", "x-envoy-retry-on": "5xx", "x-envoy-internal": "true" },
      }, { clientAddress: "203.0.113.9" });
      expect(echo.headers["x-forwarded-for"]).toBe("198.51.100.1, 203.0.113.9");
      expect(echo.headers["x-forwarded-proto"]).toBe("https");
      expect(echo.headers["x-envoy-external-address"]).toBe("203.0.113.9");
      expect(echo.headers["x-request-id"]).toMatch(UUID);
      expect(echo.headers["x-request-id"]).not.toBe("from-client");
      expect(echo.headers["x-envoy-retry-on"]).toBeUndefined();
      expect(echo.headers["x-envoy-internal"]).toBeUndefined();
      expect(res.headers.get("server")).toBe("envoy");
    });

    it("by default keeps the client's request id and generates one only when absent; sets server on every reply", async () => {
      await load({ server_name: "legate-edge", always_set_request_id_in_response: true }, { virtual_hosts: [{ name: "v", domains: ["only.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }] });
      const kept = await upstream("http://only.example/", { headers: { "x-request-id": "abc" } });
      expect(kept.echo.headers["x-request-id"]).toBe("abc");
      expect(kept.res.headers.get("x-request-id")).toBe("abc");
      const fresh = await upstream("http://only.example/");
      expect(fresh.echo.headers["x-request-id"]).toMatch(UUID);
      expect(fresh.res.headers.get("x-request-id")).toBe(fresh.echo.headers["x-request-id"]);
      expect(fresh.res.headers.get("server")).toBe("legate-edge");
      const miss = await ctx.request(new Request("http://elsewhere.example/"));
      expect(miss.status).toBe(404);
      expect(miss.headers.get("server")).toBe("legate-edge");
      await miss.text();
    });

    it("drops headers named by Connection", async () => {
      await load({}, allToA);
      const { echo } = await upstream("http://h.example/", { headers: { connection: "x-hop", "x-hop": "1", "x-end": "1" } });
      expect(echo.headers["x-hop"]).toBeUndefined();
      expect(echo.headers["x-end"]).toBe("1");
    });
  });

  describe("header mutations and rewrites", () => {
    beforeAll(async () => {
      await load({}, {
        request_headers_to_add: [add("x-level", "config", "OVERWRITE_IF_EXISTS_OR_ADD")],
        response_headers_to_add: [add("x-served-by", "legate")],
        response_headers_to_remove: ["x-upstream"],
        virtual_hosts: [{
          name: "v",
          domains: ["*"],
          request_headers_to_add: [add("x-level", "vhost", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-list", "vhost")],
          routes: [
            {
              match: { prefix: "/api/" },
              route: { cluster: "a", prefix_rewrite: "/v2/", host_rewrite_literal: "api.internal" },
              request_headers_to_add: [add("x-list", "route"), add("x-client", "%REQ(:authority)% %REQ(x-missing?user-agent)%")],
              response_headers_to_add: [add("x-route", "api")],
            },
            { match: { safe_regex: { regex: "/(?i)users/([0-9]+)" } }, route: { cluster: "b", regex_rewrite: { pattern: { regex: "^/(?i)users/([0-9]+)$" }, substitution: "/u/\\1" } } },
            { match: { prefix: "/teapot" }, direct_response: { status: 418, body: { inline_string: "short and stout" } }, response_headers_to_add: [add("x-route", "teapot")] },
          ],
        }],
      });
    });

    it("applies request mutations in Envoy's order and rewrites the path and host", async () => {
      const { res, echo } = await upstream("http://shop.example/api/items?x=1", { headers: { "user-agent": "tester" } });
      expect(echo.url).toBe("/v2/items?x=1");
      expect(echo.headers["x-envoy-original-path"]).toBe("/api/items?x=1");
      // Both runtimes' transports send the URL's host as Host and the (rewritten) authority as x-forwarded-host.
      expect(echo.headers["x-forwarded-host"]).toBe("api.internal");
      expect(echo.headers["x-level"]).toBe("config");
      expect(echo.headers["x-list"]).toBe("route, vhost");
      expect(echo.headers["x-client"]).toBe("shop.example tester");
      expect(res.headers.get("x-route")).toBe("api");
      expect(res.headers.get("x-served-by")).toBe("legate");
      expect(res.headers.get("x-upstream")).toBeNull();
    });

    it("matches and rewrites with translated RE2 regexes", async () => {
      const { echo } = await upstream("http://shop.example/USERS/42?tab=1");
      expect(echo.server).toBe("b");
      expect(echo.url).toBe("/u/42?tab=1");
      expect(echo.headers["x-envoy-original-path"]).toBe("/USERS/42?tab=1");
    });

    it("adds response headers to direct responses", async () => {
      const res = await ctx.request(new Request("http://shop.example/teapot"));
      expect(res.status).toBe(418);
      expect(res.headers.get("x-route")).toBe("teapot");
      expect(res.headers.get("x-served-by")).toBe("legate");
      expect(await res.text()).toBe("short and stout");
    });
  });

  describe("redirects", () => {
    beforeAll(async () => {
      await load({}, {
        virtual_hosts: [{
          name: "v",
          domains: ["*"],
          routes: [
            { match: { path: "/old-path-1" }, redirect: { path_redirect: "/new-path-1" } },
            { match: { path: "/old-path-2" }, redirect: { path_redirect: "/new-path-2", strip_query: true } },
            { match: { path: "/old-path-3" }, redirect: { path_redirect: "/new-path-3?foo=1", strip_query: true } },
            { match: { prefix: "/docs/" }, redirect: { prefix_rewrite: "/manual/", host_redirect: "docs.example", response_code: "FOUND" } },
            { match: { prefix: "/r/" }, redirect: { regex_rewrite: { pattern: { regex: "^/r/([a-z]+)/([0-9]+)$" }, substitution: "/\\2/\\1" }, response_code: "SEE_OTHER" } },
            { match: { prefix: "/port" }, redirect: { port_redirect: 8443, scheme_redirect: "https", response_code: "TEMPORARY_REDIRECT" } },
            { match: { prefix: "/" }, redirect: { https_redirect: true, response_code: "PERMANENT_REDIRECT" } },
          ],
        }],
      });
    });

    const cases: [string, number, string][] = [
      ["http://www.example.com/old-path-1?bar=1", 301, "http://www.example.com/new-path-1?bar=1"],
      ["http://www.example.com/old-path-2?bar=1", 301, "http://www.example.com/new-path-2"],
      ["http://www.example.com/old-path-3?bar=1", 301, "http://www.example.com/new-path-3?foo=1"],
      ["http://www.example.com/docs/a/b?x=1", 302, "http://docs.example/manual/a/b?x=1"],
      ["http://www.example.com/r/item/42?q", 303, "http://www.example.com/42/item?q"],
      ["http://www.example.com:8080/port", 307, "https://www.example.com:8443/port"],
      ["http://www.example.com:80/anything?q=1", 308, "https://www.example.com/anything?q=1"],
    ];

    it("answers each with its status and location, as Envoy builds it", async () => {
      for (const [url, status, location] of cases) {
        const res = await ctx.request(new Request(url, { redirect: "manual" }));
        expect(res.status, url).toBe(status);
        expect(res.headers.get("location"), url).toBe(location);
        expect(await res.text()).toBe("");
      }
    });
  });

  describe("cluster_header", () => {
    it("routes by the header and answers 503 NC when it names no cluster", async () => {
      await load({}, { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster_header: "x-cluster" } }] }] });
      expect((await upstream("http://h.example/", { headers: { "x-cluster": "b" } })).echo.server).toBe("b");
      for (const headers of [{}, { "x-cluster": "nowhere" }] as Record<string, string>[]) {
        const res = await ctx.request(new Request("http://h.example/", { headers }));
        expect(res.status).toBe(503);
        expect(res.headers.get("x-legate-response-flags")).toBe("NC");
        await res.text();
      }
    });
  });
}
