import { murmurHash2 } from "./murmur2.ts";
import type { Hash64, LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";
import { xxHash64 } from "./xxhash64.ts";

export type HashFunction = "XX_HASH" | "MURMUR_HASH_2";

export interface RingHashOptions extends LbOptions {
  /** `ring_hash_lb_config.minimum_ring_size`. Default 1024. */
  minimumRingSize?: number;
  /** `ring_hash_lb_config.maximum_ring_size`. Default 8M (8,388,608). */
  maximumRingSize?: number;
  /** `ring_hash_lb_config.hash_function`. Default XX_HASH. */
  hashFunction?: HashFunction;
}

export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/** The ring's pick index: buckets by a hash's top 12 bits (16 KiB per ring). */
const BUCKET_BITS = 12;
const BUCKETS = 1 << BUCKET_BITS;
const BUCKET_SHIFT = 32 - BUCKET_BITS;

/** A uniformly random unsigned 64-bit value from a [0, 1) source (for picks without a hash), into `out`. */
export function randomHash64(random: () => number, out: Hash64): Hash64 {
  out.hi = Math.floor(random() * 0x100000000) >>> 0;
  out.lo = Math.floor(random() * 0x100000000) >>> 0;
  return out;
}

/** A bigint's low 64 bits as {@link Hash64}, into `out`. */
export function splitHash64(h: bigint, out: Hash64): Hash64 {
  out.hi = Number(BigInt.asUintN(32, h >> 32n));
  out.lo = Number(BigInt.asUintN(32, h));
  return out;
}

/**
 * The pick's hash as {@link Hash64}: `hash64`, else `hash` split, else a random point; `scratch` is
 * filled when the hash has to be made (one object per balancer, not per pick).
 */
export function pickHash64(context: LbContext<LbHost> | undefined, random: () => number, scratch: Hash64): Hash64 {
  if (context?.hash64) return context.hash64;
  if (context?.hash !== undefined) return splitHash64(context.hash, scratch);
  return randomHash64(random, scratch);
}

/**
 * Envoy's RING_HASH (ketama-style consistent hashing). Each host is placed on a 64-bit ring at
 * `hash("<hashKey>_<i>")` for i = 0, 1, …, a number of times proportional to its normalized weight:
 * the smallest normalized weight gets at least `ceil(min_weight × minimum_ring_size)` entries, and the
 * ring never exceeds `maximum_ring_size`. A request goes to the first entry at or after its hash
 * (wrapping). Adding or removing one host of N moves only about 1/N of the keys.
 *
 * Built whole on every membership or health change (O(ring × log ring)); a pick is a binary search.
 * With `triedHosts`, the walk continues clockwise to the first entry of an untried host.
 */
export class RingHashLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = "RING_HASH";
  private hosts: readonly H[] = [];
  /** The ring's points in order, as the high and low 32 bits of each 64-bit hash (compared as numbers). */
  private ringHi = new Uint32Array(0);
  private ringLo = new Uint32Array(0);
  /**
   * For each value of a hash's top {@link BUCKET_BITS} bits, the first ring index whose hash has those
   * bits or more (one entry past the last bucket: the ring's size). A pick searches only its bucket's
   * entries: a ring of 1,024 entries has about one per bucket, so one or two comparisons, not ten.
   */
  private buckets = new Int32Array(BUCKETS + 1);
  private readonly scratch: Hash64 = { hi: 0, lo: 0 };
  private ringHosts = new Int32Array(0);
  private readonly random: () => number;
  private readonly minSize: number;
  private readonly maxSize: number;
  private readonly hash: (s: string) => bigint;

  constructor(options: RingHashOptions = {}) {
    this.random = options.random ?? Math.random;
    this.minSize = options.minimumRingSize ?? DEFAULT_MIN_RING_SIZE;
    this.maxSize = options.maximumRingSize ?? DEFAULT_MAX_RING_SIZE;
    this.hash = options.hashFunction === "MURMUR_HASH_2" ? (s) => murmurHash2(s) : (s) => xxHash64(s);
  }

  /** Entries on the ring (for tests and /clusters). */
  get ringSize(): number {
    return this.ringHi.length;
  }

  /**
   * Builds the ring. `weights` (same order as `hosts`) overrides each host's `weight`: the cluster
   * passes locality-adjusted weights when locality-weighted balancing is on.
   */
  build(hosts: readonly H[], weights?: readonly number[]): void {
    this.hosts = hosts;
    const n = hosts.length;
    if (n === 0) {
      this.ringHi = new Uint32Array(0);
      this.ringLo = new Uint32Array(0);
      this.buckets = new Int32Array(BUCKETS + 1);
      this.ringHosts = new Int32Array(0);
      return;
    }
    const raw = hosts.map((h, i) => Math.max(0, weights?.[i] ?? h.weight));
    const w = raw.every((x) => x === 0) ? raw.map(() => 1) : raw;
    const total = w.reduce((a, b) => a + b, 0);
    const norm = w.map((x) => x / total);
    let minNorm = Infinity;
    for (const x of norm) if (x > 0 && x < minNorm) minNorm = x;
    const scale = Math.min(Math.ceil(minNorm * this.minSize) / minNorm, this.maxSize);
    const entries: { hash: bigint; host: number }[] = [];
    let target = 0;
    for (let i = 0; i < n; i++) {
      target += scale * norm[i]!;
      const key = hosts[i]!.hashKey ?? String(i);
      // Entries so far must reach the running target; the last host absorbs the rounding.
      for (let j = 0; entries.length < target && entries.length < this.maxSize; j++) {
        entries.push({ hash: this.hash(`${key}_${j}`), host: i });
      }
    }
    entries.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : a.host - b.host));
    this.ringHi = Uint32Array.from(entries, (e) => Number(e.hash >> 32n));
    this.ringLo = Uint32Array.from(entries, (e) => Number(BigInt.asUintN(32, e.hash)));
    const buckets = new Int32Array(BUCKETS + 1);
    let i = 0;
    for (let b = 0; b <= BUCKETS; b++) {
      while (i < this.ringHi.length && this.ringHi[i]! >>> BUCKET_SHIFT < b) i++;
      buckets[b] = i;
    }
    this.buckets = buckets;
    this.ringHosts = Int32Array.from(entries, (e) => e.host);
  }

  chooseHost(context?: LbContext<H>): H | undefined {
    const size = this.ringHi.length;
    if (size === 0) return undefined;
    const h = pickHash64(context, this.random, this.scratch);
    const hHi = h.hi;
    const hLo = h.lo;
    const ringHi = this.ringHi;
    // First entry with hash >= h, wrapping to 0 (64-bit order: high halves, then low halves). Entries of
    // lower buckets are all below h and those of higher buckets above it, so the answer lies in
    // [first of h's bucket, first of the next bucket].
    const b = hHi >>> BUCKET_SHIFT;
    let lo = this.buckets[b]!;
    let hi = this.buckets[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const mHi = ringHi[mid]!;
      if (mHi < hHi || (mHi === hHi && this.ringLo[mid]! < hLo)) lo = mid + 1;
      else hi = mid;
    }
    const start = lo === size ? 0 : lo;
    const tried = context?.triedHosts;
    const first = this.hosts[this.ringHosts[start]!]!;
    if (!tried || tried.size === 0 || !tried.has(first)) return first;
    for (let k = 1; k < size; k++) {
      const host = this.hosts[this.ringHosts[(start + k) % size]!]!;
      if (!tried.has(host)) return host;
    }
    return first;
  }
}
