/**
 * Envoy's request matchers, compiled once per config version: StringMatcher, HeaderMatcher,
 * QueryParameterMatcher, and the gRPC content-type check (route_components.proto semantics).
 *
 * - StringMatcher: `exact`, `prefix`, `suffix`, `contains` (with `ignore_case`, ASCII case folding as
 *   Envoy's), `safe_regex` (RE2, full match; ignore_case does not apply).
 * - HeaderMatcher: the header's value (several values joined with `,`; the pseudo-headers `:method`,
 *   `:path`, `:authority`, `:scheme` from the request line) against a string match, `range_match`
 *   (`[start, end)`, the whole value a base-10 int64), or `present_match`. A missing header does not
 *   match (whatever `invert_match` says) unless `treat_missing_header_as_empty` makes it "", except for
 *   `present_match`, which is about presence: `present_match: false` matches a missing header and
 *   `invert_match` flips the result.
 * - QueryParameterMatcher: the first value of the parameter in the raw (not percent-decoded) query
 *   string; `present_match` or no matcher: the parameter must be there.
 */
import type { HeaderMatcherModel, QueryParameterMatcherModel, StringMatcherModel } from "../config/model.ts";
import { compileRe2 } from "./re2.ts";

/** A compiled StringMatcher. */
export type StringMatch = (value: string) => boolean;

/** Compiles a StringMatcher. Throws Re2Error for a regex that cannot be used. */
export function compileStringMatcher(m: StringMatcherModel): StringMatch {
  if (m.kind === "safe_regex") {
    const re = compileRe2(m.regex);
    return (v) => re.fullMatch(v);
  }
  const want = m.ignoreCase ? asciiLower(m.value) : m.value;
  const norm = m.ignoreCase ? asciiLower : (v: string) => v;
  switch (m.kind) {
    case "exact": return (v) => v.length === want.length && norm(v) === want;
    case "prefix": return (v) => v.length >= want.length && norm(v.slice(0, want.length)) === want;
    case "suffix": return (v) => v.length >= want.length && norm(v.slice(v.length - want.length)) === want;
    case "contains": return (v) => norm(v).includes(want);
  }
}

/** Envoy lower-cases with absl::AsciiStrToLower: ASCII letters only. */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
}

/** What a header matcher reads from a request. */
export interface MatchRequest {
  readonly method: string;
  readonly authority: string;
  /** `:path`: path and query. */
  readonly path: string;
  /** `:scheme`; default from context. */
  readonly scheme?: string;
  readonly requestHeaders: Headers;
}

/** The value HeaderMatcher sees for a header name, or null when it is absent. */
export function headerForMatch(req: MatchRequest, name: string): string | null {
  switch (name) {
    case ":method": return req.method;
    case ":path": return req.path;
    case ":authority": return req.authority;
    case ":scheme": return req.scheme ?? null;
    default: {
      if (name.startsWith(":")) return null;
      const v = req.requestHeaders.get(name);
      // Headers joins repeated values with ", "; Envoy's getAllOfHeaderAsString joins them with ",".
      return v === null || !v.includes(", ") ? v : v.split(", ").join(",");
    }
  }
}

export type HeaderMatch = (req: MatchRequest) => boolean;

/** Compiles a HeaderMatcher. Throws Re2Error for a regex that cannot be used. */
export function compileHeaderMatcher(m: HeaderMatcherModel): HeaderMatch {
  const { name, invertMatch, treatMissingHeaderAsEmpty } = m;
  const match = m.match;
  if (match.kind === "present") {
    return (req) => {
      const present = headerForMatch(req, name) !== null;
      return (present === match.present) !== invertMatch;
    };
  }
  let test: (v: string) => boolean;
  if (match.kind === "string") test = compileStringMatcher(match.matcher);
  else {
    const start = BigInt(match.start);
    const end = BigInt(match.end);
    test = (v) => {
      if (!/^[+-]?\d+$/.test(v)) return false;
      const n = BigInt(v);
      return n >= start && n < end;
    };
  }
  return (req) => {
    let v = headerForMatch(req, name);
    if (v === null) {
      if (!treatMissingHeaderAsEmpty) return false;
      v = "";
    }
    return test(v) !== invertMatch;
  };
}

/** The first value of each query parameter in a `:path`, not percent-decoded (Envoy's parseQueryString). */
export function firstQueryValue(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  const h = path.indexOf("#", q);
  const query = h < 0 ? path.slice(q + 1) : path.slice(q + 1, h);
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === name) return eq < 0 ? "" : part.slice(eq + 1);
  }
  return undefined;
}

export type QueryParameterMatch = (path: string) => boolean;

/** Compiles a QueryParameterMatcher. Throws Re2Error for a regex that cannot be used. */
export function compileQueryParameterMatcher(m: QueryParameterMatcherModel): QueryParameterMatch {
  if (m.present === false) return () => false;
  const test = m.matcher ? compileStringMatcher(m.matcher) : undefined;
  return (path) => {
    const v = firstQueryValue(path, m.name);
    if (v === undefined) return false;
    return test ? test(v) : true;
  };
}

/** Envoy's isGrpcRequestHeaders: `content-type` is `application/grpc`, or starts `application/grpc+` or `;`. */
export function isGrpcRequest(headers: Headers): boolean {
  const ct = headers.get("content-type");
  if (ct === null || !ct.startsWith("application/grpc")) return false;
  const next = ct[16];
  return next === undefined || next === "+" || next === ";";
}
