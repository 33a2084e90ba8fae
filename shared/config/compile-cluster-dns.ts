/**
 * Compiles a cluster's DNS resolver fields: `dns_resolvers` (the servers STRICT_DNS / LOGICAL_DNS names
 * are resolved with, instead of the system resolver) and `respect_dns_ttl` (refresh at the answers'
 * TTL). Called once per cluster by compile.ts; reads untrusted canonical JSON and reports every
 * problem as an issue. Only the tcp tier resolves names (the edge's `fetch` resolves them itself).
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** 4 or 6 for an IP literal, else 0 (shared code has no node:net). */
function ipFamily(s: string): 0 | 4 | 6 {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s)) return 4;
  if (s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s) && (s.match(/::/g)?.length ?? 0) <= 1) return 6;
  return 0;
}

/** Adds `dnsResolvers` and `respectDnsTtl` to `cluster` from its config `raw` (at `path`); returns `cluster`. */
export function compileClusterDns(issues: ConfigIssue[], cluster: ClusterModel, raw: Obj, path: string): ClusterModel {
  const r = new Reader(issues);
  const rp = joinPath(path, "dns_resolvers");
  const resolvers = r.arr(raw.dns_resolvers, rp).flatMap((a, i) => {
    const ap = joinPath(rp, i);
    const sap = joinPath(ap, "socket_address");
    const sa = r.required(r.obj(r.obj(a, ap)?.socket_address, sap), sap, "socket_address");
    if (!sa) return [];
    const address = r.str(sa.address, joinPath(sap, "address")) ?? "";
    const port = r.uint(sa.port_value, joinPath(sap, "port_value"), 65535) || 53;
    const family = ipFamily(address);
    if (!family) {
      r.bad(joinPath(sap, "address"), `a DNS resolver must be an IP address, got ${JSON.stringify(address)}`);
      return [];
    }
    return [family === 6 ? `[${address}]:${port}` : `${address}:${port}`];
  });
  if (resolvers.length) cluster.dnsResolvers = resolvers;
  const respect = r.bool(raw.respect_dns_ttl, joinPath(path, "respect_dns_ttl")) ?? false;
  if (respect) {
    if (!resolvers.length) {
      r.bad(joinPath(path, "respect_dns_ttl"), "respect_dns_ttl needs dns_resolvers in Legate: the system resolver (getaddrinfo) gives no TTLs", "unsupported");
    } else {
      cluster.respectDnsTtl = true;
    }
  }
  return cluster;
}
