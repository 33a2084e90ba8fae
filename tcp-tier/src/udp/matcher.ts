/**
 * Evaluates the generic matcher API (`xds.type.matcher.v3.Matcher`, compiled by
 * shared/config/compile-udp-proxy.ts) over a connection's or session's addresses. Compiled once per
 * config into closures; evaluation parses the addresses it needs once per call.
 *
 * Semantics, as Envoy's: a `matcher_list` takes the first field matcher whose predicate holds; a
 * `matcher_tree` looks its input up in an exact map, or takes the longest matching key of a prefix map.
 * When what matched is a nested matcher that yields nothing, evaluation moves on (the next list entry,
 * a shorter prefix) and finally to `on_no_match`.
 */
import { cidrContains, parseIp, unmapIpv4 } from "../../../shared/config/compile-listener.ts";
import type { CidrRangeModel, MatchPredicateModel, MatcherModel, MatchTreeModel, NetworkMatchInput, OnMatchModel } from "../../../shared/config/model.ts";
import { compileStringMatcher } from "../../../shared/http/matchers.ts";

/** What network inputs read (Envoy's UDP/network matching data). */
export interface NetworkMatchData {
  sourceIp: string;
  sourcePort: number;
  destinationIp: string;
  destinationPort: number;
}

/** A compiled matcher: the action of the first match, or undefined. */
export type NetworkMatcher<A> = (data: NetworkMatchData) => A | undefined;

function inputValue(input: NetworkMatchInput, d: NetworkMatchData): string {
  switch (input) {
    case "source_ip": return d.sourceIp;
    case "source_port": return String(d.sourcePort);
    case "destination_ip": return d.destinationIp;
    case "destination_port": return String(d.destinationPort);
  }
}

/** The address as bytes (IPv4-mapped IPv6 as IPv4), or undefined when it is not an IP. */
function ipBytes(text: string | undefined): Uint8Array | undefined {
  const ip = text ? parseIp(text) : undefined;
  return ip ? unmapIpv4(ip).bytes : undefined;
}

interface RangeBytes {
  bytes: Uint8Array;
  prefixLen: number;
}

function rangeBytes(r: CidrRangeModel): RangeBytes {
  return { bytes: parseIp(r.address)!.bytes, prefixLen: r.prefixLen };
}

/** Compiles a matcher once; the result is called per new session (or connection). */
export function compileNetworkMatcher<A>(m: MatcherModel<A>): NetworkMatcher<A> {
  const onNoMatch = m.onNoMatch ? compileOnMatch(m.onNoMatch) : undefined;
  let main: NetworkMatcher<A> | undefined;
  if (m.list) {
    const entries = m.list.map((e) => ({ test: compilePredicate(e.predicate), onMatch: compileOnMatch(e.onMatch) }));
    main = (d) => {
      for (const e of entries) {
        if (!e.test(d)) continue;
        const a = e.onMatch(d);
        if (a !== undefined) return a;
      }
      return undefined;
    };
  } else if (m.tree) {
    main = compileTree(m.tree);
  }
  return (d) => {
    const a = main?.(d);
    return a !== undefined ? a : onNoMatch?.(d);
  };
}

function compileOnMatch<A>(om: OnMatchModel<A>): NetworkMatcher<A> {
  if ("action" in om) {
    const action = om.action;
    return () => action;
  }
  return compileNetworkMatcher(om.matcher);
}

function compilePredicate(p: MatchPredicateModel): (d: NetworkMatchData) => boolean {
  switch (p.kind) {
    case "string": {
      const match = compileStringMatcher(p.matcher);
      const input = p.input;
      return (d) => match(inputValue(input, d));
    }
    case "ip": {
      const ranges = p.ranges.map(rangeBytes);
      const input = p.input;
      return (d) => {
        const ip = ipBytes(inputValue(input, d));
        return ip !== undefined && ranges.some((r) => cidrContains(r, ip));
      };
    }
    case "and": {
      const parts = p.predicates.map(compilePredicate);
      return (d) => parts.every((t) => t(d));
    }
    case "or": {
      const parts = p.predicates.map(compilePredicate);
      return (d) => parts.some((t) => t(d));
    }
    case "not": {
      const inner = compilePredicate(p.predicate);
      return (d) => !inner(d);
    }
  }
}

function compileTree<A>(t: MatchTreeModel<A>): NetworkMatcher<A> {
  const input = t.input;
  if (t.kind === "exact") {
    const map = new Map([...t.map].map(([k, v]) => [k, compileOnMatch(v)]));
    return (d) => map.get(inputValue(input, d))?.(d);
  }
  // Longest key first, so the first key that prefixes the value is the longest match.
  const entries = [...t.map].sort(([a], [b]) => b.length - a.length).map(([k, v]) => ({ key: k, onMatch: compileOnMatch(v) }));
  return (d) => {
    const v = inputValue(input, d);
    for (const e of entries) {
      if (!v.startsWith(e.key)) continue;
      const a = e.onMatch(d);
      if (a !== undefined) return a;
    }
    return undefined;
  };
}
