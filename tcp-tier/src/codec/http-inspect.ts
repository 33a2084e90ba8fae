/**
 * A pure detector for the `http_inspector` listener filter: bytes in, result out, no state, never
 * throws. It tells an HTTP/2 prior-knowledge (h2c) preface from an HTTP/1.x request line by the first
 * bytes of a connection, as Envoy's inspector does, reading at most {@link HTTP_INSPECT_MAX} bytes.
 */

export type HttpInspectResult =
  | { kind: "more" }
  | { kind: "not-http" }
  /** The protocol, as Envoy names it for `application_protocols`. */
  | { kind: "http"; protocol: "http/1.0" | "http/1.1" | "h2c" };

/** The most bytes examined; a request line longer than this is not recognised (Envoy reads 8 KiB). */
export const HTTP_INSPECT_MAX = 8192;

const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Classifies the first bytes of a connection. */
export function inspectHttp(buf: Uint8Array): HttpInspectResult {
  // HTTP/2 preface: wait while the bytes could still be it.
  let prefaceMatch = true;
  const n = Math.min(buf.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) {
    if (buf[i] !== H2_PREFACE.charCodeAt(i)) {
      prefaceMatch = false;
      break;
    }
  }
  if (prefaceMatch) return buf.length >= H2_PREFACE.length ? { kind: "http", protocol: "h2c" } : { kind: "more" };
  // HTTP/1.x: METHOD SP request-target SP HTTP/1.d CRLF
  const limit = Math.min(buf.length, HTTP_INSPECT_MAX);
  let i = 0;
  while (i < limit && isTokenUpper(buf[i]!)) i++;
  if (i === limit) return limit >= HTTP_INSPECT_MAX || i > 32 ? { kind: "not-http" } : { kind: "more" };
  if (i === 0 || i > 32 || buf[i] !== 0x20) return { kind: "not-http" };
  const targetStart = ++i;
  while (i < limit && buf[i] !== 0x20) {
    const c = buf[i]!;
    if (c <= 0x20 || c === 0x7f) return { kind: "not-http" };
    i++;
  }
  if (i === limit) return limit >= HTTP_INSPECT_MAX ? { kind: "not-http" } : { kind: "more" };
  if (i === targetStart) return { kind: "not-http" };
  i++;
  const version = "HTTP/1.";
  for (let k = 0; k < version.length; k++, i++) {
    if (i >= limit) return limit >= HTTP_INSPECT_MAX ? { kind: "not-http" } : { kind: "more" };
    if (buf[i] !== version.charCodeAt(k)) return { kind: "not-http" };
  }
  if (i >= limit) return { kind: "more" };
  const minor = buf[i++]!;
  if (minor !== 0x30 && minor !== 0x31) return { kind: "not-http" };
  if (i >= limit) return { kind: "more" };
  if (buf[i] !== 0x0d) return { kind: "not-http" };
  if (i + 1 >= limit) return { kind: "more" };
  if (buf[i + 1] !== 0x0a) return { kind: "not-http" };
  return { kind: "http", protocol: minor === 0x31 ? "http/1.1" : "http/1.0" };
}

/** Method characters: Envoy's parser takes the registered methods, all upper-case letters, `-` and `_`. */
function isTokenUpper(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
}
