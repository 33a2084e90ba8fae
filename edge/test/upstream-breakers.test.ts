import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { call, ports, pushConfig, settle } from "./helpers.ts";
import { admin, bootstrapWith, stat, withToken } from "./upstream-helpers.ts";

const OVERFLOW_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow";

async function expectOverflow(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("x-envoy-overloaded")).toBe("true");
  expect(res.headers.get("x-legate-response-flags")).toBe("UO");
  expect(await res.text()).toBe(OVERFLOW_BODY);
}

describe("circuit breakers at the edge (per isolate)", () => {
  it("max_requests: while one request streams from /stream, the next overflows with 503 UO", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, { a: { circuit_breakers: { thresholds: [{ max_requests: 1, track_remaining: true }] } } }));
    const handler = createEdgeHandler();
    const id = `cb-rq-${crypto.randomUUID()}`;
    const held = await call(handler, new Request(`http://front.example/stream?id=${id}`), withToken);
    expect(held.status).toBe(200);
    const reader = held.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
    expect(stat(handler, "cluster.a.circuit_breakers.default.rq_open")).toBe(1);
    expect(stat(handler, "cluster.a.circuit_breakers.default.remaining_rq")).toBe(0);

    await expectOverflow(await call(handler, new Request("http://front.example/other"), withToken));
    await expectOverflow(await call(handler, new Request("http://front.example/other"), withToken));
    expect(stat(handler, "cluster.a.upstream_rq_pending_overflow")).toBe(2);
    expect(await (await admin(handler, "/clusters")).text()).toContain("a::default_priority::rq_open::1\n");

    // Release the held response upstream, finish reading it: the slot comes back.
    await (await fetch(`http://127.0.0.1:${ports.a}/release?id=${id}`)).text();
    let rest = "";
    for (let i = 0; i < 10; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe("second\n");
    await settle();
    expect(stat(handler, "cluster.a.circuit_breakers.default.rq_open")).toBe(0);
    expect(stat(handler, "cluster.a.circuit_breakers.default.remaining_rq")).toBe(1);
    const ok = await call(handler, new Request("http://front.example/after"), withToken);
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("max_pending_requests: an attempt still waiting for headers holds the pending slot", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, { a: { circuit_breakers: { thresholds: [{ max_pending_requests: 1 }] } } }));
    const handler = createEdgeHandler();
    const slow = call(handler, new Request("http://front.example/slow", { headers: { "x-echo-delay-ms": "300" } }), withToken);
    // Let the slow attempt start before the second request arrives.
    for (let i = 0; i < 50 && stat(handler, "cluster.a.circuit_breakers.default.rq_pending_open") !== 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(stat(handler, "cluster.a.circuit_breakers.default.rq_pending_open")).toBe(1);
    await expectOverflow(await call(handler, new Request("http://front.example/fast"), withToken));
    expect(stat(handler, "cluster.a.upstream_rq_pending_overflow")).toBe(1);
    const first = await slow;
    expect(first.status).toBe(200);
    await first.text();
    await settle();
    expect(stat(handler, "cluster.a.circuit_breakers.default.rq_pending_open")).toBe(0);
  });

  it("max_connections: counts upstream_cx_overflow", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, { a: { circuit_breakers: { thresholds: [{ max_connections: 1 }] } } }));
    const handler = createEdgeHandler();
    const id = `cb-cx-${crypto.randomUUID()}`;
    const held = await call(handler, new Request(`http://front.example/stream?id=${id}`), withToken);
    await expectOverflow(await call(handler, new Request("http://front.example/other"), withToken));
    expect(stat(handler, "cluster.a.upstream_cx_overflow")).toBe(1);
    expect(stat(handler, "cluster.a.circuit_breakers.default.cx_open")).toBe(1);
    await (await fetch(`http://127.0.0.1:${ports.a}/release?id=${id}`)).text();
    expect(await held.text()).toBe("first\nsecond\n");
    await settle();
    expect(stat(handler, "cluster.a.circuit_breakers.default.cx_open")).toBe(0);
  });
});
