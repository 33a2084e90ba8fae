/**
 * Compiles a UDP listener (`protocol: UDP`): its `udp_listener_config` and its
 * `envoy.filters.udp_listener.udp_proxy` listener filter (`UdpProxyConfig`), including the generic
 * matcher API (`xds.type.matcher.v3.Matcher`) the udp_proxy routes with. Called once per listener by
 * compile.ts; reads untrusted canonical JSON and reports every problem as an issue. Fields the validator
 * refuses (coverage.ts) are not read here, but anything the matcher API can name that Legate does not
 * run (other inputs, actions, custom matchers) is refused here with `unsupported`, since the matcher's
 * typed extensions are not one of the validator's extension points.
 */
import { formatIp, parseIp } from "./compile-listener.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type {
  CidrRangeModel,
  ClusterModel,
  MatchPredicateModel,
  MatcherModel,
  MatchTreeModel,
  NetworkMatchInput,
  OnMatchModel,
  StringMatcherModel,
  UdpListenerModel,
  UdpProxyModel,
} from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's default `max_rx_datagram_size` (listener and upstream sockets). */
export const DEFAULT_MAX_RX_DATAGRAM_SIZE = 1500;
/** Envoy's udp_proxy `idle_timeout` default: 1 minute. */
export const UDP_PROXY_DEFAULT_IDLE_TIMEOUT_MS = 60_000;

const UDP_PROXY_TYPE = "envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";
const UDP_PROXY_NAMES = new Set(["envoy.filters.udp_listener.udp_proxy"]);
const ROUTE_TYPE = "envoy.extensions.filters.udp.udp_proxy.v3.Route";

/** The network matching inputs a UDP session has (by `@type` message name). */
const INPUTS: Readonly<Record<string, NetworkMatchInput>> = {
  "envoy.extensions.matching.common_inputs.network.v3.SourceIPInput": "source_ip",
  "envoy.extensions.matching.common_inputs.network.v3.SourcePortInput": "source_port",
  "envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput": "destination_ip",
  "envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput": "destination_port",
};

function messageName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/**
 * The `udp` part of a listener model: set for UDP listeners only. `listenerFilters` are the listener's
 * `listener_filters` as compile.ts read them (name, `@type`, typed_config).
 */
export function compileUdpListener(
  issues: ConfigIssue[],
  l: Obj,
  path: string,
  protocol: "TCP" | "UDP",
  listenerFilters: readonly { name: string; typeUrl: string; config: unknown }[],
  clusters: ReadonlyMap<string, ClusterModel>,
  edge: boolean,
): { udp?: UdpListenerModel } {
  const r = new Reader(issues);
  const ulp = joinPath(path, "udp_listener_config");
  if (protocol !== "UDP") {
    if (l.udp_listener_config !== undefined && l.udp_listener_config !== null) r.bad(ulp, "udp_listener_config applies only to UDP listeners (it would be ignored here)", "unsupported");
    return {};
  }
  if (edge) {
    r.bad(path, "a UDP listener cannot be served by the edge (a Worker has no UDP); serve it from the tcp tier", "unsupported");
    return {};
  }
  const ulc = r.obj(l.udp_listener_config, ulp);
  const dsc = r.obj(ulc?.downstream_socket_config, joinPath(ulp, "downstream_socket_config"));
  const maxRxDatagramSize = datagramSize(r, dsc, joinPath(ulp, "downstream_socket_config"));
  const udp: UdpListenerModel = { maxRxDatagramSize };
  if (r.arr(l.filter_chains, joinPath(path, "filter_chains")).length > 0 || l.default_filter_chain !== undefined) {
    r.bad(joinPath(path, "filter_chains"), "filter chains on a UDP listener are for QUIC, which Legate does not support", "unsupported");
  }
  listenerFilters.forEach((lf, i) => {
    const lp = joinPath(joinPath(path, "listener_filters"), i);
    const isProxy = lf.typeUrl ? messageName(lf.typeUrl) === UDP_PROXY_TYPE : UDP_PROXY_NAMES.has(lf.name);
    if (!isProxy) {
      r.bad(lp, `UDP listener filter ${lf.name || lf.typeUrl} is not supported by Legate (only envoy.filters.udp_listener.udp_proxy)`, "unsupported");
      return;
    }
    if (udp.proxy) {
      r.bad(lp, "a second udp_proxy on one UDP listener would never see a datagram (the first consumes them all)", "unsupported");
      return;
    }
    udp.proxy = compileUdpProxy(r, lf.name, (lf.config ?? {}) as Obj, joinPath(lp, "typed_config"), clusters);
  });
  if (listenerFilters.length === 0) r.bad(joinPath(path, "listener_filters"), "a UDP listener needs a udp_proxy listener filter");
  return { udp };
}

