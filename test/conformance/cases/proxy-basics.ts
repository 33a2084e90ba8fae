/**
 * Proxying of the foundation (issue 2): method, path, headers and bodies forwarded, streaming both
 * ways, upstream statuses and redirects passed through, round robin with weights, Envoy's local replies
 * for connect failures and empty clusters, and the stats charged for proxied traffic.
 */
import { describe, expect, it } from "vitest";
import { bootstrap, type Echo, release } from "../config.ts";
import type { ConformanceContext } from "../context.ts";

export default function proxyBasics(ctx: ConformanceContext): void {
  const [a, b] = [() => ctx.upstreamPorts[0]!, () => ctx.upstreamPorts[1]!];

  describe("proxying through the edge listener", () => {
    it("forwards method, path and query, headers and body, and returns the upstream response", async () => {
      await ctx.loadConfig(bootstrap(ctx));
      const res = await ctx.request(new Request("http://front.example/some/path?x=1&y=%20z&x=2", {
        method: "POST",
        body: "payload bytes",
        headers: { "x-custom": "v1", "content-type": "text/plain" },
      }));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-upstream")).toBe("a");
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("x-envoy-upstream-service-time")).toMatch(/^\d+$/);
      const echo = (await res.json()) as Echo;
      expect(echo.method).toBe("POST");
      expect(echo.url).toBe("/some/path?x=1&y=%20z&x=2");
      expect(echo.body).toBe("payload bytes");
      expect(echo.headers["x-custom"]).toBe("v1");
      expect(echo.headers["content-type"]).toBe("text/plain");
    });

    it("forwards every method, with and without a body", async () => {
      await ctx.loadConfig(bootstrap(ctx));
      for (const method of ["GET", "DELETE", "PUT", "PATCH", "OPTIONS"]) {
        const hasBody = method === "PUT" || method === "PATCH";
        const res = await ctx.request(new Request("http://front.example/m", { method, body: hasBody ? `body of ${method}` : undefined }));
        const echo = (await res.json()) as Echo;
        expect(echo.method).toBe(method);
        expect(echo.body).toBe(hasBody ? `body of ${method}` : "");
      }
    });

    it("streams a large request body to the upstream intact", async () => {
      await ctx.loadConfig(bootstrap(ctx));
      const chunk = "0123456789abcdef".repeat(4096);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (sent === 16) return c.close();
          sent++;
          c.enqueue(new TextEncoder().encode(chunk));
        },
      });
      const res = await ctx.request(new Request("http://front.example/upload", { method: "POST", body, duplex: "half" } as RequestInit));
      const echo = (await res.json()) as Echo;
      expect(echo.body.length).toBe(chunk.length * 16);
      expect(echo.body).toBe(chunk.repeat(16));
    });

    it("streams the response back before the upstream finishes it", async () => {
      await ctx.loadConfig(bootstrap(ctx));
      const id = crypto.randomUUID();
      const res = await ctx.request(new Request(`http://front.example/stream?id=${id}`));
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      // The upstream holds its response open after "first\n" until /release: this chunk can only have
      // arrived through a streaming proxy.
      const first = await reader.read();
      expect(decoder.decode(first.value)).toBe("first\n");
      await release(ctx, id);
      let rest = "";
      for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value, { stream: true });
      expect(rest).toBe("second\n");
    });

    it("passes upstream statuses and redirects through without following them", async () => {
      await ctx.loadConfig(bootstrap(ctx));
      const notFound = await ctx.request(new Request("http://front.example/missing", { headers: { "x-echo-status": "404" } }));
      expect(notFound.status).toBe(404);
      expect(notFound.headers.get("x-legate-response-flags")).toBeNull();
      expect(((await notFound.json()) as Echo).url).toBe("/missing");

      const redirect = await ctx.request(new Request("http://front.example/old", { headers: { "x-echo-status": "302", "x-echo-location": "http://elsewhere.example/new" } }));
      expect(redirect.status).toBe(302);
      expect(redirect.headers.get("location")).toBe("http://elsewhere.example/new");
      await redirect.arrayBuffer();

      const failing = await ctx.request(new Request("http://front.example/boom", { headers: { "x-echo-status": "503" } }));
      expect(failing.status).toBe(503);
      expect(failing.headers.get("x-upstream")).toBe("a");
      await failing.arrayBuffer();
    });

    it("spreads requests over the cluster's hosts round robin", async () => {
      await ctx.loadConfig(bootstrap(ctx, { clusters: { a: [a(), b()] } }));
      const servers: string[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await ctx.request(new Request("http://front.example/rr"));
        servers.push(((await res.json()) as Echo).server);
      }
      expect(new Set(servers)).toEqual(new Set(["a", "b"]));
      expect(servers[0]).not.toBe(servers[1]);
      expect(servers[0]).toBe(servers[2]);
      expect(servers[1]).toBe(servers[3]);
    });

    it("honours load_balancing_weight with the cluster's ROUND_ROBIN balancer", async () => {
      const config = bootstrap(ctx, { clusters: { a: [a(), b()] } }) as {
        static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: Record<string, unknown>[] }[] } }[] };
      };
      const eps = config.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints;
      eps[0]!.load_balancing_weight = 3;
      await ctx.loadConfig(config);
      const counts = new Map<string, number>();
      for (let i = 0; i < 8; i++) {
        const res = await ctx.request(new Request("http://front.example/w"));
        const server = ((await res.json()) as Echo).server;
        counts.set(server, (counts.get(server) ?? 0) + 1);
      }
      expect(Object.fromEntries(counts)).toEqual({ a: 6, b: 2 });
    });
  });

  describe("upstream failures", () => {
    it("answers 503 UF with Envoy's body when the upstream refuses the connection", async () => {
      await ctx.loadConfig(bootstrap(ctx, { clusters: { a: [ctx.closedPort] } }));
      const res = await ctx.request(new Request("http://front.example/x"));
      expect(res.status).toBe(503);
      expect(res.headers.get("x-legate-response-flags")).toBe("UF");
      expect(res.headers.get("content-type")).toBe("text/plain");
      expect(await res.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure");
      await ctx.settle();
      expect(await ctx.stat("cluster.a.upstream_cx_connect_fail")).toBe(1);
      expect(await ctx.stat("cluster.a.upstream_rq_503")).toBe(1);
      expect(await ctx.stat("cluster.a.upstream_rq_total")).toBe(0);
      expect(await ctx.stat("http.ingress_http.downstream_rq_5xx")).toBe(1);
    });

    it("answers 503 UH 'no healthy upstream' when the cluster has no hosts", async () => {
      await ctx.loadConfig(bootstrap(ctx, { clusters: { a: [] } }));
      const res = await ctx.request(new Request("http://front.example/x"));
      expect(res.status).toBe(503);
      expect(res.headers.get("x-legate-response-flags")).toBe("UH");
      expect(await res.text()).toBe("no healthy upstream");
      await ctx.settle();
      expect(await ctx.stat("cluster.a.upstream_cx_none_healthy")).toBe(1);
    });
  });

  describe("stats of proxied traffic", () => {
    it("charges Envoy's cluster and connection-manager stats", async () => {
      await ctx.loadConfig(bootstrap(ctx, { statPrefix: "edge_http" }));
      for (const status of ["200", "200", "404"]) {
        const res = await ctx.request(new Request("http://front.example/s", { headers: { "x-echo-status": status } }));
        await res.text();
      }
      await ctx.settle();
      expect(await ctx.stat("cluster.a.upstream_rq_total")).toBe(3);
      expect(await ctx.stat("cluster.a.upstream_rq_200")).toBe(2);
      expect(await ctx.stat("cluster.a.upstream_rq_2xx")).toBe(2);
      expect(await ctx.stat("cluster.a.upstream_rq_404")).toBe(1);
      expect(await ctx.stat("cluster.a.upstream_rq_4xx")).toBe(1);
      expect(await ctx.stat("cluster.a.upstream_rq_completed")).toBe(3);
      expect(await ctx.stat("http.edge_http.downstream_rq_total")).toBe(3);
      expect(await ctx.stat("http.edge_http.downstream_rq_2xx")).toBe(2);
      expect(await ctx.stat("http.edge_http.downstream_rq_4xx")).toBe(1);
      expect(await ctx.stat("http.edge_http.downstream_rq_completed")).toBe(3);
      expect(await ctx.stat("http.edge_http.downstream_rq_active")).toBe(0);
    });
  });
}
