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
  /** `stats_sinks` and `stats_flush_interval` (tcp tier; shared/config/compile-stats-sinks.ts). Absent: no sinks. */
  statsSinks?: StatsSinksModel;
}

/** The stats sinks the tcp tier flushes to. */
export interface StatsSinksModel {
  /** `stats_flush_interval`, default 5000 ms. */
  flushIntervalMs: number;
  /** `envoy.stat_sinks.statsd` sinks over UDP; `prefix` defaults to `envoy`. */
  statsd: { address: string; port: number; prefix: string }[];
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
  /** The TCP listener filters compiled (shared/config/compile-listener.ts), in config order; absent: none. */
  tcpListenerFilters?: TcpListenerFilterModel[];
  /** `listener_filters_timeout`; Envoy's default 15 000; 0: no timeout. */
  listenerFiltersTimeoutMs?: number;
  /** `continue_on_listener_filters_timeout`; default false (the socket is closed on timeout). */
  continueOnListenerFiltersTimeout?: boolean;
  /** UDP listeners only (`protocol: UDP`): `udp_listener_config` and the udp_proxy (shared/config/compile-udp-proxy.ts). */
  udp?: UdpListenerModel;
}

/** A TCP listener filter's config, defaults applied (shared/config/compile-listener.ts). */
export type TcpListenerFilterModel =
  | { kind: "tls_inspector"; name: string; /** Largest ClientHello read, bytes; default 64 KiB. */ maxClientHelloSize: number }
  | {
      kind: "proxy_protocol";
      name: string;
      /** Connections without a PROXY header pass unchanged (counted `not_found_allowed`). Default false. */
      allowRequestsWithoutProxyProtocol: boolean;
      /** Versions refused (`disallowed_versions`): 1 and/or 2. */
      disallowedVersions: (1 | 2)[];
      /** `stat_prefix`: stats are `proxy_proto.<prefix>.*` when set, else `proxy_proto.*`. */
      statPrefix: string;
    }
  | { kind: "http_inspector"; name: string };

/** `envoy.config.core.v3.CidrRange`, normalized: host bits cleared, IPv4-mapped kept as IPv6. */
export interface CidrRangeModel {
  /** The network address as written after normalisation, e.g. `10.0.0.0` or `2001:db8::`. */
  address: string;
  /** 0..32 for IPv4, 0..128 for IPv6. */
  prefixLen: number;
  family: 4 | 6;
}

export interface FilterChainMatchModel {
  destinationPort?: number;
  serverNames: string[];
  transportProtocol?: string;
  applicationProtocols: string[];
  /** `prefix_ranges`: the connection's (local) destination address. Absent or empty: any. */
  prefixRanges?: CidrRangeModel[];
  /** `direct_source_prefix_ranges`: the socket's own peer, whatever a PROXY header said. */
  directSourcePrefixRanges?: CidrRangeModel[];
  /** `source_type`; absent: ANY. */
  sourceType?: "ANY" | "SAME_IP_OR_LOOPBACK" | "EXTERNAL";
  /** `source_prefix_ranges`: the peer as filters see it (after proxy_protocol). */
  sourcePrefixRanges?: CidrRangeModel[];
  /** `source_ports`. */
  sourcePorts?: number[];
}

export interface FilterChainModel {
  name: string;
  match?: FilterChainMatchModel;
  /** Network filters in config order; the last one is terminal. */
  filters: NetworkFilterModel[];
  /** `transport_socket` (envoy.transport_sockets.tls); absent: plaintext (raw_buffer). */
  transportSocket?: DownstreamTlsModel;
}

export type NetworkFilterModel = HttpConnectionManagerModel | TcpProxyModel | RbacNetworkModel | LocalRateLimitNetworkModel | RedisProxyModel | PostgresProxyModel | MongoProxyModel;

export interface TcpProxyModel {
  kind: "tcp_proxy";
  /** Envoy's extension name, e.g. `envoy.filters.network.tcp_proxy`. */
  name: string;
  statPrefix: string;
  /** `cluster`; "" when `weightedClusters` is set. */
  cluster: string;
  /** `weighted_clusters.clusters` (shared/config/compile-tcp-proxy.ts); absent: `cluster`. */
  weightedClusters?: { name: string; weight: number }[];
  /** `max_connect_attempts`; default 1 (no retry). */
  maxConnectAttempts: number;
  /** `idle_timeout`; default 1 h; 0 disables it. */
  idleTimeoutMs: number;
  /** `max_downstream_connection_duration`; absent: no limit. */
  maxDownstreamConnectionDurationMs?: number;
  /** `hash_policy` (only `source_ip`): the connection's hash for RING_HASH and MAGLEV. */
  hashPolicy?: { kind: "source_ip" }[];
  /** `access_log`, written when each connection closes; absent or empty: none. */
  accessLog?: AccessLogModel[];
}

