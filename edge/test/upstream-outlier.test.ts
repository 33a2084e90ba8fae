import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { call, ports, pushConfig, settle } from "./helpers.ts";
import { admin, bootstrapWith, hostLines, sleep, stat, withToken } from "./upstream-helpers.ts";

const OD = "cluster.a.outlier_detection.";

async function get(handler: ReturnType<typeof createEdgeHandler>, headers: Record<string, string> = {}): Promise<{ status: number; server: string | null }> {
  const res = await call(handler, new Request("http://front.example/od", { headers }), withToken);
  await res.text();
  return { status: res.status, server: res.headers.get("x-upstream") };
}

describe("outlier detection at the edge (per isolate, sweeps on traffic)", () => {
  it("ejects a host after consecutive 5xx, routes around it, and returns it after base_ejection_time", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a, ports.b] } }, {
      a: { outlier_detection: { consecutive_5xx: 3, interval: "0.1s", base_ejection_time: "0.2s", max_ejection_percent: 50 } },
    }));
    const handler = createEdgeHandler();
    // Round robin alternates the two hosts; every answer is a steered 500. The first host to reach three
    // consecutive 5xx is ejected; the other would take ejections to 100 % (> 50 %): overflow.
    const servers: (string | null)[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await get(handler, { "x-echo-status": "500" });
      expect(r.status).toBe(500);
      servers.push(r.server);
    }
    await settle();
    const ejected = servers[0]!;
    const survivor = ejected === "a" ? "b" : "a";
    const ejectedPort = ejected === "a" ? ports.a : ports.b;
    expect(stat(handler, `${OD}ejections_active`)).toBe(1);
    expect(stat(handler, `${OD}ejections_enforced_consecutive_5xx`)).toBe(1);
    expect(stat(handler, `${OD}ejections_detected_consecutive_5xx`)).toBe(2);
    expect(stat(handler, `${OD}ejections_overflow`)).toBe(1);
    const text = await (await admin(handler, "/clusters")).text();
    expect(hostLines(text, "a", `127.0.0.1:${ejectedPort}`)).toContain("health_flags::/failed_outlier_check");

    // While ejected, everything goes to the survivor.
    for (let i = 0; i < 4; i++) expect((await get(handler)).server).toBe(survivor);

    // After base_ejection_time (0.2 s) the next sweep (every 0.1 s, run on the next request) returns it.
    let back = false;
    for (let i = 0; i < 40 && !back; i++) {
      await sleep(25);
      back = (await get(handler)).server === ejected;
    }
    expect(back).toBe(true);
    await settle();
    expect(stat(handler, `${OD}ejections_active`)).toBe(0);
    expect(hostLines(await (await admin(handler, "/clusters")).text(), "a", `127.0.0.1:${ejectedPort}`)).toContain("health_flags::healthy");
  });

  it("a cluster whose only host is ejected (max_ejection_percent 100) is in panic and still serves it", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, {
      a: { outlier_detection: { consecutive_5xx: 2, interval: "10s", base_ejection_time: "10s", max_ejection_percent: 100 } },
    }));
    const handler = createEdgeHandler();
    await get(handler, { "x-echo-status": "502" });
    await get(handler, { "x-echo-status": "503" });
    await settle();
    expect(stat(handler, `${OD}ejections_active`)).toBe(1);
    // 0 % healthy < 50 % panic threshold: Envoy balances over all hosts rather than failing.
    const r = await get(handler);
    expect(r).toEqual({ status: 200, server: "a" });
  });
});
