/**
 * Compiles a canonical Envoy v3 bootstrap (as written to KV by `legate push`, or as returned by the
 * Node validator) into the {@link BootstrapModel} both tiers run.
 *
 * Runs in workerd and in Node: no schema, no `eval`. It trusts nothing: anything it reads that is
 * malformed becomes a `not-envoy` issue and anything inconsistent an `invalid-reference` issue, so the
 * edge fails closed even on a config that skipped validation. It reads only the fields Legate
 * supports; refusing the fields it does not is the validator's job (shared/config/validate.ts).
 */
import { compileHcmLogsAndUpgrades } from "./compile-access-log.ts";
import { compileHcmExtras } from "./compile-hcm-extras.ts";
import { compileAddress } from "./compile-address.ts";
import { compileClusterUpstream, compileEdsConfig, compileLoadAssignment } from "./compile-cluster.ts";
import { checkFilterChainOverlap, compileFilterChainMatch, compileTcpListenerFilters } from "./compile-listener.ts";
import { compileHcmHeaderPolicy, compileHeaderMutations, compileRedirect, compileRouteConfigHeaders, compileRouteMatch, compileRouteTarget } from "./compile-route.ts";
import { withHashPolicy } from "./compile-cluster-hash-policy.ts";
import { applyVirtualHostRouter, withRouterPolicy } from "./compile-router.ts";
import { compileClusterHealthChecks } from "./compile-health-check.ts";
import { checkEdgeUpstreamTls, compileDownstreamTransportSocket, compileUpstreamTransportSocket } from "./compile-tls.ts";
import { compileStatsSinks } from "./compile-stats-sinks.ts";
import { compileTcpProxy } from "./compile-tcp-proxy.ts";
import { compileClusterProtocolOptions, compileRedisProxy } from "./compile-redis-proxy.ts";
import { checkPostgresStartTls, compilePostgresProxy } from "./compile-postgres-proxy.ts";
import { compileMongoProxy } from "./compile-mongo-proxy.ts";
import { compileClusterDns } from "./compile-cluster-dns.ts";
import { compileNetworkLocalRateLimit, compileNetworkRbac } from "./compile-network-filters.ts";
import { compileUdpListener } from "./compile-udp-proxy.ts";
import { Reader } from "./reader.ts";
import { extensionByName, extensionByTypeUrl } from "./extensions.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type {
  BootstrapModel,
  ClusterModel,
  EndpointModel,
  FilterChainModel,
  HttpConnectionManagerModel,
  HttpFilterModel,
  ListenerModel,
  NetworkFilterModel,
  RouteConfigModel,
  RouteModel,
  VirtualHostModel,
} from "./model.ts";

export interface CompileOptions {
  /** Name of the listener the edge serves (the Worker's LEGATE_EDGE_LISTENER), besides any marked in metadata. */
  edgeListener?: string;
}

export interface CompileResult {
  /** Present only when there were no issues. */
  model?: BootstrapModel;
  issues: ConfigIssue[];
}

type Obj = Record<string, unknown>;

const MIB = 1024 * 1024;

/** Joins several keys onto a JSON path (joinPath takes one key, and quotes a key that contains dots). */
function sub(path: string, ...keys: (string | number)[]): string {
  return keys.reduce<string>((p, k) => joinPath(p, k), path);
}

/** Every value Envoy defines for the enums compile reads, so valid-but-unimplemented ones read as unsupported. */
const ENVOY_CLUSTER_TYPES = ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"] as const;
const ENVOY_LB_POLICIES = ["ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", "MAGLEV", "CLUSTER_PROVIDED", "LOAD_BALANCING_POLICY_CONFIG"] as const;
const ENVOY_CODEC_TYPES = ["AUTO", "HTTP1", "HTTP2", "HTTP3"] as const;


/**
 * Compiles the bootstrap. Collects every issue; returns a model only when there are none.
 */