export interface HttpConnectionManagerModel {
  kind: "http_connection_manager";
  name: string;
  statPrefix: string;
  codecType: "AUTO" | "HTTP1" | "HTTP2";
  routeConfig: RouteConfigModel;
  /** HTTP filters in config order; the last is the router. */
  httpFilters: HttpFilterModel[];
  /** Request id, X-Forwarded-*, server header settings (shared/config/compile-route.ts); absent: Envoy's defaults. */
  headerPolicy?: HcmHeaderPolicyModel;
  /** `access_log` (shared/config/compile-access-log.ts); absent or empty: no access log. */
  accessLog?: AccessLogModel[];
  /** `upgrade_configs` (shared/config/compile-access-log.ts); absent or empty: upgrades are refused (403). */
  upgradeConfigs?: UpgradeConfigModel[];
  /** `stream_idle_timeout` (shared/config/compile-hcm-extras.ts). Absent: Envoy's 5 min; 0: disabled. */
  streamIdleTimeoutMs?: number;
  /** `request_timeout`: the whole request must arrive within it. Absent or 0: disabled. */
  requestTimeoutMs?: number;
  /** `strip_matching_host_port` ("matching") or `strip_any_host_port` ("any"). Absent: the port stays in the Host. */
  stripHostPort?: "matching" | "any";
  /** `internal_address_config`. Absent: Envoy's default internal addresses. */
  internalAddressConfig?: InternalAddressConfigModel;
}

/** `HttpConnectionManager.InternalAddressConfig`. */
export interface InternalAddressConfigModel {
  /** `unix_sockets`: a Unix-socket peer is internal. Default false. */
  unixSockets: boolean;
  /** `cidr_ranges`; empty: Envoy's default internal ranges. */
  cidrRanges: CidrRangeModel[];
}

/** `VirtualHost.virtual_clusters[]`: a set of requests with its own stats. */
export interface VirtualClusterModel {
  name: string;
  /** All must match (`:path`, `:method` allowed). */
  headers: HeaderMatcherModel[];
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
  /** The route configuration's `request/response_headers_to_add/remove`; absent: none. */
  headerMutations?: HeaderMutationsModel;
  /** `most_specific_header_mutations_wins`. Default false: the route configuration's mutations run last and win. */
  mostSpecificHeaderMutationsWins?: boolean;
  /** `internal_only_headers` (lower-cased): removed from requests that are not internal. */
  internalOnlyHeaders?: string[];
}

export interface VirtualHostModel {
  name: string;
  /** As configured: exact names, `*.suffix`, `prefix.*`, or `*`. Lower-cased. */
  domains: string[];
  routes: RouteModel[];
  /** The virtual host's `request/response_headers_to_add/remove`; absent: none. */
  headerMutations?: HeaderMutationsModel;
  /** `virtual_clusters` (shared/config/compile-hcm-extras.ts); absent: none. */
  virtualClusters?: VirtualClusterModel[];
}

export interface RouteMatchModel {
  /** Exactly one of prefix / path / safeRegex / pathSeparatedPrefix is set. */
  prefix?: string;
  path?: string;
  /** `safe_regex.regex` (RE2 syntax; the whole path without the query must match). */
  safeRegex?: string;
  /** `path_separated_prefix`: the path equals it or continues with `/`. */
  pathSeparatedPrefix?: string;
  /** Default true, as Envoy. */
  caseSensitive: boolean;
  /** `headers`: all must match. Absent: none. */
  headers?: HeaderMatcherModel[];
  /** `query_parameters`: all must match. Absent: none. */
  queryParameters?: QueryParameterMatcherModel[];
  /** `runtime_fraction`. Absent: always. */
  runtimeFraction?: RuntimeFractionModel;
  /** `grpc`: only requests with a gRPC content type. */
  grpc?: boolean;
}

export type RouteActionModel =
  | {
      kind: "route";
      cluster: string;
      /** Timeouts, retries, hedging and mirroring (shared/config/compile-router.ts); absent: Envoy's defaults. */
      router?: RouterPolicyModel;
      /** `weighted_clusters` or `cluster_header` (then `cluster` is ""); shared/config/compile-route.ts. */
      clusterSpecifier?: ClusterSpecifierModel;
      /** Path and host rewrites; absent: none. */
      rewrite?: RouteRewriteModel;
      /** `hash_policy` for RING_HASH/MAGLEV (shared/config/compile-cluster-hash-policy.ts); absent: none. */
      hashPolicy?: HashPolicyModel[];
    }
  /** Also a `redirect` route (with `redirect` set), as in Envoy, where both are direct-response entries. */
  | { kind: "direct_response"; status: number; body?: string; redirect?: RedirectModel };

export interface RouteModel {
  name: string;
  match: RouteMatchModel;
  action: RouteActionModel;
  /** The route's `request/response_headers_to_add/remove`; absent: none. */
  headerMutations?: HeaderMutationsModel;
  /** `route.upgrade_configs`: per-route overrides of the HCM's upgrade_configs; absent: the HCM decides. */
  upgradeConfigs?: UpgradeConfigModel[];
}

/**
 * What the router does with a `route` action, resolved at compile time: the route's settings, or the
 * virtual host's where the route has none (Envoy never merges the two: the most specific one wins whole).
 */
export interface RouterPolicyModel {
  /** `timeout`: covers every attempt and the whole response. Default 15 000; 0 disables it. */
  timeoutMs: number;
  /** `idle_timeout`: stream idle timeout for the route. Absent: none; 0: disabled. */
  idleTimeoutMs?: number;
  /** `max_stream_duration.max_stream_duration`. Absent or 0: no limit. */
  maxStreamDurationMs?: number;
  /** `retry_policy` (route, else virtual host). Absent: no retries unless a trusted client asks. */
  retryPolicy?: RetryPolicyModel;
  /** `hedge_policy.hedge_on_per_try_timeout` (route, else virtual host). Default false. */
  hedgeOnPerTryTimeout: boolean;
  /** `request_mirror_policies` of the route, else the virtual host, else the route configuration. */
  mirrorPolicies: RequestMirrorPolicyModel[];
  /** `per_request_buffer_limit_bytes` of the route, else the virtual host. Absent: the listener's buffer limit. */
  perRequestBufferLimitBytes?: number;
  /** The virtual host's `include_request_attempt_count`. Default false. */
  includeRequestAttemptCount: boolean;
  /** The virtual host's `include_attempt_count_in_response`. Default false. */
  includeAttemptCountInResponse: boolean;
  /** The virtual host's `include_is_timeout_retry_header`. Default false. */
  includeIsTimeoutRetryHeader: boolean;
}

