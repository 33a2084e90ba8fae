/**
 * MurmurHash2, 64-bit variant (MurmurHash64A), with the seed libstdc++ uses for `std::hash<std::string>`
 * (0xc70f6907): Envoy's `hash_function: MURMUR_HASH_2` for RING_HASH, documented as compatible with
 * `std::hash<std::string>` of GNU libstdc++ 3.4.20 and later on 64-bit platforms.
 */

const MASK = (1n << 64n) - 1n;
const M = 0xc6a4a7935bd1e995n;
const R = 47n;
/** libstdc++'s seed for std::hash on strings. */
export const STD_HASH_SEED = 0xc70f6907n;

const encoder = new TextEncoder();

/** MurmurHash64A of `input` (UTF-8 for strings). Unsigned 64-bit. */
export function murmurHash2(input: string | Uint8Array, seed: bigint = STD_HASH_SEED): bigint {
  const b = typeof input === "string" ? encoder.encode(input) : input;
  const len = b.length;
  let h = (seed ^ ((BigInt(len) * M) & MASK)) & MASK;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    let k = 0n;
    for (let j = 7; j >= 0; j--) k = (k << 8n) | BigInt(b[i + j]!);
    k = (k * M) & MASK;
    k ^= k >> R;
    k = (k * M) & MASK;
    h ^= k;
    h = (h * M) & MASK;
  }
  const rest = len - i;
  if (rest > 0) {
    let t = 0n;
    for (let j = rest - 1; j >= 0; j--) t = (t << 8n) | BigInt(b[i + j]!);
    h ^= t;
    h = (h * M) & MASK;
  }
  h ^= h >> R;
  h = (h * M) & MASK;
  h ^= h >> R;
  return h;
}
