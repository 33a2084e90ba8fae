import { describe, expect, it } from "vitest";
import { compileRe2, compileSubstitution, Re2Error, translateRe2 } from "./re2.ts";

const full = (pattern: string, input: string) => compileRe2(pattern).fullMatch(input);
const rewrite = (pattern: string, substitution: string, input: string) => {
  const re = compileRe2(pattern);
  return re.replaceAll(input, compileSubstitution(substitution, re.groups));
};
const refusal = (pattern: string) => {
  try {
    translateRe2(pattern);
    return undefined;
  } catch (e) {
    if (!(e instanceof Re2Error)) throw e;
    return e.kind;
  }
};

describe("RE2 full match (safe_regex)", () => {
  it("requires the whole input to match, trying every alternative", () => {
    expect(full("/api/v[0-9]+", "/api/v12")).toBe(true);
    expect(full("/api/v[0-9]+", "/api/v12/x")).toBe(false);
    expect(full("a|ab", "ab")).toBe(true);
    expect(full("\\d{3}", "1234")).toBe(false);
  });

  it("keeps RE2's meaning of ., \\s and anchors", () => {
    expect(full("a.b", "a\rb")).toBe(true);
    expect(full("a.b", "a\nb")).toBe(false);
    expect(full("(?s)a.b", "a\nb")).toBe(true);
    expect(full("a\\sb", "a\vb")).toBe(false);
    expect(full("a\\sb", "a\tb")).toBe(true);
    expect(full("(?m)a$\\n^b", "a\nb")).toBe(true);
    expect(full("\\Aab\\z", "ab")).toBe(true);
  });

  it("applies flags, leading or in the middle of a group", () => {
    expect(full("(?i)/api/.*", "/API/x")).toBe(true);
    expect(full("a(?i)b|c", "aB")).toBe(true);
    expect(full("a(?i)b|c", "C")).toBe(true);
    expect(full("a(?i)b|c", "AB")).toBe(false);
    expect(full("(?i:a)b", "Ab")).toBe(true);
    expect(full("(?i:a)b", "AB")).toBe(false);
    expect(full("(?i)a(?-i:b)", "Ab")).toBe(true);
    expect(full("(?i)a(?-i:b)", "AB")).toBe(false);
  });

  it("swaps greediness under (?U)", () => {
    expect(rewrite("(?U)a+", "x", "aaa")).toBe("xxx");
    expect(rewrite("a+", "x", "aaa")).toBe("x");
  });

  it("translates RE2-only syntax: POSIX classes, \\pN, \\x{...}, octal, \\Q...\\E, (?P<name>)", () => {
    expect(full("[[:alpha:]]+[[:digit:]]", "abc1")).toBe(true);
    expect(full("[[:^digit:]]+", "abc")).toBe(true);
    expect(full("\\pL+", "héllo")).toBe(true);
    expect(full("\\p{Greek}+", "αβγ")).toBe(true);
    expect(full("\\PL", "1")).toBe(true);
    expect(full("\\x{263a}", "☺")).toBe(true);
    expect(full("\\101\\0", "A\0")).toBe(true);
    expect(full("\\Qa.b*\\E", "a.b*")).toBe(true);
    expect(full("\\Qa.b*\\E", "axbb")).toBe(false);
    expect(full("(?P<id>\\d+)-(?<rest>.*)", "12-x")).toBe(true);
    expect(full("[]a]+", "]a]")).toBe(true);
    expect(full("\\-\\:\\/", "-:/")).toBe(true);
    expect(full("a{,2}", "a{,2}")).toBe(true);
  });

  it("refuses what RE2 refuses as not Envoy", () => {
    for (const p of ["(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "(?P=x)", "(?>a)", "a**", "a*+", "a{1001}", "(a", "a)", "[a", "\\Z", "\\k<x>", "*a", "\\8"]) {
      expect(refusal(p), p).toBe("not-envoy");
    }
  });

  it("refuses valid RE2 that JavaScript cannot express as unsupported", () => {
    expect(refusal("\\C")).toBe("unsupported");
    expect(refusal("[a[:^digit:]]")).toBe("unsupported");
    expect(refusal("^*")).toBe("unsupported");
    expect(refusal("\\p{NoSuchScript}")).toBe("unsupported");
  });

  it("does not accept an empty pattern", () => {
    expect(refusal("")).toBe("not-envoy");
  });
});

describe("RE2 GlobalReplace (regex_rewrite), Envoy's documented examples", () => {
  it("rewrites with capture groups", () => {
    expect(rewrite("^/service/([^/]+)(/.*)$", "\\2/instance/\\1", "/service/foo/v1/api")).toBe("/v1/api/instance/foo");
  });

  it("replaces every occurrence", () => {
    expect(rewrite("one", "two", "/xxx/one/yyy/one/zzz")).toBe("/xxx/two/yyy/two/zzz");
  });

  it("replaces only the first occurrence with a lazy prefix", () => {
    expect(rewrite("^(.*?)one(.*)$", "\\1two\\2", "/xxx/one/yyy/one/zzz")).toBe("/xxx/two/yyy/one/zzz");
  });

  it("matches case-insensitively with (?i)", () => {
    expect(rewrite("(?i)/xxx/", "/yyy/", "/aaa/XxX/bbb")).toBe("/aaa/yyy/bbb");
  });

  it("takes \\0 as the whole match and \\\\ as a backslash", () => {
    expect(rewrite("b+", "[\\0\\\\]", "abbc")).toBe("a[bb\\]c");
  });

  it("checks the substitution against the pattern's groups", () => {
    expect(() => compileSubstitution("\\2", 1)).toThrow(Re2Error);
    expect(() => compileSubstitution("\\x", 1)).toThrow(/backslash/);
    expect(() => compileSubstitution("a\\", 0)).toThrow(Re2Error);
    expect(compileSubstitution("/\\1/", 1)).toEqual(["/", 1, "/"]);
  });
});
