import { describe, expect, it } from "vitest";
import { xxHash64 } from "../lb/xxhash64.ts";
import type { ClusterLbConfigModel, EndpointModel, LbPolicy } from "../config/model.ts";
import { createStaticRuntime } from "../runtime/runtime.ts";
import { StatsStore } from "../stats/store.ts";
import { ClusterRuntime, type UpstreamHost } from "./cluster.ts";
import { computePriorityLoad, DEFAULT_LB_CONFIG } from "./load-balancing.ts";
import { clusterModel, endpoint, seeded, tally } from "./test-helpers.ts";

const lbConfig = (over: Partial<ClusterLbConfigModel> = {}): ClusterLbConfigModel => ({ ...structuredClone(DEFAULT_LB_CONFIG), ...over });

function cluster(endpoints: EndpointModel[], opts: { policy?: LbPolicy; lb?: Partial<ClusterLbConfigModel>; seed?: number; runtime?: Map<string, number> } = {}) {
  return new ClusterRuntime(
    clusterModel("c", endpoints, { lbPolicy: opts.policy ?? "ROUND_ROBIN", lbConfig: lbConfig(opts.lb) }),
    new StatsStore(),
    opts.runtime ? createStaticRuntime(opts.runtime) : undefined,
    { random: seeded(opts.seed ?? 1) },
  );
}

const picks = (c: ClusterRuntime, n: number, ctx = {}) => Array.from({ length: n }, () => c.chooseHost(ctx));
const byPort = (hs: (UpstreamHost | undefined)[]) => tally(hs, (h) => String(h?.port));

describe("priority load (Envoy's integer health arithmetic)", () => {
  const levels = (...healthyPercents: number[]) => healthyPercents.map((h) => ({ total: 100, healthy: h }));

  it.each([
    [100, 100, 0],
    [72, 100, 0],
    [71, 99, 1],
    [50, 70, 30],
    [25, 35, 65],
    [0, 0, 100],
  ])("P0 %i %% healthy, P1 all healthy: P0 gets %i %%, P1 %i %% (Envoy's documented table)", (p0, load0, load1) => {
    expect(computePriorityLoad(levels(p0, 100), 140, 50)).toEqual({ load: [load0, load1], panic: [false, false] });
  });

  it("spills through three levels and scales up when the levels together are under 100 %", () => {
    expect(computePriorityLoad(levels(25, 25, 100), 140, 50).load).toEqual([35, 35, 30]);
    // Health 56 + 28 = 84: scaled up to 66 + 33, the rounding remainder to P0 (no panic at threshold 10).
    expect(computePriorityLoad(levels(40, 20), 140, 10)).toEqual({ load: [67, 33], panic: [false, false] });
    // Health 35 + 35 + 14 = 84 and every level under 50 % healthy: total panic, spread by host counts.
    expect(computePriorityLoad(levels(25, 25, 10), 140, 50)).toEqual({ load: [34, 33, 33], panic: [true, true, true] });
  });

  it("panic applies only while normalized total health is under 100 %", () => {
    // P0 at 25 % would be in panic, but P1 makes the system whole: no panic.
    expect(computePriorityLoad(levels(25, 100), 140, 50).panic).toEqual([false, false]);
    // Both at 40 %: health 56 + 56 → 100: no panic either.
    expect(computePriorityLoad(levels(40, 40), 140, 50).panic).toEqual([false, false]);
    // 5 % and 60 %: health 7 + 84 = 91 < 100: P0 (5 % < 50 %) panics, P1 does not.
    expect(computePriorityLoad(levels(5, 60), 140, 50)).toEqual({ load: [8, 92], panic: [true, false] });
  });

  it("in total panic spreads load by host counts; with panic disabled and nothing healthy, P0 gets the (empty) load", () => {
    expect(computePriorityLoad([{ total: 3, healthy: 0 }, { total: 1, healthy: 0 }], 140, 50)).toEqual({ load: [75, 25], panic: [true, true] });
    expect(computePriorityLoad([{ total: 3, healthy: 0 }, { total: 1, healthy: 0 }], 140, 0)).toEqual({ load: [100, 0], panic: [false, false] });
  });
});

