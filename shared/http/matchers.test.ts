import { describe, expect, it } from "vitest";
import type { HeaderMatcherModel } from "../config/model.ts";
import { compileHeaderMatcher, compileQueryParameterMatcher, compileStringMatcher, firstQueryValue, isGrpcRequest, type MatchRequest } from "./matchers.ts";

const req = (headers: Record<string, string> = {}, extra: Partial<MatchRequest> = {}): MatchRequest => ({
  method: "GET",
  authority: "example.com",
  path: "/a?b=1",
  scheme: "https",
  requestHeaders: new Headers(headers),
  ...extra,
});

const header = (m: Partial<HeaderMatcherModel> & Pick<HeaderMatcherModel, "match">): ((r: MatchRequest) => boolean) =>
  compileHeaderMatcher({ name: "x-h", invertMatch: false, treatMissingHeaderAsEmpty: false, ...m });

describe("StringMatcher", () => {
  it("matches exact, prefix, suffix, contains, with ASCII ignore_case", () => {
    const m = (kind: "exact" | "prefix" | "suffix" | "contains", value: string, ignoreCase = false) => compileStringMatcher({ kind, value, ignoreCase });
    expect(m("exact", "abc")("abc")).toBe(true);
    expect(m("exact", "abc")("ABC")).toBe(false);
    expect(m("exact", "abc", true)("ABC")).toBe(true);
    expect(m("prefix", "abcd")("abcdxyz")).toBe(true);
    expect(m("prefix", "abcd")("abcxyz")).toBe(false);
    expect(m("suffix", "abcd")("xyzabcd")).toBe(true);
    expect(m("suffix", "abcd")("xyzbcd")).toBe(false);
    expect(m("contains", "abcd")("xyzabcdpqr")).toBe(true);
    expect(m("contains", "abcd")("xyzbcdpqr")).toBe(false);
    expect(m("contains", "ABCD", true)("xyzabcdpqr")).toBe(true);
  });

  it("runs safe_regex as a full match", () => {
    const m = compileStringMatcher({ kind: "safe_regex", regex: "\\d{3}" });
    expect(m("123")).toBe(true);
    expect(m("1234")).toBe(false);
  });
});

describe("HeaderMatcher (route_components.proto examples)", () => {
  it("inverts a regex: \\d{3} does not match 1234, so inverted it matches", () => {
    const m = header({ match: { kind: "string", matcher: { kind: "safe_regex", regex: "\\d{3}" } }, invertMatch: true });
    expect(m(req({ "x-h": "1234" }))).toBe(true);
    expect(m(req({ "x-h": "123" }))).toBe(false);
  });

  it("matches a range [-10,0) on whole base-10 integers only", () => {
    const m = header({ match: { kind: "range", start: "-10", end: "0" } });
    expect(m(req({ "x-h": "-1" }))).toBe(true);
    expect(m(req({ "x-h": "0" }))).toBe(false);
    expect(m(req({ "x-h": "somestring" }))).toBe(false);
    expect(m(req({ "x-h": "10.9" }))).toBe(false);
    expect(m(req({ "x-h": "-1somestring" }))).toBe(false);
    expect(m(req({ "x-h": "+5" }))).toBe(false);
    const inverted = header({ match: { kind: "range", start: "-10", end: "0" }, invertMatch: true });
    expect(inverted(req({ "x-h": "-1" }))).toBe(false);
  });

  it("treats a missing header as not matching, even inverted, unless treat_missing_header_as_empty", () => {
    const range = { kind: "range", start: "0", end: "10" } as const;
    expect(header({ match: range, invertMatch: true })(req())).toBe(false);
    expect(header({ match: range, invertMatch: true, treatMissingHeaderAsEmpty: true })(req())).toBe(true);
    const empty = { kind: "string", matcher: { kind: "safe_regex", regex: "^$" } } as const;
    expect(header({ match: empty, treatMissingHeaderAsEmpty: true })(req())).toBe(true);
    expect(header({ match: empty })(req())).toBe(false);
  });

  it("matches presence and absence", () => {
    const present = header({ match: { kind: "present", present: true } });
    const absent = header({ match: { kind: "present", present: false } });
    expect(present(req({ "x-h": "" }))).toBe(true);
    expect(present(req())).toBe(false);
    expect(absent(req())).toBe(true);
    expect(header({ match: { kind: "present", present: true }, invertMatch: true })(req())).toBe(true);
  });

  it("reads pseudo-headers from the request line and joins repeated values with ','", () => {
    const method = compileHeaderMatcher({ name: ":method", match: { kind: "string", matcher: { kind: "exact", value: "POST", ignoreCase: false } }, invertMatch: false, treatMissingHeaderAsEmpty: false });
    expect(method(req({}, { method: "POST" }))).toBe(true);
    expect(method(req())).toBe(false);
    const joined = header({ match: { kind: "string", matcher: { kind: "exact", value: "a,b", ignoreCase: false } } });
    const h = new Headers();
    h.append("x-h", "a");
    h.append("x-h", "b");
    expect(joined(req({}, { requestHeaders: h }))).toBe(true);
  });
});

describe("QueryParameterMatcher", () => {
  it("takes the first value, raw, and a key without '=' as empty", () => {
    expect(firstQueryValue("/p?a=1&a=2&b&c=%20", "a")).toBe("1");
    expect(firstQueryValue("/p?a=1&a=2&b&c=%20", "b")).toBe("");
    expect(firstQueryValue("/p?a=1&a=2&b&c=%20", "c")).toBe("%20");
    expect(firstQueryValue("/p?a=1", "z")).toBeUndefined();
    expect(firstQueryValue("/p", "a")).toBeUndefined();
  });

  it("matches a string, presence, or never for present_match false", () => {
    const exact = compileQueryParameterMatcher({ name: "debug", matcher: { kind: "exact", value: "1", ignoreCase: false } });
    expect(exact("/x?debug=1")).toBe(true);
    expect(exact("/x?debug=2")).toBe(false);
    expect(exact("/x")).toBe(false);
    const present = compileQueryParameterMatcher({ name: "debug" });
    expect(present("/x?debug")).toBe(true);
    expect(present("/x?other=1")).toBe(false);
    expect(compileQueryParameterMatcher({ name: "debug", present: false })("/x?debug=1")).toBe(false);
  });
});

describe("gRPC requests", () => {
  it("recognises application/grpc and its +/; variants only", () => {
    const grpc = (ct: string) => isGrpcRequest(new Headers({ "content-type": ct }));
    expect(grpc("application/grpc")).toBe(true);
    expect(grpc("application/grpc+proto")).toBe(true);
    expect(grpc("application/grpc;charset=utf-8")).toBe(true);
    expect(grpc("application/grpc-web")).toBe(false);
    expect(grpc("application/json")).toBe(false);
    expect(isGrpcRequest(new Headers())).toBe(false);
  });
});
