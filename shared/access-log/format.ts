/**
 * Envoy's substitution formats for access logs, compiled once per config into arrays of segment
 * functions: a format string (`text_format`, `text_format_source`, the legacy `format`) becomes literal
 * text and operators concatenated; a format dictionary (`json_format`, `typed_json_format`) becomes a
 * tree of such strings, where a value that is exactly one operator keeps that operator's type (number,
 * string or null for unset) when the dictionary is typed.
 *
 * Supported command operators (Envoy's names and aliases):
 * START_TIME[(fmt)], REQ/REQUEST_HEADER(X?Y):Z, RESP/RESPONSE_HEADER(X?Y):Z, TRAILER/RESPONSE_TRAILER(X?Y):Z,
 * RESPONSE_CODE, RESPONSE_FLAGS, RESPONSE_CODE_DETAILS, BYTES_RECEIVED, BYTES_SENT, DURATION,
 * REQUEST_DURATION, RESPONSE_DURATION, UPSTREAM_HOST, UPSTREAM_CLUSTER, ROUTE_NAME, VIRTUAL_CLUSTER_NAME, PROTOCOL,
 * DOWNSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT], DOWNSTREAM_REMOTE_PORT, DOWNSTREAM_DIRECT_REMOTE_ADDRESS[_WITHOUT_PORT],
 * DOWNSTREAM_DIRECT_REMOTE_PORT, DOWNSTREAM_LOCAL_ADDRESS[_WITHOUT_PORT],
 * DOWNSTREAM_LOCAL_PORT, REQUESTED_SERVER_NAME, DOWNSTREAM_PEER_SUBJECT, HOSTNAME, UPSTREAM_TRANSPORT_FAILURE_REASON,
 * CONNECTION_ID.
 * Other operators Envoy defines are refused as unsupported; anything else as not Envoy.
 */
import { ENVOY_OPERATORS } from "../http/envoy-operators.ts";
import type { AccessLogRecord } from "./record.ts";
import { formatResponseFlags } from "./response-flags.ts";
import { compileStartTime, DEFAULT_START_TIME_FORMAT } from "./start-time.ts";

/** Envoy's default access log format (used when a logger has no format). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** What an operator yields: text, a number, or null when the value is not set. */
export type FormatValue = string | number | null;

/** One compiled command operator. */
export type Operator = (record: AccessLogRecord) => FormatValue;

export interface FormatIssue {
  kind: "not-envoy" | "unsupported";
  message: string;
}

export interface FormatOptions {
  /** `%HOSTNAME%`; unset renders `-`. */
  hostname?: string;
  /** `omit_empty_values`: unset values print as `""` in text and are left out of JSON. Default false. */
  omitEmptyValues?: boolean;
}

/** A compiled format: record → the log entry, newline included when the format has one. */
export type Formatter = (record: AccessLogRecord) => string;


/** `ip:port` / `[v6]:port` → the address without the port. */
function withoutPort(address: string): string {
  if (address.startsWith("[")) return address.slice(1, address.indexOf("]"));
  const colon = address.lastIndexOf(":");
  return colon < 0 || address.indexOf(":") !== colon ? address : address.slice(0, colon);
}

function portOf(address: string): number | null {
  const colon = address.lastIndexOf(":");
  const port = colon < 0 ? NaN : Number(address.slice(colon + 1));
  return Number.isInteger(port) && !address.endsWith("]") ? port : null;
}

const ms = (v: number | undefined): number | null => (v === undefined ? null : Math.floor(v));
const opt = (v: string | undefined): string | null => (v === undefined || v === "" ? null : v);

