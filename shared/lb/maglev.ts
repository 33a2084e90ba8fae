import { pickHash64 } from "./ring-hash.ts";
import type { Hash64, LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";
import { xxHash64 } from "./xxhash64.ts";

export interface MaglevOptions extends LbOptions {
  /** `maglev_lb_config.table_size`: a prime. Default 65537. */
  tableSize?: number;
}

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/** True for a prime (trial division; table sizes are at most ~5M, checked once at config time). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * Envoy's MAGLEV (Google's Maglev consistent hashing, weighted). Each host gets a permutation of the
 * table from two hashes of its key (offset = xxHash64(key, seed 0) mod M, skip = xxHash64(key, seed 1)
 * mod (M − 1) + 1); hosts take turns claiming their next free slot, a host of normalized weight w
 * (relative to the heaviest) taking a turn in a fraction w of the rounds, until all M slots are filled.
 * A request goes to `table[hash mod M]`. Removing one host of N moves about 1/N of the keys.
 *
 * Built whole on every membership or health change (O(M log M)); a pick is O(1). With `triedHosts`,
 * the next slots are scanned for an untried host.
 */
export class MaglevLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = "MAGLEV";
  private hosts: readonly H[] = [];
  private table = new Int32Array(0);
  private readonly random: () => number;
  private readonly scratch: Hash64 = { hi: 0, lo: 0 };
  readonly tableSize: number;

  constructor(options: MaglevOptions = {}) {
    this.random = options.random ?? Math.random;
    this.tableSize = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
  }

  /** Builds the table. `weights` (same order as `hosts`) overrides each host's `weight`. */
  build(hosts: readonly H[], weights?: readonly number[]): void {
    this.hosts = hosts;
    const n = hosts.length;
    const m = this.tableSize;
    if (n === 0) {
      this.table = new Int32Array(0);
      return;
    }
    const w = hosts.map((h, i) => Math.max(0, weights?.[i] ?? h.weight));
    const maxW = Math.max(...w);
    const norm = w.map((x) => (maxW > 0 ? x / maxW : 1));
    const bm = BigInt(m);
    const offset = new Array<number>(n);
    const skip = new Array<number>(n);
    const next = new Array<number>(n).fill(0);
    const target = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      const key = hosts[i]!.hashKey ?? String(i);
      offset[i] = Number(xxHash64(key, 0n) % bm);
      skip[i] = Number(xxHash64(key, 1n) % (bm - 1n)) + 1;
    }
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    for (let round = 1; filled < m; round++) {
      for (let i = 0; i < n && filled < m; i++) {
        if (norm[i] === 0) continue;
        // A host of normalized weight w claims a slot in the rounds where round × w catches up with its count.
        if (round * norm[i]! < target[i]!) continue;
        target[i]! += 1;
        let c: number;
        do {
          c = (offset[i]! + next[i]! * skip[i]!) % m;
          next[i]!++;
        } while (table[c] !== -1);
        table[c] = i;
        filled++;
      }
    }
    this.table = table;
  }

  chooseHost(context?: LbContext<H>): H | undefined {
    const m = this.table.length;
    if (m === 0) return undefined;
    const h = pickHash64(context, this.random, this.scratch);
    // (hi * 2^32 + lo) mod m in numbers: every product stays below 2^53 for any table size Envoy allows.
    const start = ((h.hi % m) * (0x100000000 % m) + h.lo) % m;
    const first = this.hosts[this.table[start]!]!;
    const tried = context?.triedHosts;
    if (!tried || tried.size === 0 || !tried.has(first)) return first;
    if (tried.size < this.hosts.length) {
      for (let k = 1; k < m; k++) {
        const host = this.hosts[this.table[(start + k) % m]!]!;
        if (!tried.has(host)) return host;
      }
    }
    return first;
  }
}
