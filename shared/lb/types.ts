/**
 * Load balancing, runtime-neutral: the tcp tier and the edge both choose hosts through these.
 *
 * Split as Pingora splits it: discovery (the caller's cluster) produces a host list, health
 * (the caller) decides which hosts are offered, and a {@link LoadBalancer} only selects. A host list
 * change is a {@link LoadBalancer.build} with the whole new list (swapped whole, never patched).
 */

/** What a load balancer needs to know about a host. Implemented by each tier's host objects. */
export interface LbHost {
  /** Load-balancing weight, at least 1 (Envoy's `load_balancing_weight`, default 1). Read at build time. */
  readonly weight: number;
  /**
   * Requests in flight to this host (for the tcp tier, active upstream connections). Read at pick time
   * by LEAST_REQUEST only, so it may change between picks without a rebuild.
   */
  readonly activeRequests: number;
  /**
   * The string RING_HASH and MAGLEV place the host by (Envoy hashes the host's address, `ip:port`).
   * Read at build time. Required for stable placement: a host without one is hashed by its position
   * in the list, which moves when membership changes.
   */
  readonly hashKey?: string;
}

/** Per-pick context (Envoy's `LoadBalancerContext`, reduced to what Legate uses). */
export interface LbContext<H extends LbHost> {
  /**
   * Hosts already tried for this request or connection (retries, connect attempts). The balancer picks
   * a host outside this set whenever one exists; when every host has been tried it picks among all
   * hosts, so a retry always has a target (Envoy re-selects after `host_selection_retry_max_attempts`).
   */
  triedHosts?: ReadonlySet<H>;
  /**
   * The request's 64-bit hash (from the route's `hash_policy`), for RING_HASH and MAGLEV; the other
   * policies ignore it. Absent: those two pick a random point, as Envoy does without a hash.
   */
  hash?: bigint;
  /**
   * The same hash as two unsigned 32-bit halves, which take precedence over `hash`: a caller that hashes
   * per request in plain numbers (redis_proxy's key hash) picks without creating a single BigInt.
   */
  hash64?: Hash64;
}

/** An unsigned 64-bit hash as two unsigned 32-bit numbers: `hi * 2^32 + lo`. */
export interface Hash64 {
  hi: number;
  lo: number;
}

/** One load-balancing policy over one host list. */
export interface LoadBalancer<H extends LbHost> {
  /** The policy, as spelled in Envoy's `Cluster.lb_policy`. */
  readonly policy: "ROUND_ROBIN" | "RANDOM" | "LEAST_REQUEST" | "RING_HASH" | "MAGLEV";
  /**
   * Replaces the host list. Called when the cluster's membership changes (and once before the first
   * pick); O(n). Hosts are kept by reference: `chooseHost` returns the same objects.
   * `weights` (same order as `hosts`), when given, replaces each host's `weight`: the cluster passes
   * locality-adjusted weights to RING_HASH and MAGLEV; the other policies use `weight`.
   */
  build(hosts: readonly H[], weights?: readonly number[]): void;
  /**
   * Picks a host, or `undefined` when the list is empty. Called once per upstream connection or
   * request attempt; O(1) or O(log n) for unweighted and round-robin picks, O(n) for weighted
   * LEAST_REQUEST, O(log ring) for RING_HASH and O(1) for MAGLEV (plus a walk past tried hosts).
   */
  chooseHost(context?: LbContext<H>): H | undefined;
}

/** Options shared by the policies. */
export interface LbOptions {
  /** Uniform random number in [0, 1); default `Math.random`. Tests pass a seeded one. */
  random?: () => number;
}
