/**
 * The network filters the tcp tier runs, keyed by Envoy's canonical extension name. The config model
 * names each compiled network filter by `kind`; its extension is `envoy.filters.network.<kind>`
 * (shared/config/extensions.ts lists names, aliases and `@type` URLs).
 */
import type { NetworkFilterModel, TcpListenerFilterModel } from "../../shared/config/model.ts";
import { createHttpInspectorFactory } from "./extensions/filters/listener/http_inspector.ts";
import { createProxyProtocolFactory } from "./extensions/filters/listener/proxy_protocol.ts";
import { createTlsInspectorFactory } from "./extensions/filters/listener/tls_inspector.ts";
import type { ListenerFilterFactory } from "./listener/listener-filter.ts";
import type { Logger } from "../../shared/log.ts";
import type { StatsScope } from "../../shared/stats/store.ts";
import { createTcpProxyFactory } from "./extensions/filters/network/tcp_proxy/config.ts";
import { createRbacFactory } from "./extensions/filters/network/rbac/config.ts";
import { createLocalRateLimitFactory } from "./extensions/filters/network/local_ratelimit/config.ts";
import { createPostgresProxyFactory } from "./extensions/filters/network/postgres_proxy/config.ts";
import { createMongoProxyFactory } from "./extensions/filters/network/mongo_proxy/config.ts";
import { createRedisProxyFactory } from "./extensions/filters/network/redis_proxy/config.ts";
import type { Runtime } from "../../shared/runtime/runtime.ts";
import type { ServerState } from "./admin/handlers.ts";
import type { NetworkFilterFactory } from "./network/filter.ts";
import type { ClusterManager } from "./upstream/cluster-manager.ts";

/** What a filter's config-time factory may use; built once per server. */
export interface NetworkFilterFactoryContext {
  clusterManager: ClusterManager;
  /** The server's root stats scope: filters add their own prefix (`tcp.<stat_prefix>.`). */
  stats: StatsScope;
  logger: Logger;
  /** Server-wide state; health-check filters read `healthCheckFailed` (set by POST /healthcheck/fail). */
  serverState: ServerState;
  /** The config's runtime (static layers); filters with runtime flags read it. Absent: every flag has its default. */
  runtime?: Runtime;
}

/**
 * Builds a filter's factory from its compiled config, once per config version. Throws an error with a
 * stable `code` when the config cannot run here.
 */
export type NetworkFilterFactoryBuilder = (model: NetworkFilterModel, context: NetworkFilterFactoryContext) => NetworkFilterFactory;

const NETWORK_FILTERS = new Map<string, NetworkFilterFactoryBuilder>([
  [
    "envoy.filters.network.tcp_proxy",
    (model, context) => {
      if (model.kind !== "tcp_proxy") throw new Error(`internal: ${model.kind} registered as tcp_proxy`);
      return createTcpProxyFactory(model, context);
    },
  ],
  [
    "envoy.filters.network.rbac",
    (model, context) => {
      if (model.kind !== "rbac") throw new Error(`internal: ${model.kind} registered as rbac`);
      return createRbacFactory(model, context);
    },
  ],
  [
    "envoy.filters.network.local_ratelimit",
    (model, context) => {
      if (model.kind !== "local_ratelimit") throw new Error(`internal: ${model.kind} registered as local_ratelimit`);
      return createLocalRateLimitFactory(model, context);
    },
  ],
  [
    "envoy.filters.network.mongo_proxy",
    (model, context) => {
      if (model.kind !== "mongo_proxy") throw new Error(`internal: ${model.kind} registered as mongo_proxy`);
      return createMongoProxyFactory(model, context);
    },
  ],
  [
    "envoy.filters.network.postgres_proxy",
    (model, context) => {
      if (model.kind !== "postgres_proxy") throw new Error(`internal: ${model.kind} registered as postgres_proxy`);
      return createPostgresProxyFactory(model, context);
    },
  ],
  [
    "envoy.filters.network.redis_proxy",
    (model, context) => {
      if (model.kind !== "redis_proxy") throw new Error(`internal: ${model.kind} registered as redis_proxy`);
      return createRedisProxyFactory(model, context);
    },
  ],
]);

/** Envoy's canonical extension name for a compiled network filter. */
export function networkFilterExtensionName(model: NetworkFilterModel): string {
  return `envoy.filters.network.${model.kind}`;
}

/** The factory builder for a network filter, or undefined when the tcp tier does not run it. */
export function networkFilterBuilder(model: NetworkFilterModel): NetworkFilterFactoryBuilder | undefined {
  return NETWORK_FILTERS.get(networkFilterExtensionName(model));
}

/** Canonical names of the network filters the tcp tier runs (for errors and docs). */
export function registeredNetworkFilters(): string[] {
  return [...NETWORK_FILTERS.keys()];
}

/**
 * Builds a TCP listener filter's factory from its compiled config, once per listener per config
 * version. `stats` is the server's root scope (Envoy's listener-filter stats are server-wide).
 */
export type ListenerFilterFactoryBuilder = (model: TcpListenerFilterModel, stats: StatsScope) => ListenerFilterFactory;

const LISTENER_FILTERS = new Map<TcpListenerFilterModel["kind"], ListenerFilterFactoryBuilder>([
  ["tls_inspector", (m, stats) => createTlsInspectorFactory(m as Extract<TcpListenerFilterModel, { kind: "tls_inspector" }>, stats)],
  ["proxy_protocol", (m, stats) => createProxyProtocolFactory(m as Extract<TcpListenerFilterModel, { kind: "proxy_protocol" }>, stats)],
  ["http_inspector", (m, stats) => createHttpInspectorFactory(m as Extract<TcpListenerFilterModel, { kind: "http_inspector" }>, stats)],
]);

/** The factory builder for a TCP listener filter, or undefined when the tcp tier does not run it. */
export function listenerFilterBuilder(model: TcpListenerFilterModel): ListenerFilterFactoryBuilder | undefined {
  return LISTENER_FILTERS.get(model.kind);
}