/** `envoy.config.route.v3.RetryPolicy`, defaults applied. */
export interface RetryPolicyModel {
  /** `retry_on` conditions by Envoy's names (HTTP and gRPC ones), without duplicates. */
  retryOn: string[];
  /** `num_retries`; default 1. */
  numRetries: number;
  /** `per_try_timeout`. Absent: none (the route timeout bounds each attempt). */
  perTryTimeoutMs?: number;
  /** `per_try_idle_timeout`. Absent: none. */
  perTryIdleTimeoutMs?: number;
  /**
   * `retry_back_off`: `base_interval` (at least 1 ms) and `max_interval` (default 10 × base). Absent: base
   * 25 ms (or the runtime's `upstream.base_retry_backoff_ms`), max 10 × base.
   */
  backOff?: { baseMs: number; maxMs: number };
  /** `rate_limited_retry_back_off`: reset headers tried in order; `max_interval` default 300 s. */
  rateLimitedBackOff?: { resetHeaders: { name: string; format: "SECONDS" | "UNIX_TIMESTAMP" }[]; maxMs: number };
  /** `retriable_status_codes`, for the `retriable-status-codes` condition. */
  retriableStatusCodes: number[];
  /** `retriable_headers`: response headers that make a response retriable (`retriable-headers` condition). */
  retriableHeaders: HeaderMatcherModel[];
  /** `retriable_request_headers`: when set, only requests matching one of them are retried. */
  retriableRequestHeaders: HeaderMatcherModel[];
  /** `retry_host_predicate` holds `envoy.retry_host_predicates.previous_hosts`: retries avoid hosts already tried. */
  previousHosts: boolean;
  /** `host_selection_retry_max_attempts`; default 1. */
  hostSelectionRetryMaxAttempts: number;
}

/** `RouteAction.RequestMirrorPolicy`: one shadow copy of each matching request. */
export interface RequestMirrorPolicyModel {
  /** `cluster`: the shadow cluster. Exactly one of cluster / clusterHeader is set. */
  cluster?: string;
  /** `cluster_header`: a request header naming the shadow cluster (lower-cased); no shadow when absent. */
  clusterHeader?: string;
  /** `runtime_fraction`: the share of requests mirrored. Absent: all. */
  runtimeFraction?: RuntimeFractionModel;
  /** `disable_shadow_host_suffix_append`. Default false: the shadow's Host gets `-shadow`. */
  disableShadowHostSuffixAppend: boolean;
}

export type ClusterType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS";
export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

export interface EndpointModel {
  address: string;
  port: number;
  /** Default 1. */
  weight: number;
  /** The group's `LocalityLbEndpoints.priority`: 0 is the highest (and the default when absent). */
  priority?: number;
  /** The group's `LocalityLbEndpoints.locality`; absent means the empty locality. */
  locality?: LocalityModel;
  /** The group's `LocalityLbEndpoints.load_balancing_weight`; absent when unset (see ClusterLbConfigModel.localityWeighted). */
  localityWeight?: number;
  /**
   * `LbEndpoint.health_status` when set and not UNKNOWN. UNHEALTHY, DRAINING and TIMEOUT take the host
   * out of load balancing (Envoy's `/failed_eds_health`); connections already open are left alone.
   */
  healthStatus?: EdsHealthStatus;
}

/** `envoy.config.core.v3.HealthStatus` values Legate acts on (UNKNOWN is stored as absent; DEGRADED is refused). */
export type EdsHealthStatus = "HEALTHY" | "UNHEALTHY" | "DRAINING" | "TIMEOUT";

/** `type: EDS` with `eds_cluster_config`: the endpoints come from Workers KV (docs/kv-layout.md, "Endpoints"). */
export interface EdsConfigModel {
  /** `eds_cluster_config.service_name`, default the cluster name: the KV key is `legate/endpoints/<service name>`. */
  serviceName: string;
  /** `eds_config.initial_fetch_timeout` (default 15 s; 0: wait without limit): how long the tcp tier waits for the first assignment at startup. */
  initialFetchTimeoutMs: number;
}

/** `envoy.config.core.v3.Locality`; empty strings when unset. */
export interface LocalityModel {
  region: string;
  zone: string;
  subZone: string;
}