/** Operators without arguments. */
function plainOperator(name: string, options: FormatOptions): Operator | undefined {
  switch (name) {
    case "RESPONSE_CODE":
      return (r) => r.responseCode ?? 0;
    case "RESPONSE_FLAGS":
      return (r) => formatResponseFlags(r.responseFlags);
    case "RESPONSE_CODE_DETAILS":
      return (r) => opt(r.responseCodeDetails);
    case "BYTES_RECEIVED":
      return (r) => r.bytesReceived;
    case "BYTES_SENT":
      return (r) => r.bytesSent;
    case "DURATION":
      return (r) => ms(r.durationMs);
    case "REQUEST_DURATION":
      return (r) => ms(r.requestDurationMs);
    case "RESPONSE_DURATION":
      return (r) => ms(r.responseDurationMs);
    case "UPSTREAM_HOST":
      return (r) => opt(r.upstreamHost);
    case "UPSTREAM_CLUSTER":
      return (r) => opt(r.upstreamCluster);
    case "ROUTE_NAME":
      return (r) => opt(r.routeName);
    case "VIRTUAL_CLUSTER_NAME":
      return (r) => opt(r.virtualClusterName);
    case "PROTOCOL":
      // Envoy renders an unknown protocol as "-" even in typed JSON.
      return (r) => r.protocol ?? "-";
    case "DOWNSTREAM_REMOTE_ADDRESS":
      return (r) => opt(r.remoteAddress);
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      return (r) => (r.remoteAddress ? withoutPort(r.remoteAddress) : null);
    case "DOWNSTREAM_REMOTE_PORT":
      return (r) => (r.remoteAddress ? portOf(r.remoteAddress) : null);
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS":
      return (r) => opt(r.directRemoteAddress ?? r.remoteAddress);
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": {
      return (r) => {
        const a = r.directRemoteAddress ?? r.remoteAddress;
        return a ? withoutPort(a) : null;
      };
    }
    case "DOWNSTREAM_DIRECT_REMOTE_PORT":
      return (r) => {
        const a = r.directRemoteAddress ?? r.remoteAddress;
        return a ? portOf(a) : null;
      };
    case "DOWNSTREAM_LOCAL_ADDRESS":
      return (r) => opt(r.localAddress);
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
      return (r) => (r.localAddress ? withoutPort(r.localAddress) : null);
    case "DOWNSTREAM_LOCAL_PORT":
      return (r) => (r.localAddress ? portOf(r.localAddress) : null);
    case "REQUESTED_SERVER_NAME":
      return (r) => opt(r.requestedServerName);
    case "DOWNSTREAM_PEER_SUBJECT":
      return (r) => opt(r.downstreamPeerSubject);
    case "HOSTNAME": {
      const host = options.hostname ?? null;
      return () => host;
    }
    case "UPSTREAM_TRANSPORT_FAILURE_REASON":
      return (r) => opt(r.upstreamTransportFailureReason);
    case "CONNECTION_ID":
      return (r) => r.connectionId ?? null;
    default:
      return undefined;
  }
}

type HeaderSource = "request" | "response" | "trailer";
const HEADER_OPERATORS: Record<string, HeaderSource> = {
  REQ: "request",
  REQUEST_HEADER: "request",
  RESP: "response",
  RESPONSE_HEADER: "response",
  TRAILER: "trailer",
  RESPONSE_TRAILER: "trailer",
};

/** Reads one header (or pseudo-header) of a record; undefined when absent. */
function headerReader(source: HeaderSource, rawName: string): (r: AccessLogRecord) => string | undefined {
  const name = rawName.toLowerCase();
  if (source === "request") {
    switch (name) {
      case ":method":
        return (r) => r.method;
      case ":path":
        return (r) => r.path;
      case ":authority":
      case "host":
        // Envoy keeps Host as :authority and answers a lookup of `host` with it.
        return (r) => r.authority;
      case ":scheme":
        return (r) => r.scheme;
      default:
        return (r) => r.requestHeaders?.get(name) ?? undefined;
    }
  }
  if (source === "response") {
    if (name === ":status") return (r) => (r.responseCode ? String(r.responseCode) : undefined);
    return (r) => r.responseHeaders?.get(name) ?? undefined;
  }
  return (r) => r.responseTrailers?.get(name) ?? undefined;
}

function headerOperator(source: HeaderSource, arg: string, maxLength: number | undefined): Operator {
  const q = arg.indexOf("?");
  const main = headerReader(source, q < 0 ? arg : arg.slice(0, q));
  const alt = q < 0 ? undefined : headerReader(source, arg.slice(q + 1));
  return (r) => {
    let v = main(r);
    if (v === undefined && alt) v = alt(r);
    if (v === undefined) return null;
    return maxLength === undefined ? v : v.slice(0, maxLength);
  };
}

/** `%NAME%`, `%NAME(arg)%`, `%NAME(arg):N%` at the start of the text. */
const COMMAND = /^%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/;

