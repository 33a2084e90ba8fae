/**
 * Virtual host selection and route matching of the foundation (issue 2): Envoy's domain order, the
 * port in Host, prefix/path/case_sensitive, direct_response and the 404 NR reply.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { bootstrap, type Echo } from "../config.ts";
import type { ConformanceContext } from "../context.ts";

/** A route answering its own name, so the test sees which one matched. */
const named = (name: string, match: Record<string, unknown>) => ({ name, match, direct_response: { status: 200, body: { inline_string: name } } });
const vhost = (name: string, domains: string[], routes: Record<string, unknown>[] = [named(name, { prefix: "/" })]) => ({ name, domains, routes });

export default function routeMatching(ctx: ConformanceContext): void {
  async function get(url: string): Promise<{ status: number; body: string; flags: string | null }> {
    const res = await ctx.request(new Request(url));
    return { status: res.status, body: await res.text(), flags: res.headers.get("x-legate-response-flags") };
  }

  describe("virtual host selection", () => {
    beforeAll(async () => {
      await ctx.loadConfig(bootstrap(ctx, {
        virtualHosts: [
          vhost("catch-all", ["*"]),
          vhost("prefix-short", ["api.*"]),
          vhost("prefix-long", ["api.v2.*"]),
          vhost("suffix-short", ["*.foo.com"]),
          vhost("suffix-long", ["*-bar.foo.com"]),
          vhost("exact", ["www.foo.com", "foo.com:8080"]),
        ],
      }));
    });

    it("tries exact, then suffix, then prefix wildcards (longest first), then *", async () => {
      expect((await get("http://www.foo.com/")).body).toBe("exact");
      expect((await get("http://baz-bar.foo.com/")).body).toBe("suffix-long");
      expect((await get("http://baz.foo.com/")).body).toBe("suffix-short");
      expect((await get("http://api.foo.com/")).body).toBe("suffix-short");
      expect((await get("http://api.v2.example.org/")).body).toBe("prefix-long");
      expect((await get("http://api.example.org/")).body).toBe("prefix-short");
      expect((await get("http://example.org/")).body).toBe("catch-all");
    });

    it("matches the Host value with its port, as Envoy does by default", async () => {
      expect((await get("http://foo.com:8080/")).body).toBe("exact");
      expect((await get("http://www.foo.com:8443/")).body).toBe("catch-all");
    });
  });

  describe("routes", () => {
    beforeAll(async () => {
      await ctx.loadConfig(bootstrap(ctx, {
        virtualHosts: [
          vhost("only", ["only.example"], [
            named("exact", { path: "/exact" }),
            named("exact-ci", { path: "/Exact/CI", case_sensitive: false }),
            named("prefix-ci", { prefix: "/API/", case_sensitive: false }),
            named("prefix", { prefix: "/static/" }),
            { name: "teapot", match: { prefix: "/teapot" }, direct_response: { status: 418 } },
            { name: "proxied", match: { prefix: "/up/" }, route: { cluster: "a" } },
          ]),
        ],
      }));
    });

    it("matches path exactly (query ignored) and prefix against the path", async () => {
      expect((await get("http://only.example/exact")).body).toBe("exact");
      expect((await get("http://only.example/exact?x=1")).body).toBe("exact");
      expect((await get("http://only.example/static/app.js?v=2")).body).toBe("prefix");
    });

    it("is case sensitive unless case_sensitive is false", async () => {
      expect((await get("http://only.example/EXACT")).status).toBe(404);
      expect((await get("http://only.example/Static/app.js")).status).toBe(404);
      expect((await get("http://only.example/exact/ci")).body).toBe("exact-ci");
      expect((await get("http://only.example/api/v1")).body).toBe("prefix-ci");
    });

    it("answers direct_response with its status and body (text/plain), or no body", async () => {
      const res = await ctx.request(new Request("http://only.example/static/x"));
      expect(res.headers.get("content-type")).toBe("text/plain");
      expect(await res.text()).toBe("prefix");
      expect(await get("http://only.example/teapot")).toEqual({ status: 418, body: "", flags: null });
    });

    it("answers 404 NR with an empty body when no route or no virtual host matches", async () => {
      expect(await get("http://only.example/nothing-here")).toEqual({ status: 404, body: "", flags: "NR" });
      expect(await get("http://other.example/exact")).toEqual({ status: 404, body: "", flags: "NR" });
    });

    it("forwards the path as sent to the upstream", async () => {
      const res = await ctx.request(new Request("http://only.example/up/a%2Fb/c?q=%41&r"));
      expect(((await res.json()) as Echo).url).toBe("/up/a%2Fb/c?q=%41&r");
    });

    it("counts no_route and rq_direct_response", async () => {
      await ctx.loadConfig(bootstrap(ctx, {
        virtualHosts: [vhost("only", ["only.example"], [named("exact", { path: "/exact" }), { name: "teapot", match: { prefix: "/teapot" }, direct_response: { status: 418 } }])],
      }));
      for (const path of ["/exact", "/nothing", "/teapot", "/nothing"]) await (await ctx.request(new Request(`http://only.example${path}`))).text();
      await ctx.settle();
      expect(await ctx.stat("http.ingress_http.no_route")).toBe(2);
      expect(await ctx.stat("http.ingress_http.rq_direct_response")).toBe(2);
      expect(await ctx.stat("http.ingress_http.downstream_rq_4xx")).toBe(3);
      expect(await ctx.stat("http.ingress_http.downstream_rq_2xx")).toBe(1);
    });
  });
}