export interface ClusterModel {
  name: string;
  type: ClusterType;
  connectTimeoutMs: number;
  lbPolicy: LbPolicy;
  /** Flattened `load_assignment.endpoints[].lb_endpoints[]`; empty for EDS clusters (their endpoints come from KV). */
  endpoints: EndpointModel[];
  /** Present for `type: EDS`. */
  eds?: EdsConfigModel;
  dnsLookupFamily: "AUTO" | "V4_ONLY" | "V6_ONLY" | "V4_PREFERRED" | "ALL";
  /** Default 5 s. */
  dnsRefreshRateMs: number;
  /** `dns_resolvers` as `ip:port` (`[v6]:port`) for the tcp tier's resolver; absent: the system resolver. */
  dnsResolvers?: string[];
  /** `respect_dns_ttl` (only with `dnsResolvers`): refresh at the answers' smallest TTL. Default false. */
  respectDnsTtl?: boolean;
  /** Default 1 MiB, as Envoy. */
  perConnectionBufferLimitBytes: number;
  /** Load-balancer settings beyond `lbPolicy` (shared/config/compile-cluster.ts); absent means Envoy's defaults. */
  lbConfig?: ClusterLbConfigModel;
  /** `circuit_breakers`; absent means Envoy's default thresholds for both priorities. */
  circuitBreakers?: CircuitBreakersModel;
  /** `outlier_detection`; absent means outlier detection is off, as in Envoy. */
  outlierDetection?: OutlierDetectionModel;
  /** `transport_socket` (envoy.transport_sockets.tls); absent: plaintext. */
  transportSocket?: UpstreamTlsModel;
  /** `health_checks` (tcp tier; shared/config/compile-health-check.ts); absent: no active health checking. */
  healthChecks?: HealthCheckModel[];
  /** `typed_extension_protocol_options["envoy.filters.network.redis_proxy"]` (shared/config/compile-redis-proxy.ts): AUTH sent on every redis_proxy connection to the hosts. */
  redisAuth?: { username?: string; password: string };
}

/** One `health_checks` entry, defaults applied (times in ms). */
export interface HealthCheckModel {
  timeoutMs: number;
  intervalMs: number;
  /** `initial_jitter`: the first check waits a random time up to this. Default 0. */
  initialJitterMs: number;
  /** `interval_jitter`: up to this much is added to every interval. Default 0. */
  intervalJitterMs: number;
  /** `interval_jitter_percent`: up to this share of the interval is added too. Default 0. */
  intervalJitterPercent: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  /** Default `intervalMs`. */
  unhealthyIntervalMs: number;
  /** Default `unhealthyIntervalMs`. */
  unhealthyEdgeIntervalMs: number;
  /** Default `intervalMs`. */
  healthyEdgeIntervalMs: number;
  /** Until the cluster has had a connection; default 60 000. */
  noTrafficIntervalMs: number;
  /** `no_traffic_healthy_interval`: the no-traffic interval for a healthy host; default `noTrafficIntervalMs`. */
  noTrafficHealthyIntervalMs: number;
  /** Default true. */
  reuseConnection: boolean;
  /** `event_log_path` (deprecated in Envoy): Envoy's JSON health-check events, one per line. */
  eventLogPath?: string;
  /** Default false: failures are logged only when they change the host's state (or on the first check). */
  alwaysLogHealthCheckFailures: boolean;
  checker: HttpHealthCheckModel | TcpHealthCheckModel | GrpcHealthCheckModel | RedisHealthCheckModel;
}

export interface HttpHealthCheckModel {
  kind: "http";
  path: string;
  /** `host`; absent: the cluster name. */
  host?: string;
  /** Upper-case method; default GET. */
  method: string;
  /** `[start, end)` ranges; default `[[200, 201]]`. */
  expectedStatuses: [number, number][];
  /** `[start, end)` ranges; default none. */
  retriableStatuses: [number, number][];
  requestHeadersToAdd: HeaderValueOptionModel[];
  /** Lower-cased. */
  requestHeadersToRemove: string[];
  /** Matched against the response's `x-envoy-upstream-healthchecked-cluster`; absent: not checked. */
  serviceNameMatcher?: StringMatcherModel;
}

/** `grpc_health_check`: grpc.health.v1.Health/Check over HTTP/2 (h2c, or the cluster's TLS). */
export interface GrpcHealthCheckModel {
  kind: "grpc";
  /** `service_name`; default "" (the server as a whole). */
  serviceName: string;
  /** `authority`; absent: the cluster name. */
  authority?: string;
}

/** `custom_health_check` with `envoy.health_checkers.redis`: PING, or `EXISTS key` (healthy when 0). */
export interface RedisHealthCheckModel {
  kind: "redis";
  /** Absent: PING. */
  key?: string;
}

export interface TcpHealthCheckModel {
  kind: "tcp";
  /** Hex; absent: nothing is sent. */
  send?: string;
  /** Hex blocks, each to be found in the response in order; empty: a connect is enough. */
  receive: string[];
}

/** Envoy's `RoutingPriority`: circuit-breaker thresholds are kept per priority. */
export type RoutingPriority = "DEFAULT" | "HIGH";

/** Load-balancer settings of a cluster, defaults applied (compile-cluster.ts). */
export interface ClusterLbConfigModel {
  /** `common_lb_config.healthy_panic_threshold`, percent (truncated to 1 %); default 50; 0 disables panic mode. */
  healthyPanicThresholdPercent: number;
  /** `common_lb_config.locality_weighted_lb_config` is set: localities are picked by their weights. */
  localityWeighted: boolean;
  /** `load_assignment.policy.overprovisioning_factor` / 100; default 1.4. */
  overprovisioningFactor: number;
  /** `least_request_lb_config`: `choice_count` (default 2), `active_request_bias` (default 1.0). */
  leastRequest: { choiceCount: number; activeRequestBias: number };
  /** `ring_hash_lb_config`: ring sizes (default 1024 and 8M) and `hash_function` (default XX_HASH). */
  ringHash: { minimumRingSize: number; maximumRingSize: number; hashFunction: "XX_HASH" | "MURMUR_HASH_2" };
  /** `maglev_lb_config.table_size`: a prime, default 65537. */
  maglev: { tableSize: number };
}