function datagramSize(r: Reader, o: Obj | undefined, path: string): number {
  const p = joinPath(path, "max_rx_datagram_size");
  const n = r.uint(o?.max_rx_datagram_size, p, 65535);
  if (n === undefined) return DEFAULT_MAX_RX_DATAGRAM_SIZE;
  if (n < 1) return r.bad(p, "max_rx_datagram_size must be from 1 to 65535") ?? DEFAULT_MAX_RX_DATAGRAM_SIZE;
  return n;
}

function compileUdpProxy(r: Reader, name: string, c: Obj, path: string, clusters: ReadonlyMap<string, ClusterModel>): UdpProxyModel {
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(c.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const checkCluster = (cluster: string, at: string) => {
    if (!clusters.has(cluster)) r.bad(at, `unknown cluster "${cluster}"`, "invalid-reference");
  };
  let matcher: MatcherModel<string> = {};
  const cluster = r.str(c.cluster, p("cluster"));
  const m = r.obj(c.matcher, p("matcher"));
  if (cluster !== undefined && m !== undefined) r.bad(path, "only one of cluster and matcher may be set");
  if (cluster !== undefined) {
    checkCluster(cluster, p("cluster"));
    matcher = { onNoMatch: { action: cluster } };
  } else if (m) {
    matcher = compileMatcher(r, m, p("matcher"), (a, ap) => {
      const cl = r.required(r.str(a.cluster, joinPath(ap, "cluster")), joinPath(ap, "cluster"), "cluster") ?? "";
      if (cl) checkCluster(cl, joinPath(ap, "cluster"));
      return cl;
    }, ROUTE_TYPE, 0);
  } else {
    r.bad(path, "udp_proxy needs a cluster or a matcher");
  }
  if (c.use_original_src_ip === true) {
    r.bad(p("use_original_src_ip"), "`use_original_src_ip` (transparent UDP proxying) is not supported by Legate: Node cannot send from a foreign source address", "unsupported");
  }
  const model: UdpProxyModel = {
    kind: "udp_proxy",
    name,
    statPrefix,
    matcher,
    idleTimeoutMs: r.durationMs(c.idle_timeout, p("idle_timeout")) ?? UDP_PROXY_DEFAULT_IDLE_TIMEOUT_MS,
    upstreamMaxRxDatagramSize: datagramSize(r, r.obj(c.upstream_socket_config, p("upstream_socket_config")), p("upstream_socket_config")),
    perPacketLoadBalancing: r.bool(c.use_per_packet_load_balancing, p("use_per_packet_load_balancing")) ?? false,
  };
  const hp = p("hash_policies");
  const policies = r.arr(c.hash_policies, hp);
  if (policies.length > 1) r.bad(hp, "udp_proxy takes at most one hash policy");
  const h = r.obj(policies[0], joinPath(hp, 0));
  if (h) {
    const key = r.str(h.key, joinPath(joinPath(hp, 0), "key"));
    if (h.source_ip === true) model.hashPolicy = { kind: "source_ip" };
    else if (key) model.hashPolicy = { kind: "key", key };
    else r.bad(joinPath(hp, 0), "a hash policy needs source_ip: true or a key");
  }
  return model;
}

// ---- The generic matcher API ---------------------------------------------------------------------------

/** Nested matchers deeper than this are refused (Envoy bounds recursion too); keeps evaluation bounded. */
const MAX_MATCHER_DEPTH = 16;

/**
 * Compiles an `xds.type.matcher.v3.Matcher` whose actions are `actionType` messages, each compiled by
 * `action` (which reports its own issues). Inputs are the network inputs of {@link INPUTS}.
 */
export function compileMatcher<A>(r: Reader, m: Obj, path: string, action: (a: Obj, path: string) => A, actionType: string, depth: number): MatcherModel<A> {
  if (depth > MAX_MATCHER_DEPTH) return r.bad(path, `matchers nest at most ${MAX_MATCHER_DEPTH} deep`) ?? {};
  const out: MatcherModel<A> = {};
  const onMatch = (v: unknown, p: string): OnMatchModel<A> | undefined => {
    const o = r.obj(v, p);
    if (!o) return undefined;
    if (o.matcher !== undefined && o.matcher !== null) {
      const nested = r.obj(o.matcher, joinPath(p, "matcher"));
      return nested ? { matcher: compileMatcher(r, nested, joinPath(p, "matcher"), action, actionType, depth + 1) } : undefined;
    }
    const ap = joinPath(p, "action");
    const ext = typedExtension(r, o.action, ap);
    if (!ext) return r.bad(p, "on_match needs a matcher or an action");
    if (messageName(ext.typeUrl) !== actionType) return r.bad(joinPath(ap, "typed_config"), `action ${ext.typeUrl} is not supported here (expected ${actionType})`, "unsupported");
    return { action: action(ext.config, joinPath(ap, "typed_config")) };
  };
  const lp = joinPath(path, "matcher_list");
  const list = r.obj(m.matcher_list, lp);
  const tp = joinPath(path, "matcher_tree");
  const tree = r.obj(m.matcher_tree, tp);
  if (list) {
    const mp = joinPath(lp, "matchers");
    out.list = r.arr(list.matchers, mp).flatMap((fm, i) => {
      const fp = joinPath(mp, i);
      const o = r.obj(fm, fp) ?? {};
      const predicate = compilePredicate(r, o.predicate, joinPath(fp, "predicate"), 0);
      const om = onMatch(o.on_match, joinPath(fp, "on_match"));
      return predicate && om ? [{ predicate, onMatch: om }] : [];
    });
  } else if (tree) {
    const t = compileTree(r, tree, tp, onMatch);
    if (t) out.tree = t;
  }
  if (m.on_no_match !== undefined && m.on_no_match !== null) {
    const om = onMatch(m.on_no_match, joinPath(path, "on_no_match"));
    if (om) out.onNoMatch = om;
  }
  return out;
}

function typedExtension(r: Reader, v: unknown, path: string): { name: string; typeUrl: string; config: Obj } | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const tc = r.obj(o.typed_config, joinPath(path, "typed_config"));
  const typeUrl = r.str(tc?.["@type"], joinPath(joinPath(path, "typed_config"), "@type"));
  if (!tc || !typeUrl) return r.bad(path, "typed_config with an @type is required");
  return { name: r.str(o.name, joinPath(path, "name")) ?? "", typeUrl, config: tc };
}