export function compileBootstrap(input: unknown, options: CompileOptions = {}): CompileResult {
  const r = new Reader();
  const root = r.obj(input, "") ?? {};
  const node = r.obj(root.node, "node") ?? {};
  const sr = r.obj(root.static_resources, "static_resources") ?? {};

  const clusters = new Map<string, ClusterModel>();
  r.arr(sr.clusters, "static_resources.clusters").forEach((c, i) => {
    const path = joinPath("static_resources.clusters", i);
    const cluster = compileCluster(r, c, path);
    if (!cluster) return;
    compileClusterProtocolOptions(r.issues, cluster, c, path);
    if (clusters.has(cluster.name)) {
      r.bad(joinPath(path, "name"), `duplicate cluster name "${cluster.name}"`, "invalid-reference");
    }
    clusters.set(cluster.name, cluster);
  });

  const listeners: ListenerModel[] = [];
  const listenerNames = new Set<string>();
  const listenerAddresses = new Map<string, string>();
  r.arr(sr.listeners, "static_resources.listeners").forEach((l, i) => {
    const path = joinPath("static_resources.listeners", i);
    const listener = compileListener(r, l, path, clusters, options);
    if (!listener) return;
    if (listenerNames.has(listener.name)) {
      r.bad(joinPath(path, "name"), `duplicate listener name "${listener.name}"`, "invalid-reference");
    }
    listenerNames.add(listener.name);
    const a = listener.address;
    // The edge listener is served by the Worker, not bound on a host, so it cannot collide.
    const key = `${a.protocol}:${a.address}:${a.port}`;
    // Port 0 asks the kernel for a free port per listener, so such listeners never collide.
    const other = a.port === 0 ? undefined : listenerAddresses.get(key);
    if (other !== undefined && !listener.edge) {
      r.bad(joinPath(path, "address"), `listener "${listener.name}" uses the same address as "${other}" (${a.address}:${a.port}/${a.protocol})`, "invalid-reference");
    } else if (!listener.edge) {
      listenerAddresses.set(key, listener.name);
    }
    listeners.push(listener);
  });

  r.issues.push(...checkEdgeUpstreamTls(listeners, clusters));
  if (options.edgeListener && !listenerNames.has(options.edgeListener)) {
    r.bad("static_resources.listeners", `the edge listener "${options.edgeListener}" (LEGATE_EDGE_LISTENER) is not defined`, "invalid-reference");
  }
  const edgeListeners = listeners.filter((l) => l.edge);
  if (edgeListeners.length > 1) {
    r.bad("static_resources.listeners", `more than one listener is marked for the edge: ${edgeListeners.map((l) => l.name).join(", ")}`, "invalid-reference");
  }

  let admin: BootstrapModel["admin"];
  const adminObj = r.obj(root.admin, "admin");
  if (adminObj && adminObj.address !== undefined) {
    const address = compileAddress(r, adminObj.address, "admin.address");
    const accessLogPaths: string[] = [];
    r.arr(adminObj.access_log, "admin.access_log").forEach((a, i) => {
      const p = joinPath("admin.access_log", i);
      const entry = r.obj(a, p) ?? {};
      const tc = r.obj(entry.typed_config, joinPath(p, "typed_config"));
      const typeUrl = r.str(tc?.["@type"], joinPath(p, "typed_config.@type")) ?? "";
      // The admin port writes Envoy's default line to files only: anything else would be ignored there.
      if (!typeUrl.endsWith(".FileAccessLog")) {
        r.bad(p, "the admin interface logs only to files (envoy.access_loggers.file)", "unsupported");
        return;
      }
      if (entry.filter !== undefined) r.bad(joinPath(p, "filter"), "access-log filters on the admin interface are not supported", "unsupported");
      if (tc?.log_format !== undefined || tc?.format !== undefined || tc?.json_format !== undefined) {
        r.bad(joinPath(p, "typed_config"), "the admin interface writes Envoy's default format only; a custom format there is not supported", "unsupported");
      }
      const file = r.str(tc?.path, joinPath(joinPath(p, "typed_config"), "path"));
      if (file) accessLogPaths.push(file);
    });
    const legacy = r.str(adminObj.access_log_path, "admin.access_log_path");
    if (legacy) accessLogPaths.push(legacy);
    if (address) admin = { address, accessLogPaths };
  }

  const runtime = compileRuntime(r, root.layered_runtime);

  const model: BootstrapModel = {
    node: { id: r.str(node.id, "node.id") ?? "", cluster: r.str(node.cluster, "node.cluster") ?? "" },
    admin,
    listeners,
    clusters,
    runtime,
    statsSinks: compileStatsSinks(r, root),
  };
  return r.issues.length ? { issues: r.issues } : { model, issues: [] };
}

