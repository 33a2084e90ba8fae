import { describe, expect, it } from "vitest";
import { xxHash64 } from "../lb/xxhash64.ts";
import { computeHashKey, cookieValue, queryValue } from "./hash-policy.ts";

const rotl1 = (h: bigint) => ((h << 1n) | (h >> 63n)) & ((1n << 64n) - 1n);

describe("computeHashKey", () => {
  const req = (headers: Record<string, string>, path = "/", sourceIp?: string) => ({ headers: new Headers(headers), path, sourceIp });

  it("hashes a header value with xxHash64; no value, no hash", () => {
    const p = [{ kind: "header" as const, headerName: "x-user", terminal: false }];
    expect(computeHashKey(p, req({ "x-user": "alice" }))).toBe(xxHash64("alice"));
    expect(computeHashKey(p, req({}))).toBeUndefined();
    expect(computeHashKey(undefined, req({ "x-user": "alice" }))).toBeUndefined();
  });

  it("combines policies in order as Envoy does, and stops at a terminal policy that produced a hash", () => {
    const header = { kind: "header" as const, headerName: "x-user", terminal: false };
    const cookie = { kind: "cookie" as const, name: "session", terminal: true };
    const ip = { kind: "source_ip" as const, terminal: false };
    const r = req({ "x-user": "alice", cookie: "a=1; session=\"s1\"" }, "/", "192.0.2.7");
    expect(computeHashKey([header, ip], r)).toBe(rotl1(xxHash64("alice")) ^ xxHash64("192.0.2.7"));
    expect(computeHashKey([header, cookie, ip], r)).toBe(rotl1(xxHash64("alice")) ^ xxHash64("s1"));
    // A terminal policy without a value does not stop the evaluation.
    expect(computeHashKey([cookie, ip], req({}, "/", "192.0.2.7"))).toBe(xxHash64("192.0.2.7"));
  });

  it("reads query parameters raw, first value", () => {
    const q = [{ kind: "query_parameter" as const, name: "shard", terminal: false }];
    expect(computeHashKey(q, req({}, "/x?a=1&shard=7%20b&shard=9"))).toBe(xxHash64("7%20b"));
    expect(queryValue("/x?shard", "shard")).toBe("");
    expect(queryValue("/x", "shard")).toBeUndefined();
    expect(cookieValue("a=1;b=2", "b")).toBe("2");
    expect(cookieValue(null, "b")).toBeUndefined();
  });
});