/** `circuit_breakers.thresholds[]` of one priority, defaults applied. */
export interface CircuitBreakerThresholdsModel {
  /** Default 1024. */
  maxConnections: number;
  /** Default 1024. */
  maxPendingRequests: number;
  /** Default 1024. */
  maxRequests: number;
  /** Default 3; ignored when `retryBudget` is set. */
  maxRetries: number;
  /** `retry_budget`: `budget_percent` (default 20) and `min_retry_concurrency` (default 3). */
  retryBudget?: { budgetPercent: number; minRetryConcurrency: number };
  /** Publish `remaining_*` gauges. Default false. */
  trackRemaining: boolean;
}

export type CircuitBreakersModel = Readonly<Record<RoutingPriority, CircuitBreakerThresholdsModel>>;

/** `outlier_detection`, defaults applied (times in milliseconds, percentages 0..100). */
export interface OutlierDetectionModel {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  maxEjectionTimeJitterMs: number;
  maxEjectionPercent: number;
  enforcingConsecutive5xx: number;
  enforcingConsecutiveGatewayFailure: number;
  enforcingConsecutiveLocalOriginFailure: number;
  enforcingSuccessRate: number;
  enforcingLocalOriginSuccessRate: number;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  /** Divided by 1000 when used (1900 → 1.9). */
  successRateStdevFactor: number;
  failurePercentageThreshold: number;
  enforcingFailurePercentage: number;
  enforcingFailurePercentageLocalOrigin: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  splitExternalLocalOriginErrors: boolean;
  alwaysEjectOneHost: boolean;
}

/**
 * One `RouteAction.hash_policy` entry: where the request's hash for RING_HASH/MAGLEV comes from.
 * `terminal`: when this entry yields a hash, the later entries are skipped.
 */
export type HashPolicyModel =
  | { kind: "header"; headerName: string; terminal: boolean }
  | {
      kind: "cookie";
      name: string;
      terminal: boolean;
      /** `ttl` set: generate the cookie when absent (Max-Age in seconds; 0: a session cookie). */
      generate?: { ttlSeconds: number; path: string; attributes: { name: string; value: string }[] };
    }
  | { kind: "source_ip"; terminal: boolean }
  | { kind: "query_parameter"; name: string; terminal: boolean };

/** One `access_log` entry (compile-access-log.ts); the format is kept as text and compiled by the engine. */
export interface AccessLogModel {
  /** The configured `name`, e.g. `envoy.access_loggers.stdout`. */
  name: string;
  sink: { kind: "stdout" } | { kind: "stderr" } | { kind: "file"; path: string };
  format: AccessLogFormatModel;
  /** `filter`; absent: every stream is logged. */
  filter?: AccessLogFilterModel;
}

/** A format string, or a format dictionary (`typed`: values keep their JSON types). */
export type AccessLogFormatModel =
  | { kind: "text"; text: string; omitEmptyValues: boolean }
  | { kind: "json"; json: Record<string, unknown>; typed: boolean; omitEmptyValues: boolean };

/** `AccessLogFilter`: the supported subset. Comparison values may be overridden by the runtime key. */
export type AccessLogFilterModel =
  | { kind: "status_code" | "duration"; op: "EQ" | "GE" | "LE"; value: number; runtimeKey: string }
  | { kind: "and" | "or"; filters: AccessLogFilterModel[] }
  | { kind: "response_flag"; flags: string[] };

/** `UpgradeConfig` of an HCM or a route: the upgrade type (lower-cased) and whether it is enabled. */
export interface UpgradeConfigModel {
  upgradeType: string;
  /** Default true. */
  enabled: boolean;
}

// ---- Routing and headers (shared/config/compile-route.ts, shared/http/{route-table,matchers,headers}.ts) ----

/** `envoy.type.matcher.v3.StringMatcher`. `ignoreCase` does not apply to `safe_regex`. */
export type StringMatcherModel =
  | { kind: "exact" | "prefix" | "suffix" | "contains"; value: string; ignoreCase: boolean }
  | { kind: "safe_regex"; regex: string };

/** `envoy.config.route.v3.HeaderMatcher`, with the deprecated `*_match` forms folded into `match`. */
export interface HeaderMatcherModel {
  /** Lower-cased; `:method`, `:path`, `:authority`, `:scheme` name the pseudo-headers. */
  name: string;
  match:
    | { kind: "string"; matcher: StringMatcherModel }
    | { kind: "present"; present: boolean }
    /** `[start, end)`, int64 as decimal strings. */
    | { kind: "range"; start: string; end: string };
  /** Default false. */
  invertMatch: boolean;
  /** Default false. */
  treatMissingHeaderAsEmpty: boolean;
}

/** `envoy.config.route.v3.QueryParameterMatcher`. */
export interface QueryParameterMatcherModel {
  name: string;
  /** No `matcher`: the parameter must be present (`present_match`, or neither field set). */
  matcher?: StringMatcherModel;
  /** `present_match: false`: Envoy then never matches. */
  present?: false;
}

/** `envoy.type.v3.FractionalPercent`. */
export interface FractionalPercentModel {
  numerator: number;
  denominator: "HUNDRED" | "TEN_THOUSAND" | "MILLION";
}

/** `envoy.config.core.v3.RuntimeFractionalPercent`. */
export interface RuntimeFractionModel {
  defaultValue: FractionalPercentModel;
  /** Empty: the default value only. */
  runtimeKey: string;
}

