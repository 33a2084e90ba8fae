/**
 * Envoy's header value formatter: the `%COMMAND%` operators allowed in `request_headers_to_add` /
 * `response_headers_to_add` values, compiled once per config version into a function per value.
 *
 * Syntax, as Envoy's substitution formatter: `%NAME%`, `%NAME(arg)%`, `%NAME(arg):N%` (N: maximum
 * length); `%%` is a literal `%`; a `%` that does not start an operator is literal. Values that cannot be
 * known are empty (as Envoy formats header values), and a header whose value formats to "" is not added
 * unless `keep_empty_value` (shared/http/headers.ts).
 *
 * Operators: `REQ(name?alt)`, `RESP(name?alt)` (response headers only), `DOWNSTREAM_REMOTE_ADDRESS`,
 * `DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT`, `DOWNSTREAM_REMOTE_PORT`,
 * `DOWNSTREAM_DIRECT_REMOTE_ADDRESS`, `DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT`,
 * `DOWNSTREAM_LOCAL_ADDRESS`, `DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT`, `START_TIME(format)`, `PROTOCOL`,
 * `HOSTNAME`, `UPSTREAM_HOST`, `UPSTREAM_REMOTE_ADDRESS`, `UPSTREAM_CLUSTER`, `ROUTE_NAME`, `VIRTUAL_CLUSTER_NAME`,
 * `RESPONSE_CODE`, `RESPONSE_FLAGS`, `RESPONSE_CODE_DETAILS`. Any other operator Envoy defines is
 * refused as unsupported; a name Envoy does not define is refused as not Envoy.
 *
 * The access-log formatter is a superset of this one; both share {@link parseFormat}'s grammar so they
 * can be merged: {@link FormatContext} is the per-request view both read.
 */
import { ENVOY_OPERATORS } from "./envoy-operators.ts";

/** What the operators read. Built by the engine per request; fields absent when unknown. */
export interface FormatContext {
  readonly method: string;
  /** `:authority`. */
  readonly authority: string;
  /** `:path` (path and query). */
  readonly path: string;
  /** `:scheme`. */
  readonly scheme: string;
  readonly requestHeaders: Headers;
  /** Present while response headers are being formatted. */
  readonly responseHeaders?: Headers;
  readonly responseCode?: number;
  /** Envoy's downstream remote address, after X-Forwarded-For processing: an IP (no port). */
  readonly downstreamRemoteAddress?: string;
  /** The address of the peer that connected (at the edge: `cf-connecting-ip`). */
  readonly downstreamDirectRemoteAddress?: string;
  /** Port of the peer that connected, when known. */
  readonly downstreamRemotePort?: number;
  readonly downstreamLocalAddress?: string;
  /** Wall-clock milliseconds when the request started. */
  readonly startTimeMs: number;
  /** `HTTP/1.1`, `HTTP/2`, `HTTP/3`. */
  readonly protocol: string;
  /** The host name of the machine (empty at the edge: a Worker has none). */
  readonly hostname: string;
  /** `address:port` of the upstream host, once chosen. */
  readonly upstreamHost?: string;
  readonly upstreamCluster?: string;
  readonly routeName?: string;
  /** The request's virtual cluster (`other` included), once chosen. */
  readonly virtualClusterName?: string;
  readonly responseFlags?: readonly string[];
  readonly responseCodeDetails?: string;
}

/** A compiled value: call it once per request. */
export type HeaderFormatter = (ctx: FormatContext) => string;

export type FormatErrorKind = "not-envoy" | "unsupported";

export class FormatError extends Error {
  readonly code = "LEGATE_FORMAT_INVALID";
  readonly kind: FormatErrorKind;
  constructor(kind: FormatErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = "FormatError";
  }
}

/** One parsed operator. */
export interface FormatOperator {
  name: string;
  /** The text between parentheses, if any. */
  arg?: string;
  /** `:N`: truncate to N characters. */
  maxLength?: number;
}

/** A parsed format string: literal text and operators, in order. */
export type FormatToken = string | FormatOperator;

const OPERATOR = /^%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/;

/** Splits a format string into literals and operators (Envoy's grammar). Never throws. */
export function parseFormat(text: string): FormatToken[] {
  const out: FormatToken[] = [];
  let lit = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "%") {
      lit += c;
      i++;
      continue;
    }
    if (text[i + 1] === "%") {
      lit += "%";
      i += 2;
      continue;
    }
    const m = OPERATOR.exec(text.slice(i));
    if (!m) {
      lit += c;
      i++;
      continue;
    }
    if (lit) out.push(lit);
    lit = "";
    out.push({ name: m[1]!, arg: m[2], maxLength: m[3] === undefined ? undefined : Number(m[3]) });
    i += m[0].length;
  }
  if (lit) out.push(lit);
  return out;
}


