/**
 * request_mirror_policies: the shadow reaches its cluster (counted there and in its stats), and nothing
 * about it reaches the primary response. The shadow is waitUntil work, so it is done once
 * `ctx.settle()` returns. What the shadow carries (`-shadow` Host, body) is checked in
 * shared/http/router.test.ts, where the test server can record it.
 */
import { describe, expect, it } from "vitest";
import { type Echo, echoCount, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { expectStats, send, statOr0 } from "../helpers.ts";

export default function mirroring(ctx: ConformanceContext): void {
  const [a, b, c] = [() => ctx.upstreamPorts[0]!, () => ctx.upstreamPorts[1]!, () => ctx.upstreamPorts[2]!];

  describe("request mirroring", () => {
    it("sends a shadow copy to the mirror cluster, and answers from the primary", async () => {
      await ctx.loadConfig(routed(ctx, { clusters: { up: [a()], shadow: [b()] }, route: { request_mirror_policies: [{ cluster: "shadow" }] } }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/m?q=1", { method: "POST", body: "mirrored body", headers: { "x-echo-key": k, host: "front.example:8080" } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).server).toBe("a");
      // The shadow's answer is read and dropped by the router, and charged to its cluster (read first:
      // send() settled, so the shadow is done without waiting for anything else).
      await expectStats(ctx, { "cluster.shadow.upstream_rq_total": 1, "cluster.shadow.upstream_rq_200": 1, "cluster.up.upstream_rq_200": 1 });
      expect((await echoCount(ctx, k)).servers).toEqual({ a: 1, b: 1 });
    });

    it("never lets a failing shadow touch the primary response", async () => {
      await ctx.loadConfig(routed(ctx, { clusters: { up: [a()], shadow: [ctx.closedPort] }, route: { request_mirror_policies: [{ cluster: "shadow" }] } }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/m", { headers: { "x-echo-key": k } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).server).toBe("a");
      await expectStats(ctx, { "cluster.shadow.upstream_cx_connect_fail": 1, "cluster.shadow.upstream_rq_503": 1 });
      expect(res.headers.get("x-legate-response-flags")).toBeNull();
    });

    it("does not mirror when runtime_fraction is 0, nor a body too large to buffer", async () => {
      await ctx.loadConfig(routed(ctx, {
        clusters: { up: [a()], shadow: [b()] },
        route: { request_mirror_policies: [{ cluster: "shadow", runtime_fraction: { default_value: { numerator: 0 } } }] },
      }));
      const k = uniqueKey();
      await send(ctx, "/m", { headers: { "x-echo-key": k } });
      await ctx.loadConfig(routed(ctx, {
        clusters: { up: [a()], shadow: [b()] },
        routeEntry: { per_request_buffer_limit_bytes: 8 },
        route: { request_mirror_policies: [{ cluster: "shadow" }] },
      }));
      await send(ctx, "/m", { method: "POST", body: "more than eight bytes", headers: { "x-echo-key": k } });
      // send() settled each request's waitUntil work: any shadow would have been sent by now.
      expect((await echoCount(ctx, k)).servers).toEqual({ a: 2 });
      expect(await statOr0(ctx, "cluster.up.retry_or_shadow_abandoned")).toBe(1);
      expect(await statOr0(ctx, "cluster.shadow.upstream_rq_total")).toBe(0);
    });

    it("mirrors to the cluster a cluster_header names, and not when the header is missing", async () => {
      await ctx.loadConfig(routed(ctx, { clusters: { up: [a()], shadow: [c()] }, route: { request_mirror_policies: [{ cluster_header: "x-mirror-cluster" }] } }));
      const k = uniqueKey();
      await send(ctx, "/m", { headers: { "x-echo-key": k, "x-mirror-cluster": "shadow" } });
      await send(ctx, "/m", { headers: { "x-echo-key": k } });
      await send(ctx, "/m", { headers: { "x-echo-key": k, "x-mirror-cluster": "nowhere" } });
      expect((await echoCount(ctx, k)).servers).toEqual({ a: 3, c: 1 });
    });
  });
}
