import { describe, expect, it } from "vitest";
import { createLoadBalancer, LeastRequestLoadBalancer, RandomLoadBalancer, type LbHost } from "./index.ts";

interface TestHost extends LbHost {
  name: string;
  weight: number;
  activeRequests: number;
}

const host = (name: string, weight = 1, activeRequests = 0): TestHost => ({ name, weight, activeRequests });

/** A small deterministic PRNG (mulberry32), so distributions are checked without flakiness. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns the given values in turn. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

function counts(picks: (TestHost | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of picks) out[p!.name] = (out[p!.name] ?? 0) + 1;
  return out;
}

describe("ROUND_ROBIN", () => {
  it("rotates through equal-weight hosts in order", () => {
    const lb = createLoadBalancer<TestHost>("ROUND_ROBIN");
    lb.build([host("a"), host("b"), host("c")]);
    expect(Array.from({ length: 7 }, () => lb.chooseHost()!.name)).toEqual(["a", "b", "c", "a", "b", "c", "a"]);
  });

  it("respects weights exactly over whole cycles, interleaved", () => {
    const lb = createLoadBalancer<TestHost>("ROUND_ROBIN");
    lb.build([host("a", 1), host("b", 2), host("c", 3)]);
    const picks = Array.from({ length: 600 }, () => lb.chooseHost());
    expect(counts(picks)).toEqual({ a: 100, b: 200, c: 300 });
    // Interleaved: every window of one cycle (6 picks) holds each host by its weight, give or take one.
    for (let i = 0; i + 6 <= 60; i += 6) {
      const w = counts(picks.slice(i, i + 6));
      expect(Math.abs((w.c ?? 0) - 3)).toBeLessThanOrEqual(1);
    }
  });

  it("skips tried hosts while an untried one exists, then picks among all", () => {
    const a = host("a");
    const b = host("b");
    const c = host("c");
    const lb = createLoadBalancer<TestHost>("ROUND_ROBIN");
    lb.build([a, b, c]);
    for (let i = 0; i < 10; i++) expect(lb.chooseHost({ triedHosts: new Set([a]) })).not.toBe(a);
    for (let i = 0; i < 10; i++) expect(lb.chooseHost({ triedHosts: new Set([a, c]) })).toBe(b);
    expect(lb.chooseHost({ triedHosts: new Set([a, b, c]) })).toBeDefined();
  });

  it("skips tried hosts in a weighted schedule", () => {
    const heavy = host("heavy", 100);
    const light = host("light", 1);
    const lb = createLoadBalancer<TestHost>("ROUND_ROBIN");
    lb.build([heavy, light]);
    for (let i = 0; i < 20; i++) expect(lb.chooseHost({ triedHosts: new Set([heavy]) })).toBe(light);
  });

  it("returns undefined without hosts and uses only the new list after a rebuild", () => {
    const lb = createLoadBalancer<TestHost>("ROUND_ROBIN");
    lb.build([]);
    expect(lb.chooseHost()).toBeUndefined();
    lb.build([host("x")]);
    expect(lb.chooseHost()!.name).toBe("x");
    lb.build([host("y"), host("z")]);
    expect(new Set(Array.from({ length: 10 }, () => lb.chooseHost()!.name))).toEqual(new Set(["y", "z"]));
  });
});

describe("RANDOM", () => {
  it("picks uniformly (weights ignored, as in Envoy)", () => {
    const lb = new RandomLoadBalancer<TestHost>({ random: seeded(1) });
    lb.build([host("a", 1), host("b", 5), host("c", 1)]);
    const c = counts(Array.from({ length: 3000 }, () => lb.chooseHost()));
    for (const n of ["a", "b", "c"]) {
      expect(c[n]).toBeGreaterThan(900);
      expect(c[n]).toBeLessThan(1100);
    }
  });

  it("never picks a tried host while another exists", () => {
    const a = host("a");
    const b = host("b");
    const lb = new RandomLoadBalancer<TestHost>({ random: seeded(2) });
    lb.build([a, b]);
    for (let i = 0; i < 50; i++) expect(lb.chooseHost({ triedHosts: new Set([a]) })).toBe(b);
    expect(lb.chooseHost({ triedHosts: new Set([a, b]) })).toBeDefined();
    lb.build([]);
    expect(lb.chooseHost()).toBeUndefined();
  });
});

describe("LEAST_REQUEST", () => {
  it("equal weights: of two random candidates, takes the one with fewer active requests", () => {
    const hosts = [host("busy1", 1, 5), host("idle", 1, 0), host("busy2", 1, 5)];
    // n = 3: 0.0 → index 0, 0.5 → index 1, 0.9 → index 2.
    const lb = new LeastRequestLoadBalancer<TestHost>({ random: scripted([0.0, 0.5, 0.9, 0.0]) });
    lb.build(hosts);
    expect(lb.chooseHost()!.name).toBe("idle"); // candidates busy1, idle
    expect(lb.chooseHost()!.name).toBe("busy2"); // candidates busy2, busy1: a tie keeps the first
  });

  it("equal weights: never picks the busiest of three hosts when all are sampled", () => {
    const lb = createLoadBalancer<TestHost>("LEAST_REQUEST", { choiceCount: 50, random: seeded(3) });
    lb.build([host("a", 1, 3), host("b", 1, 1), host("c", 1, 9)]);
    const c = counts(Array.from({ length: 200 }, () => lb.chooseHost()));
    expect(c.c).toBeUndefined();
  });

  it("unequal weights: picks in proportion to weight / (active + 1)", () => {
    const light = host("light", 1, 0);
    const heavy = host("heavy", 3, 0);
    const lb = new LeastRequestLoadBalancer<TestHost>({ random: seeded(4) });
    lb.build([light, heavy]);
    let c = counts(Array.from({ length: 4000 }, () => lb.chooseHost()));
    expect(c.heavy! / c.light!).toBeGreaterThan(2.6);
    expect(c.heavy! / c.light!).toBeLessThan(3.4);
    heavy.activeRequests = 5; // effective 3/6 = 0.5 against 1
    c = counts(Array.from({ length: 4000 }, () => lb.chooseHost()));
    expect(c.light! / c.heavy!).toBeGreaterThan(1.7);
    expect(c.light! / c.heavy!).toBeLessThan(2.3);
  });

  it("excludes tried hosts", () => {
    const a = host("a", 1, 0);
    const b = host("b", 1, 100);
    const lb = createLoadBalancer<TestHost>("LEAST_REQUEST", { random: seeded(5) });
    lb.build([a, b]);
    for (let i = 0; i < 20; i++) expect(lb.chooseHost({ triedHosts: new Set([a]) })).toBe(b);
  });
});
