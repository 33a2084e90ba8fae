/**
 * A pure PROXY protocol (HAProxy, versions 1 and 2) header reader for the `proxy_protocol` listener
 * filter: bytes in, result out, no state, never throws. The caller passes every byte read so far;
 * `more.need` says how many are worth waiting for.
 */
import { formatIp, parseIp } from "../../../shared/config/compile-listener.ts";

export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Uint8Array;
}

export type ProxyHeaderResult =
  | { kind: "more"; need: number }
  /** The bytes do not start with a PROXY header (neither signature). */
  | { kind: "absent" }
  /** A PROXY header that breaks the format; the connection must be closed. */
  | { kind: "error"; version: 1 | 2; reason: string }
  /**
   * A header of `bytes` bytes. `source`/`destination` are absent for v1 `UNKNOWN`, v2 `LOCAL` and
   * address families without IP addresses: the socket's own addresses then stand.
   */
  | { kind: "header"; version: 1 | 2; bytes: number; local: boolean; source?: ProxyAddress; destination?: ProxyAddress; tlvs: ProxyTlv[] };

/** `PROXY ` */
const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20];
/** `\r\n\r\n\0\r\nQUIT\n` */
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** The longest v1 line, CRLF included (the spec's 107 bytes). */
export const V1_MAX_LENGTH = 107;

/** Whether `buf` starts with `sig` (`partial`: buf is shorter and a prefix of it). */
function prefixState(buf: Uint8Array, sig: readonly number[]): "yes" | "no" | "partial" {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return "no";
  return buf.length >= sig.length ? "yes" : "partial";
}

/** Reads a PROXY header from the start of `buf`. */
export function parseProxyHeader(buf: Uint8Array): ProxyHeaderResult {
  const v1 = prefixState(buf, V1_SIGNATURE);
  if (v1 === "yes") return parseV1(buf);
  const v2 = prefixState(buf, V2_SIGNATURE);
  if (v2 === "yes") return parseV2(buf);
  if (v1 === "partial") return { kind: "more", need: V1_SIGNATURE.length };
  if (v2 === "partial") return { kind: "more", need: 16 };
  return { kind: "absent" };
}

function parseV1(buf: Uint8Array): ProxyHeaderResult {
  let end = -1;
  const limit = Math.min(buf.length, V1_MAX_LENGTH);
  for (let i = V1_SIGNATURE.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return { kind: "more", need: i + 2 };
      if (buf[i + 1] !== 0x0a) return v1Error("CR not followed by LF");
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return v1Error("a byte that is not printable ASCII");
  }
  if (end < 0) return buf.length >= V1_MAX_LENGTH ? v1Error(`no CRLF in the first ${V1_MAX_LENGTH} bytes`) : { kind: "more", need: buf.length + 1 };
  const line = String.fromCharCode(...buf.subarray(0, end));
  const bytes = end + 2;
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { kind: "header", version: 1, bytes, local: true, tlvs: [] };
  if (parts.length !== 6) return v1Error("expected PROXY <TCP4|TCP6|UNKNOWN> <src> <dst> <sport> <dport>");
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  if (proto !== "TCP4" && proto !== "TCP6") return v1Error(`unknown protocol "${proto}"`);
  const family = proto === "TCP4" ? 4 : 6;
  const s = canonicalIp(src, family);
  const d = canonicalIp(dst, family);
  if (!s || !d) return v1Error(`addresses are not ${proto} addresses`);
  const sp = port(sport);
  const dp = port(dport);
  if (sp === undefined || dp === undefined) return v1Error("bad port");
  return { kind: "header", version: 1, bytes, local: false, source: { address: s, port: sp }, destination: { address: d, port: dp }, tlvs: [] };
}

function v1Error(reason: string): ProxyHeaderResult {
  return { kind: "error", version: 1, reason };
}

function port(s: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** The address in Node's text form when it is an address of the family (IPv4 without leading zeros). */
function canonicalIp(s: string, family: 4 | 6): string | undefined {
  if (s.includes("%")) return undefined;
  const ip = parseIp(s);
  return ip && ip.family === family ? formatIp(ip) : undefined;
}

const AF_UNSPEC = 0;
const AF_INET = 1;
const AF_INET6 = 2;
const AF_UNIX = 3;

function parseV2(buf: Uint8Array): ProxyHeaderResult {
  if (buf.length < 16) return { kind: "more", need: 16 };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return v2Error(`version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command > 1) return v2Error(`command ${command}`);
  const famByte = buf[13]!;
  const family = famByte >> 4;
  const transport = famByte & 0x0f;
  if (family > AF_UNIX || transport > 2) return v2Error(`address family/transport byte 0x${famByte.toString(16)}`);
  const len = (buf[14]! << 8) | buf[15]!;
  const total = 16 + len;
  if (buf.length < total) return { kind: "more", need: total };
  const body = buf.subarray(16, total);
  if (command === 0) return { kind: "header", version: 2, bytes: total, local: true, tlvs: [] };
  let addrLen = 0;
  let source: ProxyAddress | undefined;
  let destination: ProxyAddress | undefined;
  if (family === AF_INET) {
    addrLen = 12;
    if (len < addrLen) return v2Error("IPv4 addresses truncated");
    source = { address: formatIp({ family: 4, bytes: body.subarray(0, 4) }), port: (body[8]! << 8) | body[9]! };
    destination = { address: formatIp({ family: 4, bytes: body.subarray(4, 8) }), port: (body[10]! << 8) | body[11]! };
  } else if (family === AF_INET6) {
    addrLen = 36;
    if (len < addrLen) return v2Error("IPv6 addresses truncated");
    source = { address: formatIp({ family: 6, bytes: body.subarray(0, 16) }), port: (body[32]! << 8) | body[33]! };
    destination = { address: formatIp({ family: 6, bytes: body.subarray(16, 32) }), port: (body[34]! << 8) | body[35]! };
  } else if (family === AF_UNIX) {
    addrLen = 216;
    if (len < addrLen) return v2Error("unix addresses truncated");
  } else if (family === AF_UNSPEC) {
    // No addresses: the rest is TLVs (the spec lets a receiver ignore them; they are still checked).
    addrLen = 0;
  }
  const tlvs = parseTlvs(body.subarray(addrLen));
  if (typeof tlvs === "string") return v2Error(tlvs);
  const ip = family === AF_INET || family === AF_INET6;
  return { kind: "header", version: 2, bytes: total, local: !ip, ...(ip ? { source, destination } : {}), tlvs };
}

function parseTlvs(b: Uint8Array): ProxyTlv[] | string {
  const out: ProxyTlv[] = [];
  let p = 0;
  while (p < b.length) {
    if (p + 3 > b.length) return "truncated TLV header";
    const type = b[p]!;
    const len = (b[p + 1]! << 8) | b[p + 2]!;
    p += 3;
    if (p + len > b.length) return `TLV 0x${type.toString(16)} runs past the header`;
    out.push({ type, value: b.slice(p, p + len) });
    p += len;
  }
  return out;
}

function v2Error(reason: string): ProxyHeaderResult {
  return { kind: "error", version: 2, reason };
}