type Piece = (ctx: FormatContext) => string;

/** Joins an IP and a port as Envoy prints addresses (`1.2.3.4:80`, `[::1]:80`). */
export function addressWithPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Reads a request header the way `%REQ()%` does: pseudo-headers from the request line, others from
 * the headers (several values joined with ","). Null when absent.
 */
export function requestHeaderValue(ctx: FormatContext, name: string): string | null {
  switch (name) {
    case ":method": return ctx.method;
    case ":path": return ctx.path;
    case ":authority": return ctx.authority;
    case ":scheme": return ctx.scheme;
    default: return name.startsWith(":") ? null : ctx.requestHeaders.get(name);
  }
}

function headerPiece(op: FormatOperator, response: boolean): Piece {
  const arg = op.arg ?? "";
  if (arg === "") throw new FormatError("not-envoy", `%${op.name}()% needs a header name`);
  const [main, alt, extra] = arg.split("?").map((s) => s.trim().toLowerCase());
  if (extra !== undefined || main === "" || alt === "") throw new FormatError("not-envoy", `%${op.name}(${arg})%: expected HEADER or HEADER?ALTERNATIVE`);
  const read = (ctx: FormatContext, name: string): string | null => {
    if (!response) return requestHeaderValue(ctx, name);
    return ctx.responseHeaders?.get(name) ?? null;
  };
  return (ctx) => read(ctx, main!) ?? (alt === undefined ? null : read(ctx, alt)) ?? "";
}

/** Compiles the piece for one operator; throws FormatError for operators this formatter cannot run. */
function operatorPiece(op: FormatOperator, hasArg: (allowed: boolean) => void): Piece {
  switch (op.name) {
    case "REQ":
      return headerPiece(op, false);
    case "RESP":
      return headerPiece(op, true);
    case "DOWNSTREAM_REMOTE_ADDRESS":
      hasArg(false);
      // The downstream address comes from a header or XFF: its port is unknown, printed as 0 as Envoy does.
      return (ctx) => (ctx.downstreamRemoteAddress ? addressWithPort(ctx.downstreamRemoteAddress, ctx.downstreamRemoteAddress === ctx.downstreamDirectRemoteAddress ? ctx.downstreamRemotePort ?? 0 : 0) : "");
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      hasArg(false);
      return (ctx) => ctx.downstreamRemoteAddress ?? "";
    case "DOWNSTREAM_REMOTE_PORT":
      hasArg(false);
      return (ctx) => (ctx.downstreamRemoteAddress !== undefined && ctx.downstreamRemoteAddress === ctx.downstreamDirectRemoteAddress && ctx.downstreamRemotePort !== undefined ? String(ctx.downstreamRemotePort) : "");
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS":
      hasArg(false);
      return (ctx) => (ctx.downstreamDirectRemoteAddress ? addressWithPort(ctx.downstreamDirectRemoteAddress, ctx.downstreamRemotePort ?? 0) : "");
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT":
      hasArg(false);
      return (ctx) => ctx.downstreamDirectRemoteAddress ?? "";
    case "DOWNSTREAM_LOCAL_ADDRESS":
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
      hasArg(false);
      return (ctx) => ctx.downstreamLocalAddress ?? "";
    case "START_TIME": {
      const format = compileTimeFormat(op.arg ?? "");
      return (ctx) => format(ctx.startTimeMs);
    }
    case "PROTOCOL":
      hasArg(false);
      return (ctx) => ctx.protocol;
    case "HOSTNAME":
      hasArg(false);
      return (ctx) => ctx.hostname;
    case "UPSTREAM_HOST":
    case "UPSTREAM_REMOTE_ADDRESS":
      hasArg(false);
      return (ctx) => ctx.upstreamHost ?? "";
    case "UPSTREAM_CLUSTER":
      hasArg(false);
      return (ctx) => ctx.upstreamCluster ?? "";
    case "ROUTE_NAME":
      hasArg(false);
      return (ctx) => ctx.routeName ?? "";
    case "VIRTUAL_CLUSTER_NAME":
      hasArg(false);
      return (ctx) => ctx.virtualClusterName ?? "";
    case "RESPONSE_CODE":
      hasArg(false);
      return (ctx) => (ctx.responseCode ? String(ctx.responseCode) : "");
    case "RESPONSE_FLAGS":
      hasArg(false);
      return (ctx) => (ctx.responseFlags?.length ? ctx.responseFlags.join(",") : "");
    case "RESPONSE_CODE_DETAILS":
      hasArg(false);
      return (ctx) => ctx.responseCodeDetails ?? "";
    default:
      if (ENVOY_OPERATORS.has(op.name)) throw new FormatError("unsupported", `%${op.name}% is not supported in header values by Legate`);
      throw new FormatError("not-envoy", `%${op.name}% is not an Envoy format operator`);
  }
}