describe("ClusterRuntime host selection", () => {
  it("round-robins by weight over healthy hosts and skips a host set unhealthy (health feed)", () => {
    const c = cluster([endpoint(1, { weight: 1 }), endpoint(2, { weight: 3 }), endpoint(3, { weight: 1 })]);
    expect(byPort(picks(c, 500))).toEqual({ 1: 100, 2: 300, 3: 100 });
    expect(c.setHealth("10.0.0.1:3", false)).toBe(true);
    expect(c.setHealth("10.0.0.1:9", false)).toBe(false);
    expect(byPort(picks(c, 400))).toEqual({ 1: 100, 2: 300 });
    expect(c.host("10.0.0.1:3")!.healthFlags).toBe("/failed_active_hc");
    c.setHealth(c.host("10.0.0.1:3")!, true);
    expect(byPort(picks(c, 500))).toEqual({ 1: 100, 2: 300, 3: 100 });
  });

  it("spills to priority 1 as priority 0 loses health (overprovisioning 1.4)", () => {
    const eps = [1, 2, 3, 4].map((p) => endpoint(p)).concat([5, 6, 7, 8].map((p) => endpoint(p, { priority: 1 })));
    const c = cluster(eps, { seed: 7 });
    expect(new Set(picks(c, 200).map((h) => h!.priority))).toEqual(new Set([0]));
    c.setHealth("10.0.0.1:1", false); // 75 % healthy: 105 → still 100 % of the traffic
    expect(c.priorityLoad).toEqual([100, 0]);
    c.setHealth("10.0.0.1:2", false); // 50 % healthy: 70 % of the traffic
    expect(c.priorityLoad).toEqual([70, 30]);
    const got = picks(c, 2000);
    const p1 = got.filter((h) => h!.priority === 1).length / got.length;
    expect(p1).toBeGreaterThan(0.25);
    expect(p1).toBeLessThan(0.35);
    expect(got.some((h) => h!.port === 1 || h!.port === 2)).toBe(false);
  });

  it("below the panic threshold balances over all hosts of the level, healthy or not", () => {
    const c = cluster([1, 2, 3, 4].map((p) => endpoint(p)));
    c.setHealth("10.0.0.1:1", false);
    c.setHealth("10.0.0.1:2", false);
    expect(c.inPanic(0)).toBe(false); // 50 % healthy is not below 50 %
    expect(new Set(picks(c, 40).map((h) => h!.port))).toEqual(new Set([3, 4]));
    c.setHealth("10.0.0.1:3", false); // 25 %: panic
    expect(c.inPanic(0)).toBe(true);
    expect(new Set(picks(c, 40).map((h) => h!.port))).toEqual(new Set([1, 2, 3, 4]));
  });

  it("a panic threshold of 0 disables panic: only healthy hosts, and none when none is healthy", () => {
    const c = cluster([endpoint(1), endpoint(2)], { lb: { healthyPanicThresholdPercent: 0 } });
    c.setHealth("10.0.0.1:1", false);
    expect(new Set(picks(c, 20).map((h) => h!.port))).toEqual(new Set([2]));
    c.setHealth("10.0.0.1:2", false);
    expect(c.chooseHost()).toBeUndefined();
  });

  it("reads the panic threshold from runtime key upstream.healthy_panic_threshold", () => {
    const c = cluster([1, 2, 3, 4].map((p) => endpoint(p)), { runtime: new Map([["upstream.healthy_panic_threshold", 80]]) });
    c.setHealth("10.0.0.1:1", false); // 75 % healthy < 80 %, and health 105 → but normalized total is 100: no panic
    expect(c.inPanic(0)).toBe(false);
    c.setHealth("10.0.0.1:2", false); // 50 %: total 70 < 100 and 50 < 80: panic
    expect(c.inPanic(0)).toBe(true);
  });

  it("picks localities by weight when locality_weighted_lb_config is set, scaled by locality health", () => {
    const a = { region: "r", zone: "a", subZone: "" };
    const b = { region: "r", zone: "b", subZone: "" };
    const z = { region: "r", zone: "z", subZone: "" };
    const eps = [
      endpoint(1, { locality: a, localityWeight: 1 }),
      endpoint(2, { locality: a, localityWeight: 1 }),
      endpoint(3, { locality: b, localityWeight: 3 }),
      endpoint(4, { locality: b, localityWeight: 3 }),
      endpoint(5, { locality: z }), // no weight: no traffic
    ];
    const c = cluster(eps, { lb: { localityWeighted: true } });
    const zones = tally(picks(c, 400), (h) => h!.locality.zone);
    expect(zones).toEqual({ a: 100, b: 300 });
    c.setHealth("10.0.0.1:3", false); // b: 3 × min(1, 1.4 × 1/2) = 2.1
    const after = tally(picks(c, 3100), (h) => h!.locality.zone);
    expect(after.a).toBeGreaterThan(950);
    expect(after.a).toBeLessThan(1050);
    expect(after.z).toBeUndefined();
    // Without the setting, locality weights are ignored.
    const plain = cluster(eps);
    expect(Object.keys(tally(picks(plain, 50), (h) => h!.locality.zone)).sort()).toEqual(["a", "b", "z"]);
  });

  it("LEAST_REQUEST honours choice_count", () => {
    const c = cluster([1, 2, 3, 4].map((p) => endpoint(p)), { policy: "LEAST_REQUEST", lb: { leastRequest: { choiceCount: 16, activeRequestBias: 1 } } });
    const busy = c.host("10.0.0.1:1")!;
    busy.activeRequests = 5;
    expect(picks(c, 100).filter((h) => h === busy).length).toBe(0);
  });

  it("skips tried hosts within the chosen level", () => {
    const c = cluster([endpoint(1), endpoint(2)]);
    const first = c.chooseHost()!;
    for (let i = 0; i < 5; i++) expect(c.chooseHost({ triedHosts: new Set([first]) })).not.toBe(first);
  });
});

