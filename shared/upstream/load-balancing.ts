/**
 * A cluster's load balancer over its host set, as Envoy layers it:
 *
 * 1. Priority: each priority level's health is `min(100, overprovisioning% × healthy / total)`; traffic
 *    goes to P0 up to its health, the rest spills to P1, and so on ("priority load"). When the levels
 *    together are under 100 % (normalized total health), loads are scaled up to 100 %.
 * 2. Panic: while normalized total health is under 100 %, a level whose healthy share
 *    (`100 × healthy / total`) is under `healthy_panic_threshold` (default 50 %; runtime key
 *    `upstream.healthy_panic_threshold`) balances over ALL its hosts, healthy or not. When every level
 *    is in panic, the load is spread by host counts. Threshold 0 disables panic mode.
 * 3. Locality (only with `common_lb_config.locality_weighted_lb_config`): within a level not in panic,
 *    a locality is picked by `load_balancing_weight × min(1, overprovisioning × healthy / total)`
 *    (earliest-deadline-first), then a host within it. A locality without weight gets no traffic.
 *    RING_HASH and MAGLEV fold the locality weights into host weights instead.
 * 4. Host: `lb_policy` over the level's (or locality's) healthy hosts, or all hosts in panic.
 * Excluded hosts (`health_status: DRAINING`, Envoy's excluded hosts) take no part at all: they count
 * neither as healthy nor in the totals, and panic mode does not pick them.
 *
 * Immutable once built: health or membership changes build a new one (never patched).
 */
import type { ClusterLbConfigModel, LbPolicy } from "../config/model.ts";
import { createLoadBalancer, type LbHost, type LoadBalancer, type LoadBalancerOptions } from "../lb/index.ts";
import { RoundRobinLoadBalancer } from "../lb/round-robin.ts";
import type { Hash64 } from "../lb/types.ts";
import { xxHash64 } from "../lb/xxhash64.ts";
import { murmurHash2 } from "../lb/murmur2.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { UpstreamHost } from "./host.ts";

/** Envoy's defaults for the settings in {@link ClusterLbConfigModel}. */
export const DEFAULT_LB_CONFIG: Readonly<ClusterLbConfigModel> = Object.freeze({
  healthyPanicThresholdPercent: 50,
  localityWeighted: false,
  overprovisioningFactor: 1.4,
  leastRequest: { choiceCount: 2, activeRequestBias: 1 },
  ringHash: { minimumRingSize: 1024, maximumRingSize: 8 * 1024 * 1024, hashFunction: "XX_HASH" as const },
  maglev: { tableSize: 65537 },
});

/** Host counts of one priority level. */
export interface LevelCounts {
  total: number;
  healthy: number;
}

export interface PriorityLoad {
  /** Percent of traffic per level; sums to 100. */
  load: number[];
  /** Per level: balance over all hosts (panic mode). */
  panic: boolean[];
}

/**
 * Envoy's priority load and per-level panic state from host counts (integer percentages, as Envoy).
 * @param overprovisioningPercent e.g. 140 for factor 1.4.
 * @param panicThreshold percent; 0 disables panic mode.
 */
export function computePriorityLoad(levels: readonly LevelCounts[], overprovisioningPercent: number, panicThreshold: number): PriorityLoad {
  const n = Math.max(1, levels.length);
  const load = new Array<number>(n).fill(0);
  const panic = new Array<boolean>(n).fill(false);
  const health = levels.map((l) => (l.total === 0 ? 0 : Math.min(100, Math.floor((overprovisioningPercent * l.healthy) / l.total))));
  const normalizedTotal = Math.min(100, health.reduce((a, b) => a + b, 0));
  if (normalizedTotal > 0) {
    let remaining = 100;
    let firstAvailable = -1;
    for (let i = 0; i < levels.length; i++) {
      if (firstAvailable < 0 && health[i]! > 0) firstAvailable = i;
      load[i] = Math.min(remaining, Math.floor((health[i]! * 100) / normalizedTotal));
      remaining -= load[i]!;
    }
    if (remaining > 0 && firstAvailable >= 0) load[firstAvailable]! += remaining;
  }
  if (panicThreshold === 0 && normalizedTotal === 0) {
    // Nothing is healthy and panic is disabled: no host will be offered; loads must still sum to 100.
    load.fill(0);
    load[0] = 100;
    return { load, panic };
  }
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    const healthyPercent = l.total === 0 ? 0 : Math.floor((100 * l.healthy) / l.total);
    panic[i] = normalizedTotal === 100 ? false : healthyPercent < panicThreshold;
  }
  if (levels.length > 0 && panic.every((p) => p)) {
    // Total panic: spread by host counts, healthy or not.
    const totalHosts = levels.reduce((a, l) => a + l.total, 0);
    load.fill(0);
    if (totalHosts === 0) {
      load[0] = 100;
    } else {
      let remaining = 100;
      let firstNonEmpty = -1;
      for (let i = 0; i < levels.length; i++) {
        if (firstNonEmpty < 0 && levels[i]!.total > 0) firstNonEmpty = i;
        load[i] = Math.floor((100 * levels[i]!.total) / totalHosts);
        remaining -= load[i]!;
      }
      load[firstNonEmpty]! += remaining;
    }
  }
  return { load, panic };
}

