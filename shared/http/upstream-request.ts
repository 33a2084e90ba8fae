/**
 * What the router hands the {@link UpstreamTransport} for one attempt: an {@link UpstreamRequest}
 * plus two optional fields a transport should honour when it can.
 *
 * - `signal`: aborts the attempt. The router sets it only where it must cancel one attempt while the
 *   request goes on (hedging: the losers of the race), because an AbortController per request would
 *   tax every request (DESIGN.md, toolchain facts). Other attempts the router gives up on (timeouts)
 *   are abandoned: their response, if it ever comes, is cancelled as it arrives.
 * - `bodyBytes`: the whole request body, when the router buffered it (for retries or mirroring).
 *   `body` then streams the same bytes for a transport that ignores this field, but a transport that
 *   sends `bodyBytes` keeps the request's length (the Workers `fetch` sends a stream chunked).
 *
 * Transports reject with a ProxyError as upstream-transport.ts says; an abort through `signal` may
 * reject with anything (the router has already moved on).
 */
import type { UpstreamRequest } from "./upstream-transport.ts";

export interface AttemptRequest extends UpstreamRequest {
  signal?: AbortSignal;
  bodyBytes?: Uint8Array;
}

/** A one-chunk stream of `bytes`, for transports that only read `body`. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      if (bytes.byteLength) c.enqueue(bytes);
      c.close();
    },
  });
}

/** `address:port` with IPv6 in brackets, as the request URL's authority. */
export function urlAuthority(address: string, port: number): string {
  return `${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/**
 * The Host a shadow request carries: `-shadow` appended to the host part (before any port), as Envoy
 * does: `foo.com:8080` → `foo.com-shadow:8080`.
 */
export function shadowAuthority(authority: string): string {
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    return close < 0 ? `${authority}-shadow` : `${authority.slice(0, close + 1)}-shadow${authority.slice(close + 1)}`;
  }
  const colon = authority.lastIndexOf(":");
  return colon < 0 ? `${authority}-shadow` : `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
}
