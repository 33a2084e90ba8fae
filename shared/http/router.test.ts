/**
 * The router against upstreams that behave differently per attempt (which the shared echo servers
 * cannot): the engine runs in Node over Node's fetch, with test servers on loopback.
 * - hedging: the faster of two racing attempts wins and the slower one is cancelled (its socket closes);
 * - a per-try timeout followed by a retry that succeeds;
 * - a retried POST sends the same body, with its length, on every attempt.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { compileBootstrap } from "../config/compile.ts";
import type { HttpConnectionManagerModel } from "../config/model.ts";
import { StatsStore } from "../stats/store.ts";
import { createHttpEngine, type HttpEngine } from "./engine.ts";
import { ProxyError } from "./errors.ts";
import type { AttemptRequest } from "./upstream-request.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

/** Node's fetch as an upstream transport (what the edge does with the Workers fetch). */
const nodeFetch: UpstreamTransport = {
  async fetch(req: AttemptRequest): Promise<Response> {
    req.headers.set("x-forwarded-host", req.authority);
    try {
      return await fetch(req.url, { method: req.method, headers: req.headers, body: req.bodyBytes ?? req.body, redirect: "manual", signal: req.signal, duplex: "half" } as RequestInit);
    } catch (e) {
      if (req.signal?.aborted) throw e;
      throw new ProxyError("upstream_connect_failure", String(e), { cause: e });
    }
  },
};

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function serve(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

function engineFor(port: number, route: Record<string, unknown>, stats = new StatsStore()): { engine: HttpEngine; stats: StatsStore } {
  const { model, issues } = compileBootstrap({
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress",
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], include_request_attempt_count: true, routes: [{ match: { prefix: "/" }, route: { cluster: "up", ...route } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
        } }] }],
      }],
      clusters: [{ name: "up", type: "STATIC", load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] } }],
    },
  });
  expect(issues).toEqual([]);
  const hcm = model!.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
  return { engine: createHttpEngine({ hcm, clusters: model!.clusters, transport: nodeFetch, stats }), stats };
}

describe("hedging on per-try timeout", () => {
  it("returns the faster attempt's response and cancels the slower one", async () => {
    let firstClosed!: () => void;
    const firstGone = new Promise<void>((r) => (firstClosed = r));
    const port = await serve((req, res) => {
      if (req.headers["x-envoy-attempt-count"] === "1") {
        // The first attempt stalls; it must be cancelled, never answered.
        res.on("close", () => firstClosed());
        return;
      }
      res.end(`attempt ${req.headers["x-envoy-attempt-count"]}`);
    });
    const { engine, stats } = engineFor(port, {
      timeout: "5s",
      retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.1s", retry_back_off: { base_interval: "0.001s" } },
      hedge_policy: { hedge_on_per_try_timeout: true },
    });
    const res = await engine.handle(new Request("http://front.example/h"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("attempt 2");
    await firstGone;
    const v = stats.values();
    expect(v.get("cluster.up.upstream_rq_per_try_timeout")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_retry")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_tx_reset")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_200")).toBe(1);
  });
});

describe("per-try timeout", () => {
  it("abandons the slow attempt and retries it under 5xx", async () => {
    const port = await serve((req, res) => {
      if (req.headers["x-envoy-attempt-count"] === "1") return; // never answers
      res.end(`attempt ${req.headers["x-envoy-attempt-count"]} is timeout retry: ${req.headers["x-envoy-is-timeout-retry"]}`);
    });
    const { engine, stats } = engineFor(port, { retry_policy: { retry_on: "5xx", per_try_timeout: "0.1s", retry_back_off: { base_interval: "0.001s" } } });
    const res = await engine.handle(new Request("http://front.example/p"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("attempt 2 is timeout retry: undefined");
    const v = stats.values();
    expect(v.get("cluster.up.upstream_rq_per_try_timeout")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_tx_reset")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_retry")).toBe(1);
    expect(v.get("cluster.up.upstream_rq_retry_success")).toBe(1);
  });
});

describe("retried request bodies", () => {
  it("sends the buffered body, with its length, on every attempt", async () => {
    const seen: { body: string; length: string | undefined; chunked: boolean }[] = [];
    const port = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ body: Buffer.concat(chunks).toString(), length: req.headers["content-length"], chunked: req.headers["transfer-encoding"] === "chunked" });
        res.statusCode = seen.length === 1 ? 503 : 200;
        res.end("ok");
      });
    });
    const { engine } = engineFor(port, { retry_policy: { retry_on: "5xx", retry_back_off: { base_interval: "0.001s" } } });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("hello "));
        c.enqueue(new TextEncoder().encode("world"));
        c.close();
      },
    });
    const res = await engine.handle(new Request("http://front.example/b", { method: "POST", body, duplex: "half" } as RequestInit));
    expect(res.status).toBe(200);
    await res.text();
    expect(seen).toEqual([
      { body: "hello world", length: "11", chunked: false },
      { body: "hello world", length: "11", chunked: false },
    ]);
  });
});

describe("request mirroring", () => {
  it("sends the shadow with -shadow on the Host's host part and the same body, and drops its answer", async () => {
    let shadowSeen!: (v: { host: string | undefined; body: string; method: string | undefined }) => void;
    const shadow = new Promise<{ host: string | undefined; body: string; method: string | undefined }>((r) => (shadowSeen = r));
    const port = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const host = req.headers["x-forwarded-host"] as string | undefined;
        if (host?.includes("-shadow")) {
          shadowSeen({ host, body: Buffer.concat(chunks).toString(), method: req.method });
          res.statusCode = 500;
          res.end("shadow answer");
        } else res.end("primary answer");
      });
    });
    const { engine, stats } = engineFor(port, { request_mirror_policies: [{ cluster: "up" }] });
    const res = await engine.handle(new Request("http://front.example:8080/m", { method: "PUT", body: "payload" }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("primary answer");
    expect(await shadow).toEqual({ host: "front.example-shadow:8080", body: "payload", method: "PUT" });
    for (let i = 0; i < 100 && (stats.values().get("cluster.up.upstream_rq_500") ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(stats.values().get("cluster.up.upstream_rq_500")).toBe(1);
  });

  it("hands the shadow to the runtime's waitUntil, which settles once the shadow is done", async () => {
    let shadows = 0;
    const port = await serve((req, res) => {
      if ((req.headers["x-forwarded-host"] as string | undefined)?.includes("-shadow")) shadows++;
      res.end("ok");
    });
    const { engine } = engineFor(port, { request_mirror_policies: [{ cluster: "up" }] });
    const kept: Promise<unknown>[] = [];
    const res = await engine.handle(new Request("http://front.example/w"), { waitUntil: (p) => void kept.push(p) });
    expect(await res.text()).toBe("ok");
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    expect(shadows).toBe(1);
  });
});
