/**
 * The Envoy v3 fields Legate implements, per message full name: the support layer of the validator
 * (shared/config/validate.ts) and the source of docs/config-coverage.md.
 *
 * Rules the validator derives from this table:
 * - A message listed here is "modelled": a field set in it that is not listed is an `unsupported` issue
 *   naming the field and, when {@link MessageSupport.features} knows it, the Envoy feature behind it.
 *   A proto3 scalar left at its default (`false`, `0`, `""`, an empty list) counts as not set, as in Envoy.
 * - A listed enum field with {@link FieldSupport.values} accepts only those values (valid Envoy values
 *   outside the list are `unsupported`); without `values`, every value Envoy defines is supported.
 * - Inside a field that is not supported, nothing more is checked for support (one issue per feature),
 *   though Envoy's schema is still enforced there.
 * - Extensions (`typed_config` of the wrappers in {@link EXTENSION_POINTS}) are supported when
 *   shared/config/extensions.ts lists them; their config message must then be listed here too.
 *
 * To support a new field: add a row here (with a one-line note), implement it in compile.ts/the tiers,
 * and run `npx tsx scripts/gen-config-coverage.ts` to refresh the doc (a test compares the two).
 */
import type { ExtensionCategory } from "./extensions.ts";

export interface FieldSupport {
  /** One line for docs/config-coverage.md: what Legate does with the field, and its default. */
  note: string;
  /** For enum fields: the values Legate implements. Absent: every value Envoy defines. */
  values?: readonly string[];
}

export interface MessageSupport {
  /** The supported fields, by proto field name. */
  fields: Readonly<Record<string, FieldSupport>>;
  /** Names of the Envoy features behind fields that are NOT supported, used in issue messages. */
  features?: Readonly<Record<string, string>>;
}

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const ROUTE = "envoy.config.route.v3";
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3";