/** `envoy.type.matcher.v3.RegexMatchAndSubstitute`. */
export interface RegexRewriteModel {
  regex: string;
  substitution: string;
}

export type HeaderAppendAction = "APPEND_IF_EXISTS_OR_ADD" | "ADD_IF_ABSENT" | "OVERWRITE_IF_EXISTS_OR_ADD" | "OVERWRITE_IF_EXISTS";

/** `envoy.config.core.v3.HeaderValueOption`, with the deprecated `append` folded into `appendAction`. */
export interface HeaderValueOptionModel {
  /** Lower-cased. */
  key: string;
  /** The value as configured: it may hold `%COMMAND%` operators (shared/http/header-formatter.ts). */
  value: string;
  appendAction: HeaderAppendAction;
  /** Default false: a value that formats to "" is not added. */
  keepEmptyValue: boolean;
}

/** `request/response_headers_to_add/remove` of one level (route configuration, virtual host, route, weighted cluster). */
export interface HeaderMutationsModel {
  requestHeadersToAdd: HeaderValueOptionModel[];
  /** Lower-cased. */
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderValueOptionModel[];
  /** Lower-cased. */
  responseHeadersToRemove: string[];
}

/** `weighted_clusters.clusters[]`. */
export interface WeightedClusterModel {
  /** `name`; "" when `clusterHeader` names the cluster. */
  name: string;
  /** `cluster_header` (lower-cased). */
  clusterHeader?: string;
  weight: number;
  headerMutations?: HeaderMutationsModel;
  hostRewriteLiteral?: string;
}

/** How a `route` action names its cluster when `cluster` is not set. */
export type ClusterSpecifierModel =
  | {
      kind: "weighted";
      clusters: WeightedClusterModel[];
      /** `runtime_key_prefix`: a runtime value `<prefix>.<name>` replaces a cluster's weight. */
      runtimeKeyPrefix?: string;
      /** `header_name`: a request header carrying the random value (a uint64), for consistent picks across proxies. */
      headerName?: string;
    }
  /** `cluster_header` (lower-cased): the request header's first value names the cluster. */
  | { kind: "header"; header: string };

/** Rewrites of a `route` action; at most one path and one host rewrite. */
export interface RouteRewriteModel {
  prefixRewrite?: string;
  regexRewrite?: RegexRewriteModel;
  hostRewriteLiteral?: string;
  autoHostRewrite?: boolean;
  /** `host_rewrite_header` (lower-cased). */
  hostRewriteHeader?: string;
}

/** `envoy.config.route.v3.RedirectAction`. */
export interface RedirectModel {
  /** `https_redirect` (as "https") or `scheme_redirect`, lower-cased. */
  scheme?: string;
  host?: string;
  port?: number;
  pathRedirect?: string;
  prefixRewrite?: string;
  regexRewrite?: RegexRewriteModel;
  /** 301 (default), 302, 303, 307 or 308. */
  responseCode: number;
  stripQuery: boolean;
}

/** What the HCM does to headers on its own (Envoy's ConnectionManagerUtility), defaults applied. */
export interface HcmHeaderPolicyModel {
  /** Default false. */
  useRemoteAddress: boolean;
  /** Default 0. */
  xffNumTrustedHops: number;
  /** Default false. */
  skipXffAppend: boolean;
  /** `via`: appended to request and response `via` headers; empty: none. */
  via: string;
  /** Default true. */
  generateRequestId: boolean;
  /** Default false. */
  preserveExternalRequestId: boolean;
  /** Default false. */
  alwaysSetRequestIdInResponse: boolean;
  /** Default "envoy", as Envoy. */
  serverName: string;
  /** Default OVERWRITE. */
  serverHeaderTransformation: "OVERWRITE" | "APPEND_IF_ABSENT" | "PASS_THROUGH";
}

// ---- TLS transport sockets (shared/config/compile-tls.ts, tcp-tier/src/tls/*) ----

export type TlsVersionModel = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

/** `TlsCertificate`: PEM text (DataSources resolved). */
export interface TlsCertificateModel {
  certificateChainPem: string;
  privateKeyPem: string;
  /** `password` for an encrypted private key. */
  password?: string;
}

/** `CertificateValidationContext`, as far as Legate supports it. */
export interface CertificateValidationModel {
  /** `trusted_ca` PEM; absent: the chain is not verified (only pins and SAN matchers apply). */
  trustedCaPem?: string;
  /** `crl` PEM (needs `trustedCaPem`). */
  crlPem?: string;
  /** `match_typed_subject_alt_names`: any one must match a SAN of its type; empty: no SAN check. */
  subjectAltNames: { type: "DNS" | "URI" | "EMAIL" | "IP_ADDRESS"; matcher: StringMatcherModel }[];
  /** `verify_certificate_spki`: base64 SHA-256 of the DER SubjectPublicKeyInfo. */
  spkiPins: string[];
  /** `verify_certificate_hash`: lower-case hex SHA-256 of the DER certificate, no colons. */
  certificateHashes: string[];
  /** `trust_chain_verification: ACCEPT_UNTRUSTED`: chain errors are counted but not fatal. */
  acceptUntrusted: boolean;
}

