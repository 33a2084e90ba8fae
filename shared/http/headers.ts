/**
 * What the HTTP connection manager does to headers on its own, and header mutations, with Envoy's
 * semantics (ConnectionManagerUtility, HeaderParser). Compiled once per config version; the functions
 * here run per request.
 *
 * Request (before routing and the HTTP filters), {@link HcmHeaderPolicy.decodeRequest}:
 * 1. Hop-by-hop headers removed: `connection` and the headers it names, `keep-alive`,
 *    `proxy-connection`, `transfer-encoding`, `upgrade` (kept, with `connection`, on an upgrade request),
 *    and `te` other than `trailers`; a client's `x-envoy-internal` is always removed.
 * 2. The downstream address: with `use_remote_address`, the connection's peer (at the edge the
 *    `cf-connecting-ip` that Cloudflare sets), or the `xff_num_trusted_hops`-th address from the right of
 *    `x-forwarded-for`; the peer is then appended to `x-forwarded-for` (unless `skip_xff_append`) and
 *    `x-forwarded-proto` is set from the connection unless trusted hops may have set it. Without
 *    `use_remote_address`, the address is read from `x-forwarded-for` (`xff_num_trusted_hops` from the
 *    right), nothing is appended, and `x-forwarded-proto` is only set when absent.
 * 3. Internal or external: internal when the address used is internal (`internal_address_config`'s
 *    `cidr_ranges`, else Envoy's defaults: RFC 1918, 127.0.0.1, ::1, fd00::/8; a Unix-socket peer only
 *    with `unix_sockets`) and came from a single-entry (or absent, with `use_remote_address`) `x-forwarded-for`.
 *    Internal requests get `x-envoy-internal: true`. External ones lose the x-envoy request controls
 *    (`x-envoy-retry-on`, `x-envoy-max-retries`, `x-envoy-upstream-rq-timeout-ms`,
 *    `x-envoy-upstream-rq-per-try-timeout-ms`, …) and the route configuration's `internal_only_headers`;
 *    edge requests (external with `use_remote_address`) also lose `x-envoy-decorator-operation`,
 *    `x-envoy-downstream-service-cluster` and `-node`, and get `x-envoy-external-address`.
 * 4. `x-request-id`: generated (UUID v4) when absent, or on an edge request unless
 *    `preserve_external_request_id`; never when `generate_request_id` is false.
 * 5. `via` appended when configured.
 *
 * Response (after every filter), {@link HcmHeaderPolicy.encodeResponse}: hop-by-hop headers removed
 * (`connection` and `upgrade` kept on an upgrade), `server` per
 * `server_header_transformation` (default: overwrite with `server_name`, default "envoy"),
 * `x-request-id` when `always_set_request_id_in_response`, `via` appended. (`date` is left to the HTTP
 * server of each runtime: Cloudflare and Node's http module add it.)
 */
import { cidrContains, parseIp as parseIpBytes } from "../config/compile-listener.ts";
import type { HcmHeaderPolicyModel, HeaderMutationsModel, HeaderValueOptionModel, InternalAddressConfigModel } from "../config/model.ts";
import { compileHeaderFormat, type FormatContext, type HeaderFormatter } from "./header-formatter.ts";

// ---- header mutations (Envoy's HeaderParser) ----

/** One `HeaderValueOption`, compiled. */
export interface HeaderAdd {
  readonly key: string;
  readonly format: HeaderFormatter;
  readonly action: HeaderValueOptionModel["appendAction"];
  readonly keepEmptyValue: boolean;
}

/** The mutations of one level (route configuration, virtual host, route or weighted cluster). */
export interface HeaderLevel {
  readonly remove: readonly string[];
  readonly add: readonly HeaderAdd[];
}

/** Levels in the order they are applied (a later level wins where they conflict). */
export type HeaderOps = readonly HeaderLevel[];

/** Compiles one level; undefined when it holds nothing. Throws FormatError for a value that cannot be formatted. */
export function compileHeaderLevel(add: readonly HeaderValueOptionModel[], remove: readonly string[]): HeaderLevel | undefined {
  if (add.length === 0 && remove.length === 0) return undefined;
  return {
    remove,
    add: add.map((o) => ({ key: o.key, format: compileHeaderFormat(o.value), action: o.appendAction, keepEmptyValue: o.keepEmptyValue })),
  };
}