function compileCluster(r: Reader, v: unknown, path: string): ClusterModel | undefined {
  const c = r.obj(v, path);
  if (!c) return undefined;
  const name = r.required(r.str(c.name, joinPath(path, "name")), joinPath(path, "name"), "cluster name");
  if (!name) return undefined;
  const type = r.enumOf(c.type, joinPath(path, "type"), ["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS"] as const, "STATIC", ENVOY_CLUSTER_TYPES);
  const connectTimeoutMs = r.durationMs(c.connect_timeout, joinPath(path, "connect_timeout")) ?? 5000;
  const lbPolicy = r.enumOf(c.lb_policy, joinPath(path, "lb_policy"), ["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV"] as const, "ROUND_ROBIN", ENVOY_LB_POLICIES);
  const dnsLookupFamily = r.enumOf(c.dns_lookup_family, joinPath(path, "dns_lookup_family"), ["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"] as const, "AUTO");
  const dnsRefreshRateMs = r.durationMs(c.dns_refresh_rate, joinPath(path, "dns_refresh_rate")) ?? 5000;
  const perConnectionBufferLimitBytes = r.uint(c.per_connection_buffer_limit_bytes, joinPath(path, "per_connection_buffer_limit_bytes")) ?? MIB;

  const lap = joinPath(path, "load_assignment");
  const eds = type === "EDS" ? compileEdsConfig(r, c, path, name) : undefined;
  if (eds && c.load_assignment !== undefined && c.load_assignment !== null) {
    r.bad(lap, "an EDS cluster takes its endpoints from KV (`legate endpoints`), not from load_assignment", "unsupported");
  }
  const endpoints: EndpointModel[] = eds ? [] : compileLoadAssignment(r, c.load_assignment, lap);
  if (type === "LOGICAL_DNS" && endpoints.length > 1) {
    r.bad(lap, "a LOGICAL_DNS cluster takes exactly one endpoint (as in Envoy)");
  }
  const upstream = compileClusterUpstream(r.issues, { name, type, connectTimeoutMs, lbPolicy, endpoints, ...(eds ? { eds } : {}), dnsLookupFamily, dnsRefreshRateMs, perConnectionBufferLimitBytes, ...compileUpstreamTransportSocket(r, c.transport_socket, joinPath(path, "transport_socket")) }, c, path);
  return upstream && compileClusterDns(r.issues, compileClusterHealthChecks(r.issues, upstream, c, path), c, path);
}

function compileListener(
  r: Reader,
  v: unknown,
  path: string,
  clusters: Map<string, ClusterModel>,
  options: CompileOptions,
): ListenerModel | undefined {
  const l = r.obj(v, path);
  if (!l) return undefined;
  const address = r.required(compileAddress(r, l.address, joinPath(path, "address")), joinPath(path, "address"), "listener address");
  const name = r.str(l.name, joinPath(path, "name")) ?? (address ? `${address.address}_${address.port}` : `listener_${path}`);
  if (!address) return undefined;

  const lp = sub(path, "metadata", "filter_metadata", "legate");
  const meta = r.obj(r.obj(r.obj(l.metadata, sub(path, "metadata"))?.filter_metadata, sub(path, "metadata", "filter_metadata"))?.legate, lp);
  const edge = (r.bool(meta?.edge, sub(lp, "edge")) ?? false) || options.edgeListener === name;
  // Legate's own metadata namespace: a key it does not read (say a misspelt `edge`) must not pass silently.
  for (const key of Object.keys(meta ?? {})) {
    if (key !== "edge") r.bad(sub(lp, key), `unknown key \`${key}\` in Legate's listener metadata (only \`edge\` is read)`, "unsupported");
  }

  const filterChains = r.arr(l.filter_chains, joinPath(path, "filter_chains")).map((fc, i) =>
    compileFilterChain(r, fc, joinPath(joinPath(path, "filter_chains"), i), clusters, edge),
  );
  const defaultFilterChain = l.default_filter_chain === undefined
    ? undefined
    : compileFilterChain(r, l.default_filter_chain, joinPath(path, "default_filter_chain"), clusters, edge);
  // A UDP listener runs listener filters (udp_proxy); its filter chains are only for QUIC.
  if (filterChains.length === 0 && !defaultFilterChain && address.protocol !== "UDP") {
    r.bad(joinPath(path, "filter_chains"), "a listener needs at least one filter chain or a default_filter_chain");
  }
  if (edge) {
    const all = [...filterChains, ...(defaultFilterChain ? [defaultFilterChain] : [])];
    if (all.length !== 1 || all[0]?.filters.length !== 1 || all[0].filters[0]?.kind !== "http_connection_manager") {
      r.bad(path, "the edge listener must have exactly one filter chain holding one http_connection_manager", "unsupported");
    }
  }

  const listenerFilters = r.arr(l.listener_filters, joinPath(path, "listener_filters")).map((lf, i) => {
    const p = joinPath(joinPath(path, "listener_filters"), i);
    const o = r.obj(lf, p) ?? {};
    const tc = r.obj(o.typed_config, joinPath(p, "typed_config"));
    return { name: r.str(o.name, joinPath(p, "name")) ?? "", typeUrl: r.str(tc?.["@type"], sub(p, "typed_config", "@type")) ?? "", config: tc ?? {} };
  });

  if (address.protocol !== "UDP") checkFilterChainOverlap(r.issues, filterChains, joinPath(path, "filter_chains"));
  return {
    name,
    address,
    statPrefix: `listener.${address.address}_${address.port}.`,
    edge,
    perConnectionBufferLimitBytes: r.uint(l.per_connection_buffer_limit_bytes, joinPath(path, "per_connection_buffer_limit_bytes")) ?? MIB,
    filterChains,
    defaultFilterChain,
    listenerFilters,
    ...(address.protocol !== "UDP" ? compileTcpListenerFilters(r.issues, l, path, edge) : {}),
    ...compileUdpListener(r.issues, l, path, address.protocol, listenerFilters, clusters, edge),
  };
}