/** Parses one format string into literal text and operators. */
function parseSegments(text: string, options: FormatOptions, issues: FormatIssue[]): (string | Operator)[] {
  const segments: (string | Operator)[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const pct = text.indexOf("%", i);
    if (pct < 0) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, pct);
    const m = COMMAND.exec(text.slice(pct));
    if (!m) {
      issues.push({ kind: "not-envoy", message: `incorrect format ${JSON.stringify(text)}: no valid command operator at position ${pct}` });
      return [];
    }
    const [whole, name, arg, len] = m as unknown as [string, string, string | undefined, string | undefined];
    const op = compileOperator(name, arg, len === undefined ? undefined : Number(len), options, issues);
    if (op) {
      if (literal) segments.push(literal);
      literal = "";
      segments.push(op);
    }
    i = pct + whole.length;
  }
  if (literal) segments.push(literal);
  return segments;
}

function compileOperator(name: string, arg: string | undefined, maxLength: number | undefined, options: FormatOptions, issues: FormatIssue[]): Operator | undefined {
  if (name === "START_TIME") {
    const fmt = compileStartTime(arg === undefined || arg === "" ? DEFAULT_START_TIME_FORMAT : arg);
    if (typeof fmt !== "function") {
      issues.push({ kind: "unsupported", message: fmt.error });
      return undefined;
    }
    return (r) => fmt(r.startTime);
  }
  const source = HEADER_OPERATORS[name];
  if (source) {
    if (!arg) {
      issues.push({ kind: "not-envoy", message: `%${name}% needs a header name, as in %${name}(x-request-id)%` });
      return undefined;
    }
    return headerOperator(source, arg, maxLength);
  }
  const plain = plainOperator(name, options);
  if (plain) {
    if (maxLength === undefined) return plain;
    return (r) => {
      const v = plain(r);
      return typeof v === "string" ? v.slice(0, maxLength) : v;
    };
  }
  if (ENVOY_OPERATORS.has(name)) issues.push({ kind: "unsupported", message: `the command operator %${name}% is not supported by Legate` });
  else issues.push({ kind: "not-envoy", message: `unknown command operator %${name}%` });
  return undefined;
}

/** Renders a segment list as text: unset values as `-` (or `""` with omit_empty_values). */
function textOf(segments: readonly (string | Operator)[], record: AccessLogRecord, empty: string): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "string") out += s;
    else {
      const v = s(record);
      out += v === null ? empty : String(v);
    }
  }
  return out;
}

/** Compiles a format string. Issues are collected; the formatter is usable only when there are none. */
export function compileTextFormat(text: string, options: FormatOptions = {}): { format: Formatter; issues: FormatIssue[] } {
  const issues: FormatIssue[] = [];
  const segments = parseSegments(text, options, issues);
  const empty = options.omitEmptyValues ? "" : "-";
  return { format: (r) => textOf(segments, r, empty), issues };
}

type JsonNode = (record: AccessLogRecord) => unknown;
/** Marks a value left out of JSON output (omit_empty_values). */
const OMIT = Symbol("omit");

/**
 * Compiles a format dictionary. `typed`: a value that is exactly one operator keeps its type (numbers
 * stay numbers, unset is null); otherwise every value is a string (unset `-`), as the legacy
 * `FileAccessLog.json_format` renders. Non-string values of the dictionary are copied as they are.
 */
export function compileJsonFormat(dict: Record<string, unknown>, typed: boolean, options: FormatOptions = {}): { format: Formatter; issues: FormatIssue[] } {
  const issues: FormatIssue[] = [];
  const empty = options.omitEmptyValues ? "" : "-";
  const compileValue = (v: unknown): JsonNode => {
    if (typeof v === "string") {
      const segments = parseSegments(v, options, issues);
      const only = segments.length === 1 ? segments[0] : undefined;
      if (only !== undefined && typeof only !== "string") {
        return (r) => {
          const value = only(r);
          if (value === null) return options.omitEmptyValues ? OMIT : typed ? null : "-";
          return typed ? value : String(value);
        };
      }
      return (r) => textOf(segments, r, empty);
    }
    if (Array.isArray(v)) {
      const items = v.map(compileValue);
      return (r) => items.map((f) => f(r)).filter((x) => x !== OMIT);
    }
    if (v !== null && typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, compileValue(x)] as const);
      return (r) => {
        const out: Record<string, unknown> = {};
        for (const [k, f] of entries) {
          const x = f(r);
          if (x !== OMIT) out[k] = x;
        }
        return out;
      };
    }
    return () => v;
  };
  const root = compileValue(dict);
  return { format: (r) => `${JSON.stringify(root(r))}\n`, issues };
}