function compileInput(r: Reader, v: unknown, path: string): NetworkMatchInput | undefined {
  const ext = typedExtension(r, v, path);
  if (!ext) return undefined;
  const input = INPUTS[messageName(ext.typeUrl)];
  if (!input) {
    return r.bad(joinPath(path, "typed_config"), `matching input ${ext.typeUrl} is not supported by Legate here (supported: source and destination IP and port)`, "unsupported");
  }
  return input;
}

function compileStringMatch(r: Reader, v: unknown, path: string): StringMatcherModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const ignoreCase = r.bool(o.ignore_case, joinPath(path, "ignore_case")) ?? false;
  for (const kind of ["exact", "prefix", "suffix", "contains"] as const) {
    const value = r.str(o[kind], joinPath(path, kind));
    if (value !== undefined) return { kind, value, ignoreCase };
  }
  if (o.safe_regex !== undefined) return r.bad(joinPath(path, "safe_regex"), "regex value matchers are not supported by Legate in the matcher API", "unsupported");
  return r.bad(path, "a string matcher needs exact, prefix, suffix or contains");
}

function compilePredicate(r: Reader, v: unknown, path: string, depth: number): MatchPredicateModel | undefined {
  const o = r.obj(v, path);
  if (!o) return r.bad(path, "predicate is required");
  if (depth > MAX_MATCHER_DEPTH) return r.bad(path, `predicates nest at most ${MAX_MATCHER_DEPTH} deep`);
  const sp = joinPath(path, "single_predicate");
  const single = r.obj(o.single_predicate, sp);
  if (single) {
    const input = compileInput(r, single.input, joinPath(sp, "input"));
    if (single.value_match !== undefined && single.value_match !== null) {
      const matcher = compileStringMatch(r, single.value_match, joinPath(sp, "value_match"));
      return input && matcher ? { kind: "string", input, matcher } : undefined;
    }
    const cp = joinPath(sp, "custom_match");
    const ext = typedExtension(r, single.custom_match, cp);
    if (!ext) return r.bad(sp, "a single predicate needs value_match or custom_match");
    if (messageName(ext.typeUrl) !== "envoy.extensions.matching.input_matchers.ip.v3.Ip") {
      return r.bad(joinPath(cp, "typed_config"), `custom matcher ${ext.typeUrl} is not supported by Legate (only envoy.matching.matchers.ip)`, "unsupported");
    }
    const rp = joinPath(joinPath(cp, "typed_config"), "cidr_ranges");
    const ranges = r.arr(ext.config.cidr_ranges, rp).flatMap((c, i) => compileCidrRange(r, c, joinPath(rp, i)) ?? []);
    return input ? { kind: "ip", input, ranges } : undefined;
  }
  for (const kind of ["or", "and"] as const) {
    const lp = joinPath(path, `${kind}_matcher`);
    const l = r.obj(o[`${kind}_matcher`], lp);
    if (l) {
      const pp = joinPath(lp, "predicate");
      const predicates = r.arr(l.predicate, pp).flatMap((x, i) => compilePredicate(r, x, joinPath(pp, i), depth + 1) ?? []);
      return { kind, predicates };
    }
  }
  if (o.not_matcher !== undefined && o.not_matcher !== null) {
    const predicate = compilePredicate(r, o.not_matcher, joinPath(path, "not_matcher"), depth + 1);
    return predicate ? { kind: "not", predicate } : undefined;
  }
  return r.bad(path, "a predicate needs single_predicate, or_matcher, and_matcher or not_matcher");
}