/** `CommonTlsContext` + `TlsParameters`, defaults applied. */
export interface CommonTlsModel {
  /** `tls_certificates`, in config order; the first is the default when no SAN matches the SNI. */
  certificates: TlsCertificateModel[];
  alpnProtocols: string[];
  /** Default TLSv1.2 (Envoy's default for both sides). */
  minVersion: TlsVersionModel;
  /** Default TLSv1.3 for servers, TLSv1.2 for clients (Envoy's defaults). */
  maxVersion: TlsVersionModel;
  /** `cipher_suites` as an OpenSSL cipher list (`:`-joined); absent: Envoy's default list. */
  cipherSuites?: string;
  /** `ecdh_curves` (`:`-joined); absent: Envoy's default `X25519:P-256`. */
  ecdhCurves?: string;
  validation?: CertificateValidationModel;
}

/** `envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`. */
export interface DownstreamTlsModel extends CommonTlsModel {
  /** `require_client_certificate`; default false. */
  requireClientCertificate: boolean;
  /**
   * True for `envoy.transport_sockets.starttls` (its `tls_socket_config`): the connection starts in clear
   * text and switches to TLS only when a network filter asks (postgres_proxy `terminate_ssl`).
   */
  startTls?: boolean;
}

/** `envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`. */
export interface UpstreamTlsModel extends CommonTlsModel {
  /** `sni`; absent: no SNI sent. */
  sni?: string;
  /**
   * True for `envoy.transport_sockets.starttls` (`UpstreamStartTlsConfig.tls_socket_config`): upstream
   * connections start in clear text and switch to TLS when a filter asks (postgres_proxy `upstream_ssl`).
   */
  startTls?: boolean;
}

// ---- UDP listeners and udp_proxy (shared/config/compile-udp-proxy.ts, tcp-tier/src/udp/) ----

/** A UDP listener, defaults applied. */
export interface UdpListenerModel {
  /** `udp_listener_config.downstream_socket_config.max_rx_datagram_size`; default 1500. Larger datagrams are dropped and counted. */
  maxRxDatagramSize: number;
  /** The listener's `envoy.filters.udp_listener.udp_proxy`; absent: datagrams are read and dropped. */
  proxy?: UdpProxyModel;
}

/** What a generic matcher's input reads from a UDP session (Envoy's network matching inputs). */
export type NetworkMatchInput = "source_ip" | "source_port" | "destination_ip" | "destination_port";

/** `xds.type.matcher.v3.Matcher`, with the actions already compiled to `A`. */
export interface MatcherModel<A> {
  /** `matcher_list` (first match wins) or `matcher_tree`; absent: only `onNoMatch`. */
  list?: { predicate: MatchPredicateModel; onMatch: OnMatchModel<A> }[];
  tree?: MatchTreeModel<A>;
  /** `on_no_match`; absent: no match. */
  onNoMatch?: OnMatchModel<A>;
}

/** `Matcher.OnMatch`: an action, or a nested matcher. */
export type OnMatchModel<A> = { action: A } | { matcher: MatcherModel<A> };

/** `MatcherTree`: an exact or prefix map (longest key wins) over one input. */
export interface MatchTreeModel<A> {
  kind: "exact" | "prefix";
  input: NetworkMatchInput;
  map: Map<string, OnMatchModel<A>>;
}

/** `MatcherList.Predicate`. */
export type MatchPredicateModel =
  | { kind: "string"; input: NetworkMatchInput; matcher: StringMatcherModel }
  | { kind: "ip"; input: NetworkMatchInput; ranges: CidrRangeModel[] }
  | { kind: "and" | "or"; predicates: MatchPredicateModel[] }
  | { kind: "not"; predicate: MatchPredicateModel };

/** `envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig`, defaults applied. */
export interface UdpProxyModel {
  kind: "udp_proxy";
  name: string;
  statPrefix: string;
  /** The route: the deprecated `cluster` (a matcher with only `onNoMatch`), or `matcher` whose actions name clusters. */
  matcher: MatcherModel<string>;
  /** `idle_timeout`; default 60 s; 0 disables it. */
  idleTimeoutMs: number;
  /** `hash_policies` (at most one): the session's hash for RING_HASH and MAGLEV. */
  hashPolicy?: { kind: "source_ip" } | { kind: "key"; key: string };
  /** `upstream_socket_config.max_rx_datagram_size`; default 1500. */
  upstreamMaxRxDatagramSize: number;
  /** `use_per_packet_load_balancing`; default false (one host per session). */
  perPacketLoadBalancing: boolean;
}

// ---- Network rbac and local_ratelimit (shared/config/compile-network-filters.ts) ----

export type RbacPermissionModel =
  | { kind: "any" }
  | { kind: "and" | "or"; rules: RbacPermissionModel[] }
  | { kind: "not"; rule: RbacPermissionModel }
  | { kind: "destination_ip"; range: CidrRangeModel }
  | { kind: "destination_port"; port: number }
  /** `[start, end)`. */
  | { kind: "destination_port_range"; start: number; end: number }
  | { kind: "requested_server_name"; matcher: StringMatcherModel };

export type RbacPrincipalModel =
  | { kind: "any" }
  | { kind: "and" | "or"; ids: RbacPrincipalModel[] }
  | { kind: "not"; id: RbacPrincipalModel }
  /** `remote_ip` and the deprecated `source_ip`: the peer as filters see it (a PROXY header's source). */
  | { kind: "remote_ip"; range: CidrRangeModel }
  /** `direct_remote_ip`: the socket's own peer. */
  | { kind: "direct_remote_ip"; range: CidrRangeModel }
  /** `authenticated`: a TLS connection; with `principalName`, a URI SAN, else a DNS SAN, else the subject must match. */
  | { kind: "authenticated"; principalName?: StringMatcherModel };

