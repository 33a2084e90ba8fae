/**
 * Route timeouts, per-try timeouts, idle timeouts and max_stream_duration. Timeouts need time: the
 * values are small (100–200 ms) against upstream delays well beyond them, and the cases assert
 * outcomes and stats, never durations.
 */
import { describe, expect, it } from "vitest";
import { type Echo, echoCount, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { expectStats, FAST_BACK_OFF as FAST, readUntilReset, send, statOr0 } from "../helpers.ts";

export default function timeouts(ctx: ConformanceContext): void {
  describe("route timeout", () => {
    it("answers 504 UT 'upstream request timeout' when no response headers come in time", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "0.1s" } }));
      const { res, text } = await send(ctx, "/t", { headers: { "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect(res.headers.get("x-legate-response-flags")).toBe("UT");
      expect(text).toBe("upstream request timeout");
      await expectStats(ctx, { "cluster.up.upstream_rq_timeout": 1, "cluster.up.upstream_rq_504": 1, "cluster.up.upstream_rq_tx_reset": 1 });
    });

    it("is never retried, even under 5xx", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "0.1s", retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/t", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect((await echoCount(ctx, k)).count).toBe(1);
      expect(await statOr0(ctx, "cluster.up.upstream_rq_retry")).toBe(0);
    });

    it("covers the response body: a body that outlasts it is reset", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "0.15s" } }));
      const res = await ctx.request(new Request("http://front.example/t", { headers: { "x-echo-body-delay-ms": "800" } }));
      expect(res.status).toBe(200);
      expect(await readUntilReset(res)).toBeDefined();
      await ctx.settle();
      await expectStats(ctx, { "cluster.up.upstream_rq_timeout": 1, "cluster.up.upstream_rq_tx_reset": 1 });
    });

    it("is disabled by 0s", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "0s" } }));
      const { res, text } = await send(ctx, "/t", { headers: { "x-echo-delay-ms": "50" } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]).toBeUndefined();
    });

    it("tells the upstream how long it has in x-envoy-expected-rq-timeout-ms", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "2s" } }));
      const { text } = await send(ctx, "/t");
      const expected = Number((JSON.parse(text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]);
      expect(expected).toBeGreaterThan(0);
      expect(expected).toBeLessThanOrEqual(2000);
      await ctx.loadConfig(routed(ctx, { route: { timeout: "2s", retry_policy: { retry_on: "5xx", per_try_timeout: "0.5s" } } }));
      expect((JSON.parse((await send(ctx, "/t")).text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]).toBe("500");
    });
  });

  describe("per-try timeout", () => {
    it("retries an attempt that timed out under 5xx, then answers 504 UT with URX when retries run out", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.1s", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/p", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect(text).toBe("upstream request timeout");
      expect(res.headers.get("x-legate-response-flags")).toBe("UT,URX");
      expect((await echoCount(ctx, k)).count).toBe(2);
      await expectStats(ctx, {
        "cluster.up.upstream_rq_per_try_timeout": 2,
        "cluster.up.upstream_rq_retry": 1,
        "cluster.up.upstream_rq_retry_limit_exceeded": 1,
        "cluster.up.upstream_rq_tx_reset": 2,
        "cluster.up.upstream_rq_timeout": 0,
      });
    });

    it("is not retried when retry_on has no 5xx, gateway-error or reset", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "retriable-4xx", per_try_timeout: "0.1s" } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/p", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect(res.headers.get("x-legate-response-flags")).toBe("UT");
      expect((await echoCount(ctx, k)).count).toBe(1);
    });

    it("per_try_idle_timeout resets a response body that stalls", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "5xx", per_try_idle_timeout: "0.1s" } } }));
      const res = await ctx.request(new Request("http://front.example/p", { headers: { "x-echo-body-delay-ms": "600" } }));
      expect(res.status).toBe(200);
      expect(await readUntilReset(res, "reader")).toBeDefined();
      await ctx.settle();
      expect(await statOr0(ctx, "cluster.up.upstream_rq_per_try_idle_timeout")).toBe(1);
    });
  });

  describe("idle_timeout and max_stream_duration", () => {
    it("answers 504 SI 'stream timeout' when the stream idles before response headers (the request was whole)", async () => {
      await ctx.loadConfig(routed(ctx, { route: { idle_timeout: "0.1s" } }));
      const { res, text } = await send(ctx, "/i", { headers: { "x-echo-delay-ms": "600" } });
      // Envoy answers 408 only while the request is still arriving (Utility::maybeRequestTimeoutCode).
      expect(res.status).toBe(504);
      expect(res.headers.get("x-legate-response-flags")).toBe("SI");
      expect(text).toBe("stream timeout");
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
    });

    it("resets a response body that idles", async () => {
      await ctx.loadConfig(routed(ctx, { route: { idle_timeout: "0.1s" } }));
      const res = await ctx.request(new Request("http://front.example/i", { headers: { "x-echo-body-delay-ms": "600" } }));
      expect(res.status).toBe(200);
      expect(await readUntilReset(res, "reader")).toBeDefined();
      await ctx.settle();
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
    });

    it("answers 504 DT when max_stream_duration elapses first (the request was whole)", async () => {
      await ctx.loadConfig(routed(ctx, { route: { max_stream_duration: { max_stream_duration: "0.1s" } } }));
      const { res, text } = await send(ctx, "/m", { headers: { "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      expect(res.headers.get("x-legate-response-flags")).toBe("DT");
      expect(text).toBe("downstream duration timeout");
      expect(await statOr0(ctx, "http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
    });
  });
}
