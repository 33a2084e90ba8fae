/**
 * Envoy's runtime (`layered_runtime`): named values that change behaviour without a config change.
 * Both tiers read it through the small {@link Runtime} interface, so the values can come from the
 * config's static layers today ({@link createStaticRuntime}) and from KV later, without touching the
 * code that asks.
 *
 * Semantics follow Envoy's `Runtime::Snapshot`:
 * - `getInteger(key, default)`: the value when it is a non-negative integer (a number or a decimal
 *   string), else the default.
 * - `getBoolean(key, default)`: `true`/`false` (booleans or the strings), else the default.
 * - `featureEnabled(key, default, random)`: the runtime value of the key as a FractionalPercent (an
 *   object `{numerator, denominator}` or, as legacy Envoy allows, an integer percent of 100), else the
 *   default; enabled when `random % denominator < numerator` (a numerator above the denominator means
 *   100 %).
 */

/** Envoy's `FractionalPercent.DenominatorType`. */
export type FractionalDenominator = "HUNDRED" | "TEN_THOUSAND" | "MILLION";

/** `envoy.type.v3.FractionalPercent`: numerator over a fixed denominator. */
export interface FractionalPercent {
  numerator: number;
  denominator: FractionalDenominator;
}

const DENOMINATORS: Readonly<Record<FractionalDenominator, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** The denominator as a number (100, 10 000 or 1 000 000). */
export function denominatorValue(d: FractionalDenominator): number {
  return DENOMINATORS[d];
}

/** Envoy's `evaluateFractionalPercent`: true when `random % denominator < numerator`. */
export function evaluateFractionalPercent(percent: FractionalPercent, randomValue: number): boolean {
  return randomValue % DENOMINATORS[percent.denominator] < percent.numerator;
}

/** A value as the static layers hold it (flattened to dotted keys). */
export type RuntimeValue = string | number | boolean;

/**
 * Runtime lookups. Called on the request path (route matching, weighted clusters), so implementations
 * answer from memory: no I/O per call.
 */
export interface Runtime {
  /** The key's non-negative integer value, or `defaultValue` when the key is absent or not one. */
  getInteger(key: string, defaultValue: number): number;
  /** The key's boolean value (`true`/`false`, or those strings), or `defaultValue`. */
  getBoolean(key: string, defaultValue: boolean): boolean;
  /**
   * Envoy's `featureEnabled` with a FractionalPercent default: the key's percentage (or `defaultValue`
   * when the key is empty, absent or unparsable) evaluated against `randomValue` (a non-negative integer,
   * e.g. the stream's random value).
   */
  featureEnabled(key: string, defaultValue: FractionalPercent, randomValue: number): boolean;
}

/**
 * A runtime over fixed values: the config's merged `layered_runtime` static layers (BootstrapModel.runtime).
 * Lookups are map reads; a FractionalPercent given as nested keys (`key.numerator`, `key.denominator`, as
 * the flattened static layer holds it) is read too.
 */
export function createStaticRuntime(values: ReadonlyMap<string, RuntimeValue> = new Map()): Runtime {
  return {
    getInteger(key, defaultValue) {
      return toInteger(values.get(key)) ?? defaultValue;
    },
    getBoolean(key, defaultValue) {
      const v = values.get(key);
      if (v === true || v === "true") return true;
      if (v === false || v === "false") return false;
      return defaultValue;
    },
    featureEnabled(key, defaultValue, randomValue) {
      const percent = key === "" ? undefined : fractionalFrom(values, key);
      return evaluateFractionalPercent(percent ?? defaultValue, randomValue);
    },
  };
}

function toInteger(v: RuntimeValue | undefined): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

/** The key's value as a FractionalPercent: an integer percent, or `{numerator, denominator}` as nested keys. */
function fractionalFrom(values: ReadonlyMap<string, RuntimeValue>, key: string): FractionalPercent | undefined {
  const direct = toInteger(values.get(key));
  if (direct !== undefined) return { numerator: direct, denominator: "HUNDRED" };
  const numerator = toInteger(values.get(`${key}.numerator`));
  if (numerator === undefined) return undefined;
  const d = values.get(`${key}.denominator`) ?? "HUNDRED";
  if (typeof d !== "string" || !(d in DENOMINATORS)) return undefined;
  return { numerator, denominator: d as FractionalDenominator };
}
