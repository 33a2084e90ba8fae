/**
 * The x-envoy request controls (x-envoy-retry-on, x-envoy-max-retries, x-envoy-upstream-rq-timeout-ms,
 * x-envoy-upstream-rq-per-try-timeout-ms, x-envoy-retriable-status-codes, x-envoy-hedge-on-per-try-timeout):
 * honoured from internal (trusted) clients, as the HCM decides it (a single internal address in
 * x-forwarded-for, with use_remote_address off), ignored from external ones, and never forwarded
 * upstream either way.
 */
import { describe, expect, it } from "vitest";
import { type Echo, echoCount, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { EXTERNAL_CLIENT as EXTERNAL, INTERNAL_CLIENT as INTERNAL, send, statOr0 } from "../helpers.ts";

export default function requestControls(ctx: ConformanceContext): void {
  describe("request controls", () => {
    it("retries on x-envoy-retry-on / x-envoy-max-retries from an internal client, and strips them", async () => {
      await ctx.loadConfig(routed(ctx));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/c", {
        headers: { ...INTERNAL, "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "2", "x-echo-key": k, "x-echo-fail-times": "2" },
      });
      expect(res.status).toBe(200);
      const echo = JSON.parse(text) as Echo;
      expect(echo.headers["x-envoy-retry-on"]).toBeUndefined();
      expect(echo.headers["x-envoy-max-retries"]).toBeUndefined();
      expect((await echoCount(ctx, k)).count).toBe(3);
      expect(await statOr0(ctx, "cluster.up.upstream_rq_retry")).toBe(2);
    });

    it("ignores the same headers from an external client (and does not forward them)", async () => {
      await ctx.loadConfig(routed(ctx));
      const k = uniqueKey();
      const { res } = await send(ctx, "/c", {
        headers: { ...EXTERNAL, "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "2", "x-echo-key": k, "x-echo-fail-times": "2" },
      });
      expect(res.status).toBe(503);
      expect((await echoCount(ctx, k)).count).toBe(1);
      const ok = await send(ctx, "/c", { headers: { ...EXTERNAL, "x-envoy-retry-on": "5xx" } });
      expect((JSON.parse(ok.text) as Echo).headers["x-envoy-retry-on"]).toBeUndefined();
    });

    it("x-envoy-upstream-rq-timeout-ms replaces the route timeout for internal clients only", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "5s" } }));
      const internal = await send(ctx, "/c", { headers: { ...INTERNAL, "x-envoy-upstream-rq-timeout-ms": "100", "x-echo-delay-ms": "600" } });
      expect(internal.res.status).toBe(504);
      expect(internal.text).toBe("upstream request timeout");
      const external = await send(ctx, "/c", { headers: { ...EXTERNAL, "x-envoy-upstream-rq-timeout-ms": "100", "x-echo-delay-ms": "300" } });
      expect(external.res.status).toBe(200);
      expect((JSON.parse(external.text) as Echo).headers["x-envoy-upstream-rq-timeout-ms"]).toBeUndefined();
    });

    it("x-envoy-upstream-rq-per-try-timeout-ms sets a per-try timeout; x-envoy-retriable-status-codes adds codes", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "5s" } }));
      const k = uniqueKey();
      const perTry = await send(ctx, "/c", {
        headers: { ...INTERNAL, "x-envoy-retry-on": "5xx", "x-envoy-upstream-rq-per-try-timeout-ms": "100", "x-echo-key": k, "x-echo-delay-ms": "600" },
      });
      expect(perTry.res.status).toBe(504);
      expect(perTry.res.headers.get("x-legate-response-flags")).toBe("UT,URX");
      expect((await echoCount(ctx, k)).count).toBe(2);
      expect(await statOr0(ctx, "cluster.up.upstream_rq_per_try_timeout")).toBe(2);

      const k2 = uniqueKey();
      const codes = await send(ctx, "/c", {
        headers: { ...INTERNAL, "x-envoy-retry-on": "retriable-status-codes", "x-envoy-retriable-status-codes": "418", "x-echo-key": k2, "x-echo-fail-times": "1", "x-echo-fail-status": "418" },
      });
      expect(codes.res.status).toBe(200);
      expect((await echoCount(ctx, k2)).count).toBe(2);
    });

    it("x-envoy-hedge-on-per-try-timeout turns hedging on for an internal client", async () => {
      await ctx.loadConfig(routed(ctx, { route: { timeout: "3s", retry_policy: { retry_on: "5xx", per_try_timeout: "0.1s", retry_back_off: { base_interval: "0.001s" } } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/c", { headers: { ...INTERNAL, "x-envoy-hedge-on-per-try-timeout": "true", "x-echo-key": k, "x-echo-delay-ms": "300" } });
      expect(res.status).toBe(200);
      expect((await echoCount(ctx, k)).count).toBe(2);
      expect(await statOr0(ctx, "cluster.up.upstream_rq_tx_reset")).toBe(1);
    });
  });
}