function compileFilterChain(r: Reader, v: unknown, path: string, clusters: Map<string, ClusterModel>, edge: boolean): FilterChainModel {
  const fc = r.obj(v, path) ?? {};
  const mp = joinPath(path, "filter_chain_match");
  const m = r.obj(fc.filter_chain_match, mp);
  const match = m ? compileFilterChainMatch(r.issues, m, mp) : undefined;
  const fp = joinPath(path, "filters");
  const rawFilters = r.arr(fc.filters, fp);
  const filters = rawFilters
    .map((f, i) => compileNetworkFilter(r, f, joinPath(fp, i), clusters, edge))
    .filter((f): f is NetworkFilterModel => f !== undefined);
  // Only when the chain is really empty: a chain whose filters were refused already has an issue each.
  if (rawFilters.length === 0) r.bad(fp, "a filter chain needs at least one network filter");
  filters.forEach((f, i) => {
    const terminal = f.kind !== "rbac" && f.kind !== "local_ratelimit" && f.kind !== "postgres_proxy" && f.kind !== "mongo_proxy";
    if (terminal && i < filters.length - 1) r.bad(joinPath(fp, i), `${f.name} is a terminal filter and must be the last in its chain`);
    if (!terminal && i === filters.length - 1 && filters.length === rawFilters.length) {
      r.bad(joinPath(fp, i), `${f.name} is not a terminal filter: the chain must end with one (tcp_proxy or http_connection_manager)`);
    }
  });
  const chain: FilterChainModel = { name: r.str(fc.name, joinPath(path, "name")) ?? "", match, filters, ...compileDownstreamTransportSocket(r, fc.transport_socket, joinPath(path, "transport_socket"), edge) };
  checkPostgresStartTls(r.issues, chain, path, clusters);
  return chain;
}

/** Resolves a filter's extension: `typed_config.@type` first, then `name`, as Envoy does. */
function resolveExtension(r: Reader, o: Obj, path: string) {
  const tc = r.obj(o.typed_config, joinPath(path, "typed_config"));
  const name = r.str(o.name, joinPath(path, "name")) ?? "";
  const typeUrl = tc ? r.str(tc["@type"], sub(path, "typed_config", "@type")) : undefined;
  const ext = typeUrl !== undefined ? extensionByTypeUrl(typeUrl) : extensionByName(name);
  return { name, typeUrl: typeUrl ?? ext?.typeUrl ?? "", config: tc ?? {}, ext };
}

