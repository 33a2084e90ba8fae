/**
 * Filter chain selection (Envoy's FilterChainManager), compiled once per listener. All of it lives in
 * {@link selectFilterChain} so that listener filters (TLS inspector, PROXY protocol) can widen it.
 */
import type { FilterChainMatchModel, FilterChainModel } from "../../../shared/config/model.ts";
import type { NetworkFilterFactory } from "../network/filter.ts";

/** A filter chain with its factories built. */
export interface CompiledFilterChain {
  model: FilterChainModel;
  factories: NetworkFilterFactory[];
}

/** What is known about a new connection when its chain is chosen. */
export interface ConnectionMatchInfo {
  /** The local port the connection was accepted on. */
  destinationPort: number;
  /** SNI, set by a TLS inspector listener filter; none exists yet. */
  serverName?: string;
  /** `raw_buffer` unless a listener filter detected TLS (Envoy's default). */
  transportProtocol: string;
  /** ALPN offered by the client, from a TLS inspector; none exists yet. */
  applicationProtocols: readonly string[];
}

/**
 * Envoy's rule, for the criteria Legate knows today: a chain is a candidate when every criterion it
 * sets is met (`server_names` and `application_protocols` need a value from a listener filter, so they
 * never match yet; `transport_protocol` must equal the detected one, `raw_buffer` by default). Among
 * candidates, one that names the connection's `destination_port` wins over one that names no port
 * (Envoy matches destination port first, most specific first); ties go to config order. With no
 * candidate, the `default_filter_chain`, else none (the listener counts `no_filter_chain_match`).
 */
export function selectFilterChain(
  chains: readonly CompiledFilterChain[],
  defaultChain: CompiledFilterChain | undefined,
  info: ConnectionMatchInfo,
): CompiledFilterChain | undefined {
  let portless: CompiledFilterChain | undefined;
  for (const chain of chains) {
    const m = chain.model.match;
    if (!matches(m, info)) continue;
    if (m?.destinationPort !== undefined) return chain;
    portless ??= chain;
  }
  return portless ?? defaultChain;
}

function matches(m: FilterChainMatchModel | undefined, info: ConnectionMatchInfo): boolean {
  if (!m) return true;
  if (m.destinationPort !== undefined && m.destinationPort !== info.destinationPort) return false;
  if (m.transportProtocol !== undefined && m.transportProtocol !== "" && m.transportProtocol !== info.transportProtocol) return false;
  if (m.serverNames.length > 0 && (info.serverName === undefined || !m.serverNames.some((n) => serverNameMatches(n, info.serverName!)))) return false;
  if (m.applicationProtocols.length > 0 && !m.applicationProtocols.some((p) => info.applicationProtocols.includes(p))) return false;
  return true;
}

/** Exact name, or `*.suffix` wildcard (Envoy's server_names forms), case-insensitive. */
function serverNameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p.startsWith("*.")) return n.endsWith(p.slice(1)) && n.length > p.length - 1;
  return p === n;
}
