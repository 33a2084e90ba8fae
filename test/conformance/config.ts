/**
 * Envoy v3 bootstraps for conformance cases: one listener marked for the edge holding one
 * http_connection_manager, and STATIC clusters on loopback. Everything is Envoy JSON, so a case can
 * pass extra HCM fields (`hcm`) or whole cluster objects and the config stays what a user would write.
 */
import type { ConformanceContext } from "./context.ts";

export type Json = Record<string, unknown>;

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

export interface BootstrapSpec {
  /** Virtual hosts (Envoy JSON). Default: one `*` host sending everything to cluster `a`. */
  virtualHosts?: Json[];
  /**
   * Clusters by name: a list of ports on 127.0.0.1 (a STATIC cluster with those endpoints), or an
   * object merged over such a cluster (give `ports` plus any Envoy cluster fields). Default `a` → echo "a".
   */
  clusters?: Record<string, number[] | (Json & { ports?: number[] })>;
  /** Default `ingress_http`. */
  statPrefix?: string;
  /** Extra HttpConnectionManager fields (e.g. `access_log`, `upgrade_configs`), merged in. */
  hcm?: Json;
  /** HTTP filters before the router (Envoy JSON). Default none. */
  httpFilters?: Json[];
  /** Extra top-level bootstrap fields (e.g. `layered_runtime`). */
  extra?: Json;
}

/** A STATIC cluster over loopback ports (Envoy JSON). */
export function staticCluster(name: string, ports: number[], extra: Json = {}): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }],
    },
    ...extra,
  };
}

/** The bootstrap of {@link BootstrapSpec}, with the echo servers' ports from `ctx`. */
export function bootstrap(ctx: ConformanceContext, spec: BootstrapSpec = {}): Json {
  const clusters = spec.clusters ?? { a: [ctx.upstreamPorts[0]!] };
  const virtualHosts = spec.virtualHosts ?? [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }];
  return {
    static_resources: {
      listeners: [
        {
          name: "edge",
          address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
          metadata: { filter_metadata: { legate: { edge: true } } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": HCM_TYPE,
                    stat_prefix: spec.statPrefix ?? "ingress_http",
                    route_config: { name: "local_route", virtual_hosts: virtualHosts },
                    http_filters: [...(spec.httpFilters ?? []), { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
                    ...spec.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: Object.entries(clusters).map(([name, c]) => {
        if (Array.isArray(c)) return staticCluster(name, c);
        const { ports, ...rest } = c;
        return staticCluster(name, ports ?? [], rest);
      }),
    },
    ...spec.extra,
  };
}

/** JSON an echo upstream returns (test/echo-servers.ts). */
export interface Echo {
  server: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** `GET /__echo/count?key=` on echo "a": requests seen with `x-echo-key: key`, in total and per server. */
export async function echoCount(ctx: ConformanceContext, key: string): Promise<{ count: number; servers: Record<string, number> }> {
  const res = await fetch(`http://127.0.0.1:${ctx.upstreamPorts[0]}/__echo/count?key=${encodeURIComponent(key)}`);
  return (await res.json()) as { count: number; servers: Record<string, number> };
}

/** Releases a response held by the echo servers' `/stream?id=`. */
export async function release(ctx: ConformanceContext, id: string, server = 0): Promise<void> {
  await (await fetch(`http://127.0.0.1:${ctx.upstreamPorts[server]}/release?id=${encodeURIComponent(id)}`)).text();
}

/** A key unique to this test run, for `x-echo-key` (the echo servers' counters are shared). */
export function uniqueKey(prefix = "k"): string {
  return `${prefix}-${crypto.randomUUID()}`;
}

/** A config with one routed cluster, `up`, for router and upstream cases: see {@link routed}. */
export interface RoutedSpec {
  /** Fields of the route action besides `cluster: "up"` (retry_policy, timeout, hedge_policy, ...). */
  route?: Json;
  /** Fields of the `*` virtual host besides name, domains and routes. */
  vhost?: Json;
  /** Fields of the Route besides match and route (e.g. per_request_buffer_limit_bytes). */
  routeEntry?: Json;
  /** Clusters as in {@link BootstrapSpec.clusters}; `up` is the routed one. Default `up` → echo "a". */
  clusters?: BootstrapSpec["clusters"];
  /** Extra HttpConnectionManager fields. */
  hcm?: Json;
}

/** A bootstrap whose `*` virtual host routes every path (prefix `/`) to cluster `up`. */
export function routed(ctx: ConformanceContext, spec: RoutedSpec = {}): Json {
  return bootstrap(ctx, {
    clusters: spec.clusters ?? { up: [ctx.upstreamPorts[0]!] },
    virtualHosts: [{ name: "all", domains: ["*"], ...spec.vhost, routes: [{ match: { prefix: "/" }, ...spec.routeEntry, route: { cluster: "up", ...spec.route } }] }],
    hcm: spec.hcm,
  });
}

/** An `lb_endpoints` entry on 127.0.0.1 (Envoy JSON), with extra LbEndpoint fields (e.g. load_balancing_weight). */
export function lbEndpoint(port: number, extra: Json = {}): Json {
  return { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...extra };
}
