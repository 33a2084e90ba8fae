/**
 * envoy.filters.network.redis_proxy, config half: resolves routes to clusters, looks every stat up and
 * makes the shared shard-connection pool, once per filter config; the factory then makes one
 * {@link RedisProxyFilter} per client connection.
 */
import type { Hash64 } from "../../../../../../shared/lb/types.ts";
import type { RedisProxyModel } from "../../../../../../shared/config/model.ts";
import type { Counter, Gauge, Histogram } from "../../../../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { NetworkFilterFactory } from "../../../../network/filter.ts";
import type { Cluster } from "../../../../upstream/cluster.ts";
import type { Host } from "../../../../upstream/host.ts";
import { COMMANDS } from "./commands.ts";
import { RedisProxyFilter } from "./filter.ts";
import { ShardPool } from "./upstream.ts";

/** Envoy's redis_proxy stats (`redis.<stat_prefix>.*`). */
export interface RedisProxyStats {
  downstream_cx_active: Gauge;
  downstream_cx_protocol_error: Counter;
  downstream_cx_rx_bytes_buffered: Gauge;
  downstream_cx_rx_bytes_total: Counter;
  downstream_cx_total: Counter;
  downstream_cx_tx_bytes_buffered: Gauge;
  downstream_cx_tx_bytes_total: Counter;
  downstream_rq_active: Gauge;
  downstream_rq_total: Counter;
  invalid_request: Counter;
  unsupported_command: Counter;
  auth_failure: Counter;
}

/** `command.<cmd>.*`; success, error and latency only with enable_command_stats. */
export interface CommandStats {
  total: Counter;
  success?: Counter;
  error?: Counter;
  latency?: Histogram;
}

export interface ResolvedRoute {
  prefix: string;
  /** `prefix` as bytes (lower-cased when case_insensitive). */
  prefixBytes: Uint8Array;
  removePrefix: boolean;
  cluster: Cluster | undefined;
  mirrors: { cluster: Cluster | undefined; excludeReadCommands: boolean }[];
}

export interface RedisProxyConfig {
  model: RedisProxyModel;
  stats: RedisProxyStats;
  commandStats: Map<string, CommandStats>;
  routes: ResolvedRoute[];
  catchAll: ResolvedRoute | undefined;
  pool: ShardPool;
  /** Passwords as given, for AUTH. */
  passwords: ReadonlySet<string>;
}

const encoder = new TextEncoder();

export function createRedisProxyConfig(model: RedisProxyModel, context: NetworkFilterFactoryContext): RedisProxyConfig {
  const scope = context.stats.scope(`redis.${model.statPrefix}.`);
  const c = (n: string) => scope.counter(n);
  const stats: RedisProxyStats = {
    downstream_cx_active: scope.gauge("downstream_cx_active"),
    downstream_cx_protocol_error: c("downstream_cx_protocol_error"),
    downstream_cx_rx_bytes_buffered: scope.gauge("downstream_cx_rx_bytes_buffered"),
    downstream_cx_rx_bytes_total: c("downstream_cx_rx_bytes_total"),
    downstream_cx_total: c("downstream_cx_total"),
    downstream_cx_tx_bytes_buffered: scope.gauge("downstream_cx_tx_bytes_buffered"),
    downstream_cx_tx_bytes_total: c("downstream_cx_tx_bytes_total"),
    downstream_rq_active: scope.gauge("downstream_rq_active"),
    downstream_rq_total: c("downstream_rq_total"),
    invalid_request: c("splitter.invalid_request"),
    unsupported_command: c("splitter.unsupported_command"),
    auth_failure: c("downstream_auth_failure"),
  };
  const commandStats = new Map<string, CommandStats>();
  for (const name of COMMANDS.keys()) {
    const cs = scope.scope(`command.${name}.`);
    const entry: CommandStats = { total: cs.counter("total") };
    if (model.enableCommandStats) {
      entry.success = cs.counter("success");
      entry.error = cs.counter("error");
      entry.latency = cs.histogram("latency");
    }
    commandStats.set(name, entry);
  }
  const resolve = (r: RedisProxyModel["routes"][number]): ResolvedRoute => ({
    prefix: r.prefix,
    prefixBytes: encoder.encode(model.caseInsensitive ? r.prefix.toLowerCase() : r.prefix),
    removePrefix: r.removePrefix,
    cluster: context.clusterManager.get(r.cluster),
    mirrors: r.mirrors.map((m) => ({ cluster: context.clusterManager.get(m.cluster), excludeReadCommands: m.excludeReadCommands })),
  });
  return {
    model,
    stats,
    commandStats,
    routes: model.routes.map(resolve),
    catchAll: model.catchAll ? resolve(model.catchAll) : undefined,
    pool: new ShardPool(model, (cluster) => context.stats.scope(`cluster.${cluster.name}.`).counter("upstream_rq_timeout")),
    passwords: new Set(model.downstreamAuthPasswords),
  };
}

/** The route for a key: the longest matching prefix, else the catch-all route. */
export function routeFor(config: RedisProxyConfig, key: Uint8Array): ResolvedRoute | undefined {
  const ci = config.model.caseInsensitive;
  outer: for (const r of config.routes) {
    const p = r.prefixBytes;
    if (p.length > key.length) continue;
    for (let i = 0; i < p.length; i++) {
      let k = key[i]!;
      if (ci && k >= 65 && k <= 90) k += 32;
      if (k !== p[i]) continue outer;
    }
    return r;
  }
  return config.catchAll;
}

/** MurmurHash3 (x86, 32-bit) of `key[from, to)`, in plain numbers. */
function murmur3(key: Uint8Array, from: number, to: number, seed: number): number {
  let h = seed;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = to - i;
  if (rest > 0) {
    let k = key[i]!;
    if (rest > 1) k |= key[i + 1]! << 8;
    if (rest > 2) k |= key[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= to - from;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The 64-bit hash that picks a key's shard, into `out` (two 32-bit MurmurHash3 halves, in plain numbers:
 * a per-key hash must be cheap, and BigInt arithmetic is not; the ring is searched in numbers too); with
 * hash tags, only the part inside the first non-empty `{…}`.
 */
export function keyHash64(key: Uint8Array, hashtagging: boolean, out: Hash64): Hash64 {
  let from = 0;
  let to = key.length;
  if (hashtagging) {
    const open = key.indexOf(123);
    if (open >= 0) {
      const close = key.indexOf(125, open + 1);
      if (close > open + 1) {
        from = open + 1;
        to = close;
      }
    }
  }
  out.hi = murmur3(key, from, to, 0x9747b28c);
  out.lo = murmur3(key, from, to, 0x5bd1e995);
  return out;
}

/** One pick context for every key: filled and used synchronously, so one object serves the process. */
const PICK: { hash64: Hash64 } = { hash64: { hi: 0, lo: 0 } };

/** The shard (cluster host) for a key on a route, or undefined when the cluster has no host. */
export function shardFor(config: RedisProxyConfig, cluster: Cluster, key: Uint8Array): Host | undefined {
  // One host: no hash to compute (the load balancer still applies health and circuit state).
  if (cluster.hosts.length === 1) return cluster.chooseHost();
  keyHash64(key, config.model.enableHashtagging, PICK.hash64);
  return cluster.chooseHost(PICK);
}

export function createRedisProxyFactory(model: RedisProxyModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const config = createRedisProxyConfig(model, context);
  return (manager) => manager.addReadFilter(new RedisProxyFilter(config));
}
