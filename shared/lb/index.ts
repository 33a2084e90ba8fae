/**
 * Load balancers by Envoy policy name. Usage: `const lb = createLoadBalancer(policy); lb.build(hosts);`
 * then `lb.chooseHost({ triedHosts, hash })` per attempt; rebuild (or create anew) when membership changes.
 */
import type { LbPolicy } from "../config/model.ts";
import { LeastRequestLoadBalancer, type LeastRequestOptions } from "./least-request.ts";
import { MaglevLoadBalancer, type MaglevOptions } from "./maglev.ts";
import { RandomLoadBalancer } from "./random.ts";
import { RingHashLoadBalancer, type RingHashOptions } from "./ring-hash.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";
import type { LbHost, LoadBalancer } from "./types.ts";

export type { LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";
export { LeastRequestLoadBalancer, MaglevLoadBalancer, RandomLoadBalancer, RingHashLoadBalancer, RoundRobinLoadBalancer };
export type { LeastRequestOptions, MaglevOptions, RingHashOptions };
export { xxHash64 } from "./xxhash64.ts";
export { murmurHash2 } from "./murmur2.ts";

/** Options of every policy; each policy reads its own. */
export type LoadBalancerOptions = LeastRequestOptions & RingHashOptions & MaglevOptions;

/** A new, empty load balancer for the policy; call `build(hosts)` before the first pick. */
export function createLoadBalancer<H extends LbHost>(policy: LbPolicy, options: LoadBalancerOptions = {}): LoadBalancer<H> {
  switch (policy) {
    case "ROUND_ROBIN":
      return new RoundRobinLoadBalancer<H>();
    case "RANDOM":
      return new RandomLoadBalancer<H>(options);
    case "LEAST_REQUEST":
      return new LeastRequestLoadBalancer<H>(options);
    case "RING_HASH":
      return new RingHashLoadBalancer<H>(options);
    case "MAGLEV":
      return new MaglevLoadBalancer<H>(options);
  }
}
