/**
 * A pure TLS ClientHello reader for the `tls_inspector` listener filter: bytes in, result out. It reads
 * the first handshake message from the start of a connection, across as many TLS records as it spans,
 * and returns the SNI host name and the ALPN list. It never throws and never keeps state: the caller
 * passes everything read so far (the `more.need` hint says how many bytes are worth waiting for, so a
 * byte-at-a-time peer does not cost a re-parse per byte).
 */

export type ClientHelloResult =
  /** Not enough bytes yet; `need` is the total length worth waiting for. */
  | { kind: "more"; need: number }
  /** The bytes are not a TLS handshake (Envoy: `tls_not_found`). */
  | { kind: "not-tls" }
  /** A TLS record that does not hold a well-formed ClientHello (Envoy also counts it `tls_not_found`). */
  | { kind: "malformed"; reason: string }
  /** The ClientHello would need more than `max` bytes (Envoy: `client_hello_too_large`; the socket is closed). */
  | { kind: "too-large" }
  /** `bytes`: how many bytes of the input the ClientHello's records took. */
  | { kind: "hello"; serverName?: string; alpn: string[]; bytes: number };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** TLS allows a record of at most 2^14 bytes of plaintext (plus expansion for protected records). */
const MAX_RECORD = 16384 + 2048;

/** Reads a ClientHello from the first bytes of a connection; `max` bounds the bytes it will wait for. */
export function parseClientHello(buf: Uint8Array, max: number): ClientHelloResult {
  if (buf.length >= 1 && buf[0] !== RECORD_HANDSHAKE) return { kind: "not-tls" };
  if (buf.length >= 2 && buf[1] !== 0x03) return { kind: "not-tls" };
  // Collect the handshake message from consecutive handshake records.
  const fragments: Uint8Array[] = [];
  let have = 0;
  let pos = 0;
  let msgLen = -1;
  for (;;) {
    if (msgLen >= 0 && have >= 4 + msgLen) break;
    if (buf.length < pos + 5) return more(pos + 5, max);
    if (buf[pos] !== RECORD_HANDSHAKE) return pos === 0 ? { kind: "not-tls" } : { kind: "malformed", reason: "ClientHello interrupted by a non-handshake record" };
    if (buf[pos + 1] !== 0x03) return pos === 0 ? { kind: "not-tls" } : { kind: "malformed", reason: "bad record version" };
    const recLen = (buf[pos + 3]! << 8) | buf[pos + 4]!;
    if (recLen === 0 || recLen > MAX_RECORD) return { kind: "malformed", reason: `record length ${recLen}` };
    const end = pos + 5 + recLen;
    if (buf.length < end) {
      // What has arrived may already say the message is too large.
      const partial = buf.subarray(pos + 5);
      const header = concatHead([...fragments, partial], 4);
      if (header && header[0] !== HANDSHAKE_CLIENT_HELLO) return pos === 0 ? { kind: "not-tls" } : { kind: "malformed", reason: "not a ClientHello" };
      if (header && estimateTotal(header, pos) > max) return { kind: "too-large" };
      return more(end, max);
    }
    fragments.push(buf.subarray(pos + 5, end));
    have += recLen;
    pos = end;
    if (msgLen < 0 && have >= 4) {
      const header = concatHead(fragments, 4)!;
      if (header[0] !== HANDSHAKE_CLIENT_HELLO) return pos === 5 + recLen ? { kind: "not-tls" } : { kind: "malformed", reason: "not a ClientHello" };
      msgLen = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
      if (4 + msgLen + 5 > max) return { kind: "too-large" };
    }
    if (pos > max) return { kind: "too-large" };
  }
  const msg = concatHead(fragments, 4 + msgLen)!;
  const parsed = parseBody(msg.subarray(4, 4 + msgLen));
  if (typeof parsed === "string") return { kind: "malformed", reason: parsed };
  return { kind: "hello", ...parsed, bytes: pos };
}

