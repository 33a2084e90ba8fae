/**
 * A cluster's outlier_detection: consecutive 5xx eject a host (counted as detected and enforced, capped
 * by max_ejection_percent: overflow), traffic routes around it, and it comes back once
 * base_ejection_time has passed (the interval's sweep runs on traffic, so a request after the time
 * returns it). A cluster whose every host is ejected is in panic and still serves. Timing uses small
 * real intervals (100–200 ms) and bounded polling; outcomes are asserted, never durations.
 */
import { describe, expect, it } from "vitest";
import { bootstrap, type Json } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { sleep, statOr0 } from "../helpers.ts";

const OD = "cluster.a.outlier_detection.";

export default function outlierDetection(ctx: ConformanceContext): void {
  const withDetection = (ports: number[], detection: Json) => bootstrap(ctx, { clusters: { a: { ports, outlier_detection: detection } } });

  async function get(headers: Record<string, string> = {}): Promise<{ status: number; server: string | null }> {
    const res = await ctx.request(new Request("http://front.example/od", { headers }));
    await res.text();
    return { status: res.status, server: res.headers.get("x-upstream") };
  }

  describe("outlier detection", () => {
    it("ejects a host after consecutive 5xx, routes around it, and returns it after base_ejection_time", async () => {
      await ctx.loadConfig(withDetection([ctx.upstreamPorts[0]!, ctx.upstreamPorts[1]!], { consecutive_5xx: 3, interval: "0.1s", base_ejection_time: "0.2s", max_ejection_percent: 50 }));
      // Round robin alternates the two hosts; every answer is a steered 500. The first host to reach three
      // consecutive 5xx is ejected; the other would take ejections to 100 % (> 50 %): overflow.
      const servers: (string | null)[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await get({ "x-echo-status": "500" });
        expect(r.status).toBe(500);
        servers.push(r.server);
      }
      await ctx.settle();
      const ejected = servers[0]!;
      const survivor = ejected === "a" ? "b" : "a";
      expect(await statOr0(ctx, `${OD}ejections_active`)).toBe(1);
      expect(await statOr0(ctx, `${OD}ejections_enforced_consecutive_5xx`)).toBe(1);
      expect(await statOr0(ctx, `${OD}ejections_detected_consecutive_5xx`)).toBe(2);
      expect(await statOr0(ctx, `${OD}ejections_overflow`)).toBe(1);

      // While ejected, everything goes to the survivor.
      for (let i = 0; i < 4; i++) expect((await get()).server).toBe(survivor);

      // After base_ejection_time (0.2 s) the next sweep (every 0.1 s, run on the next request) returns it.
      let back = false;
      for (let i = 0; i < 40 && !back; i++) {
        await sleep(25);
        back = (await get()).server === ejected;
      }
      expect(back).toBe(true);
      await ctx.settle();
      expect(await statOr0(ctx, `${OD}ejections_active`)).toBe(0);
    });

    it("a cluster whose only host is ejected (max_ejection_percent 100) is in panic and still serves it", async () => {
      await ctx.loadConfig(withDetection([ctx.upstreamPorts[0]!], { consecutive_5xx: 2, interval: "10s", base_ejection_time: "10s", max_ejection_percent: 100 }));
      await get({ "x-echo-status": "502" });
      await get({ "x-echo-status": "503" });
      await ctx.settle();
      expect(await statOr0(ctx, `${OD}ejections_active`)).toBe(1);
      // 0 % healthy < 50 % panic threshold: Envoy balances over all hosts rather than failing.
      const r = await get();
      expect(r).toEqual({ status: 200, server: "a" });
    });
  });
}
