/**
 * The HCM settings compiled beside compileHcm (compile.ts), once per config version:
 * - `stream_idle_timeout` (default 5 min, 0 disables) and `request_timeout` (default off);
 * - `strip_matching_host_port` / `strip_any_host_port` (mutually exclusive, as in Envoy);
 * - `internal_address_config` (`unix_sockets`, `cidr_ranges`);
 * - each virtual host's `virtual_clusters` (`name`, `headers`, which may match `:path` and `:method`).
 * `request_headers_timeout` stays refused by the support table (see docs/edge.md).
 */
import { formatIp, parseIp } from "./compile-listener.ts";
import { compileHeaderMatcher } from "./compile-route.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { CidrRangeModel, HeaderMatcherModel, HttpConnectionManagerModel, InternalAddressConfigModel, VirtualClusterModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's default `stream_idle_timeout`. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

/**
 * Adds the timeouts, host port mode, internal addresses and virtual clusters to a compiled HCM (`raw`
 * is its typed_config, at `path`). Returns `hcm`.
 */
export function compileHcmExtras(issues: ConfigIssue[], hcm: HttpConnectionManagerModel, raw: Obj, path: string): HttpConnectionManagerModel {
  const r = new Reader(issues);
  const idle = r.durationMs(raw.stream_idle_timeout, joinPath(path, "stream_idle_timeout"));
  if (idle !== undefined) hcm.streamIdleTimeoutMs = idle;
  const request = r.durationMs(raw.request_timeout, joinPath(path, "request_timeout"));
  if (request) hcm.requestTimeoutMs = request;

  const matching = r.bool(raw.strip_matching_host_port, joinPath(path, "strip_matching_host_port")) ?? false;
  const any = r.bool(raw.strip_any_host_port, joinPath(path, "strip_any_host_port")) ?? false;
  if (matching && any) r.bad(joinPath(path, "strip_any_host_port"), "strip_matching_host_port and strip_any_host_port are mutually exclusive");
  else if (matching) hcm.stripHostPort = "matching";
  else if (any) hcm.stripHostPort = "any";

  const iap = joinPath(path, "internal_address_config");
  const ia = r.obj(raw.internal_address_config, iap);
  if (ia) hcm.internalAddressConfig = compileInternalAddressConfig(r, ia, iap);

  const rc = r.obj(raw.route_config, joinPath(path, "route_config"));
  if (rc) {
    const vp = joinPath(joinPath(path, "route_config"), "virtual_hosts");
    const list = Array.isArray(rc.virtual_hosts) ? rc.virtual_hosts : [];
    // compileRouteConfig keeps one VirtualHostModel per entry, in order.
    list.forEach((vh, i) => {
      const model = hcm.routeConfig.virtualHosts[i];
      const o = r.obj(vh, joinPath(vp, i));
      if (!model || !o) return;
      const vcs = compileVirtualClusters(r, o.virtual_clusters, joinPath(joinPath(vp, i), "virtual_clusters"));
      if (vcs.length) model.virtualClusters = vcs;
    });
  }
  return hcm;
}

function compileInternalAddressConfig(r: Reader, o: Obj, path: string): InternalAddressConfigModel {
  const unixSockets = r.bool(o.unix_sockets, joinPath(path, "unix_sockets")) ?? false;
  const cp = joinPath(path, "cidr_ranges");
  const cidrRanges = r.arr(o.cidr_ranges, cp).map((c, i) => compileCidr(r, c, joinPath(cp, i))).filter((c): c is CidrRangeModel => c !== undefined);
  return { unixSockets, cidrRanges };
}

/** `CidrRange`: an IP and `prefix_len` (absent: 0), normalized as CidrRangeModel says (host bits cleared). */
function compileCidr(r: Reader, v: unknown, path: string): CidrRangeModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const ap = joinPath(path, "address_prefix");
  const text = r.str(o.address_prefix, ap);
  if (text === undefined || text === "") return r.bad(ap, "address_prefix is required");
  const ip = parseIp(text);
  if (!ip) return r.bad(ap, `"${text}" is not an IP address`);
  const prefixLen = r.uint(o.prefix_len, joinPath(path, "prefix_len"), 128) ?? 0;
  const max = ip.family === 4 ? 32 : 128;
  if (prefixLen > max) return r.bad(joinPath(path, "prefix_len"), `prefix_len ${prefixLen} is longer than an IPv${ip.family} address (${max} bits)`);
  const bytes = ip.bytes.map((b, i) => b & ((0xff << (8 - Math.max(0, Math.min(8, prefixLen - 8 * i)))) & 0xff));
  return { address: formatIp({ family: ip.family, bytes }), prefixLen, family: ip.family };
}

function compileVirtualClusters(r: Reader, v: unknown, path: string): VirtualClusterModel[] {
  const out: VirtualClusterModel[] = [];
  r.arr(v, path).forEach((item, i) => {
    const p = joinPath(path, i);
    const o = r.obj(item, p);
    if (!o) return;
    const name = r.str(o.name, joinPath(p, "name")) ?? "";
    if (!name) r.bad(joinPath(p, "name"), "a virtual cluster needs a name");
    const hp = joinPath(p, "headers");
    const list = r.arr(o.headers, hp);
    // Envoy refuses a virtual cluster without header matchers.
    if (list.length === 0) r.bad(hp, "a virtual cluster needs at least one header matcher");
    const headers = list.map((h, j) => compileHeaderMatcher(r, h, joinPath(hp, j))).filter((h): h is HeaderMatcherModel => h !== undefined);
    out.push({ name, headers });
  });
  return out;
}
