/** Helpers for the shared/upstream unit tests: models, a fake clock, a seeded random source. */
import type { ClusterModel, EndpointModel } from "../config/model.ts";
import { DEFAULT_OUTLIER_DETECTION } from "./outlier-detection.ts";

/** A manual monotonic clock (milliseconds). */
export class FakeClock {
  t = 1000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Deterministic uniform [0, 1) source (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function endpoint(port: number, extra: Partial<EndpointModel> = {}): EndpointModel {
  return { address: "10.0.0.1", port, weight: 1, ...extra };
}

export function clusterModel(name: string, endpoints: EndpointModel[], extra: Partial<ClusterModel> = {}): ClusterModel {
  return {
    name,
    type: "STATIC",
    connectTimeoutMs: 1000,
    lbPolicy: "ROUND_ROBIN",
    endpoints,
    dnsLookupFamily: "AUTO",
    dnsRefreshRateMs: 5000,
    perConnectionBufferLimitBytes: 1 << 20,
    ...extra,
  };
}

export const outlier = (over: Partial<typeof DEFAULT_OUTLIER_DETECTION> = {}) => ({ ...DEFAULT_OUTLIER_DETECTION, ...over });

export function tally<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}