/** A pick context with the request hash already reduced to 64 bits. */
export interface LevelPickContext {
  triedHosts?: ReadonlySet<UpstreamHost>;
  hash?: bigint;
  /** The hash as two 32-bit halves (taken before `hash`; see LbContext). */
  hash64?: Hash64;
}

/** A locality of one level, as a weighted item for the EDF locality scheduler. */
interface LocalityEntry extends LbHost {
  readonly weight: number;
  readonly activeRequests: number;
  readonly lb: LoadBalancer<UpstreamHost>;
}

/** Host selection within one priority level. */
class Level {
  private readonly lb: LoadBalancer<UpstreamHost> | undefined;
  private readonly localities: LoadBalancer<LocalityEntry> | undefined;
  readonly size: number;

  /**
   * @param all every host of the level (locality health is judged against them).
   * @param source the hosts to balance over: the healthy ones, or all in panic.
   */
  constructor(all: readonly UpstreamHost[], source: readonly UpstreamHost[], policy: LbPolicy, config: ClusterLbConfigModel, options: LoadBalancerOptions) {
    this.size = source.length;
    const hashing = policy === "RING_HASH" || policy === "MAGLEV";
    if (config.localityWeighted && !hashing) {
      const byLocality = groupByLocality(all, config.overprovisioningFactor);
      const entries: LocalityEntry[] = [];
      for (const group of byLocality) {
        const w = group.weight;
        if (!(w > 0) || group.healthy.length === 0) continue;
        const lb = createLoadBalancer<UpstreamHost>(policy, options);
        lb.build(group.healthy);
        entries.push({ weight: w, activeRequests: 0, lb });
      }
      if (entries.length > 0) {
        const rr = new RoundRobinLoadBalancer<LocalityEntry>();
        rr.build(entries);
        this.localities = rr;
        return;
      }
      // No locality can take traffic: Envoy falls back to all healthy hosts of the level (`source`).
    }
    const lb = createLoadBalancer<UpstreamHost>(policy, options);
    if (hashing && config.localityWeighted) lb.build(source, localityAdjustedWeights(all, source, config.overprovisioningFactor));
    else lb.build(source);
    this.lb = lb;
  }

  chooseHost(ctx: LevelPickContext): UpstreamHost | undefined {
    if (this.localities) {
      // Retries: a locality whose hosts were all tried yields one of them; the next pick moves on.
      return this.localities.chooseHost()!.lb.chooseHost(ctx);
    }
    return this.lb?.chooseHost(ctx);
  }
}

interface LocalityGroup {
  weight: number;
  hosts: UpstreamHost[];
  healthy: UpstreamHost[];
}

/**
 * Localities of a level with their effective weights: `load_balancing_weight × min(1, factor ×
 * healthy/total)`. Health is judged against all hosts of the locality (given in `hosts`).
 */
function groupByLocality(hosts: readonly UpstreamHost[], factor: number): LocalityGroup[] {
  const groups = new Map<string, LocalityGroup>();
  for (const h of hosts) {
    let g = groups.get(h.localityKey);
    if (!g) groups.set(h.localityKey, (g = { weight: h.localityWeight ?? 0, hosts: [], healthy: [] }));
    g.hosts.push(h);
    if (h.healthy) g.healthy.push(h);
  }
  for (const g of groups.values()) g.weight = g.weight * Math.min(1, (factor * g.healthy.length) / g.hosts.length);
  return [...groups.values()];
}

/**
 * Weights of `source` hosts for hashing balancers with locality weights: the host's share of its
 * locality's (source) weight × the locality's effective weight.
 */
function localityAdjustedWeights(all: readonly UpstreamHost[], source: readonly UpstreamHost[], factor: number): number[] {
  const effective = new Map<string, number>();
  for (const g of groupByLocality(all, factor)) effective.set(localityKeyOf(g), g.weight);
  const sums = new Map<string, number>();
  for (const h of source) sums.set(h.localityKey, (sums.get(h.localityKey) ?? 0) + h.weight);
  return source.map((h) => ((effective.get(h.localityKey) ?? 0) * h.weight) / sums.get(h.localityKey)!);
}

function localityKeyOf(g: LocalityGroup): string {
  return g.hosts[0]!.localityKey;
}

export interface ClusterLoadBalancerOptions {
  random?: () => number;
  runtime?: Runtime;
}

const MAX_U64 = 0xffff_ffff_ffff_ffffn;