/**
 * Compiles a header value. Throws {@link FormatError}. A value without operators compiles to a constant.
 */
export function compileHeaderFormat(text: string): HeaderFormatter {
  const tokens = parseFormat(text);
  const pieces: Piece[] = tokens.map((t): Piece => {
    if (typeof t === "string") return () => t;
    const piece = operatorPiece(t, (allowed) => {
      if (!allowed && t.arg !== undefined) throw new FormatError("not-envoy", `%${t.name}% takes no argument`);
    });
    const max = t.maxLength;
    return max === undefined ? piece : (ctx) => piece(ctx).slice(0, max);
  });
  if (pieces.length === 0) return () => "";
  if (tokens.length === 1 && typeof tokens[0] === "string") {
    const constant = tokens[0];
    return () => constant;
  }
  if (pieces.length === 1) return pieces[0]!;
  return (ctx) => {
    let out = "";
    for (const p of pieces) out += p(ctx);
    return out;
  };
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAYS_LONG = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_LONG = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Fractional seconds with `digits` digits (milliseconds precision; further digits are 0). */
function fraction(ms: number, digits: number): string {
  const frac = String(((ms % 1000) + 1000) % 1000).padStart(3, "0") + "000000";
  return frac.slice(0, digits);
}

/**
 * `%START_TIME(format)%`: strftime in UTC, as Envoy's (absl) formatter: `%Y %m %d %H %M %S %y %j %e %a %A
 * %b %B %h %p %I %T %F %D %R %z %Z %s %%`, fractional seconds `%f` (9 digits), `%1f`…`%9f`, `%E3S`
 * (seconds with N fraction digits), `%E*S`. Default (no format): `%Y-%m-%dT%H:%M:%E3SZ`.
 */
export function compileTimeFormat(format: string): (ms: number) => string {
  const spec = format === "" ? "%Y-%m-%dT%H:%M:%E3SZ" : format;
  type Part = string | ((d: Date, ms: number) => string);
  const parts: Part[] = [];
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c !== "%" || i + 1 >= spec.length) {
      parts.push(c);
      continue;
    }
    const rest = spec.slice(i + 1);
    const e = /^E(\d|\*)S/.exec(rest) ?? /^(\d)?f/.exec(rest);
    if (e) {
      i += e[0].length;
      if (e[0].startsWith("E")) {
        const digits = e[1] === "*" ? 3 : Number(e[1]);
        parts.push((d, ms) => pad(d.getUTCSeconds()) + (digits > 0 ? `.${fraction(ms, digits)}` : ""));
      } else {
        const digits = e[1] === undefined ? 9 : Number(e[1]);
        parts.push((_d, ms) => fraction(ms, digits));
      }
      continue;
    }
    const f = rest[0]!;
    i++;
    switch (f) {
      case "Y": parts.push((d) => String(d.getUTCFullYear())); break;
      case "m": parts.push((d) => pad(d.getUTCMonth() + 1)); break;
      case "d": parts.push((d) => pad(d.getUTCDate())); break;
      case "e": parts.push((d) => String(d.getUTCDate()).padStart(2, " ")); break;
      case "H": parts.push((d) => pad(d.getUTCHours())); break;
      case "I": parts.push((d) => pad(((d.getUTCHours() + 11) % 12) + 1)); break;
      case "p": parts.push((d) => (d.getUTCHours() < 12 ? "AM" : "PM")); break;
      case "M": parts.push((d) => pad(d.getUTCMinutes())); break;
      case "S": parts.push((d) => pad(d.getUTCSeconds())); break;
      case "y": parts.push((d) => pad(d.getUTCFullYear() % 100)); break;
      case "j": parts.push((d) => pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3)); break;
      case "a": parts.push((d) => DAYS[d.getUTCDay()]!); break;
      case "A": parts.push((d) => DAYS_LONG[d.getUTCDay()]!); break;
      case "b": case "h": parts.push((d) => MONTHS[d.getUTCMonth()]!); break;
      case "B": parts.push((d) => MONTHS_LONG[d.getUTCMonth()]!); break;
      case "T": parts.push((d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`); break;
      case "R": parts.push((d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`); break;
      case "F": parts.push((d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`); break;
      case "D": parts.push((d) => `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCFullYear() % 100)}`); break;
      case "z": parts.push("+0000"); break;
      case "Z": parts.push("UTC"); break;
      case "s": parts.push((_d, ms) => String(Math.floor(ms / 1000))); break;
      case "%": parts.push("%"); break;
      default: parts.push(`%${f}`);
    }
  }
  return (ms) => {
    const d = new Date(ms);
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : p(d, ms);
    return out;
  };
}

export { ENVOY_OPERATORS };