/** The request-side and response-side levels of a {@link HeaderMutationsModel}. */
export function compileMutations(m: HeaderMutationsModel | undefined): { request?: HeaderLevel; response?: HeaderLevel } {
  if (!m) return {};
  return {
    request: compileHeaderLevel(m.requestHeadersToAdd, m.requestHeadersToRemove),
    response: compileHeaderLevel(m.responseHeadersToAdd, m.responseHeadersToRemove),
  };
}

/**
 * Applies levels in order, each as Envoy's HeaderParser::evaluateHeaders: removals first; then every
 * value is formatted (empty values skipped unless keep_empty_value), `ADD_IF_ABSENT` and
 * `OVERWRITE_IF_EXISTS` look at the headers as they were before the level's additions; overwrites are
 * applied before appends.
 */
export function applyHeaderOps(headers: Headers, ops: HeaderOps, ctx: FormatContext): void {
  for (const level of ops) {
    for (const name of level.remove) headers.delete(name);
    if (level.add.length === 0) continue;
    let overwrite: [string, string][] | undefined;
    let append: [string, string][] | undefined;
    for (const a of level.add) {
      const value = a.format(ctx);
      if (value === "" && !a.keepEmptyValue) continue;
      switch (a.action) {
        case "APPEND_IF_EXISTS_OR_ADD":
          (append ??= []).push([a.key, value]);
          break;
        case "ADD_IF_ABSENT":
          if (!headers.has(a.key)) (append ??= []).push([a.key, value]);
          break;
        case "OVERWRITE_IF_EXISTS":
          if (headers.has(a.key)) (overwrite ??= []).push([a.key, value]);
          break;
        case "OVERWRITE_IF_EXISTS_OR_ADD":
          (overwrite ??= []).push([a.key, value]);
          break;
      }
    }
    if (overwrite) for (const [k, v] of overwrite) headers.set(k, v);
    if (append) for (const [k, v] of append) headers.append(k, v);
  }
}

// ---- the HCM's own header handling (Envoy's ConnectionManagerUtility) ----

/** The downstream connection as a tier knows it. */
export interface DownstreamConnection {
  /** The peer's IP (no port): at the edge the `cf-connecting-ip` header, in the tcp tier the socket's. */
  remoteAddress?: string;
  remotePort?: number;
  /** The proxy's own address, when known (never at the edge). */
  localAddress?: string;
  /** The peer is on a Unix domain socket (never at the edge). */
  unixSocket?: boolean;
  /** The downstream connection used TLS. */
  tls: boolean;
  /** `HTTP/1.1`, `HTTP/2`, `HTTP/3`. */
  protocol: string;
}

/** What {@link HcmHeaderPolicy.decodeRequest} found out about a request. */
export interface RequestOrigin {
  /** Envoy's downstream remote address (an IP), after X-Forwarded-For processing. */
  remoteAddress?: string;
  /** The request came from inside (see the module doc). */
  internal: boolean;
  /** External and `use_remote_address`: this proxy is the first trusted hop. */
  edge: boolean;
}

/** The x-envoy request headers Envoy drops from every request that is not internal. */
const EXTERNAL_STRIPPED = [
  "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names",
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-upstream-rq-timeout-alt-response",
  "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace",
  "x-envoy-ip-tags",
  "x-envoy-original-url",
  "x-envoy-hedge-on-per-try-timeout",
];
/** Also dropped from edge requests. */
const EDGE_STRIPPED = ["x-envoy-decorator-operation", "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node"];

const DEFAULT_POLICY: HcmHeaderPolicyModel = {
  useRemoteAddress: false,
  xffNumTrustedHops: 0,
  skipXffAppend: false,
  via: "",
  generateRequestId: true,
  preserveExternalRequestId: false,
  alwaysSetRequestIdInResponse: false,
  serverName: "envoy",
  serverHeaderTransformation: "OVERWRITE",
};

