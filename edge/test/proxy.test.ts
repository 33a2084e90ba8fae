import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type Echo, ports, pushConfig, settle } from "./helpers.ts";

describe("proxying through the edge listener", () => {
  it("forwards method, path and query, headers and body, and returns the upstream response", async () => {
    await pushConfig(bootstrap());
    const res = await SELF.fetch("http://front.example/some/path?x=1&y=%20z&x=2", {
      method: "POST",
      body: "payload bytes",
      headers: { "x-custom": "v1", "content-type": "text/plain", "x-forwarded-host": "first.example" },
    });
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
    expect(echo.headers["content-length"]).toBe("13");
    // workerd sends the URL's host as Host; the downstream Host travels in x-forwarded-host (appended).
    expect(echo.headers.host).toBe(`127.0.0.1:${ports.a}`);
    expect(echo.headers["x-forwarded-host"]).toBe("first.example, front.example");
  });

  it("forwards every method, with and without a body", async () => {
    await pushConfig(bootstrap());
    for (const method of ["GET", "DELETE", "PUT", "PATCH", "OPTIONS"]) {
      const hasBody = method === "PUT" || method === "PATCH";
      const res = await SELF.fetch("http://front.example/m", { method, body: hasBody ? `body of ${method}` : undefined });
      const echo = (await res.json()) as Echo;
      expect(echo.method).toBe(method);
      expect(echo.body).toBe(hasBody ? `body of ${method}` : "");
      expect(echo.headers["x-forwarded-host"]).toBe("front.example");
    }
  });

  it("streams a large request body to the upstream intact", async () => {
    await pushConfig(bootstrap());
    const chunk = "0123456789abcdef".repeat(4096);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent === 16) return c.close();
        sent++;
        c.enqueue(new TextEncoder().encode(chunk));
      },
    });
    const res = await SELF.fetch("http://front.example/upload", { method: "POST", body });
    const echo = (await res.json()) as Echo;
    expect(echo.body.length).toBe(chunk.length * 16);
    expect(echo.body).toBe(chunk.repeat(16));
  });

  it("streams the response back before the upstream finishes it", async () => {
    await pushConfig(bootstrap());
    const id = crypto.randomUUID();
    const res = await SELF.fetch(`http://front.example/stream?id=${id}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    // The upstream holds its response open after "first\n" until /release: this chunk can only have
    // arrived through a streaming proxy.
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe("first\n");
    await (await fetch(`http://127.0.0.1:${ports.a}/release?id=${id}`)).text();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += decoder.decode(r.value, { stream: true });
    expect(rest).toBe("second\n");
  });

  it("passes upstream statuses and redirects through without following them", async () => {
    await pushConfig(bootstrap());
    const notFound = await SELF.fetch("http://front.example/missing", { headers: { "x-echo-status": "404" } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get("x-legate-response-flags")).toBeNull();
    expect(((await notFound.json()) as Echo).url).toBe("/missing");

    const redirect = await SELF.fetch("http://front.example/old", { headers: { "x-echo-status": "302", "x-echo-location": "http://elsewhere.example/new" }, redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("http://elsewhere.example/new");
    await redirect.arrayBuffer();

    const failing = await SELF.fetch("http://front.example/boom", { headers: { "x-echo-status": "503" } });
    expect(failing.status).toBe(503);
    expect(failing.headers.get("x-upstream")).toBe("a");
    await failing.arrayBuffer();
  });

  it("spreads requests over the cluster's hosts round robin", async () => {
    await pushConfig(bootstrap({ clusters: { a: [ports.a, ports.b] } }));
    const servers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await SELF.fetch("http://front.example/rr");
      servers.push(((await res.json()) as Echo).server);
    }
    expect(new Set(servers)).toEqual(new Set(["a", "b"]));
    expect(servers[0]).not.toBe(servers[1]);
    expect(servers[0]).toBe(servers[2]);
    expect(servers[1]).toBe(servers[3]);
  });

  it("honours load_balancing_weight with the cluster's ROUND_ROBIN balancer", async () => {
    const config = bootstrap({ clusters: { a: [ports.a, ports.b] } }) as {
      static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: Record<string, unknown>[] }[] } }[] };
    };
    const eps = config.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints;
    eps[0]!.load_balancing_weight = 3;
    await pushConfig(config);
    const counts = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const res = await SELF.fetch("http://front.example/w");
      const server = ((await res.json()) as Echo).server;
      counts.set(server, (counts.get(server) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ a: 6, b: 2 });
  });
});

describe("upstream failures", () => {
  it("answers 503 UF with Envoy's body when the upstream refuses the connection", async () => {
    await pushConfig(bootstrap({ clusters: { a: [ports.closed] } }));
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/x"));
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UF");
    expect(res.headers.get("content-type")).toBe("text/plain");
    expect(await res.text()).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    await settle();
    const v = handler.stats.values();
    expect(v.get("cluster.a.upstream_cx_connect_fail")).toBe(1);
    expect(v.get("cluster.a.upstream_rq_503")).toBe(1);
    expect(v.get("cluster.a.upstream_rq_total")).toBe(0);
    expect(v.get("http.ingress_http.downstream_rq_5xx")).toBe(1);
  });

  it("answers 503 UH 'no healthy upstream' when the cluster has no hosts", async () => {
    await pushConfig(bootstrap({ clusters: { a: [] } }));
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/x"));
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UH");
    expect(await res.text()).toBe("no healthy upstream");
    await settle();
    expect(handler.stats.values().get("cluster.a.upstream_cx_none_healthy")).toBe(1);
  });
});

describe("stats of proxied traffic", () => {
  it("charges Envoy's cluster and connection-manager stats", async () => {
    await pushConfig(bootstrap({ statPrefix: "edge_http" }));
    const handler = createEdgeHandler();
    for (const status of ["200", "200", "404"]) {
      const res = await call(handler, new Request("http://front.example/s", { headers: { "x-echo-status": status } }));
      await res.text();
    }
    await settle();
    const v = handler.stats.values();
    expect(v.get("cluster.a.upstream_rq_total")).toBe(3);
    expect(v.get("cluster.a.upstream_rq_200")).toBe(2);
    expect(v.get("cluster.a.upstream_rq_2xx")).toBe(2);
    expect(v.get("cluster.a.upstream_rq_404")).toBe(1);
    expect(v.get("cluster.a.upstream_rq_4xx")).toBe(1);
    expect(v.get("cluster.a.upstream_rq_completed")).toBe(3);
    expect(v.get("http.edge_http.downstream_rq_total")).toBe(3);
    expect(v.get("http.edge_http.downstream_rq_2xx")).toBe(2);
    expect(v.get("http.edge_http.downstream_rq_4xx")).toBe(1);
    expect(v.get("http.edge_http.downstream_rq_completed")).toBe(3);
    expect(v.get("http.edge_http.downstream_rq_active")).toBe(0);
    expect(handler.stats.textFormat(/upstream_rq_time/)).toMatch(/^cluster\.a\.upstream_rq_time: P0\(/);
  });
});
