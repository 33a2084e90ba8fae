/**
 * Listener-level config of the tcp tier: `filter_chain_match` (with CIDR ranges), the TCP listener
 * filters (`tls_inspector`, `proxy_protocol`, `http_inspector`) and `listener_filters_timeout`, and
 * Envoy's config-time check that no two filter chains match the same connection.
 *
 * Also the IP helpers (parse, CIDR containment) the tcp tier's chain lookup uses at run time, so that
 * compile time and run time read addresses the same way.
 */
import { extensionByName, extensionByTypeUrl } from "./extensions.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { CidrRangeModel, FilterChainMatchModel, FilterChainModel, TcpListenerFilterModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's tls_inspector reads a ClientHello of at most 64 KiB (`client_hello_too_large` above it). */
export const TLS_MAX_CLIENT_HELLO = 64 * 1024;
/** Envoy's default `listener_filters_timeout`. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

function sub(path: string, ...keys: (string | number)[]): string {
  return keys.reduce<string>((p, k) => joinPath(p, k), path);
}

// ---- IP addresses -----------------------------------------------------------------------------------

/** An IP address as bytes (4 or 16). */
export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Parses a dotted IPv4 or an IPv6 text address (with `::` and an embedded IPv4 tail); undefined if not one. */
export function parseIp(text: string): IpBytes | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIpv6(text);
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf("%");
  const t = zone >= 0 ? text.slice(0, zone) : text;
  if (t.length < 2 || !/^[0-9a-fA-F:.]+$/.test(t)) return undefined;
  const halves = t.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const total = head.length + tail.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const all = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as IPv4; other addresses unchanged. */