describe.each(["RING_HASH", "MAGLEV"] as const)("%s through ClusterRuntime", (policy) => {
  const eps = [1, 2, 3, 4, 5].map((p) => endpoint(p));
  const keys = Array.from({ length: 500 }, (_, i) => `session-${i}`);

  it("maps a hash key to a stable host, and an ejected host's keys only move off it", () => {
    const c = cluster(eps, { policy });
    const before = keys.map((k) => c.chooseHost({ hashKey: k })!.port);
    expect(keys.map((k) => c.chooseHost({ hashKey: k })!.port)).toEqual(before);
    expect(new Set(before).size).toBe(5);
    c.setHealth("10.0.0.1:2", false);
    const after = keys.map((k) => c.chooseHost({ hashKey: k })!.port);
    let others = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === 2) expect(after[i]).not.toBe(2);
      else if (after[i] !== before[i]) others++;
    }
    // The survivors re-normalize (a ring of 4 hosts gives each more entries); most keys stay put.
    expect(others / keys.length).toBeLessThan(0.15);
    // A bigint hash (what computeHashKey returns) and a number work too.
    expect(c.chooseHost({ hashKey: 12345n })).toBe(c.chooseHost({ hashKey: 12345 }));
  });

  it("also places requests across priorities by the hash", () => {
    const c = cluster([endpoint(1), endpoint(2), endpoint(3, { priority: 1 }), endpoint(4, { priority: 1 })], { policy });
    c.setHealth("10.0.0.1:1", false); // P0 health 70 %
    const ports = keys.map((k) => c.chooseHost({ hashKey: k })!.port);
    const p1 = ports.filter((p) => p >= 3).length / ports.length;
    expect(p1).toBeGreaterThan(0.2);
    expect(p1).toBeLessThan(0.4);
    expect(keys.map((k) => c.chooseHost({ hashKey: k })!.port)).toEqual(ports);
  });

  it("picks the same priority and host for a bigint hash and its two 32-bit halves (hash64)", () => {
    const c = cluster([endpoint(1), endpoint(2), endpoint(3, { priority: 1 }), endpoint(4, { priority: 1 })], { policy });
    c.setHealth("10.0.0.1:1", false); // two levels share the load, so the priority draw is by the hash too
    const hashes = keys.map((k) => xxHash64(k));
    hashes.push(0n, 0xffffffffn, 0x100000000n, 0xffffffffffffffffn);
    const viaBigint = hashes.map((h) => c.chooseHost({ hashKey: h })!.port);
    const viaHalves = hashes.map((h) => c.chooseHost({ hash64: { hi: Number(h >> 32n), lo: Number(h & 0xffffffffn) } })!.port);
    expect(viaHalves).toEqual(viaBigint);
    expect(new Set(viaHalves).size).toBeGreaterThan(2);
  });
});
