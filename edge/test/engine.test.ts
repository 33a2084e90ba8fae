/**
 * The shared HTTP engine's filter contract, run in workerd against the loopback upstream: decode in
 * config order, encode in reverse, local replies, body transforms, onStreamComplete exactly once.
 */
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import type { HttpConnectionManagerModel, HttpFilterModel } from "../../shared/config/model.ts";
import { createHttpEngine, type HttpEngine } from "../../shared/http/engine.ts";
import { ProxyError } from "../../shared/http/errors.ts";
import type { HttpFilter, HttpFilterFactory } from "../../shared/http/filter.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { fetchTransport } from "../src/upstream-transport.ts";
import { bootstrap, type Echo, ports } from "./helpers.ts";

const TEST_FILTER = "type.googleapis.com/legate.test.RecordingFilter";

/** Appends `suffix` to the end of a byte stream. */
function appending(suffix: string): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({ flush: (c) => c.enqueue(new TextEncoder().encode(suffix)) });
}

/** Builds an engine whose chain is `names` (recording filters), then the router. */
function engineWith(names: string[], log: string[], stats = new StatsStore()): HttpEngine {
  const { model } = compileBootstrap(bootstrap({ clusters: { a: [ports.a] } }));
  const listener = model!.listeners.find((l) => l.edge)!;
  const hcm = listener.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
  const filters: HttpFilterModel[] = names.map((name) => ({ name, typeUrl: TEST_FILTER, config: {} }));
  const recording = (f: HttpFilterModel): HttpFilterFactory => ({
    name: f.name,
    create(): HttpFilter {
      const n = f.name;
      return {
        decodeHeaders(stream) {
          log.push(`${n}.decodeHeaders`);
          stream.requestHeaders.append("x-filters", n);
          if (stream.requestHeaders.get("x-reply-from") === n) return { status: 429, body: `reply from ${n}`, responseFlag: "RL", details: "test" };
          if (stream.requestHeaders.get("x-throw-from") === n) throw new ProxyError("no_healthy_upstream");
        },
        decodeBody() {
          log.push(`${n}.decodeBody`);
          return appending(`+${n}`);
        },
        encodeHeaders(stream, head) {
          log.push(`${n}.encodeHeaders`);
          head.headers.append("x-encoded-by", n);
        },
        encodeBody() {
          log.push(`${n}.encodeBody`);
          return appending(`<${n}`);
        },
        onStreamComplete(stream) {
          log.push(`${n}.complete:${stream.info.endReason}:${stream.info.responseCode}:${stream.info.responseFlags.join(",")}`);
        },
      };
    },
  });
  return createHttpEngine({
    hcm: { ...hcm, httpFilters: [...filters, ...hcm.httpFilters] },
    clusters: model!.clusters,
    transport: fetchTransport,
    stats,
    filters: new Map([[TEST_FILTER, recording]]),
  });
}

/** Waits (bounded) until `log` has `n` entries: completion runs after the body is consumed. */
async function waitFor(log: string[], n: number): Promise<void> {
  for (let i = 0; i < 100 && log.length < n; i++) await new Promise((r) => setTimeout(r, 5));
}

describe("filter chain", () => {
  it("decodes in config order, encodes in reverse, and pipes bodies through the transforms", async () => {
    const log: string[] = [];
    const engine = engineWith(["A", "B"], log);
    const res = await engine.handle(new Request("http://front.example/chain", { method: "POST", body: "req" }));
    const text = await res.text();
    const echo = JSON.parse(text.slice(0, text.lastIndexOf("}") + 1)) as Echo;
    expect(echo.body).toBe("req+A+B");
    expect(echo.headers["x-filters"]).toBe("A, B");
    expect(text.slice(text.lastIndexOf("}") + 1)).toBe("<B<A");
    expect(res.headers.get("x-encoded-by")).toBe("B, A");
    await waitFor(log, 10);
    expect(log).toEqual([
      "A.decodeHeaders", "B.decodeHeaders", "A.decodeBody", "B.decodeBody",
      "B.encodeHeaders", "A.encodeHeaders", "B.encodeBody", "A.encodeBody",
      "A.complete:complete:200:", "B.complete:complete:200:",
    ]);
  });

  it("stops decoding at a local reply, which still passes every encode phase", async () => {
    const log: string[] = [];
    const engine = engineWith(["A", "B"], log);
    const res = await engine.handle(new Request("http://front.example/x", { headers: { "x-reply-from": "A" } }));
    expect(res.status).toBe(429);
    expect(res.headers.get("x-encoded-by")).toBe("B, A");
    expect(await res.text()).toBe("reply from A<B<A");
    await waitFor(log, 7);
    expect(log).toEqual([
      "A.decodeHeaders",
      "B.encodeHeaders", "A.encodeHeaders", "B.encodeBody", "A.encodeBody",
      "A.complete:complete:429:RL", "B.complete:complete:429:RL",
    ]);
  });

  it("turns a ProxyError thrown by a filter into Envoy's local reply", async () => {
    const log: string[] = [];
    const engine = engineWith([], log);
    const withThrower = engineWith(["A"], log);
    const res = await withThrower.handle(new Request("http://front.example/x", { headers: { "x-throw-from": "A" } }));
    expect(res.status).toBe(503);
    expect(res.headers.get("x-legate-response-flags")).toBe("UH");
    expect(await res.text()).toBe("no healthy upstream<A");
    const ok = await engine.handle(new Request("http://front.example/x"));
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("completes the stream once, as reset with flag DC, when the downstream cancels the body", async () => {
    const log: string[] = [];
    const engine = engineWith(["A"], log);
    const id = crypto.randomUUID();
    const res = await engine.handle(new Request(`http://front.example/stream?id=${id}`));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await waitFor(log, 4);
    await (await fetch(`http://127.0.0.1:${ports.a}/release?id=${id}`)).text();
    expect(log.filter((l) => l.includes("complete"))).toEqual(["A.complete:reset:200:DC"]);
  });

  it("refuses to build a chain with a filter this tier does not run", () => {
    const { model } = compileBootstrap(bootstrap());
    const hcm = model!.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
    const unknown = { name: "envoy.filters.http.unknown", typeUrl: "type.googleapis.com/unknown.Filter", config: {} };
    expect(() => createHttpEngine({ hcm: { ...hcm, httpFilters: [unknown, ...hcm.httpFilters] }, clusters: model!.clusters, transport: fetchTransport, stats: new StatsStore() }))
      .toThrow(/not available in this tier/);
  });
});