export function unmapIpv4(ip: IpBytes): IpBytes {
  if (ip.family !== 6) return ip;
  const b = ip.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return ip;
  if (b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { family: 4, bytes: b.slice(12) };
}

/** Text form of an address (IPv6 shortened at its longest run of zero groups). */
export function formatIp(ip: IpBytes): string {
  const b = ip.bytes;
  if (ip.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** True when `ip` lies in the range (same family, first `prefixLen` bits equal). */
export function cidrContains(range: { bytes: Uint8Array; prefixLen: number }, ip: Uint8Array): boolean {
  if (range.bytes.length !== ip.length) return false;
  const full = range.prefixLen >> 3;
  for (let i = 0; i < full; i++) if (range.bytes[i] !== ip[i]) return false;
  const rest = range.prefixLen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (range.bytes[full]! & mask) === (ip[full]! & mask);
}

/** Clears the bits after `prefixLen`. */
function maskBytes(bytes: Uint8Array, prefixLen: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - 8 * i));
    out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

/** `CidrRange`: an IP and `prefix_len` (absent: 0, every address of the family, as in Envoy). */
function compileCidr(r: Reader, v: unknown, path: string): CidrRangeModel | undefined {
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
  return { address: formatIp({ family: ip.family, bytes: maskBytes(ip.bytes, prefixLen) }), prefixLen, family: ip.family };
}

// ---- filter_chain_match -----------------------------------------------------------------------------

const SOURCE_TYPES = ["ANY", "SAME_IP_OR_LOOPBACK", "EXTERNAL"] as const;

/** Compiles one `filter_chain_match`; the fields Legate does not implement are refused by the validator. */
export function compileFilterChainMatch(issues: ConfigIssue[], m: Obj, mp: string): FilterChainMatchModel {
  const r = new Reader(issues);
  const strings = (key: string): string[] =>
    r.arr(m[key], joinPath(mp, key)).map((s, i) => r.str(s, sub(mp, key, i)) ?? "");
  const ranges = (key: string): CidrRangeModel[] | undefined => {
    const list = r.arr(m[key], joinPath(mp, key)).map((c, i) => compileCidr(r, c, sub(mp, key, i)));
    const ok = list.filter((c): c is CidrRangeModel => c !== undefined);
    return ok.length ? ok : undefined;
  };
  const serverNames = strings("server_names").map((n) => n.toLowerCase());
  serverNames.forEach((n, i) => {
    // Envoy takes only a leading `*.` wildcard; any other `*` is a config error there.
    if (n.includes("*") && !(n.startsWith("*.") && !n.slice(1).includes("*") && n.length > 2)) {
      r.bad(sub(mp, "server_names", i), `"${n}": only a leading "*." wildcard is allowed in server_names (partial wildcards are refused, as in Envoy)`);
    }
  });
  const destinationPort = r.uint(m.destination_port, joinPath(mp, "destination_port"), 65535);
  const transportProtocol = r.str(m.transport_protocol, joinPath(mp, "transport_protocol"));
  const sourceType = r.enumOf(m.source_type, joinPath(mp, "source_type"), SOURCE_TYPES, "ANY");
  const sourcePorts = r.arr(m.source_ports, joinPath(mp, "source_ports")).map((p, i) => r.uint(p, sub(mp, "source_ports", i), 65535) ?? 0);
  const out: FilterChainMatchModel = {
    serverNames,
    applicationProtocols: strings("application_protocols"),
  };
  if (destinationPort !== undefined && destinationPort !== 0) out.destinationPort = destinationPort;
  if (transportProtocol) out.transportProtocol = transportProtocol;
  const prefixRanges = ranges("prefix_ranges");
  if (prefixRanges) out.prefixRanges = prefixRanges;
  const directSourcePrefixRanges = ranges("direct_source_prefix_ranges");
  if (directSourcePrefixRanges) out.directSourcePrefixRanges = directSourcePrefixRanges;
  if (sourceType !== "ANY") out.sourceType = sourceType;
  const sourcePrefixRanges = ranges("source_prefix_ranges");
  if (sourcePrefixRanges) out.sourcePrefixRanges = sourcePrefixRanges;
  if (sourcePorts.length) out.sourcePorts = sourcePorts;
  return out;
}

/**
 * The match's keys at each of Envoy's nine steps, in order; "" (or 0) is that step's catch-all.
 * Two chains conflict when they share a full path of keys: Envoy refuses such a listener
 * ("multiple filter chains with overlapping matching rules").
 */
export function filterChainMatchKeys(m: FilterChainMatchModel | undefined): string[][] {
  const cidrs = (l: CidrRangeModel[] | undefined) => (l?.length ? l.map((c) => `${c.address}/${c.prefixLen}`) : [""]);
  const list = (l: readonly (string | number)[] | undefined) => (l?.length ? [...new Set(l.map(String))] : [""]);
  return [
    [m?.destinationPort !== undefined ? String(m.destinationPort) : ""],
    [...new Set(cidrs(m?.prefixRanges))],
    list(m?.serverNames),
    [m?.transportProtocol ?? ""],
    list(m?.applicationProtocols),
    [...new Set(cidrs(m?.directSourcePrefixRanges))],
    [m?.sourceType ?? "ANY"],
    [...new Set(cidrs(m?.sourcePrefixRanges))],
    list(m?.sourcePorts),
  ];
}

/** At most this many key combinations per chain are compared (a bound on config-time work). */
const MAX_COMBINATIONS = 100_000;

/** Refuses chains whose matches overlap (an issue at the later chain's `filter_chain_match`). */
export function checkFilterChainOverlap(issues: ConfigIssue[], chains: readonly FilterChainModel[], path: string): void {
  const seen = new Map<string, number>();
  chains.forEach((chain, index) => {
    const keys = filterChainMatchKeys(chain.match);
    const count = keys.reduce((n, k) => n * k.length, 1);
    const mp = sub(path, index, "filter_chain_match");
    if (count > MAX_COMBINATIONS) {
      issues.push({ kind: "unsupported", path: mp, message: `this filter_chain_match expands to ${count} combinations; Legate takes at most ${MAX_COMBINATIONS} per chain` });
      return;
    }
    let combos: string[] = [""];
    for (const k of keys) combos = combos.flatMap((c) => k.map((v) => `${c}\u0000${v}`));
    for (const c of combos) {
      const other = seen.get(c);
      if (other !== undefined && other !== index) {
        const label = (i: number) => (chains[i]!.name ? `"${chains[i]!.name}"` : `filter_chains[${i}]`);
        issues.push({ kind: "not-envoy", path: mp, message: `filter chain ${label(index)} has matching rules that overlap those of ${label(other)}; Envoy refuses a listener where two chains can match the same connection` });
        return;
      }
      seen.set(c, index);
    }
  });
}

// ---- listener filters -------------------------------------------------------------------------------

const PP_VERSIONS = ["V1", "V2"] as const;

/** `listener_filters`, `listener_filters_timeout` and `continue_on_listener_filters_timeout` of a TCP listener. */
export function compileTcpListenerFilters(
  issues: ConfigIssue[],
  l: Obj,
  path: string,
  edge: boolean,
): { tcpListenerFilters: TcpListenerFilterModel[]; listenerFiltersTimeoutMs: number; continueOnListenerFiltersTimeout: boolean } {
  const r = new Reader(issues);
  const lp = joinPath(path, "listener_filters");
  const tcpListenerFilters: TcpListenerFilterModel[] = [];
  r.arr(l.listener_filters, lp).forEach((lf, i) => {
    const p = joinPath(lp, i);
    const o = r.obj(lf, p) ?? {};
    const name = r.str(o.name, joinPath(p, "name")) ?? "";
    const tc = r.obj(o.typed_config, joinPath(p, "typed_config"));
    const typeUrl = tc ? r.str(tc["@type"], sub(p, "typed_config", "@type")) : undefined;
    const ext = typeUrl !== undefined ? extensionByTypeUrl(typeUrl) : extensionByName(name);
    if (!ext || ext.category !== "listener") {
      r.bad(p, `listener filter ${name}${typeUrl ? ` (${typeUrl})` : ""} is not supported on a TCP listener`, "unsupported");
      return;
    }
    if (edge) {
      r.bad(p, `listener filter ${ext.name} runs only in the tcp tier, not on the edge listener`, "unsupported");
      return;
    }
    const cp = joinPath(p, "typed_config");
    const c = tc ?? {};
    switch (ext.name) {
      case "envoy.filters.listener.tls_inspector":
        tcpListenerFilters.push({ kind: "tls_inspector", name: ext.name, maxClientHelloSize: TLS_MAX_CLIENT_HELLO });
        break;
      case "envoy.filters.listener.http_inspector":
        tcpListenerFilters.push({ kind: "http_inspector", name: ext.name });
        break;
      case "envoy.filters.listener.proxy_protocol": {
        const disallowed = r
          .arr(c.disallowed_versions, joinPath(cp, "disallowed_versions"))
          .map((v, j) => (r.enumOf(v, sub(cp, "disallowed_versions", j), PP_VERSIONS, "V1") === "V1" ? 1 : 2) as 1 | 2);
        tcpListenerFilters.push({
          kind: "proxy_protocol",
          name: ext.name,
          allowRequestsWithoutProxyProtocol: r.bool(c.allow_requests_without_proxy_protocol, joinPath(cp, "allow_requests_without_proxy_protocol")) ?? false,
          disallowedVersions: [...new Set(disallowed)],
          statPrefix: r.str(c.stat_prefix, joinPath(cp, "stat_prefix")) ?? "",
        });
        break;
      }
      default:
        r.bad(p, `listener filter ${ext.name} is not supported on a TCP listener`, "unsupported");
    }
  });
  const listenerFiltersTimeoutMs = r.durationMs(l.listener_filters_timeout, joinPath(path, "listener_filters_timeout")) ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS;
  const continueOnListenerFiltersTimeout = r.bool(l.continue_on_listener_filters_timeout, joinPath(path, "continue_on_listener_filters_timeout")) ?? false;
  return { tcpListenerFilters, listenerFiltersTimeoutMs, continueOnListenerFiltersTimeout };
}
