/**
 * The extensions Legate implements, keyed by `@type` URL and by name (Envoy resolves `typed_config`'s
 * `@type` first, and the `name` only when there is no typed_config). Each tier's `extensions.ts`
 * registers the runtime half; this table is what the config model and the validator know.
 */
export type ExtensionCategory = "network" | "http" | "listener" | "udp_listener" | "access_logger" | "transport_socket";

export interface ExtensionInfo {
  /** Envoy's canonical extension name. */
  name: string;
  /** Older names Envoy still accepts for the same extension. */
  aliases: string[];
  typeUrl: string;
  category: ExtensionCategory;
  /** The tiers that run it. */
  tiers: ("edge" | "tcp")[];
}

const T = "type.googleapis.com/";

export const EXTENSIONS: readonly ExtensionInfo[] = [
  {
    name: "envoy.filters.network.http_connection_manager",
    aliases: ["envoy.http_connection_manager"],
    typeUrl: `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
    category: "network",
    tiers: ["edge"],
  },
  {
    name: "envoy.filters.network.tcp_proxy",
    aliases: ["envoy.tcp_proxy"],
    typeUrl: `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.network.rbac",
    aliases: [],
    typeUrl: `${T}envoy.extensions.filters.network.rbac.v3.RBAC`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.network.local_ratelimit",
    aliases: [],
    typeUrl: `${T}envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.network.redis_proxy",
    aliases: ["envoy.redis_proxy"],
    typeUrl: `${T}envoy.extensions.filters.network.redis_proxy.v3.RedisProxy`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    // A contrib extension: its proto sits next to the filter (tcp-tier/src/config/envoy-schema.ts loads it).
    name: "envoy.filters.network.postgres_proxy",
    aliases: [],
    typeUrl: `${T}envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.network.mongo_proxy",
    aliases: ["envoy.mongo_proxy"],
    typeUrl: `${T}envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy`,
    category: "network",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.udp_listener.udp_proxy",
    aliases: [],
    typeUrl: `${T}envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig`,
    category: "udp_listener",
    tiers: ["tcp"],
  },
  {
    name: "envoy.access_loggers.file",
    aliases: ["envoy.file_access_log"],
    typeUrl: `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
    category: "access_logger",
    // The admin port's access log and HCM access logs in the tcp tier; a Worker has no files.
    tiers: ["tcp"],
  },
  {
    name: "envoy.access_loggers.stdout",
    aliases: [],
    typeUrl: `${T}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
    category: "access_logger",
    // At the edge: console.log (Workers logs).
    tiers: ["edge", "tcp"],
  },
  {
    name: "envoy.access_loggers.stderr",
    aliases: [],
    typeUrl: `${T}envoy.extensions.access_loggers.stream.v3.StderrAccessLog`,
    category: "access_logger",
    // At the edge: console.error (Workers logs).
    tiers: ["edge", "tcp"],
  },
  {
    name: "envoy.filters.listener.tls_inspector",
    aliases: ["envoy.listener.tls_inspector"],
    typeUrl: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
    category: "listener",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.listener.proxy_protocol",
    aliases: ["envoy.listener.proxy_protocol"],
    typeUrl: `${T}envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol`,
    category: "listener",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.listener.http_inspector",
    aliases: ["envoy.listener.http_inspector"],
    typeUrl: `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
    category: "listener",
    tiers: ["tcp"],
  },
  {
    // One extension, two config messages: DownstreamTlsContext on filter chains, UpstreamTlsContext on
    // clusters (shared/config/compile-tls.ts checks which one each place takes).
    name: "envoy.transport_sockets.tls",
    aliases: ["tls"],
    typeUrl: `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
    category: "transport_socket",
    tiers: ["tcp"],
  },
  {
    name: "envoy.transport_sockets.tls",
    aliases: ["tls"],
    typeUrl: `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
    category: "transport_socket",
    tiers: ["tcp"],
  },
  {
    // Clear text until a filter switches the connection to TLS (postgres_proxy terminate_ssl / upstream_ssl):
    // StartTlsConfig on filter chains, UpstreamStartTlsConfig on clusters.
    name: "envoy.transport_sockets.starttls",
    aliases: [],
    typeUrl: `${T}envoy.extensions.transport_sockets.starttls.v3.StartTlsConfig`,
    category: "transport_socket",
    tiers: ["tcp"],
  },
  {
    name: "envoy.transport_sockets.starttls",
    aliases: [],
    typeUrl: `${T}envoy.extensions.transport_sockets.starttls.v3.UpstreamStartTlsConfig`,
    category: "transport_socket",
    tiers: ["tcp"],
  },
  {
    name: "envoy.filters.http.router",
    aliases: ["envoy.router"],
    typeUrl: `${T}envoy.extensions.filters.http.router.v3.Router`,
    category: "http",
    tiers: ["edge"],
  },
];

const byTypeUrl = new Map(EXTENSIONS.map((e) => [e.typeUrl, e]));
const byName = new Map(EXTENSIONS.flatMap((e) => [e.name, ...e.aliases].map((n) => [n, e] as const)));

/**
 * The supported extension for a typed_config `@type`, if any. As in protobuf, only the part after the last
 * `/` names the message, so any URL prefix is accepted.
 */
export function extensionByTypeUrl(typeUrl: string): ExtensionInfo | undefined {
  return byTypeUrl.get(`${T}${typeUrl.slice(typeUrl.lastIndexOf("/") + 1)}`);
}

/** The supported extension for a filter `name` (used only when there is no typed_config). */
export function extensionByName(name: string): ExtensionInfo | undefined {
  return byName.get(name);
}
