import { describe, expect, it } from "vitest";
import { StatsStore } from "../stats/store.ts";
import { ClusterRuntime } from "./cluster.ts";
import { UpstreamHost } from "./host.ts";
import { OutlierDetector } from "./outlier-detection.ts";
import { clusterModel, endpoint, FakeClock, outlier } from "./test-helpers.ts";

const PREFIX = "cluster.c.outlier_detection.";

function setup(n: number, over: Parameters<typeof outlier>[0] = {}, random: () => number = () => 0) {
  const clock = new FakeClock();
  const stats = new StatsStore();
  const hosts = Array.from({ length: n }, (_, i) => new UpstreamHost(endpoint(8000 + i)));
  const changed: UpstreamHost[] = [];
  const od = new OutlierDetector(outlier(over), hosts, stats.scope("cluster.c."), { now: clock.now, random, onHealthChanged: (h) => changed.push(h) });
  const stat = (name: string) => stats.values().get(PREFIX + name) ?? 0;
  return { clock, stats, hosts, od, changed, stat };
}

const http = (status: number) => ({ kind: "http" as const, status });

describe("consecutive 5xx", () => {
  it("ejects a host at the fifth consecutive 5xx, and a success in between resets the count", () => {
    const { hosts, od, stat, changed } = setup(2, { maxEjectionPercent: 50 });
    const h = hosts[0]!;
    for (let i = 0; i < 4; i++) od.putResult(h, http(500));
    od.putResult(h, http(200));
    for (let i = 0; i < 4; i++) od.putResult(h, http(500));
    expect(h.failedOutlierCheck).toBe(false);
    od.putResult(h, http(503));
    expect(h.failedOutlierCheck).toBe(true);
    expect(changed).toEqual([h]);
    expect(stat("ejections_active")).toBe(1);
    expect(stat("ejections_enforced_total")).toBe(1);
    expect(stat("ejections_enforced_consecutive_5xx")).toBe(1);
    expect(stat("ejections_detected_consecutive_5xx")).toBe(1);
    expect(stat("ejections_consecutive_5xx")).toBe(1);
  });

  it("returns the host at the first interval sweep after base_ejection_time × ejections, lazily", () => {
    const { hosts, od, clock, stat } = setup(2, { maxEjectionPercent: 50, intervalMs: 100, baseEjectionTimeMs: 200 });
    const h = hosts[0]!;
    // Ejected at t = 1050; the sweeps fall at 1100, 1200, 1300 …
    clock.advance(50);
    for (let i = 0; i < 5; i++) od.putResult(h, http(500));
    expect(h.failedOutlierCheck).toBe(true);
    clock.advance(199); // t = 1249: the 1200 sweep runs now; the ejection ends at 1250
    od.tick();
    expect(h.failedOutlierCheck).toBe(true);
    clock.advance(50); // t = 1299: no sweep due since 1200
    od.tick();
    expect(h.failedOutlierCheck).toBe(true);
    clock.advance(1); // t = 1300: sweep at 1300 ≥ 1250
    od.tick();
    expect(h.failedOutlierCheck).toBe(false);
    expect(stat("ejections_active")).toBe(0);
  });

  it("doubles the ejection time on a second ejection, caps it at max_ejection_time, and lowers the multiplier while the host behaves", () => {
    const { hosts, od, clock } = setup(2, { maxEjectionPercent: 50, intervalMs: 10, baseEjectionTimeMs: 100, maxEjectionTimeMs: 150 });
    const h = hosts[0]!;
    const m = od.monitor(h)!;
    const eject = () => {
      for (let i = 0; i < 5; i++) od.putResult(h, http(500));
    };
    eject();
    expect(m.numEjections).toBe(1);
    expect(m.ejectedUntil - clock.t).toBe(100);
    clock.advance(100);
    od.tick();
    expect(h.failedOutlierCheck).toBe(false);
    eject();
    expect(m.numEjections).toBe(2);
    expect(m.ejectedUntil - clock.t).toBe(150); // 2 × 100, capped at 150
    expect(od.ejectionTimeMs(2)).toBe(150);
    clock.advance(150);
    od.tick();
    expect(h.failedOutlierCheck).toBe(false);
    // Two quiet sweeps bring the multiplier back to 0.
    clock.advance(10);
    od.tick();
    clock.advance(10);
    od.tick();
    expect(m.numEjections).toBe(0);
  });

  it("does not eject beyond max_ejection_percent (10 % by default: not even one host of four), and counts the overflow", () => {
    const { hosts, od, stat } = setup(4);
    for (let i = 0; i < 5; i++) od.putResult(hosts[0]!, http(500));
    expect(hosts[0]!.failedOutlierCheck).toBe(false);
    expect(stat("ejections_detected_consecutive_5xx")).toBe(1);
    expect(stat("ejections_overflow")).toBe(1);
    expect(stat("ejections_enforced_total")).toBe(0);
  });

  it("with always_eject_one_host, ejects one host whatever the percentage, but not a second", () => {
    const { hosts, od, stat } = setup(4, { alwaysEjectOneHost: true });
    for (let i = 0; i < 5; i++) od.putResult(hosts[0]!, http(500));
    for (let i = 0; i < 5; i++) od.putResult(hosts[1]!, http(500));
    expect(hosts.map((h) => h.failedOutlierCheck)).toEqual([true, false, false, false]);
    expect(stat("ejections_overflow")).toBe(1);
  });

  it("ejects with the enforcement probability only (enforcing_consecutive_5xx)", () => {
    let draw = 0.5;
    const { hosts, od, stat } = setup(2, { maxEjectionPercent: 100, enforcingConsecutive5xx: 40 }, () => draw);
    for (let i = 0; i < 5; i++) od.putResult(hosts[0]!, http(500));
    expect(hosts[0]!.failedOutlierCheck).toBe(false); // 50 ≥ 40: detected, not enforced
    expect(stat("ejections_detected_consecutive_5xx")).toBe(1);
    draw = 0.3;
    for (let i = 0; i < 5; i++) od.putResult(hosts[0]!, http(500));
    expect(hosts[0]!.failedOutlierCheck).toBe(true);
    expect(stat("ejections_detected_consecutive_5xx")).toBe(2);
    expect(stat("ejections_enforced_consecutive_5xx")).toBe(1);
  });
});

