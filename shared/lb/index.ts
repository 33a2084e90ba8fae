/**
 * Load balancers by Envoy policy name. Usage: `const lb = createLoadBalancer(policy); lb.build(hosts);`
 * then `lb.chooseHost({ triedHosts })` per attempt; rebuild (or create anew) when membership changes.
 */
import type { LbPolicy } from "../config/model.ts";
import { LeastRequestLoadBalancer, type LeastRequestOptions } from "./least-request.ts";
import { RandomLoadBalancer } from "./random.ts";
import { RoundRobinLoadBalancer } from "./round-robin.ts";
import type { LbHost, LoadBalancer } from "./types.ts";

export type { LbContext, LbHost, LbOptions, LoadBalancer } from "./types.ts";
export { LeastRequestLoadBalancer, RandomLoadBalancer, RoundRobinLoadBalancer };
export type { LeastRequestOptions };

/** A new, empty load balancer for the policy; call `build(hosts)` before the first pick. */
export function createLoadBalancer<H extends LbHost>(policy: LbPolicy, options: LeastRequestOptions = {}): LoadBalancer<H> {
  switch (policy) {
    case "ROUND_ROBIN":
      return new RoundRobinLoadBalancer<H>();
    case "RANDOM":
      return new RandomLoadBalancer<H>(options);
    case "LEAST_REQUEST":
      return new LeastRequestLoadBalancer<H>(options);
  }
}