function compileTree<A>(r: Reader, t: Obj, path: string, onMatch: (v: unknown, p: string) => OnMatchModel<A> | undefined): MatchTreeModel<A> | undefined {
  const input = compileInput(r, t.input, joinPath(path, "input"));
  for (const kind of ["exact", "prefix"] as const) {
    const mp = joinPath(path, `${kind}_match_map`);
    const mm = r.obj(t[`${kind}_match_map`], mp);
    if (!mm) continue;
    const map = new Map<string, OnMatchModel<A>>();
    const entries = r.obj(mm.map, joinPath(mp, "map")) ?? {};
    for (const [k, v] of Object.entries(entries)) {
      const om = onMatch(v, joinPath(joinPath(mp, "map"), k));
      if (om) map.set(k, om);
    }
    return input ? { kind, input, map } : undefined;
  }
  if (t.custom_match !== undefined && t.custom_match !== null) {
    return r.bad(joinPath(path, "custom_match"), "custom tree matchers are not supported by Legate (use a matcher_list with envoy.matching.matchers.ip)", "unsupported");
  }
  return r.bad(path, "a matcher tree needs exact_match_map or prefix_match_map");
}

/** A `CidrRange` (Envoy's or xDS's: same fields), host bits cleared. */
export function compileCidrRange(r: Reader, v: unknown, path: string): CidrRangeModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const ap = joinPath(path, "address_prefix");
  const text = r.required(r.str(o.address_prefix, ap), ap, "address_prefix");
  if (text === undefined) return undefined;
  const ip = parseIp(text);
  if (!ip) return r.bad(ap, `"${text}" is not an IP address`);
  const prefixLen = r.uint(o.prefix_len, joinPath(path, "prefix_len"), 128) ?? 0;
  const max = ip.family === 4 ? 32 : 128;
  if (prefixLen > max) return r.bad(joinPath(path, "prefix_len"), `prefix_len ${prefixLen} is longer than an IPv${ip.family} address (${max} bits)`);
  const bytes = ip.bytes.slice();
  for (let i = 0; i < bytes.length; i++) bytes[i]! &= (0xff << (8 - Math.max(0, Math.min(8, prefixLen - 8 * i)))) & 0xff;
  return { address: formatIp({ family: ip.family, bytes }), prefixLen, family: ip.family };
}

