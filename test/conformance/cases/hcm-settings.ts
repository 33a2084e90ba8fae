/**
 * HttpConnectionManager settings beyond routing: `stream_idle_timeout` (and a route's `idle_timeout`
 * over it), `request_timeout`, `strip_matching_host_port` / `strip_any_host_port`,
 * `internal_address_config`, and generated hash-policy cookies (`hash_policy.cookie.ttl`).
 */
import { describe, expect, it } from "vitest";
import { xxHash64 } from "../../../shared/lb/xxhash64.ts";
import { bootstrap, type Echo, type Json, routed } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { send, statOr0 } from "../helpers.ts";

/** A direct-response virtual host answering its own name. */
const named = (name: string, domains: string[]): Json => ({ name, domains, routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: name } } }] });

/** A request body that sends `chunks` with `gapMs` between them; stops when cancelled. */
function slowBody(chunks: string[], gapMs: number): ReadableStream<Uint8Array> {
  let i = 0;
  let cancelled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (i > 0) await new Promise<void>((r) => (timer = setTimeout(r, gapMs)));
      if (cancelled) return;
      if (i >= chunks.length) c.close();
      else c.enqueue(new TextEncoder().encode(chunks[i++]));
    },
    cancel() {
      cancelled = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  });
}

export default function hcmSettings(ctx: ConformanceContext): void {
  describe("stream_idle_timeout", () => {
    it("answers 504 SI 'stream timeout' when no response headers come in time for a whole request", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { stream_idle_timeout: "0.1s" } }));
      const { res, text } = await send(ctx, "/s", { headers: { "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect(res.headers.get("x-legate-response-flags")).toBe("SI");
      expect(text).toBe("stream timeout");
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
    });

    it("answers 408 while the request body may still be arriving (streamed through unbuffered)", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { stream_idle_timeout: "0.1s" } }));
      const { res, text } = await send(ctx, "/s", { method: "POST", body: slowBody(["a"], 10), headers: { "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(408);
      expect(res.headers.get("x-legate-response-flags")).toBe("SI");
      expect(text).toBe("stream timeout");
    });

    it("is replaced by a route's idle_timeout, and 0s on the route disables both", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { stream_idle_timeout: "0.1s" }, route: { idle_timeout: "0s" } }));
      const { res } = await send(ctx, "/s", { headers: { "x-echo-delay-ms": "300" } });
      expect(res.status).toBe(200);
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_idle_timeout")).toBe(0);
    });

    it("is disabled by 0s", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { stream_idle_timeout: "0s" } }));
      const { res } = await send(ctx, "/s", { headers: { "x-echo-delay-ms": "200" } });
      expect(res.status).toBe(200);
    });
  });

  describe("request_timeout", () => {
    it("answers 408 'request timeout' when the request body does not arrive in time", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { request_timeout: "0.15s" } }));
      const { res, text } = await send(ctx, "/upload", { method: "POST", body: slowBody(["a", "b"], 900) });
      expect(res.status).toBe(408);
      expect(text).toBe("request timeout");
      expect(res.headers.get("x-legate-response-flags")).toBeNull();
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_timeout")).toBe(1);
    });

    it("lets a request whose body arrives in time through", async () => {
      await ctx.loadConfig(routed(ctx, { hcm: { request_timeout: "2s" } }));
      const { res, text } = await send(ctx, "/upload", { method: "POST", body: slowBody(["a", "b"], 20) });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).body).toBe("ab");
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_timeout")).toBe(0);
    });
  });

  describe("Host ports", () => {
    const hosts = [named("bare", ["front.example"]), named("with-port", ["front.example:8080"]), named("any", ["*"])];
    const get = async (url: string) => (await (await ctx.request(new Request(url))).text());

    it("by default matches the Host with its port (a domain may carry one)", async () => {
      await ctx.loadConfig(bootstrap(ctx, { virtualHosts: hosts }));
      expect(await get("http://front.example:8080/")).toBe("with-port");
      expect(await get("http://front.example:9090/")).toBe("any");
      expect(await get("http://front.example/")).toBe("bare");
    });

    it("strip_any_host_port removes any port before matching", async () => {
      await ctx.loadConfig(bootstrap(ctx, { virtualHosts: hosts, hcm: { strip_any_host_port: true } }));
      expect(await get("http://front.example:8080/")).toBe("bare");
      expect(await get("http://front.example:9090/")).toBe("bare");
    });

    it("strip_matching_host_port removes the port the request came in on", async () => {
      await ctx.loadConfig(bootstrap(ctx, { virtualHosts: hosts, hcm: { strip_matching_host_port: true } }));
      expect(await get("http://front.example:8080/")).toBe("bare");
    });
  });

  describe("internal_address_config", () => {
    const allToA = [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }];
    const seen = async (xff: string) => {
      const { text } = await send(ctx, "/i", { headers: { "x-forwarded-for": xff, "x-envoy-decorator-operation": "op" } });
      return (JSON.parse(text) as Echo).headers["x-envoy-internal"];
    };

    it("makes only the cidr_ranges internal", async () => {
      await ctx.loadConfig(bootstrap(ctx, { virtualHosts: allToA, hcm: { internal_address_config: { cidr_ranges: [{ address_prefix: "198.51.100.0", prefix_len: 24 }] } } }));
      expect(await seen("198.51.100.7")).toBe("true");
      expect(await seen("10.1.2.3")).toBeUndefined();
      expect(await seen("203.0.113.9")).toBeUndefined();
    });

    it("without cidr_ranges keeps Envoy's default internal addresses", async () => {
      await ctx.loadConfig(bootstrap(ctx, { virtualHosts: allToA, hcm: { internal_address_config: { unix_sockets: true } } }));
      expect(await seen("10.1.2.3")).toBe("true");
      expect(await seen("198.51.100.7")).toBeUndefined();
    });
  });

  describe("generated hash cookies", () => {
    const withCookie = (cookie: Json) =>
      bootstrap(ctx, {
        clusters: { a: { ports: ctx.upstreamPorts, lb_policy: "RING_HASH" } },
        virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a", hash_policy: [{ cookie: { name: "lb", ...cookie } }] } }] }],
      });

    it("generates the cookie when absent, hashes it, and sets it with Max-Age, Path and attributes", async () => {
      await ctx.loadConfig(withCookie({ ttl: "60s", path: "/app", attributes: [{ name: "SameSite", value: "Lax" }, { name: "Secure" }] }));
      const first = await send(ctx, "/app/x", {}, { clientAddress: "203.0.113.9" });
      const setCookie = first.res.headers.get("set-cookie");
      // Envoy's value: the 16 hex digits of xxHash64 of the connection's remote and local addresses.
      const value = xxHash64("203.0.113.9:0").toString(16).padStart(16, "0");
      expect(setCookie).toBe(`lb="${value}"; Max-Age=60; Path=/app; SameSite=Lax; Secure; HttpOnly`);
      const server = (JSON.parse(first.text) as Echo).server;
      // The cookie sent back lands on the host its generation chose, and is not set again.
      for (let i = 0; i < 3; i++) {
        const again = await send(ctx, "/app/x", { headers: { cookie: `other=1; lb="${value}"` } });
        expect((JSON.parse(again.text) as Echo).server).toBe(server);
        expect(again.res.headers.get("set-cookie")).toBeNull();
      }
    });

    it("sets a session cookie for ttl 0s, and never generates without ttl", async () => {
      await ctx.loadConfig(withCookie({ ttl: "0s" }));
      const session = await send(ctx, "/", {}, { clientAddress: "203.0.113.10" });
      expect(session.res.headers.get("set-cookie")).toMatch(/^lb="[0-9a-f]{16}"; HttpOnly$/);
      await ctx.loadConfig(withCookie({}));
      expect((await send(ctx, "/", {}, { clientAddress: "203.0.113.10" })).res.headers.get("set-cookie")).toBeNull();
    });
  });
}