/** The supported-field table. Keys are protobuf full names without the leading dot. */
export const SUPPORTED: Readonly<Record<string, MessageSupport>> = {
  [BOOTSTRAP]: {
    fields: {
      node: { note: "Node identity, reported by the admin endpoints." },
      static_resources: { note: "Listeners and clusters; the only resources Legate loads." },
      admin: { note: "Envoy's admin port, served by the tcp tier." },
      layered_runtime: { note: "Runtime layers; static layers are merged in order, later layers win." },
    },
    features: {
      dynamic_resources: "dynamic configuration (xDS)",
      cluster_manager: "cluster manager settings",
      hds_config: "health discovery service",
      flags_path: "flag files",
      stats_sinks: "stats sinks",
      stats_config: "stats tags and matchers",
      stats_flush_interval: "stats flushing",
      stats_flush_on_admin: "stats flushing",
      deferred_stat_options: "deferred stats",
      watchdog: "watchdogs",
      watchdogs: "watchdogs",
      tracing: "tracing",
      overload_manager: "the overload manager",
      enable_dispatcher_stats: "dispatcher stats",
      header_prefix: "custom x-envoy header prefixes",
      stats_server_version_override: "server version override",
      use_tcp_for_dns_lookups: "DNS resolver settings",
      dns_resolution_config: "DNS resolver settings",
      typed_dns_resolver_config: "custom DNS resolvers",
      bootstrap_extensions: "bootstrap extensions",
      fatal_actions: "fatal actions",
      config_sources: "config sources",
      default_config_source: "config sources",
      default_socket_interface: "custom socket interfaces",
      certificate_provider_instances: "certificate providers",
      inline_headers: "custom inline headers",
      default_regex_engine: "regex engine settings",
      listener_manager: "custom listener managers",
      application_log_config: "application log settings",
      node_context_params: "xDS context parameters",
    },
  },
  [`${BOOTSTRAP}.StaticResources`]: {
    fields: {
      listeners: { note: "Static listeners. The one marked for the edge is served by the Worker; the others by the tcp tier." },
      clusters: { note: "Static clusters (upstreams)." },
    },
    features: { secrets: "static TLS secrets" },
  },
  "envoy.config.bootstrap.v3.Admin": {
    fields: {
      address: { note: "Where the admin port listens (tcp tier)." },
      access_log: { note: "Admin access logs; only the file access logger." },
      access_log_path: { note: "Deprecated Envoy shorthand for a file access log of the admin port." },
    },
    features: { profile_path: "CPU profiling", socket_options: "socket options", ignore_global_conn_limit: "global connection limits" },
  },
  "envoy.config.core.v3.Node": {
    fields: {
      id: { note: "Node id, shown by /server_info. Default empty." },
      cluster: { note: "Node cluster, shown by /server_info. Default empty." },
    },
    features: {
      metadata: "node metadata",
      dynamic_parameters: "xDS context parameters",
      locality: "node locality (zone-aware routing)",
      user_agent_name: "xDS user agent",
      user_agent_version: "xDS user agent",
      user_agent_build_version: "xDS user agent",
      extensions: "xDS client features",
      client_features: "xDS client features",
      listening_addresses: "xDS listening addresses",
    },
  },
  "envoy.config.bootstrap.v3.LayeredRuntime": {
    fields: { layers: { note: "Runtime layers in order; later layers override earlier ones." } },
  },
  "envoy.config.bootstrap.v3.RuntimeLayer": {
    fields: {
      name: { note: "Layer name (required by Envoy)." },
      static_layer: { note: "Static runtime values, flattened to dotted keys." },
    },
    features: { disk_layer: "disk runtime layers", admin_layer: "the admin runtime layer", rtds_layer: "runtime discovery (RTDS)" },
  },
  "envoy.config.listener.v3.Listener": {
    fields: {
      name: { note: "Listener name; default `<address>_<port>`. Names must be unique." },
      address: { note: "The socket address the tcp tier binds (ignored for the edge listener)." },
      filter_chains: { note: "Filter chains, chosen by filter_chain_match as in Envoy." },
      default_filter_chain: { note: "The chain used when no filter_chain_match matches." },
      listener_filters: { note: "Listener filters in order (none implemented yet: each is reported as unsupported)." },
      per_connection_buffer_limit_bytes: { note: "Read/write buffer limit per connection; default 1 MiB." },
      metadata: { note: "Only `filter_metadata.legate.edge: true` has a meaning: it marks the edge listener." },
    },
    features: {
      additional_addresses: "additional listener addresses",
      stat_prefix: "custom listener stat prefixes",
      filter_chain_matcher: "the filter chain matcher API",
      use_original_dst: "original destination redirection",
      drain_type: "drain types",
      listener_filters_timeout: "listener filter timeouts",
      continue_on_listener_filters_timeout: "listener filter timeouts",
      transparent: "transparent sockets",
      freebind: "freebind sockets",
      socket_options: "socket options",
      tcp_fast_open_queue_length: "TCP Fast Open",
      traffic_direction: "traffic direction",
      udp_listener_config: "UDP listener settings (QUIC)",
      api_listener: "API listeners",
      connection_balance_config: "connection balancing",
      reuse_port: "SO_REUSEPORT settings",
      enable_reuse_port: "SO_REUSEPORT settings",
      access_log: "listener access logs",
      tcp_backlog_size: "TCP backlog size",
      max_connections_to_accept_per_socket_event: "accept batching",
      bind_to_port: "unbound listeners",
      internal_listener: "internal listeners",
      enable_mptcp: "MPTCP",
      ignore_global_conn_limit: "global connection limits",
      bypass_overload_manager: "the overload manager",
      deprecated_v1: "v1 listener options",
    },
  },
  "envoy.config.listener.v3.FilterChain": {
    fields: {
      filter_chain_match: { note: "Criteria selecting this chain; the most specific match wins, as in Envoy." },
      filters: { note: "Network filters in order; the last one is terminal." },
      name: { note: "Chain name, for stats and logs. Default empty." },
    },
    features: {
      transport_socket: "downstream TLS",
      transport_socket_connect_timeout: "downstream TLS handshake timeouts",
      metadata: "filter chain metadata",
      on_demand_configuration: "on-demand filter chains",
      use_proxy_proto: "the PROXY protocol",
    },
  },
  "envoy.config.listener.v3.FilterChainMatch": {
    fields: {
      destination_port: { note: "Local port the connection was accepted on." },
      server_names: { note: "SNI names (exact or `*.suffix`), set by the TLS inspector." },
      transport_protocol: { note: "`raw_buffer` or `tls`, set by the TLS inspector." },
      application_protocols: { note: "ALPN values, set by the TLS inspector." },
    },
    features: {
      prefix_ranges: "destination IP matching",
      address_suffix: "destination IP matching",
      suffix_len: "destination IP matching",
      direct_source_prefix_ranges: "source IP matching",
      source_type: "source type matching",
      source_prefix_ranges: "source IP matching",
      source_ports: "source port matching",
    },
  },
  "envoy.config.listener.v3.Filter": {
    fields: {
      name: { note: "Extension name; used to find the filter when there is no typed_config." },
      typed_config: { note: "The filter's config; its `@type` selects the filter." },
    },
    features: { config_discovery: "extension config discovery (ECDS)" },
  },
  "envoy.config.listener.v3.ListenerFilter": {
    fields: {
      name: { note: "Extension name; used to find the filter when there is no typed_config." },
      typed_config: { note: "The filter's config; its `@type` selects the filter." },
    },
    features: { config_discovery: "extension config discovery (ECDS)", filter_disabled: "listener filter predicates" },
  },
  "envoy.config.core.v3.Metadata": {
    fields: { filter_metadata: { note: "Untyped metadata by filter name; `legate.edge` is read on listeners." } },
    features: { typed_filter_metadata: "typed metadata" },
  },
  "envoy.config.core.v3.Address": {
    fields: { socket_address: { note: "An IP (or DNS name, for clusters) and port." } },
    features: { pipe: "Unix domain sockets", envoy_internal_address: "internal addresses" },
  },
  "envoy.config.core.v3.SocketAddress": {
    fields: {
      address: { note: "IP address, or a host name for STRICT_DNS/LOGICAL_DNS endpoints." },
      port_value: { note: "Port; 0 asks the OS for a free port (listeners)." },
      protocol: { note: "TCP (default) or UDP." },
    },
    features: { named_port: "named ports", resolver_name: "custom resolvers", ipv4_compat: "IPv4-compatible IPv6 sockets" },
  },
  "envoy.config.core.v3.DataSource": {
    fields: {
      filename: { note: "Read at validation time and inlined, so the edge never reads files." },
      inline_bytes: { note: "Base64 bytes." },
      inline_string: { note: "A string." },
    },
    features: { environment_variable: "environment-variable data sources", watched_directory: "watched directories" },
  },
  "envoy.config.accesslog.v3.AccessLog": {
    fields: {
      name: { note: "Extension name; used when there is no typed_config." },
      typed_config: { note: "The access logger; only envoy.access_loggers.file." },
    },
    features: { filter: "access log filters" },
  },
  "envoy.extensions.access_loggers.file.v3.FileAccessLog": {
    fields: { path: { note: "File the log lines are appended to (Envoy's default format)." } },
    features: {
      format: "access log formats",
      json_format: "access log formats",
      typed_json_format: "access log formats",
      log_format: "access log formats",
    },
  },
  "envoy.config.cluster.v3.Cluster": {
    fields: {
      name: { note: "Cluster name (required, unique); routes and tcp_proxy refer to it." },
      type: { note: "Service discovery type; default STATIC.", values: ["STATIC", "STRICT_DNS", "LOGICAL_DNS"] },
      connect_timeout: { note: "Upstream connect timeout; default 5 s." },
      lb_policy: { note: "Load balancer; default ROUND_ROBIN.", values: ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] },
      dns_lookup_family: { note: "Address families resolved for DNS clusters; default AUTO." },
      dns_refresh_rate: { note: "Re-resolution interval for DNS clusters; default 5 s." },
      per_connection_buffer_limit_bytes: { note: "Buffer limit per upstream connection; default 1 MiB." },
      load_assignment: { note: "The cluster's endpoints." },
    },
    features: {
      transport_socket_matches: "upstream TLS",
      transport_socket: "upstream TLS",
      alt_stat_name: "alternative stat names",
      cluster_type: "custom cluster types",
      eds_cluster_config: "endpoint discovery (EDS)",
      health_checks: "active health checking",
      max_requests_per_connection: "per-connection request limits",
      circuit_breakers: "circuit breaking",
      upstream_http_protocol_options: "upstream HTTP protocol options",
      common_http_protocol_options: "upstream HTTP protocol options",
      http_protocol_options: "upstream HTTP/1 options",
      http2_protocol_options: "upstream HTTP/2",
      typed_extension_protocol_options: "upstream HTTP protocol options",
      dns_failure_refresh_rate: "DNS failure back-off",
      respect_dns_ttl: "DNS TTLs",
      dns_resolvers: "custom DNS resolvers",
      use_tcp_for_dns_lookups: "DNS resolver settings",
      dns_resolution_config: "DNS resolver settings",
      typed_dns_resolver_config: "custom DNS resolvers",
      wait_for_warm_on_init: "cluster warming",
      outlier_detection: "outlier detection",
      cleanup_interval: "original destination clusters",
      upstream_bind_config: "upstream source addresses",
      lb_subset_config: "subset load balancing",
      ring_hash_lb_config: "ring hash load balancing",
      maglev_lb_config: "Maglev load balancing",
      original_dst_lb_config: "original destination load balancing",
      least_request_lb_config: "least-request tuning",
      round_robin_lb_config: "round-robin tuning",
      common_lb_config: "common load balancing settings (panic threshold, zone-aware routing)",
      metadata: "cluster metadata",
      protocol_selection: "upstream protocol selection",
      upstream_connection_options: "upstream TCP keepalive",
      close_connections_on_host_health_failure: "health-driven connection closing",
      ignore_health_on_host_removal: "health-driven host removal",
      filters: "upstream network filters",
      load_balancing_policy: "load balancing policy extensions",
      lrs_server: "load reporting (LRS)",
      lrs_report_endpoint_metrics: "load reporting (LRS)",
      track_timeout_budgets: "timeout budget stats",
      upstream_config: "custom upstream connection pools",
      track_cluster_stats: "extra cluster stats",
      preconnect_policy: "preconnecting",
      connection_pool_per_downstream_connection: "per-downstream connection pools",
    },
  },
  "envoy.config.endpoint.v3.ClusterLoadAssignment": {
    fields: {
      cluster_name: { note: "Required by Envoy; ignored for static clusters." },
      endpoints: { note: "Endpoint groups; flattened into one list (no localities or priorities yet)." },
    },
    features: { named_endpoints: "named endpoints", policy: "overprovisioning and drop policies" },
  },
  "envoy.config.endpoint.v3.LocalityLbEndpoints": {
    fields: { lb_endpoints: { note: "The hosts of the group." } },
    features: {
      locality: "locality-aware load balancing",
      metadata: "locality metadata",
      load_balancer_endpoints: "endpoint lists",
      leds_cluster_locality_config: "locality endpoint discovery (LEDS)",
      load_balancing_weight: "locality weights",
      priority: "priority levels",
      proximity: "locality proximity",
    },
  },
  "envoy.config.endpoint.v3.LbEndpoint": {
    fields: {
      endpoint: { note: "The host." },
      load_balancing_weight: { note: "Host weight for ROUND_ROBIN/LEAST_REQUEST/RANDOM; default 1." },
    },
    features: { endpoint_name: "named endpoints", health_status: "static endpoint health status", metadata: "endpoint metadata" },
  },
  "envoy.config.endpoint.v3.Endpoint": {
    fields: { address: { note: "The host's address." } },
    features: {
      health_check_config: "per-endpoint health check settings",
      hostname: "endpoint host names",
      additional_addresses: "additional endpoint addresses",
    },
  },
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy": {
    fields: {
      stat_prefix: { note: "Stats prefix: `tcp.<stat_prefix>.`." },
      cluster: { note: "The upstream cluster." },
    },
    features: {
      weighted_clusters: "weighted clusters",
      on_demand: "on-demand clusters",
      metadata_match: "subset load balancing",
      idle_timeout: "TCP proxy idle timeouts",
      downstream_idle_timeout: "TCP proxy idle timeouts",
      upstream_idle_timeout: "TCP proxy idle timeouts",
      access_log: "TCP proxy access logs",
      max_connect_attempts: "connect retries",
      hash_policy: "hash policies",
      tunneling_config: "tunneling over HTTP",
      max_downstream_connection_duration: "connection duration limits",
      access_log_flush_interval: "TCP proxy access logs",
      flush_access_log_on_connected: "TCP proxy access logs",
      access_log_options: "TCP proxy access logs",
    },
  },
  [`${HCM}.HttpConnectionManager`]: {
    fields: {
      stat_prefix: { note: "Stats prefix: `http.<stat_prefix>.`." },
      codec_type: { note: "Downstream codec; default AUTO.", values: ["AUTO", "HTTP1", "HTTP2"] },
      route_config: { note: "The static route table." },
      http_filters: { note: "HTTP filters in order; the last must be the router." },
    },
    features: {
      rds: "dynamic routes (RDS)",
      scoped_routes: "scoped routes",
      add_user_agent: "user agent headers",
      tracing: "tracing",
      common_http_protocol_options: "HTTP protocol options (idle timeouts, header limits)",
      http_protocol_options: "HTTP/1 options",
      http2_protocol_options: "HTTP/2 options",
      http3_protocol_options: "HTTP/3",
      server_name: "server header settings",
      server_header_transformation: "server header settings",
      scheme_header_transformation: "scheme header settings",
      max_request_headers_kb: "request header size limits",
      stream_idle_timeout: "HTTP timeouts",
      request_timeout: "HTTP timeouts",
      request_headers_timeout: "HTTP timeouts",
      drain_timeout: "HTTP timeouts",
      delayed_close_timeout: "HTTP timeouts",
      access_log: "HTTP access logs",
      access_log_flush_interval: "HTTP access logs",
      flush_access_log_on_new_request: "HTTP access logs",
      access_log_options: "HTTP access logs",
      use_remote_address: "X-Forwarded-For handling",
      xff_num_trusted_hops: "X-Forwarded-For handling",
      original_ip_detection_extensions: "original IP detection",
      early_header_mutation_extensions: "early header mutation",
      internal_address_config: "internal address settings",
      skip_xff_append: "X-Forwarded-For handling",
      via: "Via headers",
      generate_request_id: "request IDs",
      preserve_external_request_id: "request IDs",
      always_set_request_id_in_response: "request IDs",
      forward_client_cert_details: "client certificate forwarding",
      set_current_client_cert_details: "client certificate forwarding",
      proxy_100_continue: "100-continue proxying",
      represent_ipv4_remote_address_as_ipv4_mapped_ipv6: "IPv4-mapped remote addresses",
      upgrade_configs: "HTTP upgrades (WebSocket, CONNECT)",
      normalize_path: "path normalization",
      merge_slashes: "path normalization",
      path_with_escaped_slashes_action: "path normalization",
      request_id_extension: "request IDs",
      local_reply_config: "local reply customisation",
      strip_matching_host_port: "host port stripping",
      strip_any_host_port: "host port stripping",
      stream_error_on_invalid_http_message: "invalid message handling",
      path_normalization_options: "path normalization",
      strip_trailing_host_dot: "host normalization",
      proxy_status_config: "Proxy-Status headers",
      typed_header_validation_config: "header validation extensions",
      append_x_forwarded_port: "X-Forwarded-Port",
      append_local_overload: "the overload manager",
      add_proxy_protocol_connection_state: "PROXY protocol state",
    },
  },
  [`${HCM}.HttpFilter`]: {
    fields: {
      name: { note: "Extension name; used to find the filter when there is no typed_config." },
      typed_config: { note: "The filter's config; its `@type` selects the filter." },
      is_optional: { note: "An unsupported optional filter is skipped with a warning, as Envoy skips unknown ones." },
    },
    features: { config_discovery: "extension config discovery (ECDS)", disabled: "disabled-by-default filters" },
  },
  "envoy.extensions.filters.http.router.v3.Router": {
    fields: {},
    features: {
      dynamic_stats: "router options",
      start_child_span: "tracing",
      upstream_log: "upstream access logs",
      upstream_log_options: "upstream access logs",
      suppress_envoy_headers: "router options",
      strict_check_headers: "router options",
      respect_expected_rq_timeout: "router options",
      suppress_grpc_request_failure_code_stats: "router options",
      upstream_http_filters: "upstream HTTP filters",
    },
  },
  [`${ROUTE}.RouteConfiguration`]: {
    fields: {
      name: { note: "Route table name, for stats. Default empty." },
      virtual_hosts: { note: "Virtual hosts, chosen by Host header as in Envoy (exact, then suffix, then prefix wildcards, then `*`)." },
    },
    features: {
      vhds: "virtual host discovery (VHDS)",
      internal_only_headers: "internal-only headers",
      response_headers_to_add: "header manipulation",
      response_headers_to_remove: "header manipulation",
      request_headers_to_add: "header manipulation",
      request_headers_to_remove: "header manipulation",
      most_specific_header_mutations_wins: "header manipulation",
      validate_clusters: "cluster validation settings",
      max_direct_response_body_size_bytes: "direct response size limits",
      cluster_specifier_plugins: "cluster specifier plugins",
      request_mirror_policies: "request mirroring",
      ignore_port_in_host_matching: "host matching options",
      ignore_path_parameters_in_path_matching: "path matching options",
      typed_per_filter_config: "per-route filter configuration",
      metadata: "route metadata",
    },
  },
  [`${ROUTE}.VirtualHost`]: {
    fields: {
      name: { note: "Virtual host name (required), for stats." },
      domains: { note: "Host names: exact, `*.suffix`, `prefix*` or `*`; each unique across the route table." },
      routes: { note: "Routes in order; the first match wins." },
    },
    features: {
      matcher: "the matcher API",
      require_tls: "TLS requirements",
      virtual_clusters: "virtual clusters",
      rate_limits: "rate limiting",
      request_headers_to_add: "header manipulation",
      request_headers_to_remove: "header manipulation",
      response_headers_to_add: "header manipulation",
      response_headers_to_remove: "header manipulation",
      cors: "CORS",
      typed_per_filter_config: "per-route filter configuration",
      include_request_attempt_count: "attempt count headers",
      include_attempt_count_in_response: "attempt count headers",
      retry_policy: "retries",
      retry_policy_typed_config: "retries",
      hedge_policy: "hedging",
      include_is_timeout_retry_header: "retries",
      per_request_buffer_limit_bytes: "request buffer limits",
      request_mirror_policies: "request mirroring",
      metadata: "route metadata",
    },
  },
  [`${ROUTE}.Route`]: {
    fields: {
      name: { note: "Route name, for logs. Default empty." },
      match: { note: "What the route matches." },
      route: { note: "Forward to a cluster." },
      direct_response: { note: "Answer locally with a status and an optional body." },
    },
    features: {
      redirect: "redirects",
      filter_action: "filter actions",
      non_forwarding_action: "non-forwarding actions",
      metadata: "route metadata",
      decorator: "tracing decorators",
      typed_per_filter_config: "per-route filter configuration",
      request_headers_to_add: "header manipulation",
      request_headers_to_remove: "header manipulation",
      response_headers_to_add: "header manipulation",
      response_headers_to_remove: "header manipulation",
      tracing: "tracing",
      per_request_buffer_limit_bytes: "request buffer limits",
      stat_prefix: "per-route stats",
    },
  },
  [`${ROUTE}.RouteMatch`]: {
    fields: {
      prefix: { note: "Path prefix match." },
      path: { note: "Exact path match (without the query string)." },
      case_sensitive: { note: "Whether prefix/path compare case-sensitively; default true." },
    },
    features: {
      safe_regex: "regex path matching",
      connect_matcher: "CONNECT matching",
      path_separated_prefix: "path-separated prefix matching",
      path_match_policy: "path templates",
      runtime_fraction: "runtime fractions",
      headers: "header matching",
      query_parameters: "query parameter matching",
      grpc: "gRPC matching",
      tls_context: "TLS context matching",
      dynamic_metadata: "metadata matching",
    },
  },
  [`${ROUTE}.RouteAction`]: {
    fields: { cluster: { note: "The upstream cluster." } },
    features: {
      cluster_header: "header-selected clusters",
      weighted_clusters: "weighted clusters",
      cluster_specifier_plugin: "cluster specifier plugins",
      inline_cluster_specifier_plugin: "cluster specifier plugins",
      cluster_not_found_response_code: "cluster-not-found settings",
      metadata_match: "subset load balancing",
      prefix_rewrite: "path rewrites",
      regex_rewrite: "path rewrites",
      path_rewrite_policy: "path rewrites",
      host_rewrite_literal: "host rewrites",
      auto_host_rewrite: "host rewrites",
      host_rewrite_header: "host rewrites",
      host_rewrite_path_regex: "host rewrites",
      append_x_forwarded_host: "host rewrites",
      timeout: "route timeouts",
      idle_timeout: "route idle timeouts",
      early_data_policy: "early data",
      retry_policy: "retries",
      retry_policy_typed_config: "retries",
      request_mirror_policies: "request mirroring",
      priority: "routing priorities",
      rate_limits: "rate limiting",
      include_vh_rate_limits: "rate limiting",
      hash_policy: "hash policies",
      cors: "CORS",
      max_grpc_timeout: "gRPC timeouts",
      grpc_timeout_offset: "gRPC timeouts",
      upgrade_configs: "HTTP upgrades (WebSocket, CONNECT)",
      internal_redirect_policy: "internal redirects",
      internal_redirect_action: "internal redirects",
      max_internal_redirects: "internal redirects",
      hedge_policy: "hedging",
      max_stream_duration: "stream duration limits",
    },
  },
  [`${ROUTE}.DirectResponseAction`]: {
    fields: {
      status: { note: "HTTP status, 200 to 599." },
      body: { note: "Optional response body." },
    },
  },
};

