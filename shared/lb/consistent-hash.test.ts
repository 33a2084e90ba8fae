import { describe, expect, it } from "vitest";
import { createLoadBalancer, MaglevLoadBalancer, RingHashLoadBalancer, type LbHost, type LoadBalancer } from "./index.ts";
import { isPrime } from "./maglev.ts";
import { xxHash64 } from "./xxhash64.ts";

interface H extends LbHost {
  name: string;
  weight: number;
  activeRequests: number;
  hashKey: string;
}

const host = (i: number, weight = 1): H => ({ name: `h${i}`, weight, activeRequests: 0, hashKey: `10.0.0.${i}:80` });
const keys = Array.from({ length: 2000 }, (_, i) => xxHash64(`user-${i}`));

function assignment(lb: LoadBalancer<H>): string[] {
  return keys.map((hash) => lb.chooseHost({ hash })!.name);
}

function counts(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** Deterministic [0, 1) source. */
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

const makers: [string, () => LoadBalancer<H>][] = [
  ["RING_HASH", () => createLoadBalancer<H>("RING_HASH")],
  ["RING_HASH murmur", () => createLoadBalancer<H>("RING_HASH", { hashFunction: "MURMUR_HASH_2" })],
  ["MAGLEV", () => createLoadBalancer<H>("MAGLEV")],
];

describe.each(makers)("%s", (_name, make) => {
  const ten = Array.from({ length: 10 }, (_, i) => host(i));

  it("sends the same key to the same host, also after a rebuild with the same hosts", () => {
    const lb = make();
    lb.build(ten);
    const first = assignment(lb);
    expect(assignment(lb)).toEqual(first);
    const again = make();
    again.build(ten.map((h) => ({ ...h })));
    expect(assignment(again)).toEqual(first);
  });

  it("spreads keys over equal hosts", () => {
    const lb = make();
    lb.build(ten);
    const c = counts(assignment(lb));
    expect(Object.keys(c)).toHaveLength(10);
    for (const n of Object.values(c)) {
      expect(n).toBeGreaterThan(100);
      expect(n).toBeLessThan(320);
    }
  });

  it("removing one host of N moves its keys and (almost) only those", () => {
    const lb = make();
    lb.build(ten);
    const before = assignment(lb);
    lb.build(ten.filter((h) => h.name !== "h3"));
    const after = assignment(lb);
    let movedOthers = 0;
    let movedTotal = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === "h3") expect(after[i]).not.toBe("h3");
      else if (after[i] !== before[i]) movedOthers++;
      if (after[i] !== before[i]) movedTotal++;
    }
    // Roughly 1/N of the keys move: the removed host's share, plus a little reshuffling among the
    // survivors (a ring re-normalizes its per-host entry counts for N-1 hosts, as Envoy's does; a
    // Maglev table refills some slots). Far from the (N-1)/N a modulo hash would move.
    expect(movedTotal / keys.length).toBeGreaterThan(0.05);
    expect(movedTotal / keys.length).toBeLessThan(0.2);
    expect(movedOthers / keys.length).toBeLessThan(0.1);
  });

  it("gives a host of weight 3 about three times the keys of a host of weight 1", () => {
    const lb = make();
    lb.build([host(1, 1), host(2, 3)]);
    const c = counts(assignment(lb));
    const ratio = c.h2! / c.h1!;
    expect(ratio).toBeGreaterThan(2.3);
    expect(ratio).toBeLessThan(3.9);
  });

  it("walks past tried hosts, and returns a host when all were tried", () => {
    const lb = make();
    lb.build(ten);
    for (const hash of keys.slice(0, 50)) {
      const first = lb.chooseHost({ hash })!;
      const second = lb.chooseHost({ hash, triedHosts: new Set([first]) })!;
      expect(second).not.toBe(first);
      expect(lb.chooseHost({ hash, triedHosts: new Set([first]) })).toBe(second);
      expect(lb.chooseHost({ hash, triedHosts: new Set(ten) })).toBe(first);
    }
  });

  it("picks at random without a hash, and nothing from an empty list", () => {
    const lb = make();
    lb.build(ten);
    const seen = new Set(Array.from({ length: 200 }, () => lb.chooseHost()!.name));
    expect(seen.size).toBeGreaterThan(5);
    lb.build([]);
    expect(lb.chooseHost({ hash: 1n })).toBeUndefined();
  });
});

