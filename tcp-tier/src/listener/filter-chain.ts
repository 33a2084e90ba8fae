/**
 * Filter chain selection (Envoy's FilterChainManager), compiled once per listener into a tree with one
 * level per `filter_chain_match` criterion, in Envoy's order: destination_port, prefix_ranges
 * (destination IP), server_names, transport_protocol, application_protocols,
 * direct_source_prefix_ranges, source_type, source_prefix_ranges, source_ports.
 *
 * At each level the most specific entry that fits the connection is taken (an exact port, the longest
 * IP prefix, an exact server name then the longest `*.` wildcard, ...), else the level's catch-all (the
 * chains that leave the criterion unset). As in Envoy, a level never falls back to its catch-all once a
 * more specific entry was taken: if that branch fails further down, no chain matches and the
 * `default_filter_chain` (if any) serves the connection. Overlapping chains are refused at compile time
 * (shared/config/compile-listener.ts), so each path of the tree ends in exactly one chain.
 */
import { cidrContains, filterChainMatchKeys, parseIp, unmapIpv4 } from "../../../shared/config/compile-listener.ts";
import type { FilterChainModel } from "../../../shared/config/model.ts";
import type { NetworkFilterFactory } from "../network/filter.ts";
import type { DownstreamTransportSocket } from "../tls/transport-socket.ts";

/** A filter chain with its factories built. */
export interface CompiledFilterChain {
  model: FilterChainModel;
  factories: NetworkFilterFactory[];
  /** The chain's downstream TLS (tcp-tier/src/tls/transport-socket.ts); absent: plain TCP. */
  transportSocket?: DownstreamTransportSocket;
}

/** What is known about a new connection when its chain is chosen. */
export interface ConnectionMatchInfo {
  /** The local port (a PROXY header's destination port when one was read). */
  destinationPort: number;
  /** The local address (a PROXY header's destination when one was read). */
  localAddress: string;
  /** The peer as filters see it (a PROXY header's source when one was read). */
  remoteAddress: string;
  remotePort: number;
  /** The socket's own peer address. */
  directRemoteAddress: string;
  /** SNI, from the TLS inspector. */
  serverName?: string;
  /** `raw_buffer` unless a listener filter detected TLS (Envoy's default). */
  transportProtocol: string;
  /** ALPN offered by the client (TLS inspector), or the HTTP inspector's protocol. */
  applicationProtocols: readonly string[];
}

type Node = (info: ConnectionMatchInfo) => CompiledFilterChain | undefined;
/** The nested map the chains are first inserted into: one level per criterion, chains at depth 9. */
type Tree = Map<string, Tree | CompiledFilterChain>;

const LEVELS = 9;

/** Chooses the chain for a connection, or undefined (the listener counts `no_filter_chain_match`). */
export interface FilterChainSelector {
  select(info: ConnectionMatchInfo): CompiledFilterChain | undefined;
}

/** Builds the lookup tree for a listener's chains (once per config version). */
export function compileFilterChainSelector(chains: readonly CompiledFilterChain[], defaultChain: CompiledFilterChain | undefined): FilterChainSelector {
  const root: Tree = new Map();
  for (const chain of chains) {
    const keys = filterChainMatchKeys(chain.model.match);
    insert(root, keys, 0, chain);
  }
  const top = compileLevel(root, 0);
  return { select: (info) => top(info) ?? defaultChain };
}

function insert(tree: Tree, keys: string[][], level: number, chain: CompiledFilterChain): void {
  for (const k of keys[level]!) {
    if (level === LEVELS - 1) {
      // The compiler refuses overlaps; should one get here, the first chain in config order keeps it.
      if (!tree.has(k)) tree.set(k, chain);
      continue;
    }
    let next = tree.get(k);
    if (!next) {
      next = new Map();
      tree.set(k, next);
    }
    insert(next as Tree, keys, level + 1, chain);
  }
}

