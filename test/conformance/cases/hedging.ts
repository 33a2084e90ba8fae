/**
 * Hedging on per-try timeouts (`hedge_policy.hedge_on_per_try_timeout`): the timed-out attempt keeps
 * going while a retry races it, the first answer wins and the loser is cancelled. Small real delays
 * (100 ms per-try timeout, 250–300 ms upstream delays); outcomes and stats are asserted, never durations.
 */
import { describe, expect, it } from "vitest";
import { type Echo, echoCount, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { expectStats, FAST_BACK_OFF as FAST, send } from "../helpers.ts";

export default function hedging(ctx: ConformanceContext): void {
  describe("hedge_on_per_try_timeout", () => {
    it("keeps the first attempt on a per-try timeout, races a second, and cancels the loser", async () => {
      await ctx.loadConfig(routed(ctx, {
        vhost: { include_request_attempt_count: true },
        route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.1s", retry_back_off: FAST }, hedge_policy: { hedge_on_per_try_timeout: true } },
      }));
      const k = uniqueKey();
      // Both attempts take 300 ms: without hedging the first would be reset at 100 ms and the second too
      // (504). With hedging the first keeps going and answers first (it started 100 ms earlier).
      const { res, text } = await send(ctx, "/h", { headers: { "x-echo-key": k, "x-echo-delay-ms": "300" } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).headers["x-envoy-attempt-count"]).toBe("1");
      expect((await echoCount(ctx, k)).count).toBe(2);
      await expectStats(ctx, { "cluster.up.upstream_rq_per_try_timeout": 2, "cluster.up.upstream_rq_retry": 1, "cluster.up.upstream_rq_tx_reset": 1, "cluster.up.upstream_rq_200": 1 });
    });

    it("waits for the first attempt when no retry is left to hedge with", async () => {
      await ctx.loadConfig(routed(ctx, {
        route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 0, per_try_timeout: "0.1s" }, hedge_policy: { hedge_on_per_try_timeout: true } },
      }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/h", { headers: { "x-echo-key": k, "x-echo-delay-ms": "250" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-legate-response-flags")).toBe("URX");
      expect((await echoCount(ctx, k)).count).toBe(1);
    });
  });
}