describe("consecutive gateway failures", () => {
  it("are detected but not enforced by default (enforcing_consecutive_gateway_failure is 0)", () => {
    const { hosts, od, stat } = setup(2, { maxEjectionPercent: 100, consecutive5xx: 100 });
    for (let i = 0; i < 5; i++) od.putResult(hosts[0]!, http(502));
    expect(hosts[0]!.failedOutlierCheck).toBe(false);
    expect(stat("ejections_detected_consecutive_gateway_failure")).toBe(1);
  });

  it("eject when enforced; a 500 (not a gateway error) resets the gateway count", () => {
    const { hosts, od, stat } = setup(2, { maxEjectionPercent: 100, consecutive5xx: 100, enforcingConsecutiveGatewayFailure: 100 });
    const h = hosts[0]!;
    for (let i = 0; i < 4; i++) od.putResult(h, http(504));
    od.putResult(h, http(500));
    for (let i = 0; i < 4; i++) od.putResult(h, http(503));
    expect(h.failedOutlierCheck).toBe(false);
    od.putResult(h, { kind: "connect_failure" }); // counted as 503 when errors are not split
    expect(h.failedOutlierCheck).toBe(true);
    expect(stat("ejections_enforced_consecutive_gateway_failure")).toBe(1);
  });
});

describe("local-origin failures", () => {
  it("count as 5xx without split_external_local_origin_errors", () => {
    const { hosts, od } = setup(2, { maxEjectionPercent: 100 });
    const h = hosts[0]!;
    od.putResult(h, { kind: "connect_failure" });
    od.putResult(h, { kind: "reset" });
    od.putResult(h, { kind: "timeout" });
    od.putResult(h, http(500));
    od.putResult(h, { kind: "connect_failure" });
    expect(h.failedOutlierCheck).toBe(true);
  });

  it("with split errors, feed consecutive_local_origin_failure, and an HTTP response resets them", () => {
    const { hosts, od, stat } = setup(2, { maxEjectionPercent: 100, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: 3 });
    const h = hosts[0]!;
    od.putResult(h, { kind: "connect_failure" });
    od.putResult(h, { kind: "timeout" });
    od.putResult(h, http(500)); // a response: the connection worked
    od.putResult(h, { kind: "reset" });
    od.putResult(h, { kind: "connect_failure" });
    expect(h.failedOutlierCheck).toBe(false);
    od.putResult(h, { kind: "connect_failure" });
    expect(h.failedOutlierCheck).toBe(true);
    expect(stat("ejections_enforced_consecutive_local_origin_failure")).toBe(1);
    expect(od.monitor(h)!.consecutive5xx).toBe(1); // local failures did not touch the 5xx count
  });
});