/** What a `typed_config` wrapper message is, for messages such as "HTTP filter X is not supported". */
export interface ExtensionPoint {
  /** Human label: "network filter", "HTTP filter", ... */
  label: string;
  /** Extension categories (shared/config/extensions.ts) that may appear here. */
  categories: readonly ExtensionCategory[];
}

/** The wrapper messages whose `typed_config` (or `name`) selects an extension. */
export const EXTENSION_POINTS: Readonly<Record<string, ExtensionPoint>> = {
  "envoy.config.listener.v3.Filter": { label: "network filter", categories: ["network"] },
  "envoy.config.listener.v3.ListenerFilter": { label: "listener filter", categories: ["listener", "udp_listener"] },
  [`${HCM}.HttpFilter`]: { label: "HTTP filter", categories: ["http"] },
  "envoy.config.accesslog.v3.AccessLog": { label: "access logger", categories: ["access_logger"] },
  "envoy.config.core.v3.TransportSocket": { label: "transport socket", categories: [] },
  "envoy.config.core.v3.TypedExtensionConfig": { label: "extension", categories: [] },
};

/** The support entry of a message, or undefined when Legate does not model it. */
export function messageSupport(fullName: string): MessageSupport | undefined {
  return SUPPORTED[fullName];
}

/** One row of the coverage table, flattened (used by the doc generator and its test). */
export interface CoverageRow {
  message: string;
  field: string;
  values?: readonly string[];
  note: string;
}

/** Every supported field, in table order. */
export function coverageRows(): CoverageRow[] {
  return Object.entries(SUPPORTED).flatMap(([message, s]) =>
    Object.entries(s.fields).map(([field, f]) => ({ message, field, values: f.values, note: f.note })),
  );
}
