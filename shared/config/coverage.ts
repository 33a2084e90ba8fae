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
      stats_sinks: { note: "Stats sinks, flushed by the tcp tier; only envoy.stat_sinks.statsd (UDP)." },
      stats_flush_interval: { note: "How often the tcp tier flushes stats to the sinks; default 5s." },
    },
    features: {
      dynamic_resources: "dynamic configuration (xDS)",
      cluster_manager: "cluster manager settings",
      hds_config: "health discovery service",
      flags_path: "flag files",
      stats_config: "stats tags and matchers",
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
  "envoy.config.metrics.v3.StatsSink": {
    fields: {
      name: { note: "The sink's extension name; envoy.stat_sinks.statsd is the one Legate runs." },
      typed_config: { note: "The sink's config; only envoy.config.metrics.v3.StatsdSink." },
    },
  },
  "envoy.config.metrics.v3.StatsdSink": {
    fields: {
      address: { note: "UDP address of the statsd server (tcp tier)." },
      prefix: { note: "Prefix of every metric name; default `envoy`." },
    },
    features: { tcp_cluster_name: "statsd over a TCP cluster" },
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
      listener_filters: { note: "Listener filters in order. TCP listeners: tls_inspector, proxy_protocol, http_inspector (tcp tier)." },
      listener_filters_timeout: { note: "Time the listener filters may take on a new socket; default 15 s, 0: none. Counted in downstream_pre_cx_timeout." },
      continue_on_listener_filters_timeout: { note: "On listener filter timeout, choose a chain with what is known instead of closing. Default false." },
      per_connection_buffer_limit_bytes: { note: "Read/write buffer limit per connection; default 1 MiB." },
      metadata: { note: "Only `filter_metadata.legate.edge: true` has a meaning: it marks the edge listener." },
      udp_listener_config: { note: "UDP listeners: the downstream socket's max_rx_datagram_size (QUIC is refused)." },
      connection_balance_config: { note: "Only exact_balance. Tcp tier with --concurrency N > 1: the primary hands connections to the workers in turn (docs/tcp-tier.md \"Process\")." },
    },
    features: {
      additional_addresses: "additional listener addresses",
      stat_prefix: "custom listener stat prefixes",
      filter_chain_matcher: "the filter chain matcher API",
      use_original_dst: "original destination redirection",
      drain_type: "drain types",
      transparent: "transparent sockets",
      freebind: "freebind sockets",
      socket_options: "socket options",
      tcp_fast_open_queue_length: "TCP Fast Open",
      traffic_direction: "traffic direction",
      api_listener: "API listeners",
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
  "envoy.config.listener.v3.Listener.ConnectionBalanceConfig": {
    fields: {
      exact_balance: { note: "Connections spread evenly over the tcp tier's worker processes (round robin by the primary); every tcp listener is balanced so." },
    },
    features: { extend_balance: "custom connection balancers" },
  },
  "envoy.config.listener.v3.Listener.ConnectionBalanceConfig.ExactBalance": { fields: {} },
  "envoy.config.listener.v3.FilterChain": {
    fields: {
      filter_chain_match: { note: "Criteria selecting this chain; the most specific match wins, as in Envoy." },
      filters: { note: "Network filters in order; the last one is terminal." },
      name: { note: "Chain name, for stats and logs. Default empty." },
      transport_socket: { note: "Downstream TLS (envoy.transport_sockets.tls with a DownstreamTlsContext, or envoy.transport_sockets.starttls for postgres_proxy terminate_ssl), tcp tier only; refused on the edge listener." },
    },
    features: {
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
      application_protocols: { note: "ALPN values (TLS inspector) or `http/1.0`, `http/1.1`, `h2c` (HTTP inspector)." },
      prefix_ranges: { note: "Destination (local) address, longest prefix wins; a PROXY header's destination counts." },
      direct_source_prefix_ranges: { note: "The socket's own peer address, longest prefix wins (not changed by PROXY headers)." },
      source_type: { note: "ANY (default), SAME_IP_OR_LOOPBACK (peer is loopback or equals the local address) or EXTERNAL." },
      source_prefix_ranges: { note: "The peer address (a PROXY header's source when present), longest prefix wins." },
      source_ports: { note: "The peer's port (a PROXY header's source port when present)." },
    },
    features: {
      address_suffix: "destination IP suffix matching (not implemented by Envoy either)",
      suffix_len: "destination IP suffix matching (not implemented by Envoy either)",
    },
  },
  "envoy.config.core.v3.CidrRange": {
    fields: {
      address_prefix: { note: "IPv4 or IPv6 address; host bits past prefix_len are ignored." },
      prefix_len: { note: "Prefix length; default 0 (every address of the family)." },
    },
  },
  "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {
    fields: {},
    features: { enable_ja3_fingerprinting: "JA3 fingerprints", initial_read_buffer_size: "the TLS inspector's read buffer size" },
  },
  "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector": {
    fields: {},
  },
  "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol": {
    fields: {
      allow_requests_without_proxy_protocol: { note: "Let connections without a PROXY header through unchanged. Default false (they are closed)." },
      disallowed_versions: { note: "PROXY protocol versions to refuse (V1, V2); such headers close the connection." },
      stat_prefix: { note: "Stats become `proxy_proto.<stat_prefix>.*`. Default empty: `proxy_proto.*`." },
    },
    features: { rules: "PROXY protocol TLVs to dynamic metadata", pass_through_tlvs: "PROXY protocol TLV pass-through" },
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
  "envoy.config.core.v3.TransportSocket": {
    fields: {
      name: { note: "envoy.transport_sockets.tls (alias tls) or envoy.transport_sockets.starttls; used when there is no typed_config." },
      typed_config: { note: "DownstreamTlsContext or StartTlsConfig on filter chains, UpstreamTlsContext or UpstreamStartTlsConfig on clusters." },
    },
  },
  "envoy.extensions.transport_sockets.starttls.v3.StartTlsConfig": {
    fields: {
      cleartext_socket_config: { note: "RawBuffer (no settings): the connection starts in clear text." },
      tls_socket_config: { note: "Required: the DownstreamTlsContext used once postgres_proxy (terminate_ssl) switches the connection to TLS." },
    },
  },
  "envoy.extensions.transport_sockets.starttls.v3.UpstreamStartTlsConfig": {
    fields: {
      cleartext_socket_config: { note: "RawBuffer (no settings): upstream connections start in clear text." },
      tls_socket_config: { note: "Required: the UpstreamTlsContext used once postgres_proxy (upstream_ssl) switches the connection to TLS." },
    },
  },
  "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer": {
    fields: {},
  },
  "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": {
    fields: {
      common_tls_context: { note: "Certificates (at least one), ALPN, versions, ciphers and client-certificate validation." },
      require_client_certificate: { note: "Refuse clients without a certificate that passes validation_context (needed). Default false." },
    },
    features: {
      require_sni: "requiring SNI",
      session_ticket_keys: "session ticket keys",
      session_ticket_keys_sds_secret_config: "session ticket keys over SDS",
      disable_stateless_session_resumption: "session resumption settings",
      disable_stateful_session_resumption: "session resumption settings",
      session_timeout: "session timeouts",
      ocsp_staple_policy: "OCSP stapling",
      full_scan_certs_on_sni_mismatch: "full certificate scans on SNI mismatch",
    },
  },
  "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext": {
    fields: {
      common_tls_context: { note: "Client certificate (at most one), ALPN, versions, ciphers and server-certificate validation." },
      sni: { note: "SNI sent to the upstream; default none. Not used to check the server's name (use match_typed_subject_alt_names), as in Envoy." },
    },
    features: {
      allow_renegotiation: "TLS renegotiation",
      max_session_keys: "session key caching settings",
      enforce_rsa_key_usage: "RSA key usage enforcement",
    },
  },
  "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext": {
    fields: {
      tls_params: { note: "Protocol versions, cipher suites and ECDH curves." },
      tls_certificates: { note: "Certificates and keys (PEM). Servers pick by SNI (DNS SANs, else CN; exact, then wildcard, else the first)." },
      alpn_protocols: { note: "ALPN list, in preference order. A server whose list shares nothing with the client's goes on without ALPN when the TLS inspector saw the client's list." },
      validation_context: { note: "How the peer's certificate is checked." },
    },
    features: {
      tls_certificate_sds_secret_configs: "certificates over SDS",
      tls_certificate_provider_instance: "certificate providers",
      tls_certificate_certificate_provider: "certificate providers",
      tls_certificate_certificate_provider_instance: "certificate providers",
      validation_context_sds_secret_config: "validation contexts over SDS",
      combined_validation_context: "combined validation contexts",
      validation_context_certificate_provider: "certificate providers",
      validation_context_certificate_provider_instance: "certificate providers",
      custom_handshaker: "custom TLS handshakers",
      key_log: "TLS key logging",
    },
  },
  "envoy.extensions.transport_sockets.tls.v3.TlsCertificate": {
    fields: {
      certificate_chain: { note: "PEM certificate chain, leaf first." },
      private_key: { note: "PEM private key." },
      password: { note: "Password of an encrypted private key." },
    },
    features: {
      pkcs12: "PKCS#12 certificates",
      watched_directory: "watched certificate directories",
      private_key_provider: "private key providers",
      ocsp_staple: "OCSP stapling",
      signed_certificate_timestamp: "certificate transparency timestamps",
    },
  },
  "envoy.extensions.transport_sockets.tls.v3.TlsParameters": {
    fields: {
      tls_minimum_protocol_version: { note: "Default TLSv1_2 (TLS_AUTO: the default)." },
      tls_maximum_protocol_version: { note: "Default TLSv1_3 for servers, TLSv1_2 for clients (TLS_AUTO: the default)." },
      cipher_suites: { note: "TLS 1.2 cipher suites (OpenSSL names; a `[A|B]` group is taken in order); default Envoy's list. No effect on TLS 1.3." },
      ecdh_curves: { note: "Key-exchange groups; default X25519, P-256." },
    },
    features: { signature_algorithms: "signature algorithm lists" },
  },
  "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext": {
    fields: {
      trusted_ca: { note: "PEM CA certificates the peer's chain must lead to; absent: the chain is not checked." },
      crl: { note: "PEM certificate revocation list(s) (needs trusted_ca)." },
      match_typed_subject_alt_names: { note: "The peer needs a SAN matching one of these (DNS, URI, EMAIL, IP_ADDRESS); counted ssl.fail_verify_san." },
      verify_certificate_spki: { note: "Base64 SHA-256 pins of the SubjectPublicKeyInfo; with verify_certificate_hash, any one match passes; counted ssl.fail_verify_cert_hash." },
      verify_certificate_hash: { note: "Hex SHA-256 pins of the certificate (colons allowed)." },
      trust_chain_verification: { note: "VERIFY_TRUST_CHAIN (default) or ACCEPT_UNTRUSTED." },
    },
    features: {
      ca_certificate_provider_instance: "certificate providers",
      system_root_certs: "system root certificates",
      watched_directory: "watched certificate directories",
      match_subject_alt_names: "untyped SAN matchers (deprecated; use match_typed_subject_alt_names)",
      require_signed_certificate_timestamp: "certificate transparency",
      allow_expired_certificate: "expired certificates",
      custom_validator_config: "custom certificate validators",
      only_verify_leaf_cert_crl: "leaf-only CRL checks",
      max_verify_depth: "verification depth limits",
    },
  },
  "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher": {
    fields: {
      san_type: { note: "The SAN type to match.", values: ["DNS", "URI", "EMAIL", "IP_ADDRESS"] },
      matcher: { note: "String matcher applied to each SAN of that type." },
    },
    features: { oid: "OTHER_NAME SANs" },
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
      typed_config: { note: "The access logger: envoy.access_loggers.stdout and stderr (both tiers; console.log/console.error at the edge), envoy.access_loggers.file (tcp tier only: a Worker has no files)." },
      filter: { note: "Which streams are logged (status code, duration, and/or, response flags)." },
    },
  },
  "envoy.extensions.access_loggers.file.v3.FileAccessLog": {
    fields: {
      path: { note: "File the entries are appended to (tcp tier)." },
      format: { note: "Deprecated Envoy format string; default Envoy's default format." },
      json_format: { note: "Deprecated format dictionary; every value rendered as a string." },
      typed_json_format: { note: "Deprecated format dictionary; values keep their types." },
      log_format: { note: "The entry format (text or JSON); default Envoy's default format." },
    },
  },
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog": {
    fields: { log_format: { note: "The entry format (text or JSON); default Envoy's default format." } },
  },
  "envoy.extensions.access_loggers.stream.v3.StderrAccessLog": {
    fields: { log_format: { note: "The entry format (text or JSON); default Envoy's default format." } },
  },
  "envoy.config.core.v3.SubstitutionFormatString": {
    fields: {
      text_format: { note: "Deprecated format string with command operators (START_TIME, REQ, RESP, RESPONSE_CODE, RESPONSE_FLAGS, DURATION, UPSTREAM_HOST, BYTES_SENT, ...; docs/edge.md lists them)." },
      text_format_source: { note: "Format string from a data source (inlined at validation)." },
      json_format: { note: "Format dictionary; a value that is one operator keeps its type (numbers, null when unset)." },
      omit_empty_values: { note: "Unset values print as empty text, and are left out of JSON. Default false." },
      content_type: { note: "Accepted; only local reply formats use it, so access logs ignore it, as in Envoy." },
    },
    features: { formatters: "formatter extensions", json_format_options: "JSON format options" },
  },
  "envoy.config.accesslog.v3.AccessLogFilter": {
    fields: {
      status_code_filter: { note: "Log when the response code compares true." },
      duration_filter: { note: "Log when the stream's duration (ms) compares true." },
      and_filter: { note: "Log when every sub-filter passes." },
      or_filter: { note: "Log when any sub-filter passes." },
      response_flag_filter: { note: "Log when one of the listed response flags is set (any flag when the list is empty)." },
    },
    features: {
      not_health_check_filter: "health check filtering of access logs",
      traceable_filter: "tracing-based access log filtering",
      runtime_filter: "runtime-sampled access logs",
      header_filter: "header-based access log filtering",
      grpc_status_filter: "gRPC status access log filtering",
      extension_filter: "access log filter extensions",
      metadata_filter: "metadata-based access log filtering",
      log_type_filter: "access log type filtering",
    },
  },
  "envoy.config.accesslog.v3.StatusCodeFilter": { fields: { comparison: { note: "The comparison with the response code (0 when none was sent)." } } },
  "envoy.config.accesslog.v3.DurationFilter": { fields: { comparison: { note: "The comparison with the duration in milliseconds." } } },
  "envoy.config.accesslog.v3.ComparisonFilter": {
    fields: {
      op: { note: "EQ (default), GE or LE." },
      value: { note: "The value compared with." },
    },
  },
  "envoy.config.core.v3.RuntimeUInt32": {
    fields: {
      default_value: { note: "The value, unless the runtime key is set." },
      runtime_key: { note: "Runtime key whose value overrides default_value." },
    },
  },
  "envoy.config.accesslog.v3.AndFilter": { fields: { filters: { note: "Sub-filters, all of which must pass." } } },
  "envoy.config.accesslog.v3.OrFilter": { fields: { filters: { note: "Sub-filters, one of which must pass." } } },
  "envoy.config.accesslog.v3.ResponseFlagFilter": { fields: { flags: { note: "Envoy response flags (UH, UF, NR, ...); empty means any." } } },
  "envoy.config.cluster.v3.Cluster": {
    fields: {
      name: { note: "Cluster name (required, unique); routes and tcp_proxy refer to it." },
      type: { note: "Service discovery type; default STATIC. EDS clusters take their endpoints from Workers KV (`legate endpoints`; docs/kv-layout.md).", values: ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS"] },
      eds_cluster_config: { note: "For `type: EDS`: `service_name` (default the cluster name) names the KV key `legate/endpoints/<service_name>`." },
      connect_timeout: { note: "Upstream connect timeout; default 5 s." },
      lb_policy: { note: "Load balancer; default ROUND_ROBIN. RING_HASH and MAGLEV hash by the route's hash_policy.", values: ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"] },
      dns_lookup_family: { note: "Address families resolved for DNS clusters; default AUTO." },
      dns_refresh_rate: { note: "Re-resolution interval for DNS clusters; default 5 s." },
      dns_resolvers: { note: "DNS servers (IP and port, default port 53) the tcp tier resolves this cluster's names with, instead of the system resolver (Envoy deprecates it for typed_dns_resolver_config, which stays refused)." },
      respect_dns_ttl: { note: "With dns_resolvers: re-resolve at the answers' smallest TTL instead of dns_refresh_rate. Default false." },
      per_connection_buffer_limit_bytes: { note: "Buffer limit per upstream connection; default 1 MiB." },
      load_assignment: { note: "The cluster's endpoints." },
      circuit_breakers: { note: "Per-priority limits on connections, pending requests, requests and retries; per edge isolate / tcp-tier process." },
      outlier_detection: { note: "Passive outlier detection and ejection; per edge isolate / tcp-tier process; sweeps run lazily on traffic at the edge." },
      common_lb_config: { note: "Healthy panic threshold (default 50 %) and locality-weighted load balancing." },
      least_request_lb_config: { note: "LEAST_REQUEST tuning: choice_count (default 2), active_request_bias (default 1.0)." },
      ring_hash_lb_config: { note: "RING_HASH ring sizes (default 1024 to 8M) and hash function (default XX_HASH)." },
      maglev_lb_config: { note: "MAGLEV table size (a prime; default 65537)." },
      transport_socket: { note: "Upstream TLS (envoy.transport_sockets.tls with an UpstreamTlsContext, or envoy.transport_sockets.starttls for postgres_proxy upstream_ssl), tcp tier only; refused on clusters the edge routes to." },
      typed_extension_protocol_options: { note: "Only `envoy.filters.network.redis_proxy` (RedisProtocolOptions: AUTH on redis_proxy's connections to the hosts); other protocol options (upstream HTTP) are refused." },
      health_checks: { note: "Active health checks (HTTP/1.1, TCP, gRPC, Redis), run by the tcp tier per host; the edge follows their results through KV (docs/kv-layout.md)." },
    },
    features: {
      transport_socket_matches: "per-endpoint transport sockets",
      alt_stat_name: "alternative stat names",
      cluster_type: "custom cluster types",
      max_requests_per_connection: "per-connection request limits",
      upstream_http_protocol_options: "upstream HTTP protocol options",
      common_http_protocol_options: "upstream HTTP protocol options",
      http_protocol_options: "upstream HTTP/1 options",
      http2_protocol_options: "upstream HTTP/2",
      dns_failure_refresh_rate: "DNS failure back-off",
      use_tcp_for_dns_lookups: "DNS resolver settings",
      dns_resolution_config: "DNS resolver settings",
      typed_dns_resolver_config: "custom DNS resolvers",
      wait_for_warm_on_init: "cluster warming",
      cleanup_interval: "original destination clusters",
      upstream_bind_config: "upstream source addresses",
      lb_subset_config: "subset load balancing",
      original_dst_lb_config: "original destination load balancing",
      round_robin_lb_config: "round-robin tuning",
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
  // ---- Active health checking (tcp tier; shared/config/compile-health-check.ts, tcp-tier/src/upstream/health-check/) ----
  "envoy.config.core.v3.HealthCheck": {
    fields: {
      timeout: { note: "Time a check may take before it counts as a network failure (required)." },
      interval: { note: "Time between checks of a healthy host (required)." },
      initial_jitter: { note: "The first check of each host waits a random time up to this. Default 0." },
      interval_jitter: { note: "A random time up to this is added to every interval. Default 0." },
      interval_jitter_percent: { note: "A random share of the interval up to this percent is added too. Default 0." },
      unhealthy_threshold: { note: "Consecutive network failures (or retriable statuses) that mark a host unhealthy (required); a non-retriable bad status marks it at once." },
      healthy_threshold: { note: "Consecutive successes that mark an unhealthy host healthy again (required); the very first check decides alone." },
      reuse_connection: { note: "Keep the connection between checks. Default true." },
      http_health_check: { note: "HTTP/1.1 checks." },
      tcp_health_check: { note: "TCP checks: connect, send, look for the expected bytes." },
      grpc_health_check: { note: "grpc.health.v1.Health/Check over HTTP/2; healthy on SERVING." },
      custom_health_check: { note: "Only the Redis checker (envoy.health_checkers.redis): PING, or EXISTS key for maintenance mode." },
      no_traffic_interval: { note: "Interval while the cluster has never had a connection. Default 60 s." },
      no_traffic_healthy_interval: { note: "The no-traffic interval for healthy hosts. Default no_traffic_interval." },
      unhealthy_interval: { note: "Interval for an unhealthy host. Default interval." },
      unhealthy_edge_interval: { note: "Interval right after a host became unhealthy. Default unhealthy_interval." },
      healthy_edge_interval: { note: "Interval right after a host became healthy. Default interval." },
      event_log_path: { note: "Deprecated Envoy shorthand: append Envoy's JSON health-check events (one per line) to this file." },
      always_log_health_check_failures: { note: "Log every failure to the event log, not only those that change the host's state. Default false." },
    },
    features: {
      alt_port: "health checks on another port",
      event_logger: "health check event sinks (use event_log_path)",
      event_service: "health check event services",
      always_log_health_check_success: "health check success logging",
      tls_options: "health check TLS options",
      transport_socket_match_criteria: "health check transport sockets",
    },
  },
  "envoy.config.core.v3.HealthCheck.HttpHealthCheck": {
    fields: {
      host: { note: "Host header; default the cluster name." },
      path: { note: "Request path (required)." },
      request_headers_to_add: { note: "Headers added to each check, values as written (no %COMMAND% operators)." },
      request_headers_to_remove: { note: "Headers removed from each check." },
      expected_statuses: { note: "Healthy statuses, [start, end) ranges; default 200." },
      retriable_statuses: { note: "Statuses that count towards unhealthy_threshold instead of failing at once." },
      codec_client_type: { note: "HTTP1 only.", values: ["HTTP1"] },
      service_name_matcher: { note: "The response's x-envoy-upstream-healthchecked-cluster must match (counted as verify_cluster)." },
      method: { note: "Request method; default GET." },
    },
    features: { send: "HTTP health check payloads", receive: "HTTP health check payloads", response_buffer_size: "HTTP health check payloads" },
  },
  "envoy.config.core.v3.HealthCheck.GrpcHealthCheck": {
    fields: {
      service_name: { note: "The service asked about; default \"\" (the whole server)." },
      authority: { note: ":authority of the check; default the cluster name." },
    },
    features: { initial_metadata: "gRPC health check metadata" },
  },
  "envoy.config.core.v3.HealthCheck.CustomHealthCheck": {
    fields: {
      name: { note: "The checker's name, e.g. envoy.health_checkers.redis." },
      typed_config: { note: "The checker's config; only envoy.extensions.health_checkers.redis.v3.Redis (others are refused)." },
    },
  },
  "envoy.extensions.health_checkers.redis.v3.Redis": {
    fields: { key: { note: "Send EXISTS key instead of PING: healthy while the key does not exist (set it to drain the host)." } },
  },
  "envoy.config.core.v3.HealthCheck.TcpHealthCheck": {
    fields: {
      send: { note: "Bytes sent after connecting; absent: none." },
      receive: { note: "Byte blocks that must all be found in the response, in order; empty: a connect is enough." },
    },
    features: { proxy_protocol_config: "PROXY protocol on health checks" },
  },
  "envoy.config.core.v3.HealthCheck.Payload": {
    fields: { text: { note: "Hex-encoded bytes." }, binary: { note: "Bytes (base64 in JSON)." } },
  },
  "envoy.config.cluster.v3.Cluster.EdsClusterConfig": {
    fields: {
      service_name: { note: "The EDS resource name, default the cluster name; Legate reads `legate/endpoints/<service_name>` from KV." },
      eds_config: { note: "Where EDS updates come from: Legate's source is Workers KV, so only `ads: {}` (Legate's control plane) is accepted; absent means the same." },
    },
  },
  "envoy.config.core.v3.ConfigSource": {
    fields: {
      ads: { note: "Legate's aggregated source: Workers KV, written by `legate endpoints`." },
      resource_api_version: { note: "V3 only.", values: ["V3"] },
      initial_fetch_timeout: { note: "How long the tcp tier waits at startup for an EDS cluster's first assignment; default 15 s, 0 waits without limit. The edge never waits (requests to a cluster without endpoints get 503 UH)." },
    },
    features: {
      path: "file-based xDS",
      path_config_source: "file-based xDS",
      api_config_source: "xDS management servers (Legate's EDS source is Workers KV: use `ads: {}`)",
      self: "xDS from the same management server",
      authorities: "xDS authorities",
    },
  },
  "envoy.config.core.v3.AggregatedConfigSource": { fields: {} },
  "envoy.config.endpoint.v3.ClusterLoadAssignment": {
    fields: {
      cluster_name: { note: "Required by Envoy; ignored for static clusters." },
      endpoints: { note: "Endpoint groups, each with its locality and priority." },
      policy: { note: "Only `overprovisioning_factor`." },
    },
    features: { named_endpoints: "named endpoints" },
  },
  "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy": {
    fields: { overprovisioning_factor: { note: "Priority and locality overprovisioning, percent; default 140 (factor 1.4)." } },
    features: { drop_overloads: "drop overloads", endpoint_stale_after: "endpoint staleness (EDS)", weighted_priority_health: "weighted priority health" },
  },
  "envoy.config.endpoint.v3.LocalityLbEndpoints": {
    fields: {
      lb_endpoints: { note: "The hosts of the group." },
      locality: { note: "The group's locality (region, zone, sub_zone): shown by /clusters, and the unit of locality-weighted LB." },
      load_balancing_weight: { note: "Locality weight; used with `common_lb_config.locality_weighted_lb_config` (a locality without one then gets no traffic)." },
      priority: { note: "Priority level, 0 (default, highest) to 128; traffic spills to lower levels as health drops (overprovisioning factor 1.4)." },
    },
    features: {
      metadata: "locality metadata",
      load_balancer_endpoints: "endpoint lists",
      leds_cluster_locality_config: "locality endpoint discovery (LEDS)",
      proximity: "locality proximity",
    },
  },
  "envoy.config.core.v3.Locality": {
    fields: {
      region: { note: "Region (shown by /clusters)." },
      zone: { note: "Zone (shown by /clusters)." },
      sub_zone: { note: "Sub-zone (shown by /clusters)." },
    },
  },
  "envoy.config.cluster.v3.CircuitBreakers": {
    fields: { thresholds: { note: "Limits per routing priority (DEFAULT, HIGH); the first entry of a priority wins." } },
    features: { per_host_thresholds: "per-host circuit breakers" },
  },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds": {
    fields: {
      priority: { note: "DEFAULT (default) or HIGH." },
      max_connections: { note: "Default 1024. At the edge (no connection pool of its own) it caps upstream attempts in flight." },
      max_pending_requests: { note: "Default 1024. At the edge: attempts waiting for response headers." },
      max_requests: { note: "Default 1024: upstream requests in flight." },
      max_retries: { note: "Default 3: retries in flight (ignored when retry_budget is set)." },
      retry_budget: { note: "Retries in flight limited to budget_percent (default 20 %) of active plus pending requests, at least min_retry_concurrency (default 3)." },
      track_remaining: { note: "Publish circuit_breakers.<priority>.remaining_* gauges. Default false." },
    },
    features: { max_connection_pools: "connection pool limits" },
  },
  "envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget": {
    fields: {
      budget_percent: { note: "Default 20 %." },
      min_retry_concurrency: { note: "Default 3." },
    },
  },
  "envoy.type.v3.Percent": {
    fields: { value: { note: "A percentage, 0 to 100." } },
  },
  "envoy.config.cluster.v3.OutlierDetection": {
    fields: {
      consecutive_5xx: { note: "Default 5." },
      interval: { note: "Sweep interval; default 10 s. At the edge sweeps run on the next request after they fall due." },
      base_ejection_time: { note: "Default 30 s, times the host's ejection count." },
      max_ejection_percent: { note: "Default 10 %: a host is ejected only if at most this share of hosts is ejected afterwards." },
      enforcing_consecutive_5xx: { note: "Default 100 %." },
      enforcing_success_rate: { note: "Default 100 %." },
      success_rate_minimum_hosts: { note: "Default 5." },
      success_rate_request_volume: { note: "Default 100 per interval." },
      success_rate_stdev_factor: { note: "Default 1900 (1.9 standard deviations)." },
      consecutive_gateway_failure: { note: "Default 5 (502, 503, 504)." },
      enforcing_consecutive_gateway_failure: { note: "Default 0 %." },
      split_external_local_origin_errors: { note: "Count connect failures, resets and timeouts apart from HTTP 5xx. Default false." },
      consecutive_local_origin_failure: { note: "Default 5 (with split_external_local_origin_errors)." },
      enforcing_consecutive_local_origin_failure: { note: "Default 100 %." },
      enforcing_local_origin_success_rate: { note: "Default 100 %." },
      failure_percentage_threshold: { note: "Default 85 %." },
      enforcing_failure_percentage: { note: "Default 0 %." },
      enforcing_failure_percentage_local_origin: { note: "Default 0 %." },
      failure_percentage_minimum_hosts: { note: "Default 5." },
      failure_percentage_request_volume: { note: "Default 50 per interval." },
      max_ejection_time: { note: "Cap on the ejection time; default 300 s (or base_ejection_time if larger)." },
      max_ejection_time_jitter: { note: "Random extra ejection time up to this; default 0." },
      always_eject_one_host: { note: "Allow one ejection whatever max_ejection_percent says. Default false." },
    },
    features: {
      successful_active_health_check_uneject_host: "active health checks un-ejecting hosts",
      monitors: "outlier detection monitors",
    },
  },
  "envoy.config.cluster.v3.Cluster.CommonLbConfig": {
    fields: {
      healthy_panic_threshold: { note: "Below this share of healthy hosts a priority balances over all its hosts; default 50 %, 0 disables (runtime key upstream.healthy_panic_threshold)." },
      locality_weighted_lb_config: { note: "Pick localities by their load_balancing_weight (scaled by locality health), then a host." },
    },
    features: {
      zone_aware_lb_config: "zone-aware routing",
      update_merge_window: "health update merge windows",
      ignore_new_hosts_until_first_hc: "active health checking",
      close_connections_on_host_set_change: "connection draining on host changes",
      consistent_hashing_lb_config: "consistent hashing settings (hostname hashing, bounded load)",
      override_host_status: "host overrides",
    },
  },
  "envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig": { fields: {} },
  "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig": {
    fields: {
      choice_count: { note: "Hosts sampled per pick when weights are equal; default 2." },
      active_request_bias: { note: "Exponent on active requests when weights differ; default 1.0 (the default_value is used)." },
    },
    features: { slow_start_config: "slow start" },
  },
  "envoy.config.core.v3.RuntimeDouble": {
    fields: {
      default_value: { note: "The value used." },
      runtime_key: { note: "Required by Envoy; runtime overrides of doubles are not read (the default_value applies)." },
    },
  },
  "envoy.config.cluster.v3.Cluster.RingHashLbConfig": {
    fields: {
      minimum_ring_size: { note: "Default 1024." },
      maximum_ring_size: { note: "Default 8,388,608." },
      hash_function: { note: "XX_HASH (default, xxHash64) or MURMUR_HASH_2 (std::hash of libstdc++)." },
    },
  },
  "envoy.config.cluster.v3.Cluster.MaglevLbConfig": {
    fields: { table_size: { note: "A prime, at most 5,000,011; default 65537." } },
  },
  "envoy.config.endpoint.v3.LbEndpoint": {
    fields: {
      endpoint: { note: "The host." },
      load_balancing_weight: { note: "Host weight for ROUND_ROBIN/LEAST_REQUEST/RANDOM; default 1." },
      health_status: { note: "UNHEALTHY, DRAINING and TIMEOUT take the host out of load balancing (`/failed_eds_health`; open connections are left alone); UNKNOWN and HEALTHY leave it in. DEGRADED is refused (no degraded-host load balancing).", values: ["UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT"] },
    },
    features: { endpoint_name: "named endpoints", metadata: "endpoint metadata" },
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
      weighted_clusters: { note: "Clusters picked per connection in proportion to their weights." },
      idle_timeout: { note: "Closes a connection without bytes either way for this long; default 1 h; 0 disables it." },
      access_log: { note: "Access logs written when each connection closes (HTTP's formatter; TCP operators, response flags UH, UF, UO, NR, DC)." },
      max_connect_attempts: { note: "Connect attempts, each to a host not tried yet when there is one; default 1." },
      hash_policy: { note: "source_ip: the connection hash for RING_HASH and MAGLEV." },
      max_downstream_connection_duration: { note: "Closes connections older than this; default no limit." },
    },
    features: {
      on_demand: "on-demand clusters",
      metadata_match: "subset load balancing",
      downstream_idle_timeout: "TCP proxy idle timeouts",
      upstream_idle_timeout: "TCP proxy idle timeouts",
      tunneling_config: "tunneling over HTTP",
      access_log_flush_interval: "TCP proxy access logs",
      flush_access_log_on_connected: "TCP proxy access logs",
      access_log_options: "TCP proxy access logs",
    },
  },
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster": {
    fields: { clusters: { note: "The clusters and their weights." } },
  },
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight": {
    fields: { name: { note: "The cluster." }, weight: { note: "Its weight (at least 1)." } },
    features: { metadata_match: "subset load balancing" },
  },
  "envoy.type.v3.HashPolicy": {
    fields: { source_ip: { note: "Hash the downstream connection's source IP." } },
    features: { filter_state: "filter-state hash policies" },
  },
  "envoy.type.v3.HashPolicy.SourceIp": { fields: {} },
  [`${HCM}.HttpConnectionManager`]: {
    fields: {
      stat_prefix: { note: "Stats prefix: `http.<stat_prefix>.`." },
      codec_type: { note: "Downstream codec; default AUTO.", values: ["AUTO", "HTTP1", "HTTP2"] },
      route_config: { note: "The static route table." },
      http_filters: { note: "HTTP filters in order; the last must be the router." },
      access_log: { note: "Access logs written when each stream ends (or a WebSocket closes)." },
      upgrade_configs: { note: "Allowed upgrades: websocket only (proxied message by message at the edge). Without it, upgrade requests get 403." },
      use_remote_address: { note: "Trust the connection's peer (at the edge `cf-connecting-ip`): append it to x-forwarded-for, set x-forwarded-proto, x-envoy-external-address. Default false: the address comes from x-forwarded-for." },
      xff_num_trusted_hops: { note: "Trusted proxies before this one: the client address is that many entries from the right of x-forwarded-for. Default 0." },
      skip_xff_append: { note: "Do not append the peer to x-forwarded-for. Default false." },
      via: { note: "Appended to the `via` header of requests and responses. Default none." },
      generate_request_id: { note: "Generate x-request-id (UUID v4) when absent, and on edge requests. Default true." },
      preserve_external_request_id: { note: "Keep the client's x-request-id on edge requests. Default false." },
      always_set_request_id_in_response: { note: "Copy x-request-id to the response. Default false." },
      server_name: { note: "The `server` response header; default `envoy`, as Envoy (Cloudflare replaces it with its own in production)." },
      server_header_transformation: { note: "OVERWRITE (default), APPEND_IF_ABSENT or PASS_THROUGH the upstream's `server`." },
      stream_idle_timeout: { note: "Stream idle timeout (before response headers 504 SI, 408 while the request is still arriving; a reset after); a route's idle_timeout overrides it. Default 5 min; 0 disables." },
      request_timeout: { note: "The whole request must arrive within it (408 `request timeout`, downstream_rq_timeout). Default off." },
      strip_matching_host_port: { note: "Remove the Host's port when it is the listener's (at the edge: the URL's port) before routing. Default false." },
      strip_any_host_port: { note: "Remove any port from the Host before routing. Default false." },
      internal_address_config: { note: "Which client addresses are internal (x-envoy-internal, trusted x-envoy-* controls)." },
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
      scheme_header_transformation: "scheme header settings",
      max_request_headers_kb: "request header size limits",
      request_headers_timeout: "HTTP timeouts",
      drain_timeout: "HTTP timeouts",
      delayed_close_timeout: "HTTP timeouts",
      access_log_flush_interval: "periodic access logs",
      flush_access_log_on_new_request: "periodic access logs",
      access_log_options: "periodic access logs",
      original_ip_detection_extensions: "original IP detection",
      early_header_mutation_extensions: "early header mutation",
      forward_client_cert_details: "client certificate forwarding",
      set_current_client_cert_details: "client certificate forwarding",
      proxy_100_continue: "100-continue proxying",
      represent_ipv4_remote_address_as_ipv4_mapped_ipv6: "IPv4-mapped remote addresses",
      normalize_path: "path normalization",
      merge_slashes: "path normalization",
      path_with_escaped_slashes_action: "path normalization",
      request_id_extension: "request IDs",
      local_reply_config: "local reply customisation",
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
  [`${HCM}.HttpConnectionManager.InternalAddressConfig`]: {
    fields: {
      unix_sockets: { note: "A peer on a Unix socket is internal. Default false." },
      cidr_ranges: { note: "Internal address ranges; empty: Envoy's defaults (RFC 1918, 127.0.0.1, ::1, fd00::/8)." },
    },
  },
  [`${HCM}.HttpConnectionManager.UpgradeConfig`]: {
    fields: {
      upgrade_type: { note: "The Upgrade header value, case-insensitive; only `websocket`." },
      enabled: { note: "Whether the upgrade is allowed; default true. A route's upgrade_configs override it." },
    },
    features: { filters: "custom filter chains for upgrades" },
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
      internal_only_headers: { note: "Headers removed from requests that are not internal." },
      request_headers_to_add: { note: "Added to every routed request (applied after the route's and virtual host's, so they win)." },
      request_headers_to_remove: { note: "Removed from every routed request." },
      response_headers_to_add: { note: "Added to every response of a matched route." },
      response_headers_to_remove: { note: "Removed from every response of a matched route." },
      most_specific_header_mutations_wins: { note: "Apply route configuration, then virtual host, then route mutations (the route's win). Default false." },
      request_mirror_policies: { note: "Mirror policies for routes whose route and virtual host set none." },
    },
    features: {
      vhds: "virtual host discovery (VHDS)",
      validate_clusters: "cluster validation settings",
      max_direct_response_body_size_bytes: "direct response size limits",
      cluster_specifier_plugins: "cluster specifier plugins",
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
      request_headers_to_add: { note: "Added to requests routed in this virtual host (after the route's, before the route configuration's)." },
      request_headers_to_remove: { note: "Removed from requests routed in this virtual host." },
      response_headers_to_add: { note: "Added to responses of routes in this virtual host." },
      response_headers_to_remove: { note: "Removed from responses of routes in this virtual host." },
      retry_policy: { note: "Retry policy of routes that set none (a route's replaces it whole)." },
      hedge_policy: { note: "Hedge policy of routes that set none." },
      request_mirror_policies: { note: "Mirror policies of routes that set none (over the route configuration's)." },
      per_request_buffer_limit_bytes: { note: "Most request body bytes buffered for retries and mirroring, for routes that set none; capped by the listener's buffer limit (1 MiB default)." },
      include_request_attempt_count: { note: "Send x-envoy-attempt-count (1, 2, ...) upstream with every attempt. Default false." },
      include_attempt_count_in_response: { note: "Send x-envoy-attempt-count (attempts made) downstream. Default false." },
      include_is_timeout_retry_header: { note: "Send x-envoy-is-timeout-retry: true with retries caused by per-try timeouts. Default false." },
      virtual_clusters: { note: "Request classes with their own stats (`vhost.<vhost>.vcluster.<name>.`); the first match wins, the rest count as `other`." },
    },
    features: {
      matcher: "the matcher API",
      require_tls: "TLS requirements",
      rate_limits: "rate limiting",
      cors: "CORS",
      typed_per_filter_config: "per-route filter configuration",
      retry_policy_typed_config: "retries",
      metadata: "route metadata",
    },
  },
  [`${ROUTE}.VirtualCluster`]: {
    fields: {
      name: { note: "The virtual cluster's name, in its stats (required)." },
      headers: { note: "Header matchers that must all match (at least one, as Envoy requires); `:path` and `:method` read the request line." },
    },
  },
  [`${ROUTE}.Route`]: {
    fields: {
      name: { note: "Route name, for logs. Default empty." },
      match: { note: "What the route matches." },
      route: { note: "Forward to a cluster." },
      direct_response: { note: "Answer locally with a status and an optional body." },
      redirect: { note: "Answer with a redirect (301 by default) whose `location` is built from the request." },
      request_headers_to_add: { note: "Added to requests this route forwards (applied first; later levels win)." },
      request_headers_to_remove: { note: "Removed from requests this route forwards." },
      response_headers_to_add: { note: "Added to this route's responses (upstream, direct, redirect or error replies)." },
      response_headers_to_remove: { note: "Removed from this route's responses." },
      per_request_buffer_limit_bytes: { note: "Most request body bytes buffered for retries and mirroring (a larger body is sent once, unretried and unmirrored); capped by the listener's buffer limit (1 MiB default)." },
    },
    features: {
      filter_action: "filter actions",
      non_forwarding_action: "non-forwarding actions",
      metadata: "route metadata",
      decorator: "tracing decorators",
      typed_per_filter_config: "per-route filter configuration",
      tracing: "tracing",
      stat_prefix: "per-route stats",
    },
  },
  [`${ROUTE}.RouteMatch`]: {
    fields: {
      prefix: { note: "Path prefix match." },
      path: { note: "Exact path match (without the query string)." },
      case_sensitive: { note: "Whether prefix/path/path_separated_prefix compare case-sensitively; default true." },
      safe_regex: { note: "RE2 regex the whole path (without the query) must match; run as an equivalent JavaScript regex (see docs/edge.md)." },
      path_separated_prefix: { note: "The path (without the query) equals it or continues with `/`." },
      runtime_fraction: { note: "Match only this share of requests (runtime key, else default_value), drawn per request." },
      headers: { note: "Header matchers, all of which must match (pseudo-headers :method, :path, :authority, :scheme too)." },
      query_parameters: { note: "Query parameter matchers (first value, not percent-decoded), all of which must match." },
      grpc: { note: "Only requests with a gRPC content type (application/grpc, application/grpc+…)." },
    },
    features: {
      connect_matcher: "CONNECT matching",
      path_match_policy: "path templates",
      tls_context: "TLS context matching",
      dynamic_metadata: "metadata matching",
    },
  },
  [`${ROUTE}.RouteAction`]: {
    fields: {
      cluster: { note: "The upstream cluster." },
      upgrade_configs: { note: "Per-route upgrade overrides: enable or disable websocket for this route." },
      hash_policy: { note: "The request hash for RING_HASH and MAGLEV clusters (header, cookie, source IP, query parameter), combined in order; `terminal` stops." },
      cluster_header: { note: "The cluster named by this request header's first value (absent or unknown: 503, flag NC)." },
      weighted_clusters: { note: "Split by weight over the request's random value; runtime_key_prefix and header_name honoured." },
      prefix_rewrite: { note: "Replace the matched prefix (or path) before forwarding; the original goes in x-envoy-original-path." },
      regex_rewrite: { note: "Replace RE2 matches in the path before forwarding (query kept); the original goes in x-envoy-original-path." },
      host_rewrite_literal: { note: "The Host sent upstream. At the edge fetch always sends the endpoint's address as Host, so the value travels as x-forwarded-host." },
      auto_host_rewrite: { note: "Host becomes the upstream host: at the edge that is always so (fetch sends the endpoint's address)." },
      host_rewrite_header: { note: "The Host sent upstream, from this request header when non-empty (at the edge, as x-forwarded-host)." },
      timeout: { note: "Covers every attempt and the whole response; 504 UT \"upstream request timeout\" before headers, a reset after. Default 15 s; 0 disables." },
      idle_timeout: { note: "Stream idle timeout: 504 SI \"stream timeout\" before response headers (408 while the request is still arriving), a reset after (each body chunk restarts it). Replaces the HCM's stream_idle_timeout; 0 disables both." },
      retry_policy: { note: "Retries (replaces the virtual host's policy whole)." },
      hedge_policy: { note: "Request hedging on per-try timeouts." },
      request_mirror_policies: { note: "Shadow copies of each request to other clusters, fire-and-forget (Host gets `-shadow`)." },
      max_stream_duration: { note: "Only `max_stream_duration`: 504 DT \"downstream duration timeout\" before headers (408 while the request is still arriving), a reset after." },
    },
    features: {
      cluster_specifier_plugin: "cluster specifier plugins",
      inline_cluster_specifier_plugin: "cluster specifier plugins",
      cluster_not_found_response_code: "cluster-not-found settings",
      metadata_match: "subset load balancing",
      path_rewrite_policy: "path rewrite extensions",
      host_rewrite_path_regex: "host rewrites from the path",
      append_x_forwarded_host: "host rewrites",
      early_data_policy: "early data",
      retry_policy_typed_config: "retries",
      priority: "routing priorities",
      rate_limits: "rate limiting",
      include_vh_rate_limits: "rate limiting",
      cors: "CORS",
      max_grpc_timeout: "gRPC timeouts",
      grpc_timeout_offset: "gRPC timeouts",
      internal_redirect_policy: "internal redirects",
      internal_redirect_action: "internal redirects",
      max_internal_redirects: "internal redirects",
    },
  },
  [`${ROUTE}.RetryPolicy`]: {
    fields: {
      retry_on: { note: "Conditions (comma-separated): 5xx, gateway-error, reset, reset-before-request, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, retriable-headers, envoy-ratelimited, and gRPC cancelled, deadline-exceeded, internal, resource-exhausted, unavailable. Unknown ones are refused." },
      num_retries: { note: "Most retries per request. Default 1." },
      per_try_timeout: { note: "Timeout of each attempt before response headers; retried under 5xx, gateway-error or reset. Ignored unless below the route timeout." },
      per_try_idle_timeout: { note: "Idle timeout of each attempt, before and after response headers." },
      retry_back_off: { note: "Fully jittered exponential back-off; default base 25 ms, max 10 x base." },
      rate_limited_retry_back_off: { note: "Back-off from the upstream's reset headers (Retry-After, X-RateLimit-Reset), jittered to [t, 1.5 t)." },
      retriable_status_codes: { note: "Statuses retried under retriable-status-codes." },
      retriable_headers: { note: "Response headers that make a response retriable under retriable-headers." },
      retriable_request_headers: { note: "When set, only requests matching one of these are retried." },
      retry_host_predicate: { note: "Only envoy.retry_host_predicates.previous_hosts: retries go to hosts not tried yet when there are any." },
      host_selection_retry_max_attempts: { note: "Accepted; with previous_hosts the balancer excludes tried hosts outright, so one selection suffices." },
    },
    features: { retry_priority: "retry priority plugins", retry_options_predicates: "retry options predicates" },
  },
  [`${ROUTE}.RetryPolicy.RetryBackOff`]: {
    fields: {
      base_interval: { note: "Base interval (at least 1 ms): retry N waits a random time in [0, (2^N - 1) x base)." },
      max_interval: { note: "Cap of each wait. Default 10 x base_interval." },
    },
  },
  [`${ROUTE}.RetryPolicy.RateLimitedRetryBackOff`]: {
    fields: {
      reset_headers: { note: "Headers tried in order; the first that parses and is within max_interval wins." },
      max_interval: { note: "Longest wait accepted from a header. Default 300 s." },
    },
  },
  [`${ROUTE}.RetryPolicy.ResetHeader`]: {
    fields: {
      name: { note: "Response header name (first value used)." },
      format: { note: "SECONDS (a delay) or UNIX_TIMESTAMP (a time)." },
    },
  },
  [`${ROUTE}.RetryPolicy.RetryHostPredicate`]: {
    fields: {
      name: { note: "Predicate name; used when there is no typed_config." },
      typed_config: { note: "Only envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate." },
    },
  },
  [`${ROUTE}.HedgePolicy`]: {
    fields: { hedge_on_per_try_timeout: { note: "On a per-try timeout keep the attempt and race another (a retry); the first good response wins, the others are cancelled. Default false." } },
    features: {
      initial_requests: "initial hedged requests (not implemented by Envoy either; use hedge_on_per_try_timeout)",
      additional_request_chance: "additional hedged requests (not implemented by Envoy either; use hedge_on_per_try_timeout)",
    },
  },
  [`${ROUTE}.RouteAction.RequestMirrorPolicy`]: {
    fields: {
      cluster: { note: "The shadow cluster." },
      cluster_header: { note: "A request header naming the shadow cluster (none when absent or unknown)." },
      runtime_fraction: { note: "Share of requests mirrored (runtime key, else default_value). Default all." },
      trace_sampled: { note: "Only affects tracing, which Legate does not do: accepted, no effect." },
      disable_shadow_host_suffix_append: { note: "Keep the Host as is instead of appending `-shadow`. Default false." },
    },
  },
  [`${ROUTE}.RouteAction.MaxStreamDuration`]: {
    fields: { max_stream_duration: { note: "Longest a stream on the route may last; 0 means no limit." } },
    features: { grpc_timeout_header_max: "gRPC timeouts", grpc_timeout_header_offset: "gRPC timeouts" },
  },
  [`${ROUTE}.RouteAction.HashPolicy`]: {
    fields: {
      header: { note: "Hash a request header's value." },
      cookie: { note: "Hash a cookie's value; with `ttl`, generate the cookie when absent." },
      connection_properties: { note: "Hash the client's IP (`source_ip`)." },
      query_parameter: { note: "Hash the first value of a query parameter." },
      terminal: { note: "When this policy yields a hash, skip the rest." },
    },
    features: { filter_state: "filter-state hashing" },
  },
  [`${ROUTE}.RouteAction.HashPolicy.Header`]: {
    fields: { header_name: { note: "The header to hash." } },
    features: { regex_rewrite: "rewriting the hashed header value" },
  },
  [`${ROUTE}.RouteAction.HashPolicy.Cookie`]: {
    fields: {
      name: { note: "The cookie to hash." },
      ttl: { note: "Set: when the cookie is absent, generate one, hash it and send it in Set-Cookie with Max-Age (0: a session cookie)." },
      path: { note: "Path attribute of a generated cookie." },
      attributes: { note: "Extra attributes of a generated cookie." },
    },
  },
  [`${ROUTE}.RouteAction.HashPolicy.CookieAttribute`]: {
    fields: { name: { note: "Attribute name." }, value: { note: "Attribute value; empty: the bare name." } },
  },
  [`${ROUTE}.RouteAction.HashPolicy.ConnectionProperties`]: {
    fields: { source_ip: { note: "Hash the downstream client's IP address (at the edge, CF-Connecting-IP)." } },
  },
  [`${ROUTE}.RouteAction.HashPolicy.QueryParameter`]: {
    fields: { name: { note: "The query parameter to hash." } },
  },
  [`${ROUTE}.RouteAction.UpgradeConfig`]: {
    fields: {
      upgrade_type: { note: "The upgrade type, case-insensitive; only `websocket`." },
      enabled: { note: "Whether this route allows it; default true (overrides the HCM's enabled)." },
    },
    features: { connect_config: "CONNECT termination" },
  },
  [`${ROUTE}.DirectResponseAction`]: {
    fields: {
      status: { note: "HTTP status, 200 to 599." },
      body: { note: "Optional response body." },
    },
  },
  [`${ROUTE}.RedirectAction`]: {
    fields: {
      https_redirect: { note: "Redirect to https." },
      scheme_redirect: { note: "Redirect to this scheme." },
      host_redirect: { note: "Redirect to this host." },
      port_redirect: { note: "Redirect to this port." },
      path_redirect: { note: "Redirect to this path (the request's query is kept unless it has its own or strip_query)." },
      prefix_rewrite: { note: "Replace the matched prefix in the redirect's path." },
      regex_rewrite: { note: "Replace RE2 matches in the redirect's path." },
      response_code: { note: "301 (default), 302, 303, 307 or 308." },
      strip_query: { note: "Drop the query from the redirect. Default false." },
    },
  },
  [`${ROUTE}.WeightedCluster`]: {
    fields: {
      clusters: { note: "The clusters and their weights (at least one; the weights must sum to more than 0)." },
      total_weight: { note: "Deprecated and ignored, as in current Envoy: the weights' sum is used." },
      runtime_key_prefix: { note: "Runtime `<prefix>.<cluster name>` overrides a cluster's weight." },
      header_name: { note: "A request header carrying the random value (uint64) for consistent picks across proxies." },
    },
  },
  [`${ROUTE}.WeightedCluster.ClusterWeight`]: {
    fields: {
      name: { note: "The cluster." },
      cluster_header: { note: "Or: the request header naming the cluster." },
      weight: { note: "Relative weight." },
      request_headers_to_add: { note: "Added when this cluster is picked (before the route's)." },
      request_headers_to_remove: { note: "Removed when this cluster is picked." },
      response_headers_to_add: { note: "Added to responses when this cluster was picked." },
      response_headers_to_remove: { note: "Removed from responses when this cluster was picked." },
      host_rewrite_literal: { note: "Host rewrite for this cluster (the route's own host rewrite wins)." },
    },
    features: { metadata_match: "subset load balancing", typed_per_filter_config: "per-route filter configuration" },
  },
  [`${ROUTE}.RouteMatch.GrpcRouteMatchOptions`]: { fields: {} },
  [`${ROUTE}.HeaderMatcher`]: {
    fields: {
      name: { note: "Header name (case-insensitive); :method, :path, :authority and :scheme name the request line." },
      string_match: { note: "Match the value (several values joined with `,`)." },
      exact_match: { note: "Deprecated form of string_match.exact." },
      prefix_match: { note: "Deprecated form of string_match.prefix." },
      suffix_match: { note: "Deprecated form of string_match.suffix." },
      contains_match: { note: "Deprecated form of string_match.contains." },
      safe_regex_match: { note: "Deprecated form of string_match.safe_regex." },
      range_match: { note: "The whole value is a base-10 integer in [start, end)." },
      present_match: { note: "The header is present (true) or absent (false)." },
      invert_match: { note: "Invert the result (a missing header still does not match, except with present_match). Default false." },
      treat_missing_header_as_empty: { note: "Match a missing header as the empty string. Default false." },
    },
  },
  [`${ROUTE}.QueryParameterMatcher`]: {
    fields: {
      name: { note: "Parameter name (exact, not percent-decoded)." },
      string_match: { note: "Match the parameter's first value." },
      present_match: { note: "The parameter is present." },
    },
  },
  "envoy.type.matcher.v3.StringMatcher": {
    fields: {
      exact: { note: "Equal." },
      prefix: { note: "Starts with." },
      suffix: { note: "Ends with." },
      contains: { note: "Contains." },
      safe_regex: { note: "RE2 regex, full match (run as an equivalent JavaScript regex)." },
      ignore_case: { note: "ASCII case-insensitive (not for safe_regex). Default false." },
    },
    features: { custom: "custom string matchers" },
  },
  "envoy.type.matcher.v3.RegexMatcher": {
    fields: {
      regex: { note: "RE2 syntax; refused when RE2 refuses it (lookaround, backreferences) or JavaScript cannot express it." },
      google_re2: { note: "Deprecated; accepted. RE2's program-size limit is not applied." },
    },
  },
  "envoy.type.matcher.v3.RegexMatcher.GoogleRE2": {
    fields: { max_program_size: { note: "Deprecated; accepted and ignored (no RE2 program to measure)." } },
  },
  "envoy.type.matcher.v3.RegexMatchAndSubstitute": {
    fields: {
      pattern: { note: "RE2 pattern; every non-overlapping match is replaced." },
      substitution: { note: "Replacement; `\\1`…`\\9` are capture groups, `\\0` the whole match." },
    },
  },
  "envoy.type.v3.Int64Range": {
    fields: { start: { note: "Inclusive start." }, end: { note: "Exclusive end." } },
  },
  "envoy.config.core.v3.RuntimeFractionalPercent": {
    fields: {
      default_value: { note: "The fraction when the runtime has no value for runtime_key." },
      runtime_key: { note: "Runtime key (layered_runtime) holding a FractionalPercent or an integer percent." },
    },
  },
  "envoy.type.v3.FractionalPercent": {
    fields: { numerator: { note: "Numerator; default 0." }, denominator: { note: "HUNDRED (default), TEN_THOUSAND or MILLION." } },
  },
  "envoy.config.core.v3.HeaderValueOption": {
    fields: {
      header: { note: "The header; its value may use %REQ(…)%, %DOWNSTREAM_REMOTE_ADDRESS%, %START_TIME%… (docs/edge.md)." },
      append: { note: "Deprecated: true is APPEND_IF_EXISTS_OR_ADD, false OVERWRITE_IF_EXISTS_OR_ADD." },
      append_action: { note: "APPEND_IF_EXISTS_OR_ADD (default), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD, OVERWRITE_IF_EXISTS." },
      keep_empty_value: { note: "Add the header even when its value formats to empty. Default false." },
    },
  },
  "envoy.config.core.v3.HeaderValue": {
    fields: {
      key: { note: "Header name; not a pseudo-header, not host." },
      value: { note: "Value, with Envoy's %COMMAND% operators." },
      raw_value: { note: "Value as bytes." },
    },
  },
  // ---- UDP listeners and udp_proxy (tcp tier; shared/config/compile-udp-proxy.ts) ----
  "envoy.config.listener.v3.UdpListenerConfig": {
    fields: { downstream_socket_config: { note: "The listener socket's settings (max_rx_datagram_size)." } },
    features: { quic_options: "QUIC (HTTP/3)", udp_packet_packet_writer_config: "UDP packet writers (GSO)" },
  },
  "envoy.config.core.v3.UdpSocketConfig": {
    fields: { max_rx_datagram_size: { note: "Largest datagram accepted; default 1500. Larger ones are dropped and counted." } },
    features: { prefer_gro: "UDP GRO" },
  },
  "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig": {
    fields: {
      stat_prefix: { note: "Stats go to `udp.<stat_prefix>.`." },
      cluster: { note: "Deprecated: the one cluster every session goes to." },
      matcher: { note: "Routes each new session by its source/destination IP and port; the action is a udp_proxy Route." },
      idle_timeout: { note: "A session ends after this long without a datagram either way; default 60 s, 0: never." },
      hash_policies: { note: "At most one: source_ip or key, the session's hash for RING_HASH/MAGLEV clusters." },
      upstream_socket_config: { note: "Upstream sockets' max_rx_datagram_size; default 1500." },
      use_per_packet_load_balancing: { note: "Choose a host for every datagram instead of once per session. Default false." },
    },
    features: {
      use_original_src_ip: "transparent UDP proxying (original source IP)",
      access_log: "udp_proxy access logs",
      proxy_access_log: "udp_proxy access logs",
      session_filters: "UDP session filters",
      tunneling_config: "UDP tunneling over HTTP",
      access_log_options: "udp_proxy access logs",
    },
  },
  "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig.HashPolicy": {
    fields: {
      source_ip: { note: "Hash the downstream IP address." },
      key: { note: "Hash a fixed key (every session gets the same host)." },
    },
  },
  "envoy.extensions.filters.udp.udp_proxy.v3.Route": { fields: { cluster: { note: "The cluster a matched session goes to." } } },
  "xds.type.matcher.v3.Matcher": {
    fields: {
      matcher_list: { note: "Predicates tried in order; the first that matches wins (a nested matcher that does not match moves on)." },
      matcher_tree: { note: "An exact map, or a prefix map (longest key wins), over one input." },
      on_no_match: { note: "What to do when nothing matched; absent: no match (udp_proxy: downstream_sess_no_route)." },
    },
  },
  "xds.type.matcher.v3.Matcher.OnMatch": {
    fields: {
      matcher: { note: "A nested matcher." },
      action: { note: "The action (for udp_proxy: envoy.extensions.filters.udp.udp_proxy.v3.Route)." },
    },
  },
  "xds.type.matcher.v3.Matcher.MatcherList": { fields: { matchers: { note: "Field matchers in order." } } },
  "xds.type.matcher.v3.Matcher.MatcherList.FieldMatcher": {
    fields: {
      predicate: { note: "When it holds, on_match applies." },
      on_match: { note: "The action or nested matcher." },
    },
  },
  "xds.type.matcher.v3.Matcher.MatcherList.Predicate": {
    fields: {
      single_predicate: { note: "One input against a value or IP matcher." },
      or_matcher: { note: "Any of the predicates." },
      and_matcher: { note: "All of the predicates." },
      not_matcher: { note: "The predicate does not hold." },
    },
  },
  "xds.type.matcher.v3.Matcher.MatcherList.Predicate.SinglePredicate": {
    fields: {
      input: { note: "envoy.matching.inputs.source_ip, source_port, destination_ip or destination_port." },
      value_match: { note: "exact, prefix, suffix or contains (ignore_case); regex is refused." },
      custom_match: { note: "envoy.matching.matchers.ip (cidr_ranges) only." },
    },
  },
  "xds.type.matcher.v3.Matcher.MatcherList.Predicate.PredicateList": { fields: { predicate: { note: "The predicates (at least 2)." } } },
  "xds.type.matcher.v3.Matcher.MatcherTree": {
    fields: {
      input: { note: "envoy.matching.inputs.source_ip, source_port, destination_ip or destination_port." },
      exact_match_map: { note: "The input's value must equal a key." },
      prefix_match_map: { note: "The longest key that prefixes the input's value wins." },
    },
    features: { custom_match: "custom tree matchers (IP range trees)" },
  },
  "xds.type.matcher.v3.Matcher.MatcherTree.MatchMap": { fields: { map: { note: "Keys and what each leads to." } } },
  "xds.core.v3.TypedExtensionConfig": {
    fields: {
      name: { note: "Extension name (informational)." },
      typed_config: { note: "Its `@type` selects the input, matcher or action; others are refused when the config is compiled." },
    },
  },
  "xds.type.matcher.v3.StringMatcher": {
    fields: {
      exact: { note: "Equal." },
      prefix: { note: "Starts with." },
      suffix: { note: "Ends with." },
      contains: { note: "Contains." },
      ignore_case: { note: "ASCII case-insensitive. Default false." },
    },
    features: { safe_regex: "regex matching in the matcher API" },
  },
  "envoy.extensions.matching.input_matchers.ip.v3.Ip": {
    fields: {
      cidr_ranges: { note: "The input (an IP) must lie in one of these." },
      stat_prefix: { note: "Required by Envoy; Legate keeps no per-matcher stats." },
    },
  },
  "envoy.extensions.matching.common_inputs.network.v3.SourceIPInput": { fields: {} },
  "envoy.extensions.matching.common_inputs.network.v3.SourcePortInput": { fields: {} },
  "envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput": { fields: {} },
  "envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput": { fields: {} },
  // ---- Network rbac and local_ratelimit (tcp tier; shared/config/compile-network-filters.ts) ----
  "envoy.extensions.filters.network.rbac.v3.RBAC": {
    fields: {
      rules: { note: "The enforced policies; absent: every connection is allowed." },
      shadow_rules: { note: "Policies evaluated and counted (shadow_allowed/shadow_denied) but never enforced." },
      shadow_rules_stat_prefix: { note: "Extra prefix for the shadow stats. Default empty." },
      stat_prefix: { note: "Stats go to `<stat_prefix>rbac.`." },
      enforcement_type: { note: "ONE_TIME_ON_FIRST_BYTE (default: decided once, on the first bytes) or CONTINUOUS (every read)." },
    },
    features: { matcher: "the RBAC matcher API", shadow_matcher: "the RBAC matcher API" },
  },
  "envoy.config.rbac.v3.RBAC": {
    fields: {
      action: { note: "ALLOW (default: only matching connections pass) or DENY (matching connections are closed).", values: ["ALLOW", "DENY"] },
      policies: { note: "Named policies; a connection matches when any policy matches." },
    },
    features: { audit_logging_options: "RBAC audit logging" },
  },
  "envoy.config.rbac.v3.Policy": {
    fields: {
      permissions: { note: "Any one must match." },
      principals: { note: "Any one must match." },
    },
    features: { condition: "CEL conditions", checked_condition: "CEL conditions" },
  },
  "envoy.config.rbac.v3.Permission": {
    fields: {
      and_rules: { note: "All must match." },
      or_rules: { note: "Any must match." },
      any: { note: "Always matches." },
      destination_ip: { note: "The connection's local address (a PROXY header's destination when present)." },
      destination_port: { note: "The connection's local port." },
      destination_port_range: { note: "The local port in [start, end)." },
      not_rule: { note: "The rule does not match." },
      requested_server_name: { note: "SNI (from tls_inspector or the TLS handshake); empty when none." },
    },
    features: {
      header: "HTTP header matching (a network filter sees no HTTP)",
      url_path: "HTTP path matching (a network filter sees no HTTP)",
      metadata: "metadata matching",
      matcher: "permission matcher extensions",
      uri_template: "URI template matching",
    },
  },
  "envoy.config.rbac.v3.Permission.Set": { fields: { rules: { note: "The permissions of an and_rules/or_rules." } } },
  "envoy.config.rbac.v3.Principal": {
    fields: {
      and_ids: { note: "All must match." },
      or_ids: { note: "Any must match." },
      any: { note: "Always matches." },
      authenticated: { note: "A TLS connection; with principal_name, a URI SAN, else a DNS SAN, else the subject of the peer certificate must match." },
      source_ip: { note: "Deprecated: the same as remote_ip." },
      direct_remote_ip: { note: "The socket's own peer address." },
      remote_ip: { note: "The peer address as filters see it (a PROXY header's source when present)." },
      not_id: { note: "The identifier does not match." },
    },
    features: {
      header: "HTTP header matching (a network filter sees no HTTP)",
      url_path: "HTTP path matching (a network filter sees no HTTP)",
      metadata: "metadata matching",
      filter_state: "filter state matching",
    },
  },
  "envoy.config.rbac.v3.Principal.Set": { fields: { ids: { note: "The principals of an and_ids/or_ids." } } },
  "envoy.config.rbac.v3.Principal.Authenticated": { fields: { principal_name: { note: "Matched against URI SANs, then DNS SANs, then the subject; absent: any TLS peer." } } },
  "envoy.type.v3.Int32Range": {
    fields: {
      start: { note: "Inclusive start." },
      end: { note: "Exclusive end." },
    },
  },
  "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit": {
    fields: {
      stat_prefix: { note: "Stats go to `local_rate_limit.<stat_prefix>.`." },
      token_bucket: { note: "One token per new connection; a connection that finds none is closed at once (rate_limited)." },
      runtime_enabled: { note: "Runtime flag turning the limit on or off (the static runtime layers)." },
    },
    features: { share_key: "token buckets shared between filter configs" },
  },
  // ---- Mongo proxy (tcp tier; shared/config/compile-mongo-proxy.ts, docs/tcp-tier.md) ----
  "envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy": {
    fields: {
      stat_prefix: { note: "Stats go to `mongo.<stat_prefix>.`; the filter sniffs both directions (OP_MSG included) and passes every byte unchanged." },
      access_log: { note: "File that gets one JSON line per decoded message (`time`, `message`, `upstream_host`), as Envoy writes them." },
      delay: { note: "Fault: holds the connection's bytes for fixed_delay before a query, insert, get-more, kill-cursors or OP_MSG, at `percentage`." },
      commands: { note: "Commands that get `cmd.<name>.*` stats; default delete, insert, update." },
    },
    features: { emit_dynamic_metadata: "Mongo dynamic metadata (nothing in the tcp tier reads network filters' dynamic metadata)" },
  },
  "envoy.extensions.filters.common.fault.v3.FaultDelay": {
    fields: {
      fixed_delay: { note: "How long the delay holds the bytes (required: header_delay is HTTP-only)." },
      percentage: { note: "Share of eligible operations delayed; absent: 0 %, as Envoy reads it." },
    },
    features: { header_delay: "header-controlled delays (HTTP fault filter only)" },
  },
  // ---- Postgres proxy (tcp tier; shared/config/compile-postgres-proxy.ts, docs/tcp-tier.md) ----
  "envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy": {
    fields: {
      stat_prefix: { note: "Stats go to `postgres.<stat_prefix>.`; the filter sniffs both directions and passes every byte unchanged." },
      enable_sql_parsing: { note: "Default true: Query/Parse SQL is tokenized (statement kind, tables) and counted as statements_parsed or statements_parse_error." },
      terminate_ssl: { note: "Default false. True: the proxy answers the client's SSLRequest with S itself and terminates TLS (the chain's transport_socket must be envoy.transport_sockets.starttls); the session is sniffed and sent upstream decrypted." },
      upstream_ssl: { note: "Default DISABLE. REQUIRE / ALLOW: before the client's startup message the proxy sends its own SSLRequest and on S switches the upstream connection to TLS (the tcp_proxy cluster's transport_socket must be envoy.transport_sockets.starttls); on N REQUIRE closes the session, ALLOW goes on in clear text." },
    },
    features: { downstream_ssl: "downstream_ssl (closing clients that do not upgrade to TLS); terminate_ssl terminates the clients that ask" },
  },
  // ---- Redis proxy (tcp tier; shared/config/compile-redis-proxy.ts, docs/redis-commands.md) ----
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy": {
    fields: {
      stat_prefix: { note: "Stats go to `redis.<stat_prefix>.`." },
      settings: { note: "Connection pool settings (op_timeout is required)." },
      latency_in_micros: { note: "Command latency histograms in microseconds instead of milliseconds." },
      prefix_routes: { note: "Routes keys to clusters by longest prefix; a catch-all route for the rest." },
      downstream_auth_password: { note: "Deprecated single password clients must AUTH with (inline or inlined file)." },
      downstream_auth_passwords: { note: "Passwords clients must AUTH with; any one is accepted." },
      downstream_auth_username: { note: "With a password: the user AUTH must name (Redis 6 ACL form)." },
    },
    features: { faults: "Redis fault injection" },
  },
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions": {
    fields: {
      auth_password: { note: "Password redis_proxy sends (AUTH) on each new connection to the cluster's hosts." },
      auth_username: { note: "With auth_password: the user for AUTH (Redis 6 ACLs)." },
    },
  },
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy.ConnPoolSettings": {
    fields: {
      op_timeout: { note: "Per-command upstream timeout; on expiry the command fails, the shard connection is closed and `upstream_rq_timeout` counted." },
      enable_hashtagging: { note: "Only the part of a key inside its first `{...}` is hashed, so related keys share a shard. Default false." },
      enable_command_stats: { note: "Per-command success, error and latency stats (`command.<cmd>.*`). Default false." },
      max_buffer_size_before_flush: { note: "Upstream writes are held until this many bytes or buffer_flush_timeout; 0 (default): flushed once per event-loop turn." },
      buffer_flush_timeout: { note: "Longest hold of a partly filled upstream buffer; default 3 ms." },
      read_policy: { note: "Only MASTER (the default): every command goes to the shard's primary.", values: ["MASTER"] },
    },
    features: {
      enable_redirection: "Redis Cluster MOVED/ASK redirection",
      dns_cache_config: "redirection DNS caches",
      max_upstream_unknown_connections: "Redis Cluster redirection",
      connection_rate_limit: "Redis connection rate limits",
    },
  },
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy.PrefixRoutes": {
    fields: {
      routes: { note: "Prefix routes; the longest matching prefix wins; duplicate prefixes are refused." },
      case_insensitive: { note: "Match prefixes ignoring ASCII case. Default false." },
      catch_all_route: { note: "Route for keys no prefix matches; absent: such commands get an error reply." },
    },
  },
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy.PrefixRoutes.Route": {
    fields: {
      prefix: { note: "Key prefix." },
      remove_prefix: { note: "Strip the prefix from the key before it goes upstream. Default false." },
      cluster: { note: "The cluster whose hosts are the shards (RING_HASH or MAGLEV, or one STATIC host)." },
      request_mirror_policy: { note: "Also send each command (only writes with exclude_read_commands) to another cluster; its reply is dropped." },
    },
    features: { key_formatter: "Redis key formatters", read_command_policy: "Redis read command routing" },
  },
  "envoy.extensions.filters.network.redis_proxy.v3.RedisProxy.PrefixRoutes.Route.RequestMirrorPolicy": {
    fields: {
      cluster: { note: "The mirror cluster." },
      exclude_read_commands: { note: "Mirror only write commands. Default false." },
    },
    features: { runtime_fraction: "fractional Redis mirroring" },
  },
  "envoy.type.v3.TokenBucket": {
    fields: {
      max_tokens: { note: "Bucket size; it starts full." },
      tokens_per_fill: { note: "Tokens added per fill_interval; default 1." },
      fill_interval: { note: "Refill period, at least 50 ms." },
    },
  },
  "envoy.config.core.v3.RuntimeFeatureFlag": {
    fields: {
      default_value: { note: "Enabled when the runtime key is absent." },
      runtime_key: { note: "Runtime key whose boolean value overrides default_value." },
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
  "envoy.config.core.v3.TransportSocket": { label: "transport socket", categories: ["transport_socket"] },
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
