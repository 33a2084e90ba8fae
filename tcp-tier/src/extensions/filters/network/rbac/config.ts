/**
 * `envoy.filters.network.rbac`: the factory compiles the policies once per config version into
 * closures over a connection; the per-connection filter evaluates them on the first bytes (or on
 * every read with CONTINUOUS), counts the result and closes denied connections.
 *
 * Envoy's semantics: a policy matches when one of its permissions and one of its principals match.
 * ALLOW rules let a connection through only when some policy matches; DENY rules close it when some
 * policy matches; no `rules` at all allows everything. Shadow rules are evaluated once per connection and
 * only counted.
 */
import { cidrContains, parseIp, unmapIpv4 } from "../../../../../../shared/config/compile-listener.ts";
import type { CidrRangeModel, RbacNetworkModel, RbacPermissionModel, RbacPrincipalModel, RbacRulesModel } from "../../../../../../shared/config/model.ts";
import { compileStringMatcher } from "../../../../../../shared/http/matchers.ts";
import type { Counter } from "../../../../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { Connection, NetworkFilterFactory } from "../../../../network/filter.ts";
import { RbacFilter } from "./filter.ts";

/** A compiled rule set: true when the connection is allowed. */
export type RbacEngine = (c: Connection) => boolean;

export interface RbacStats {
  allowed: Counter;
  denied: Counter;
  shadow_allowed: Counter;
  shadow_denied: Counter;
}

export interface RbacConfig {
  model: RbacNetworkModel;
  engine?: RbacEngine;
  shadowEngine?: RbacEngine;
  stats: RbacStats;
}

type Pred = (c: Connection) => boolean;

/** The connection's address as bytes (IPv4-mapped IPv6 as IPv4); undefined when it is not an IP. */
function ipOf(text: string | undefined): Uint8Array | undefined {
  // A socket that is already gone may report no address; it matches no range.
  const ip = text ? parseIp(text) : undefined;
  return ip ? unmapIpv4(ip).bytes : undefined;
}

function inRange(range: CidrRangeModel): (text: string) => boolean {
  const r = { bytes: parseIp(range.address)!.bytes, prefixLen: range.prefixLen };
  return (text) => {
    const ip = ipOf(text);
    return ip !== undefined && cidrContains(r, ip);
  };
}

function compilePermission(p: RbacPermissionModel): Pred {
  switch (p.kind) {
    case "any": return () => true;
    case "and": {
      const parts = p.rules.map(compilePermission);
      return (c) => parts.every((t) => t(c));
    }
    case "or": {
      const parts = p.rules.map(compilePermission);
      return (c) => parts.some((t) => t(c));
    }
    case "not": {
      const inner = compilePermission(p.rule);
      return (c) => !inner(c);
    }
    case "destination_ip": {
      const test = inRange(p.range);
      return (c) => test(c.localAddress);
    }
    case "destination_port": {
      const port = p.port;
      return (c) => c.localPort === port;
    }
    case "destination_port_range": {
      const { start, end } = p;
      return (c) => c.localPort >= start && c.localPort < end;
    }
    case "requested_server_name": {
      const match = compileStringMatcher(p.matcher);
      return (c) => match(c.info.requestedServerName ?? "");
    }
  }
}

function compilePrincipal(p: RbacPrincipalModel): Pred {
  switch (p.kind) {
    case "any": return () => true;
    case "and": {
      const parts = p.ids.map(compilePrincipal);
      return (c) => parts.every((t) => t(c));
    }
    case "or": {
      const parts = p.ids.map(compilePrincipal);
      return (c) => parts.some((t) => t(c));
    }
    case "not": {
      const inner = compilePrincipal(p.id);
      return (c) => !inner(c);
    }
    case "remote_ip": {
      const test = inRange(p.range);
      return (c) => test(c.remoteAddress);
    }
    case "direct_remote_ip": {
      const test = inRange(p.range);
      return (c) => test(c.directRemoteAddress);
    }
    case "authenticated": {
      if (!p.principalName) return (c) => c.info.tls !== undefined;
      const match = compileStringMatcher(p.principalName);
      // As Envoy: URI SANs, then DNS SANs; the subject only when the certificate has neither.
      return (c) => {
        const cert = c.info.tls?.peerCertificate;
        if (!cert) return false;
        if (cert.sans.uri.some(match)) return true;
        if (cert.sans.dns.some(match)) return true;
        return cert.sans.uri.length === 0 && cert.sans.dns.length === 0 && match(cert.subject);
      };
    }
  }
}

/** Compiles a rule set into one predicate: allowed or not. */
export function compileRbacEngine(rules: RbacRulesModel): RbacEngine {
  const policies = rules.policies.map((p) => {
    const perms = p.permissions.map(compilePermission);
    const princ = p.principals.map(compilePrincipal);
    return (c: Connection) => perms.some((t) => t(c)) && princ.some((t) => t(c));
  });
  const matched = (c: Connection) => policies.some((t) => t(c));
  return rules.action === "ALLOW" ? matched : (c) => !matched(c);
}

/** Envoy joins a stat prefix and a name with a `.` unless the prefix already ends with one. */
function join(prefix: string, name: string): string {
  return prefix === "" || prefix.endsWith(".") ? `${prefix}${name}` : `${prefix}.${name}`;
}

export function createRbacFactory(model: RbacNetworkModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const scope = context.stats.scope(join(model.statPrefix, "rbac."));
  const config: RbacConfig = {
    model,
    engine: model.rules ? compileRbacEngine(model.rules) : undefined,
    shadowEngine: model.shadowRules ? compileRbacEngine(model.shadowRules) : undefined,
    stats: {
      allowed: scope.counter("allowed"),
      denied: scope.counter("denied"),
      shadow_allowed: scope.counter(`${model.shadowRulesStatPrefix}shadow_allowed`),
      shadow_denied: scope.counter(`${model.shadowRulesStatPrefix}shadow_denied`),
    },
  };
  return (manager) => manager.addReadFilter(new RbacFilter(config, context.logger));
}