function compileNetworkFilter(r: Reader, v: unknown, path: string, clusters: Map<string, ClusterModel>, edge: boolean): NetworkFilterModel | undefined {
  const o = r.obj(v, path) ?? {};
  const { name, typeUrl, config, ext } = resolveExtension(r, o, path);
  if (!ext || ext.category !== "network") {
    return r.bad(path, `Network filter ${name}${typeUrl ? ` (${typeUrl})` : ""} is not supported by Legate`, "unsupported");
  }
  const cp = joinPath(path, "typed_config");
  if (ext.name === "envoy.filters.network.tcp_proxy") return compileTcpProxy(r.issues, name, config, cp, path, clusters, edge);
  if (ext.name === "envoy.filters.network.rbac") return compileNetworkRbac(r.issues, name, config, cp, path, edge);
  if (ext.name === "envoy.filters.network.local_ratelimit") return compileNetworkLocalRateLimit(r.issues, name, config, cp, path, edge);
  if (ext.name === "envoy.filters.network.redis_proxy") return compileRedisProxy(r.issues, name, config, cp, path, clusters, edge);
  if (ext.name === "envoy.filters.network.postgres_proxy") return compilePostgresProxy(r.issues, name, config, cp, path, edge);
  if (ext.name === "envoy.filters.network.mongo_proxy") return compileMongoProxy(r.issues, name, config, cp, path, edge);
  if (!edge) {
    r.bad(path, "http_connection_manager runs only on the edge listener for now (the tcp tier serves the other listeners and has no HTTP engine yet); mark this listener with `metadata.filter_metadata.legate.edge: true`, or set LEGATE_EDGE_LISTENER to its name", "unsupported");
  }
  return compileHcmExtras(r.issues, compileHcmLogsAndUpgrades(r.issues, compileHcm(r, name, config, cp, clusters), config, cp, edge), config, cp);
}

function compileHcm(r: Reader, name: string, c: Obj, path: string, clusters: Map<string, ClusterModel>): HttpConnectionManagerModel {
  const statPrefix = r.required(r.str(c.stat_prefix, joinPath(path, "stat_prefix")), joinPath(path, "stat_prefix"), "stat_prefix") ?? "";
  const codecType = r.enumOf(c.codec_type, joinPath(path, "codec_type"), ["AUTO", "HTTP1", "HTTP2"] as const, "AUTO", ENVOY_CODEC_TYPES);
  const rcp = joinPath(path, "route_config");
  const rc = c.route_config === undefined && r.alternative(c, path, { rds: "dynamic routes (RDS)", scoped_routes: "scoped routes" })
    ? undefined
    : r.required(r.obj(c.route_config, rcp), rcp, "route_config");
  const routeConfig = compileRouteConfig(r, rc ?? {}, rcp, clusters);

  const hp = joinPath(path, "http_filters");
  const httpFilters: HttpFilterModel[] = [];
  let lastRefused = false;
  r.arr(c.http_filters, hp).forEach((f, i) => {
    const fp = joinPath(hp, i);
    const o = r.obj(f, fp) ?? {};
    const { name: fname, typeUrl, config, ext } = resolveExtension(r, o, fp);
    lastRefused = !ext || ext.category !== "http";
    if (lastRefused) {
      r.bad(fp, `HTTP filter ${fname}${typeUrl ? ` (${typeUrl})` : ""} is not supported by Legate`, "unsupported");
      return;
    }
    httpFilters.push({ name: fname, typeUrl, config });
  });
  const last = httpFilters[httpFilters.length - 1];
  // A refused last filter already has its issue; do not add a second one about the router.
  if (!lastRefused && (!last || extensionByTypeUrl(last.typeUrl)?.name !== "envoy.filters.http.router")) {
    r.bad(hp, "the last HTTP filter must be the router (envoy.filters.http.router)");
  }
  const headerPolicy = compileHcmHeaderPolicy(r, c, path);
  return { kind: "http_connection_manager", name, statPrefix, codecType, routeConfig, httpFilters, ...(headerPolicy ? { headerPolicy } : {}) };
}