function more(need: number, max: number): ClientHelloResult {
  return need > max ? { kind: "too-large" } : { kind: "more", need };
}

/** Total bytes the handshake will take, at least: the message plus one record header per started record. */
function estimateTotal(header: Uint8Array, recordStart: number): number {
  const msgLen = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
  return recordStart + 5 + 4 + msgLen;
}

/** The first `n` bytes of the fragments joined, or undefined when they hold fewer. */
function concatHead(fragments: Uint8Array[], n: number): Uint8Array | undefined {
  const out = new Uint8Array(n);
  let off = 0;
  for (const f of fragments) {
    if (off >= n) break;
    const take = Math.min(f.length, n - off);
    out.set(f.subarray(0, take), off);
    off += take;
  }
  return off === n ? out : undefined;
}

/** The ClientHello body: SNI and ALPN, or a reason it is malformed. */
function parseBody(b: Uint8Array): { serverName?: string; alpn: string[] } | string {
  let p = 0;
  const need = (n: number) => p + n <= b.length;
  if (!need(2 + 32 + 1)) return "ClientHello too short";
  p += 2 + 32;
  const sid = b[p++]!;
  if (sid > 32 || !need(sid + 2)) return "bad session id";
  p += sid;
  const cs = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (cs < 2 || cs % 2 !== 0 || !need(cs + 1)) return "bad cipher suites";
  p += cs;
  const comp = b[p++]!;
  if (comp < 1 || !need(comp)) return "bad compression methods";
  p += comp;
  const out: { serverName?: string; alpn: string[] } = { alpn: [] };
  if (p === b.length) return out;
  if (!need(2)) return "bad extensions";
  const extLen = (b[p]! << 8) | b[p + 1]!;
  p += 2;
  if (p + extLen !== b.length) return "extensions length mismatch";
  const seen = new Set<number>();
  while (p < b.length) {
    if (!need(4)) return "truncated extension";
    const type = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
    if (!need(len)) return "truncated extension";
    if (seen.has(type)) return `duplicate extension ${type}`;
    seen.add(type);
    const data = b.subarray(p, p + len);
    p += len;
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(data);
      if (typeof name === "object") return name.error;
      out.serverName = name;
    } else if (type === EXT_ALPN) {
      const alpn = parseAlpn(data);
      if (typeof alpn === "string") return alpn;
      out.alpn = alpn;
    }
  }
  return out;
}

function parseServerName(d: Uint8Array): string | undefined | { error: string } {
  if (d.length < 2) return { error: "bad server_name extension" };
  const listLen = (d[0]! << 8) | d[1]!;
  if (listLen + 2 !== d.length) return { error: "bad server_name list" };
  let p = 2;
  let name: string | undefined;
  while (p < d.length) {
    if (p + 3 > d.length) return { error: "bad server_name entry" };
    const type = d[p]!;
    const len = (d[p + 1]! << 8) | d[p + 2]!;
    p += 3;
    if (p + len > d.length) return { error: "bad server_name entry" };
    if (type === 0 && name === undefined) {
      if (len === 0) return { error: "empty host name" };
      let s = "";
      for (let i = p; i < p + len; i++) {
        const c = d[i]!;
        if (c === 0 || c > 0x7e || c < 0x20) return { error: "host name with a control or non-ASCII byte" };
        s += String.fromCharCode(c);
      }
      name = s.toLowerCase();
    }
    p += len;
  }
  return name;
}

function parseAlpn(d: Uint8Array): string[] | string {
  if (d.length < 2) return "bad ALPN extension";
  const listLen = (d[0]! << 8) | d[1]!;
  if (listLen + 2 !== d.length || listLen === 0) return "bad ALPN list";
  const out: string[] = [];
  let p = 2;
  while (p < d.length) {
    const len = d[p++]!;
    if (len === 0 || p + len > d.length) return "bad ALPN protocol";
    out.push(new TextDecoder().decode(d.subarray(p, p + len)));
    p += len;
  }
  return out;
}