export interface HcmHeaderPolicy {
  readonly model: HcmHeaderPolicyModel;
  /** Runs once per request, before routing and the HTTP filters; changes `headers` in place. */
  decodeRequest(headers: Headers, connection: DownstreamConnection, internalOnlyHeaders?: readonly string[]): RequestOrigin;
  /** Runs once per response, after every filter's encode phase; changes `headers` in place. */
  encodeResponse(headers: Headers, status: number, requestHeaders: Headers): void;
}

/**
 * Builds the HCM's header handling once per config version. `model` absent: Envoy's defaults.
 * `internalAddresses`: the HCM's `internal_address_config`; absent: Envoy's default internal addresses.
 */
export function createHcmHeaderPolicy(model: HcmHeaderPolicyModel | undefined, internalAddresses?: InternalAddressConfigModel): HcmHeaderPolicy {
  const p = model ?? DEFAULT_POLICY;
  const isInternal = compileInternalAddresses(internalAddresses);
  return {
    model: p,
    decodeRequest(headers, conn, internalOnlyHeaders = []) {
      const upgrade = isUpgrade(headers);
      stripHopByHop(headers, upgrade);
      if (!upgrade) {
        const te = headers.get("te");
        if (te !== null) {
          if (te.split(",").some((t) => t.trim().toLowerCase().split(";")[0] === "trailers")) headers.set("te", "trailers");
          else headers.delete("te");
        }
      }
      headers.delete("x-envoy-internal");

      let remote: string | undefined;
      let allowTrusted = false;
      const proto = conn.tls ? "https" : "http";
      if (p.useRemoteAddress) {
        allowTrusted = !headers.has("x-forwarded-for");
        if (p.xffNumTrustedHops > 0) remote = lastAddressFromXff(headers.get("x-forwarded-for"), p.xffNumTrustedHops - 1).address;
        remote ??= conn.remoteAddress;
        if (!p.skipXffAppend && conn.remoteAddress !== undefined) {
          const peer = isLoopback(conn.remoteAddress) && conn.localAddress ? conn.localAddress : conn.remoteAddress;
          appendList(headers, "x-forwarded-for", peer);
        }
        if (p.xffNumTrustedHops === 0 || !headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", proto);
      } else {
        const found = lastAddressFromXff(headers.get("x-forwarded-for"), p.xffNumTrustedHops);
        remote = found.address;
        allowTrusted = found.single;
        if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", proto);
      }
      // A Unix-socket peer is the address only when the peer is (use_remote_address, no XFF hop trusted).
      const unixPeer = conn.unixSocket === true && p.useRemoteAddress && p.xffNumTrustedHops === 0;
      const internal = allowTrusted && (unixPeer ? isInternal.unixSockets : remote !== undefined && isInternal(remote));
      remote ??= conn.remoteAddress;
      const edge = !internal && p.useRemoteAddress;

      if (internal) headers.set("x-envoy-internal", "true");
      else {
        if (edge) for (const h of EDGE_STRIPPED) headers.delete(h);
        for (const h of EXTERNAL_STRIPPED) headers.delete(h);
        for (const h of internalOnlyHeaders) headers.delete(h);
      }
      if (edge && remote !== undefined) headers.set("x-envoy-external-address", remote);
      if (p.generateRequestId && (!headers.has("x-request-id") || (edge && !p.preserveExternalRequestId))) {
        headers.set("x-request-id", crypto.randomUUID());
      }
      if (p.via) appendList(headers, "via", p.via);
      return { remoteAddress: remote, internal, edge };
    },
    encodeResponse(headers, status, requestHeaders) {
      const upgrade = status === 101 || (isUpgrade(requestHeaders) && isUpgrade(headers));
      stripHopByHop(headers, upgrade);
      if (p.serverHeaderTransformation === "OVERWRITE" || (p.serverHeaderTransformation === "APPEND_IF_ABSENT" && !headers.has("server"))) {
        headers.set("server", p.serverName);
      }
      if (p.alwaysSetRequestIdInResponse) {
        const id = requestHeaders.get("x-request-id");
        if (id !== null) headers.set("x-request-id", id);
      }
      if (p.via) appendList(headers, "via", p.via);
    },
  };
}

/** Envoy's isUpgrade: `connection` lists `upgrade` and an `upgrade` header is present. */
export function isUpgrade(headers: Headers): boolean {
  const upgrade = headers.get("upgrade");
  if (upgrade === null) return false;
  return hasToken(headers.get("connection"), "upgrade");
}

function hasToken(list: string | null, token: string): boolean {
  return list !== null && list.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Removes hop-by-hop headers: those `connection` names, then `connection`, `keep-alive`,
 * `proxy-connection`, `transfer-encoding`, `upgrade`. On an upgrade, `connection: upgrade` and
 * `upgrade` stay.
 */
export function stripHopByHop(headers: Headers, upgrade = false): void {
  const connection = headers.get("connection");
  if (connection !== null) {
    for (const t of connection.split(",")) {
      const name = t.trim().toLowerCase();
      // Never let `connection` remove an end-to-end header this proxy itself depends on.
      if (name && name !== "upgrade" && name !== "host" && !name.startsWith(":")) {
        try {
          headers.delete(name);
        } catch {
          // Not a valid header name: nothing to remove.
        }
      }
    }
  }
  if (upgrade) headers.set("connection", "upgrade");
  else {
    headers.delete("connection");
    headers.delete("upgrade");
  }
  headers.delete("keep-alive");
  headers.delete("proxy-connection");
  headers.delete("transfer-encoding");
}

function appendList(headers: Headers, name: string, value: string): void {
  const prev = headers.get(name);
  headers.set(name, prev ? `${prev}, ${value}` : value);
}

/**
 * Envoy's getLastAddressFromXFF: skips `skip` entries from the right of `x-forwarded-for` and parses
 * the next one as an IP. `single` is true when the header held exactly that one address (and nothing
 * was skipped): only then may the address make the request internal.
 */
export function lastAddressFromXff(xff: string | null, skip: number): { address?: string; single: boolean } {
  if (xff === null) return { single: false };
  let rest = xff;
  for (let i = 0; i < skip; i++) {
    const comma = rest.lastIndexOf(",");
    if (comma < 0) return { single: false };
    rest = rest.slice(0, comma);
  }
  const comma = rest.lastIndexOf(",");
  const candidate = (comma >= 0 && comma + 1 < rest.length ? rest.slice(comma + 1) : rest).trim();
  const address = parseIp(candidate);
  return address === undefined ? { single: false } : { address, single: comma < 0 && skip === 0 };
}

/** The IP in canonical text form when `s` is an IPv4 or IPv6 address (no port, no brackets), else undefined. */
export function parseIp(s: string): string | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split(".").every((o) => Number(o) <= 255 && (o === "0" || !o.startsWith("0"))) ? s : undefined;
  if (!s.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  try {
    // The URL parser validates and canonicalises IPv6 (both runtimes have it).
    const host = new URL(`http://[${s}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return undefined;
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith("127.") || ip === "::1";
}

/** An internal-address test compiled from `internal_address_config`, with its `unix_sockets` answer. */
type InternalTest = ((ip: string) => boolean) & { unixSockets: boolean };

/**
 * Envoy's InternalAddressConfig: with `cidr_ranges`, an IP is internal when one of them holds it;
 * without (or with no config at all), Envoy's defaults ({@link isInternalAddress}). A Unix-socket peer
 * is internal only with `unix_sockets: true`.
 */
export function compileInternalAddresses(config: InternalAddressConfigModel | undefined): InternalTest {
  const ranges = (config?.cidrRanges ?? []).map((c) => ({ bytes: parseIpBytes(c.address)!.bytes, prefixLen: c.prefixLen }));
  const test = ranges.length === 0
    ? (ip: string) => isInternalAddress(ip)
    : (ip: string) => {
        const bytes = parseIpBytes(ip)?.bytes;
        return bytes !== undefined && ranges.some((r) => cidrContains(r, bytes));
      };
  return Object.assign(test, { unixSockets: config?.unixSockets ?? false });
}

/**
 * Envoy's default internal addresses (no `internal_address_config`): RFC 1918 IPv4, 127.0.0.1, ::1,
 * and fd00::/8.
 */
export function isInternalAddress(ip: string): boolean {
  if (!ip.includes(":")) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    return a === 10 || (a === 192 && b === 168) || (a === 172 && b >= 16 && b <= 31) || ip === "127.0.0.1";
  }
  const lower = ip.toLowerCase();
  return lower === "::1" || /^fd[0-9a-f]{2}:/.test(lower);
}