describe("RING_HASH ring size", () => {
  it("has at least minimum_ring_size entries and honours maximum_ring_size", () => {
    const lb = new RingHashLoadBalancer<H>();
    lb.build([host(1), host(2), host(3)]);
    expect(lb.ringSize).toBeGreaterThanOrEqual(1024);
    expect(lb.ringSize).toBeLessThan(1024 + 3);
    const small = new RingHashLoadBalancer<H>({ minimumRingSize: 16, maximumRingSize: 64 });
    small.build([host(1, 1), host(2, 1000)]);
    expect(small.ringSize).toBeLessThanOrEqual(64);
    const weighted = new RingHashLoadBalancer<H>({ minimumRingSize: 100 });
    weighted.build([host(1, 1), host(2, 9)]);
    // The lightest host gets at least ceil(0.1 × 100) = 10 entries, so the ring holds about 100.
    expect(weighted.ringSize).toBeGreaterThanOrEqual(100);
    expect(weighted.ringSize).toBeLessThanOrEqual(101);
  });

  it("takes explicit weights over host weights (locality-adjusted weights)", () => {
    const lb = new RingHashLoadBalancer<H>();
    lb.build([host(1, 1), host(2, 1)], [1, 4]);
    const c = counts(assignment(lb));
    expect(c.h2! / c.h1!).toBeGreaterThan(3);
  });
});

describe("MAGLEV table", () => {
  it("fills every slot of the prime table", () => {
    const lb = new MaglevLoadBalancer<H>({ tableSize: 1031, random: seeded(1) });
    lb.build([host(1), host(2), host(3)]);
    const seen = new Set<string>();
    for (let i = 0n; i < 1031n; i++) seen.add(lb.chooseHost({ hash: i })!.name);
    expect(seen).toEqual(new Set(["h1", "h2", "h3"]));
    expect(isPrime(65537)).toBe(true);
    expect(isPrime(65536)).toBe(false);
  });
});

describe("a hash given as two 32-bit halves (hash64)", () => {
  // The ring and the table are searched in plain numbers; a bigint hash and its halves must pick alike,
  // at the extremes of the 64-bit range too (0, 2^32 - 1, 2^32, 2^64 - 1) and for a table size near Envoy's maximum.
  const edges = [0n, 1n, 0xffffffffn, 0x100000000n, 0xffffffffffffffffn, 0x8000000000000000n];
  const halves = (h: bigint) => ({ hi: Number(h >> 32n), lo: Number(h & 0xffffffffn) });
  for (const [name, make] of [
    ["RING_HASH", () => new RingHashLoadBalancer<H>({ random: seeded(3) })],
    ["MAGLEV", () => new MaglevLoadBalancer<H>({ random: seeded(3) })],
    ["MAGLEV (table 5000011)", () => new MaglevLoadBalancer<H>({ tableSize: 5000011, random: seeded(3) })],
  ] as const) {
    it(`${name}: picks the host the bigint picks`, () => {
      const lb = make();
      lb.build([host(1), host(2), host(3), host(4, 3)]);
      for (const h of [...keys, ...edges]) expect(lb.chooseHost({ hash64: halves(h) })!.name, String(h)).toBe(lb.chooseHost({ hash: h })!.name);
      // hash64 wins over hash when both are given.
      expect(lb.chooseHost({ hash: keys[0]!, hash64: halves(keys[1]!) })!.name).toBe(lb.chooseHost({ hash: keys[1]! })!.name);
    });
  }
});

describe("RING_HASH's bucket index", () => {
  it("picks the first ring point at or after the hash, wrapping, exactly as a full scan does", () => {
    for (const [n, minimumRingSize] of [[3, 1024], [2, 8], [7, 20000]] as const) {
      const lb = new RingHashLoadBalancer<H>({ minimumRingSize, random: seeded(5) });
      const hosts = Array.from({ length: n }, (_, i) => host(i + 1));
      lb.build(hosts);
      const ring = lb as unknown as { ringHi: Uint32Array; ringLo: Uint32Array; ringHosts: Int32Array };
      const size = ring.ringHi.length;
      const scan = (hi: number, lo: number): string => {
        for (let i = 0; i < size; i++) {
          if (ring.ringHi[i]! > hi || (ring.ringHi[i] === hi && ring.ringLo[i]! >= lo)) return hosts[ring.ringHosts[i]!]!.name;
        }
        return hosts[ring.ringHosts[0]!]!.name; // past the last point: wrap
      };
      const probes: [number, number][] = [[0, 0], [0xffffffff, 0xffffffff], [0xfff00000, 0], [0x000fffff, 0xffffffff]];
      for (let i = 0; i < size; i += Math.max(1, Math.floor(size / 200))) {
        const hi = ring.ringHi[i]!;
        const lo = ring.ringLo[i]!;
        probes.push([hi, lo], [hi, lo === 0 ? 0 : lo - 1], [hi, lo === 0xffffffff ? lo : lo + 1]);
      }
      const random = seeded(9);
      for (let i = 0; i < 2000; i++) probes.push([Math.floor(random() * 2 ** 32), Math.floor(random() * 2 ** 32)]);
      for (const [hi, lo] of probes) expect(lb.chooseHost({ hash64: { hi, lo } })!.name, `${hi}:${lo}`).toBe(scan(hi, lo));
    }
  });
});