function compileRouteConfig(r: Reader, rc: Obj, path: string, clusters: Map<string, ClusterModel>): RouteConfigModel {
  const vp = joinPath(path, "virtual_hosts");
  const seen = new Set<string>();
  const virtualHosts = r.arr(rc.virtual_hosts, vp).map((vh, i): VirtualHostModel => {
    const p = joinPath(vp, i);
    const o = r.obj(vh, p) ?? {};
    const vname = r.required(r.str(o.name, joinPath(p, "name")), joinPath(p, "name"), "virtual host name") ?? "";
    const domains = r.arr(o.domains, joinPath(p, "domains")).map((d, j) => (r.str(d, joinPath(joinPath(p, "domains"), j)) ?? "").toLowerCase());
    if (domains.length === 0) r.bad(joinPath(p, "domains"), "a virtual host needs at least one domain");
    for (const [j, d] of domains.entries()) {
      if (seen.has(d)) r.bad(joinPath(joinPath(p, "domains"), j), `domain "${d}" appears in more than one virtual host`, "invalid-reference");
      seen.add(d);
    }
    const rp = joinPath(p, "routes");
    const routes = r.arr(o.routes, rp).map((rt, j) => compileRoute(r, rt, joinPath(rp, j), clusters));
    applyVirtualHostRouter(r, o, p, routes, rc, path, clusters);
    const headerMutations = compileHeaderMutations(r, o, p);
    return { name: vname, domains, routes: routes.filter((x): x is RouteModel => x !== undefined), ...(headerMutations ? { headerMutations } : {}) };
  });
  return { name: r.str(rc.name, joinPath(path, "name")) ?? "", virtualHosts, ...compileRouteConfigHeaders(r, rc, path) };
}

function compileRoute(r: Reader, v: unknown, path: string, clusters: Map<string, ClusterModel>): RouteModel | undefined {
  const o = r.obj(v, path) ?? {};
  const match = compileRouteMatch(r, o.match, joinPath(path, "match"));

  const ra = r.obj(o.route, joinPath(path, "route"));
  const dr = r.obj(o.direct_response, joinPath(path, "direct_response"));
  const rd = r.obj(o.redirect, joinPath(path, "redirect"));
  if ([ra, dr, rd].filter((a) => a !== undefined).length !== 1) {
    if (ra !== undefined || dr !== undefined || rd !== undefined || !r.alternative(o, path, { filter_action: "filter actions", non_forwarding_action: "non-forwarding actions" })) {
      r.bad(path, "a route needs exactly one of route, redirect or direct_response");
    }
    return undefined;
  }
  const name = r.str(o.name, joinPath(path, "name")) ?? "";
  const headerMutations = compileHeaderMutations(r, o, path);
  if (rd) return { name, match, action: compileRedirect(r, rd, joinPath(path, "redirect")), ...(headerMutations ? { headerMutations } : {}) };
  if (ra) {
    const target = compileRouteTarget(r, ra, joinPath(path, "route"), clusters);
    return { name, match, action: withRouterPolicy(r, withHashPolicy(r.issues, { kind: "route", ...target }, ra, path), o, path, clusters), ...(headerMutations ? { headerMutations } : {}) };
  }
  const dp = joinPath(path, "direct_response");
  const status = r.required(r.uint(dr!.status, joinPath(dp, "status"), 599), joinPath(dp, "status"), "status") ?? 200;
  if (status < 200) r.bad(joinPath(dp, "status"), "status must be from 200 to 599");
  let body: string | undefined;
  const bo = r.obj(dr!.body, joinPath(dp, "body"));
  if (bo) {
    const inline = r.str(bo.inline_string, sub(dp, "body", "inline_string"));
    const bytes = r.str(bo.inline_bytes, sub(dp, "body", "inline_bytes"));
    if (inline !== undefined) body = inline;
    else if (bytes !== undefined) body = decodeBase64(bytes);
    else if (!r.alternative(bo, joinPath(dp, "body"), { filename: "files not inlined by validation", environment_variable: "environment-variable data sources" })) {
      r.bad(joinPath(dp, "body"), "a body needs one of inline_string or inline_bytes");
    }
  }
  return { name, match, action: { kind: "direct_response", status, body }, ...(headerMutations ? { headerMutations } : {}) };
}

function decodeBase64(b64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
}

function compileRuntime(r: Reader, v: unknown): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  const lr = r.obj(v, "layered_runtime");
  if (!lr) return out;
  r.arr(lr.layers, "layered_runtime.layers").forEach((layer, i) => {
    const p = joinPath("layered_runtime.layers", i);
    const o = r.obj(layer, p) ?? {};
    const st = r.obj(o.static_layer, joinPath(p, "static_layer"));
    if (st) flatten(st, "", out);
  });
  return out;
}

function flatten(o: Obj, prefix: string, out: Map<string, string | number | boolean>): void {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v as Obj, key, out);
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out.set(key, v);
  }
}

export { Reader };
