/**
 * The downstream facts a request itself carries, for tiers that see no connection (the edge). A Worker's
 * request carries Cloudflare's `cf.httpProtocol` (the client's protocol) and `cf-connecting-ip` (the
 * client's address, without a port); TLS ends at Cloudflare with the URL's host as SNI. Tiers that own
 * the connection (the tcp tier) pass their own facts instead.
 */
import type { DownstreamInfo } from "./record.ts";

/** Reads what the request tells about its downstream; fields it cannot tell stay unset. */
export function requestDownstreamInfo(request: Request): DownstreamInfo {
  const info: DownstreamInfo = {};
  const cf = (request as { cf?: { httpProtocol?: unknown } }).cf;
  if (typeof cf?.httpProtocol === "string") info.protocol = cf.httpProtocol;
  const ip = request.headers.get("cf-connecting-ip");
  // Envoy prints an address it learned from a header (not a socket) with port 0.
  if (ip) info.remoteAddress = ip.includes(":") ? `[${ip}]:0` : `${ip}:0`;
  if (request.url.startsWith("https://")) {
    const start = "https://".length;
    const end = request.url.slice(start).search(/[/:?#]/);
    info.requestedServerName = end < 0 ? request.url.slice(start) : request.url.slice(start, start + end);
  }
  return info;
}