export interface RbacPolicyModel {
  name: string;
  /** Any one must match. */
  permissions: RbacPermissionModel[];
  /** Any one must match. */
  principals: RbacPrincipalModel[];
}

/** `envoy.config.rbac.v3.RBAC`: policies in name order (Envoy's map order). */
export interface RbacRulesModel {
  action: "ALLOW" | "DENY";
  policies: RbacPolicyModel[];
}

/** `envoy.extensions.filters.network.rbac.v3.RBAC`, defaults applied. */
export interface RbacNetworkModel {
  kind: "rbac";
  name: string;
  /** Stats go to `<statPrefix>rbac.` (a `.` is added after a prefix that lacks one). */
  statPrefix: string;
  /** `rules`; absent: every connection is allowed. */
  rules?: RbacRulesModel;
  /** `shadow_rules`: evaluated and counted, never enforced. */
  shadowRules?: RbacRulesModel;
  /** `shadow_rules_stat_prefix`; default "". */
  shadowRulesStatPrefix: string;
  /** `enforcement_type`; default ONE_TIME_ON_FIRST_BYTE. */
  enforcementType: "ONE_TIME_ON_FIRST_BYTE" | "CONTINUOUS";
}

/** `envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit`, defaults applied. */
export interface LocalRateLimitNetworkModel {
  kind: "local_ratelimit";
  name: string;
  /** Stats go to `local_rate_limit.<statPrefix>.`. */
  statPrefix: string;
  /** `token_bucket`: starts full with `maxTokens`; adds `tokensPerFill` (default 1) every `fillIntervalMs` (at least 50 ms). */
  tokenBucket: { maxTokens: number; tokensPerFill: number; fillIntervalMs: number };
  /** `runtime_enabled`: the runtime key read per connection and its default; absent: always enabled. */
  runtimeEnabled?: { runtimeKey: string; defaultValue: boolean };
}

// ---- Redis proxy (shared/config/compile-redis-proxy.ts) ----

/** One `prefix_routes` route (or the catch-all route, whose prefix is ""). */
export interface RedisRouteModel {
  prefix: string;
  removePrefix: boolean;
  cluster: string;
  /** `request_mirror_policy`: each command (writes only when `excludeReadCommands`) also goes to `cluster`, reply ignored. */
  mirrors: { cluster: string; excludeReadCommands: boolean }[];
}

/** `envoy.extensions.filters.network.redis_proxy.v3.RedisProxy`, defaults applied. */
export interface RedisProxyModel {
  kind: "redis_proxy";
  name: string;
  /** Stats go to `redis.<statPrefix>.`. */
  statPrefix: string;
  /** `settings.op_timeout` (required). */
  opTimeoutMs: number;
  enableHashtagging: boolean;
  enableCommandStats: boolean;
  /** `settings.max_buffer_size_before_flush`; 0: upstream writes are flushed once per event-loop turn. */
  maxBufferSizeBeforeFlush: number;
  /** `settings.buffer_flush_timeout`; default 3 ms (used when maxBufferSizeBeforeFlush > 0). */
  bufferFlushTimeoutMs: number;
  /** `latency_in_micros`: command latency histograms in microseconds instead of milliseconds. */
  latencyInMicros: boolean;
  /** `prefix_routes.routes`, longest prefix first. */
  routes: RedisRouteModel[];
  /** `prefix_routes.case_insensitive`. */
  caseInsensitive: boolean;
  /** `prefix_routes.catch_all_route`; absent: a key no route matches gets an error. */
  catchAll?: RedisRouteModel;
  /** `downstream_auth_passwords` (and the deprecated `downstream_auth_password`); empty: no AUTH needed. */
  downstreamAuthPasswords: string[];
  /** `downstream_auth_username`; with passwords, AUTH must name this user. */
  downstreamAuthUsername?: string;
}

// ---- Postgres proxy (shared/config/compile-postgres-proxy.ts) ----

/** `envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy`, defaults applied (a non-terminal sniffing filter). */
export interface PostgresProxyModel {
  kind: "postgres_proxy";
  name: string;
  /** Stats go to `postgres.<statPrefix>.`. */
  statPrefix: string;
  /** `enable_sql_parsing`; default true: Query and Parse SQL is tokenized (statements_parsed / statements_parse_error). */
  enableSqlParsing: boolean;
  /** `terminate_ssl`; default false. True: the proxy answers the client's SSLRequest and terminates TLS (the chain has a starttls transport socket). */
  terminateSsl: boolean;
  /** `upstream_ssl`; default DISABLE. REQUIRE / ALLOW: the proxy asks the server for TLS before the startup message (the cluster has a starttls transport socket). */
  upstreamSsl: "DISABLE" | "REQUIRE" | "ALLOW";
}

// ---- Mongo proxy (shared/config/compile-mongo-proxy.ts) ----

/** `envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy`, defaults applied. Not terminal: sniffs only. */
export interface MongoProxyModel {
  kind: "mongo_proxy";
  name: string;
  /** Stats go to `mongo.<statPrefix>.`. */
  statPrefix: string;
  /** `access_log`: a file JSON lines are appended to; absent: no log. */
  accessLog?: string;
  /** `delay` (FaultDelay with fixed_delay); absent: no fault. */
  delay?: { fixedDelayMs: number; percentage: FractionalPercentModel };
  /** `commands` to keep `cmd.<name>.*` stats for; default delete, insert, update. */
  commands: string[];
}
