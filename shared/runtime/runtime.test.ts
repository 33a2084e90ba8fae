import { describe, expect, it } from "vitest";
import { createLayeredRuntime, createStaticRuntime, evaluateFractionalPercent, RuntimeLayer } from "./runtime.ts";

describe("static runtime", () => {
  const rt = createStaticRuntime(new Map<string, string | number | boolean>([
    ["int", 42],
    ["int_string", "7"],
    ["negative", -3],
    ["flag", true],
    ["flag_string", "false"],
    ["shift", 25],
    ["fraction.numerator", 5],
    ["fraction.denominator", "TEN_THOUSAND"],
    ["bad.numerator", 1],
    ["bad.denominator", "THOUSAND"],
  ]));

  it("reads integers and booleans, falling back to the default", () => {
    expect(rt.getInteger("int", 0)).toBe(42);
    expect(rt.getInteger("int_string", 0)).toBe(7);
    expect(rt.getInteger("negative", 9)).toBe(9);
    expect(rt.getInteger("missing", 9)).toBe(9);
    expect(rt.getBoolean("flag", false)).toBe(true);
    expect(rt.getBoolean("flag_string", true)).toBe(false);
    expect(rt.getBoolean("int", true)).toBe(true);
  });

  it("evaluates a FractionalPercent as random % denominator < numerator", () => {
    expect(evaluateFractionalPercent({ numerator: 50, denominator: "HUNDRED" }, 149)).toBe(true);
    expect(evaluateFractionalPercent({ numerator: 50, denominator: "HUNDRED" }, 150)).toBe(false);
    expect(evaluateFractionalPercent({ numerator: 0, denominator: "HUNDRED" }, 0)).toBe(false);
    expect(evaluateFractionalPercent({ numerator: 200, denominator: "HUNDRED" }, 99)).toBe(true);
  });

  it("takes a runtime integer as a percent, a nested FractionalPercent as given, else the default", () => {
    const dflt = { numerator: 100, denominator: "HUNDRED" } as const;
    const hits = (key: string) => Array.from({ length: 100 }, (_, i) => rt.featureEnabled(key, dflt, i)).filter(Boolean).length;
    expect(hits("shift")).toBe(25);
    expect(hits("missing")).toBe(100);
    expect(hits("")).toBe(100);
    expect(hits("bad")).toBe(100);
    const tenK = Array.from({ length: 10_000 }, (_, i) => rt.featureEnabled("fraction", dflt, i)).filter(Boolean).length;
    expect(tenK).toBe(5);
  });
});

describe("layered runtime", () => {
  it("reads the highest layer holding a key, live, and resolves fraction parts per key", () => {
    const base = new Map<string, string | number | boolean>([["shift", 10], ["only_base", 3], ["frac.numerator", 1], ["frac.denominator", "MILLION"]]);
    const kv = new RuntimeLayer("kv");
    const admin = new Map<string, string | number | boolean>();
    const rt = createLayeredRuntime([base, kv, admin]);
    expect(rt.getInteger("shift", 0)).toBe(10);
    kv.replace(new Map([["shift", "30"], ["frac.numerator", "500000"]]));
    expect(rt.getInteger("shift", 0)).toBe(30);
    expect(rt.getInteger("only_base", 0)).toBe(3);
    // numerator from KV, denominator from the static layer: 500000 / 1000000.
    expect(rt.featureEnabled("frac", { numerator: 0, denominator: "HUNDRED" }, 499_999)).toBe(true);
    expect(rt.featureEnabled("frac", { numerator: 0, denominator: "HUNDRED" }, 500_000)).toBe(false);
    admin.set("shift", "70");
    expect(rt.getInteger("shift", 0)).toBe(70);
    admin.delete("shift");
    kv.replace(new Map());
    expect(rt.getInteger("shift", 0)).toBe(10);
  });
});
