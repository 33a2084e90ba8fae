/** DNS resolution for STRICT_DNS and LOGICAL_DNS clusters, honouring Envoy's `dns_lookup_family`. */
import { promises as dns } from "node:dns";
import { isIP } from "node:net";
import type { ClusterModel } from "../../../shared/config/model.ts";

export type DnsLookupFamily = ClusterModel["dnsLookupFamily"];

/**
 * Resolves a name to addresses through the system resolver (getaddrinfo, so /etc/hosts applies), in
 * the resolver's order, filtered by family as Envoy documents it:
 * - `V4_ONLY` / `V6_ONLY`: only that family.
 * - `AUTO`: IPv6 addresses if there are any, else IPv4.
 * - `V4_PREFERRED`: IPv4 addresses if there are any, else IPv6.
 * - `ALL`: both.
 * An IP literal resolves to itself. Rejects when the name does not resolve (or not in that family).
 */
export async function resolveAddresses(name: string, family: DnsLookupFamily): Promise<string[]> {
  const literal = isIP(name);
  if (literal) {
    if ((family === "V4_ONLY" && literal !== 4) || (family === "V6_ONLY" && literal !== 6)) {
      throw Object.assign(new Error(`${name} is not an IPv${family === "V4_ONLY" ? 4 : 6} address`), { code: "LEGATE_DNS_FAMILY" });
    }
    return [name];
  }
  const queryFamily = family === "V4_ONLY" ? 4 : family === "V6_ONLY" ? 6 : 0;
  const results = await dns.lookup(name, { all: true, family: queryFamily, order: "verbatim" });
  const v4 = results.filter((r) => r.family === 4).map((r) => r.address);
  const v6 = results.filter((r) => r.family === 6).map((r) => r.address);
  let out: string[];
  switch (family) {
    case "V4_ONLY":
      out = v4;
      break;
    case "V6_ONLY":
      out = v6;
      break;
    case "AUTO":
      out = v6.length ? v6 : v4;
      break;
    case "V4_PREFERRED":
      out = v4.length ? v4 : v6;
      break;
    case "ALL":
      out = [...v4, ...v6];
      break;
  }
  if (out.length === 0) throw Object.assign(new Error(`${name} has no address for dns_lookup_family ${family}`), { code: "LEGATE_DNS_NO_ADDRESS" });
  return [...new Set(out)];
}