describe("success rate and failure percentage (at the interval sweep)", () => {
  it("ejects the host whose success rate is below mean − 1.9 × stdev", () => {
    const { hosts, od, clock, stat } = setup(6, { maxEjectionPercent: 100, intervalMs: 1000 });
    for (let round = 0; round < 100; round++) {
      for (const [i, h] of hosts.entries()) od.putResult(h, http(i === 5 && round % 2 === 0 ? 500 : 200));
    }
    // The bad host's consecutive 5xx never reached 5 (every other one failed).
    expect(hosts[5]!.failedOutlierCheck).toBe(false);
    clock.advance(1000);
    od.tick();
    expect(hosts.map((h) => h.failedOutlierCheck)).toEqual([false, false, false, false, false, true]);
    expect(stat("ejections_enforced_success_rate")).toBe(1);
    expect(od.monitor(hosts[0]!)!.successRate).toBe(100);
    expect(od.monitor(hosts[5]!)!.successRate).toBe(50);
    const f = od.successRateFigures;
    expect(f.successRateAverage).toBeCloseTo((5 * 100 + 50) / 6, 6);
    expect(f.successRateEjectionThreshold).toBeLessThan(f.successRateAverage);
  });

  it("needs success_rate_minimum_hosts hosts with success_rate_request_volume requests", () => {
    const { hosts, od, clock, stat } = setup(6, { maxEjectionPercent: 100, intervalMs: 1000 });
    for (let round = 0; round < 99; round++) {
      for (const [i, h] of hosts.entries()) od.putResult(h, http(i === 5 && round % 2 === 0 ? 500 : 200));
    }
    clock.advance(1000);
    od.tick();
    expect(hosts[5]!.failedOutlierCheck).toBe(false);
    expect(stat("ejections_detected_success_rate")).toBe(0);
    expect(od.successRateFigures.successRateAverage).toBe(-1);
  });

  it("failure percentage is detected at 85 % failures but enforced only when enforcing_failure_percentage is set", () => {
    for (const enforcing of [0, 100]) {
      const { hosts, od, clock, stat } = setup(5, { maxEjectionPercent: 100, intervalMs: 1000, enforcingSuccessRate: 0, enforcingFailurePercentage: enforcing, consecutive5xx: 1000 });
      for (let round = 0; round < 50; round++) {
        for (const [i, h] of hosts.entries()) od.putResult(h, http(i === 0 && round % 10 !== 0 ? 503 : 200));
      }
      clock.advance(1000);
      od.tick();
      expect(stat("ejections_detected_failure_percentage")).toBe(1);
      expect(hosts[0]!.failedOutlierCheck).toBe(enforcing === 100);
    }
  });

  it("starts each interval with fresh counts", () => {
    const { hosts, od, clock } = setup(6, { maxEjectionPercent: 100, intervalMs: 1000 });
    for (let round = 0; round < 100; round++) od.putResult(hosts[5]!, http(round % 2 ? 500 : 200));
    clock.advance(1000);
    od.tick();
    expect(od.monitor(hosts[5]!)!.extTotal).toBe(0);
  });
});

describe("through ClusterRuntime", () => {
  it("an ejected host leaves the rotation, and comes back after the ejection (fake clock)", () => {
    const clock = new FakeClock();
    const stats = new StatsStore();
    const model = clusterModel("c", [endpoint(1), endpoint(2)], {
      outlierDetection: outlier({ maxEjectionPercent: 50, intervalMs: 100, baseEjectionTimeMs: 200 }),
    });
    const c = new ClusterRuntime(model, stats, undefined, { now: clock.now, random: () => 0.5 });
    const [a, b] = c.hosts as [UpstreamHost, UpstreamHost];
    for (let i = 0; i < 5; i++) c.onResult(a, http(500));
    for (let i = 0; i < 10; i++) expect(c.chooseHost()).toBe(b);
    expect(stats.values().get("cluster.c.membership_healthy")).toBe(1);
    clock.advance(300);
    const picked = new Set(Array.from({ length: 4 }, () => c.chooseHost()));
    expect(picked).toEqual(new Set([a, b]));
    expect(a.healthFlags).toBe("healthy");
  });
});
