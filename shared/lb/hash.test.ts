import { describe, expect, it } from "vitest";
import { murmurHash2 } from "./murmur2.ts";
import { xxHash64 } from "./xxhash64.ts";

describe("xxHash64", () => {
  it("matches the xxHash spec's reference values", () => {
    expect(xxHash64("")).toBe(0xef46db3751d8e999n);
    expect(xxHash64("a")).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxHash64("abc")).toBe(0x44bc2cf5ad770999n);
    expect(xxHash64("The quick brown fox jumps over the lazy dog")).toBe(0x0b242d361fda71bcn);
    expect(xxHash64("Nobody inspects the spammish repetition")).toBe(0xfbcea83c8a378bf1n);
  });

  it("covers the 32-byte stripe loop and seeds (values from the reference implementation)", () => {
    expect(xxHash64("0123456789abcdef".repeat(4))).toBe(0x1af3ac4760fe2f85n);
    expect(xxHash64("127.0.0.1:8080")).toBe(0xc65e86b000fb3cbfn);
    expect(xxHash64("127.0.0.1:8080", 1n)).toBe(0xa5d6dc0053ab4ed8n);
    expect(xxHash64("abc", 11400714785074694791n)).toBe(0xa7cb2aac405e36c7n);
  });

  it("hashes strings as UTF-8 and equals the hash of the same bytes", () => {
    expect(xxHash64("é")).toBe(xxHash64(new Uint8Array([0xc3, 0xa9])));
  });
});

describe("MURMUR_HASH_2 (MurmurHash64A, libstdc++ std::hash seed)", () => {
  it("matches std::hash<std::string> of GNU libstdc++ on 64-bit", () => {
    // Values printed by a C++ program calling std::hash<std::string>{}(s) (g++, x86-64).
    expect(murmurHash2("")).toBe(0x553e93901e462a6en);
    expect(murmurHash2("a")).toBe(0x454ddee488c1ed6bn);
    expect(murmurHash2("abc")).toBe(0x32d82bf8ed3dba39n);
    expect(murmurHash2("hello world")).toBe(0x4d6686d362067ff9n);
    expect(murmurHash2("127.0.0.1:8080_0")).toBe(0xde6d9b1548538b53n);
    expect(murmurHash2("The quick brown fox jumps over the lazy dog")).toBe(0xdccbf2541704bc75n);
    expect(murmurHash2("0123456789abcdef0")).toBe(0x37b1a20c7c6ad6e8n);
  });
});