function child(v: Tree | CompiledFilterChain | undefined, level: number): Node | undefined {
  if (v === undefined) return undefined;
  if (level === LEVELS - 1) {
    const chain = v as CompiledFilterChain;
    return () => chain;
  }
  return compileLevel(v as Tree, level + 1);
}

function compileLevel(tree: Tree, level: number): Node {
  const branches = new Map<string, Node>();
  for (const [k, v] of tree) branches.set(k, child(v, level)!);
  const any = branches.get("");
  const none: Node = () => undefined;
  switch (level) {
    case 0: // destination_port
      return (info) => (branches.get(String(info.destinationPort)) ?? any ?? none)(info);
    case 1: // prefix_ranges
      return ipLevel(branches, (info) => info.localAddress);
    case 2: // server_names
      return (info) => {
        const name = info.serverName;
        if (name) {
          const exact = branches.get(name);
          if (exact) return exact(info);
          for (let pos = name.indexOf(".", 1); pos !== -1 && pos < name.length - 1; pos = name.indexOf(".", pos + 1)) {
            const wild = branches.get(`*${name.slice(pos)}`);
            if (wild) return wild(info);
          }
        }
        return (any ?? none)(info);
      };
    case 3: // transport_protocol
      return (info) => (branches.get(info.transportProtocol) ?? any ?? none)(info);
    case 4: // application_protocols: the client's first protocol that some chain names
      return (info) => {
        for (const p of info.applicationProtocols) {
          const b = branches.get(p);
          if (b) return b(info);
        }
        return (any ?? none)(info);
      };
    case 5: // direct_source_prefix_ranges
      return ipLevel(branches, (info) => info.directRemoteAddress);
    case 6: { // source_type
      const local = branches.get("SAME_IP_OR_LOOPBACK");
      const external = branches.get("EXTERNAL");
      const anyType = branches.get("ANY");
      return (info) => {
        if (local || external) {
          const b = isSameIpOrLoopback(info) ? local : external;
          if (b) return b(info);
        }
        return (anyType ?? none)(info);
      };
    }
    case 7: // source_prefix_ranges
      return ipLevel(branches, (info) => info.remoteAddress);
    default: // source_ports
      return (info) => (branches.get(String(info.remotePort)) ?? any ?? none)(info);
  }
}

/** Longest-prefix match over the level's ranges (sorted once, longest first), else the catch-all. */
function ipLevel(branches: Map<string, Node>, address: (info: ConnectionMatchInfo) => string): Node {
  const ranges: { bytes: Uint8Array; prefixLen: number; node: Node }[] = [];
  for (const [k, node] of branches) {
    if (k === "") continue;
    const slash = k.lastIndexOf("/");
    const ip = parseIp(k.slice(0, slash));
    if (ip) ranges.push({ bytes: ip.bytes, prefixLen: Number(k.slice(slash + 1)), node });
  }
  ranges.sort((a, b) => b.prefixLen - a.prefixLen);
  const any = branches.get("");
  if (ranges.length === 0) return any ?? (() => undefined);
  return (info) => {
    const ip = parseIp(address(info));
    if (ip) {
      const bytes = unmapIpv4(ip).bytes;
      for (const r of ranges) if (cidrContains(r, bytes)) return r.node(info);
    }
    return any ? any(info) : undefined;
  };
}

/** Envoy's SAME_IP_OR_LOOPBACK: the peer is a loopback address or the connection's own local address. */
export function isSameIpOrLoopback(info: Pick<ConnectionMatchInfo, "remoteAddress" | "localAddress">): boolean {
  const remote = parseIp(info.remoteAddress);
  if (!remote) return false;
  const r = unmapIpv4(remote);
  if (r.family === 4 && r.bytes[0] === 127) return true;
  if (r.family === 6 && r.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0))) return true;
  const local = parseIp(info.localAddress);
  if (!local) return false;
  const l = unmapIpv4(local);
  return l.family === r.family && l.bytes.every((b, i) => b === r.bytes[i]);
}
