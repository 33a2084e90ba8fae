/**
 * The compiled config model: what both tiers run, produced once per config version by
 * {@link compileBootstrap} from a canonical Envoy v3 bootstrap (proto field names, enums as strings,
 * durations as `"1.5s"` strings). Defaults are applied here, so runtime code never re-derives them.
 */

/** `envoy.config.core.v3.SocketAddress`, resolved. */
export interface SocketAddressModel {
  address: string;
  port: number;
  protocol: "TCP" | "UDP";
}

export interface BootstrapModel {
  node: { id: string; cluster: string };
  /** Envoy's admin interface; absent when the bootstrap has no `admin.address`. */
  admin?: { address: SocketAddressModel; accessLogPaths: string[] };
  listeners: ListenerModel[];
  clusters: Map<string, ClusterModel>;
  /** `layered_runtime` static layers, merged in order (later layers win); flattened to dotted keys. */
  runtime: Map<string, string | number | boolean>;
}

export interface ListenerModel {
  name: string;
  address: SocketAddressModel;
  /** Envoy's stats scope for the listener: `listener.<address>_<port>.` e.g. `listener.0.0.0.0_10000.` */
  statPrefix: string;
  /** True when this listener is served by the edge Worker (filter_metadata.legate.edge: true). */
  edge: boolean;
  /** Default 1 MiB, as Envoy. */
  perConnectionBufferLimitBytes: number;
  filterChains: FilterChainModel[];
  defaultFilterChain?: FilterChainModel;
  /** Listener filters by canonical extension name, in config order. */
  listenerFilters: { name: string; typeUrl: string; config: unknown }[];
}

export interface FilterChainMatchModel {
  destinationPort?: number;
  serverNames: string[];
  transportProtocol?: string;
  applicationProtocols: string[];
}

export interface FilterChainModel {
  name: string;
  match?: FilterChainMatchModel;
  /** Network filters in config order; the last one is terminal. */
  filters: NetworkFilterModel[];
}

export type NetworkFilterModel = HttpConnectionManagerModel | TcpProxyModel;

export interface TcpProxyModel {
  kind: "tcp_proxy";
  /** Envoy's extension name, e.g. `envoy.filters.network.tcp_proxy`. */
  name: string;
  statPrefix: string;
  cluster: string;
}

export interface HttpConnectionManagerModel {
  kind: "http_connection_manager";
  name: string;
  statPrefix: string;
  codecType: "AUTO" | "HTTP1" | "HTTP2";
  routeConfig: RouteConfigModel;
  /** HTTP filters in config order; the last is the router. */
  httpFilters: HttpFilterModel[];
}

export interface HttpFilterModel {
  /** The configured `name` (e.g. `envoy.filters.http.router`). */
  name: string;
  typeUrl: string;
  config: unknown;
}

export interface RouteConfigModel {
  name: string;
  virtualHosts: VirtualHostModel[];
}

export interface VirtualHostModel {
  name: string;
  /** As configured: exact names, `*.suffix`, `prefix.*`, or `*`. Lower-cased. */
  domains: string[];
  routes: RouteModel[];
}

export interface RouteMatchModel {
  /** Exactly one of prefix / path is set. */
  prefix?: string;
  path?: string;
  /** Default true, as Envoy. */
  caseSensitive: boolean;
}

export type RouteActionModel =
  | { kind: "route"; cluster: string }
  | { kind: "direct_response"; status: number; body?: string };

export interface RouteModel {
  name: string;
  match: RouteMatchModel;
  action: RouteActionModel;
}

export type ClusterType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS";
export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";

export interface EndpointModel {
  address: string;
  port: number;
  /** Default 1. */
  weight: number;
}

export interface ClusterModel {
  name: string;
  type: ClusterType;
  connectTimeoutMs: number;
  lbPolicy: LbPolicy;
  /** Flattened `load_assignment.endpoints[].lb_endpoints[]`. */
  endpoints: EndpointModel[];
  dnsLookupFamily: "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";
  /** Default 5 s. */
  dnsRefreshRateMs: number;
  /** Default 1 MiB, as Envoy. */
  perConnectionBufferLimitBytes: number;
}