/** The cluster's balancer for one health snapshot. Built by {@link ClusterRuntime} on every change. */
export class ClusterLoadBalancer {
  readonly priorityLoad: readonly number[];
  private readonly panic: readonly boolean[];
  private readonly levels: Level[] = [];
  private readonly random: () => number;
  private readonly hashString: (s: string) => bigint;
  private readonly hashing: boolean;

  constructor(hosts: readonly UpstreamHost[], policy: LbPolicy, config: ClusterLbConfigModel | undefined, options: ClusterLoadBalancerOptions = {}) {
    const cfg = config ?? DEFAULT_LB_CONFIG;
    this.random = options.random ?? Math.random;
    this.hashing = policy === "RING_HASH" || policy === "MAGLEV";
    this.hashString = policy === "RING_HASH" && cfg.ringHash.hashFunction === "MURMUR_HASH_2" ? (s) => murmurHash2(s) : (s) => xxHash64(s);
    const byPriority: UpstreamHost[][] = [];
    // Excluded hosts (DRAINING) are left out entirely: not counted in a level's health, never picked,
    // not even in panic.
    for (const h of hosts) if (!h.excluded) (byPriority[h.priority] ??= []).push(h);
    for (let i = 0; i < byPriority.length; i++) byPriority[i] ??= [];
    const counts = byPriority.map((level) => ({ total: level!.length, healthy: level!.filter((h) => h.healthy).length }));
    const panicThreshold = Math.min(100, options.runtime?.getInteger("upstream.healthy_panic_threshold", cfg.healthyPanicThresholdPercent) ?? cfg.healthyPanicThresholdPercent);
    const { load, panic } = computePriorityLoad(counts, Math.round(cfg.overprovisioningFactor * 100), panicThreshold);
    this.priorityLoad = load;
    this.panic = panic;
    const lbOptions: LoadBalancerOptions = {
      random: options.random,
      choiceCount: cfg.leastRequest.choiceCount,
      activeRequestBias: cfg.leastRequest.activeRequestBias,
      minimumRingSize: cfg.ringHash.minimumRingSize,
      maximumRingSize: cfg.ringHash.maximumRingSize,
      hashFunction: cfg.ringHash.hashFunction,
      tableSize: cfg.maglev.tableSize,
    };
    for (let i = 0; i < byPriority.length; i++) {
      const level = byPriority[i]!;
      const source = panic[i] ? level : level.filter((h) => h.healthy);
      // In panic, locality weighting is not applied (Envoy balances over all hosts of the level).
      const levelCfg = panic[i] ? { ...cfg, localityWeighted: false } : cfg;
      this.levels.push(new Level(level, source, policy, levelCfg, lbOptions));
    }
  }

  /** Whether `priority` balances over all its hosts (panic mode). */
  inPanic(priority: number): boolean {
    return this.panic[priority] ?? false;
  }

  /** Picks a priority by load (by the request hash for hashing policies), then a host in it. */
  chooseHost(ctx: { triedHosts?: ReadonlySet<UpstreamHost>; hashKey?: string | number | bigint; hash64?: Hash64 }): UpstreamHost | undefined {
    if (this.levels.length === 0) return undefined;
    const hash64 = this.hashing ? ctx.hash64 : undefined;
    if (hash64) {
      // Already 64 bits in two halves (redis_proxy): no BigInt at all.
      // The caller's context as is: no object per pick.
      if (this.levels.length === 1) return this.levels[0]!.chooseHost(ctx);
      // (hi * 2^32 + lo) mod 100, in numbers.
      return this.levels[this.priorityAt(((hash64.hi % 100) * 96 + hash64.lo) % 100)]?.chooseHost({ triedHosts: ctx.triedHosts, hash64 });
    }
    let hash: bigint | undefined;
    if (this.hashing && ctx.hashKey !== undefined) {
      const k = ctx.hashKey;
      hash = typeof k === "bigint" ? (k >= 0n && k <= MAX_U64 ? k : BigInt.asUintN(64, k)) : typeof k === "number" ? BigInt.asUintN(64, BigInt(Math.trunc(k))) : this.hashString(k);
    }
    // One priority level (the common case) takes all the load: no draw.
    if (this.levels.length === 1) return this.levels[0]!.chooseHost({ triedHosts: ctx.triedHosts, hash });
    const point = hash !== undefined ? Number(hash % 100n) : Math.floor(this.random() * 100);
    return this.levels[this.priorityAt(point)]?.chooseHost({ triedHosts: ctx.triedHosts, hash });
  }

  /** The priority whose share of the load holds `point` (0–99). */
  private priorityAt(point: number): number {
    let cumulative = 0;
    for (let i = 0; i < this.priorityLoad.length; i++) {
      cumulative += this.priorityLoad[i]!;
      if (point < cumulative) return i;
    }
    return this.priorityLoad.length - 1;
  }
}
