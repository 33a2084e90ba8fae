/**
 * A cluster's circuit_breakers (default priority): max_requests, max_pending_requests and
 * max_connections overflow with Envoy's 503 UO reply and `x-envoy-overloaded`, their gauges
 * (rq_open, rq_pending_open, cx_open, remaining_rq with track_remaining) follow the requests in flight,
 * and a slot comes back when its request ends. The breaker state is per proxy instance (at the edge:
 * per isolate). A request held open by the echo servers' `/stream?id=` (until `/release`) keeps a slot.
 */
import { describe, expect, it } from "vitest";
import { bootstrap, type Json, release } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { awaitStat, readRest, statOr0 } from "../helpers.ts";

const OVERFLOW_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow";
const CB = "cluster.a.circuit_breakers.default.";

async function expectOverflow(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(res.headers.get("x-envoy-overloaded")).toBe("true");
  expect(res.headers.get("x-legate-response-flags")).toBe("UO");
  expect(await res.text()).toBe(OVERFLOW_BODY);
}

export default function circuitBreakers(ctx: ConformanceContext): void {
  const withBreaker = (threshold: Json) => bootstrap(ctx, { clusters: { a: { ports: [ctx.upstreamPorts[0]!], circuit_breakers: { thresholds: [threshold] } } } });
  const get = (path: string, headers: Record<string, string> = {}) => ctx.request(new Request(`http://front.example${path}`, { headers }));

  describe("circuit breakers", () => {
    it("max_requests: while one request streams from /stream, the next overflows with 503 UO", async () => {
      await ctx.loadConfig(withBreaker({ max_requests: 1, track_remaining: true }));
      const id = `cb-rq-${crypto.randomUUID()}`;
      const held = await get(`/stream?id=${id}`);
      expect(held.status).toBe(200);
      const reader = held.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
      expect(await ctx.stat(`${CB}rq_open`)).toBe(1);
      expect(await ctx.stat(`${CB}remaining_rq`)).toBe(0);

      await expectOverflow(await get("/other"));
      await expectOverflow(await get("/other"));
      expect(await ctx.stat("cluster.a.upstream_rq_pending_overflow")).toBe(2);

      // Release the held response upstream, finish reading it: the slot comes back.
      await release(ctx, id);
      expect(await readRest(reader)).toBe("second\n");
      await ctx.settle();
      expect(await ctx.stat(`${CB}rq_open`)).toBe(0);
      expect(await ctx.stat(`${CB}remaining_rq`)).toBe(1);
      const ok = await get("/after");
      expect(ok.status).toBe(200);
      await ok.text();
    });

    it("max_pending_requests: an attempt still waiting for headers holds the pending slot", async () => {
      await ctx.loadConfig(withBreaker({ max_pending_requests: 1 }));
      const slow = get("/slow", { "x-echo-delay-ms": "300" });
      // Let the slow attempt start before the second request arrives.
      expect(await awaitStat(ctx, `${CB}rq_pending_open`, 1)).toBe(1);
      await expectOverflow(await get("/fast"));
      expect(await ctx.stat("cluster.a.upstream_rq_pending_overflow")).toBe(1);
      const first = await slow;
      expect(first.status).toBe(200);
      await first.text();
      await ctx.settle();
      expect(await statOr0(ctx, `${CB}rq_pending_open`)).toBe(0);
    });

    it("max_connections: counts upstream_cx_overflow", async () => {
      await ctx.loadConfig(withBreaker({ max_connections: 1 }));
      const id = `cb-cx-${crypto.randomUUID()}`;
      const held = await get(`/stream?id=${id}`);
      await expectOverflow(await get("/other"));
      expect(await ctx.stat("cluster.a.upstream_cx_overflow")).toBe(1);
      expect(await ctx.stat(`${CB}cx_open`)).toBe(1);
      await release(ctx, id);
      expect(await held.text()).toBe("first\nsecond\n");
      await ctx.settle();
      expect(await ctx.stat(`${CB}cx_open`)).toBe(0);
    });
  });
}
