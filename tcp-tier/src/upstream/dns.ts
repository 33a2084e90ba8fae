/** DNS resolution for STRICT_DNS and LOGICAL_DNS clusters, honouring Envoy's `dns_lookup_family`. */
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import type { ClusterModel } from "../../../shared/config/model.ts";

export type DnsLookupFamily = ClusterModel["dnsLookupFamily"];

/** What one name resolved to. */
export interface Resolution {
  /** Addresses in the resolver's order, without duplicates. */
  addresses: string[];
  /** The smallest TTL of the answers used, in ms; absent from the system resolver (or for IP literals). */
  ttlMs?: number;
}

/** Picks the addresses Envoy's `dns_lookup_family` keeps from the v4 and v6 answers. */
function byFamily(family: DnsLookupFamily, v4: string[], v6: string[]): string[] {
  switch (family) {
    case "V4_ONLY":
      return v4;
    case "V6_ONLY":
      return v6;
    case "AUTO":
      return v6.length ? v6 : v4;
    case "V4_PREFERRED":
      return v4.length ? v4 : v6;
    case "ALL":
      return [...v4, ...v6];
  }
}

/** A resolver querying `servers` (`ip:port`, Envoy's `dns_resolvers`) directly, without /etc/hosts. */
export function createResolver(servers: readonly string[]): dns.Resolver {
  const resolver = new dns.Resolver({ tries: 2, timeout: 2000 });
  resolver.setServers([...servers]);
  return resolver;
}

const NO_DATA = new Set(["ENODATA", "ENOTFOUND"]);

async function query(resolver: dns.Resolver, name: string, family: 4 | 6): Promise<{ address: string; ttl: number }[]> {
  try {
    return family === 4 ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
  } catch (err) {
    // No record of this family is an empty answer, not a failure (the other family may have some).
    if (NO_DATA.has((err as { code?: string }).code ?? "")) return [];
    throw err;
  }
}

/**
 * Resolves a name to addresses, filtered by family as Envoy documents it:
 * - `V4_ONLY` / `V6_ONLY`: only that family.
 * - `AUTO`: IPv6 addresses if there are any, else IPv4.
 * - `V4_PREFERRED`: IPv4 addresses if there are any, else IPv6.
 * - `ALL`: both.
 * Without `resolver`, through the system resolver (getaddrinfo, so /etc/hosts applies; no TTLs); with
 * one, by A/AAAA queries to its servers (TTLs known). An IP literal resolves to itself. Rejects when the
 * name does not resolve (or not in that family).
 */
export async function resolveAddresses(name: string, family: DnsLookupFamily, resolver?: dns.Resolver): Promise<Resolution> {
  const literal = isIP(name);
  if (literal) {
    if ((family === "V4_ONLY" && literal !== 4) || (family === "V6_ONLY" && literal !== 6)) {
      throw Object.assign(new Error(`${name} is not an IPv${family === "V4_ONLY" ? 4 : 6} address`), { code: "LEGATE_DNS_FAMILY" });
    }
    return { addresses: [name] };
  }
  let v4: string[];
  let v6: string[];
  let ttls: Map<string, number> | undefined;
  if (resolver) {
    const [a, aaaa] = await Promise.all([family === "V6_ONLY" ? [] : query(resolver, name, 4), family === "V4_ONLY" ? [] : query(resolver, name, 6)]);
    v4 = a.map((r) => r.address);
    v6 = aaaa.map((r) => r.address);
    ttls = new Map([...a, ...aaaa].map((r) => [r.address, r.ttl]));
  } else {
    const queryFamily = family === "V4_ONLY" ? 4 : family === "V6_ONLY" ? 6 : 0;
    const results = await dns.lookup(name, { all: true, family: queryFamily, order: "verbatim" });
    v4 = results.filter((r) => r.family === 4).map((r) => r.address);
    v6 = results.filter((r) => r.family === 6).map((r) => r.address);
  }
  const out = byFamily(family, v4, v6);
  if (out.length === 0) throw Object.assign(new Error(`${name} has no address for dns_lookup_family ${family}`), { code: "LEGATE_DNS_NO_ADDRESS" });
  const addresses = [...new Set(out)];
  return ttls ? { addresses, ttlMs: Math.min(...addresses.map((a) => ttls.get(a) ?? 0)) * 1000 } : { addresses };
}
