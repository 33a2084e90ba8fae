/**
 * Envoy's runtime (`layered_runtime`): named values that change behaviour without a config change.
 * Both tiers read it through the small {@link Runtime} interface, so the values can come from the
 * config's static layers ({@link createStaticRuntime}) and, layered over them, from KV and the tcp tier's
 * admin layer ({@link createLayeredRuntime}), without touching the code that asks.
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
  return runtimeOver((key) => values.get(key));
}

/** One layer of a layered runtime: anything that answers a key (a Map, or a {@link RuntimeLayer}). */
export interface RuntimeLayerLookup {
  get(key: string): RuntimeValue | undefined;
}

/**
 * A layer whose whole value set is replaced at once (the KV layer, on each poll that finds a new
 * version). A runtime built over it sees the replacement on its next lookup: no rebuild.
 */
export class RuntimeLayer implements RuntimeLayerLookup {
  readonly name: string;
  private current: ReadonlyMap<string, RuntimeValue> = new Map();
  constructor(name: string, values?: ReadonlyMap<string, RuntimeValue>) {
    this.name = name;
    if (values) this.current = values;
  }
  get values(): ReadonlyMap<string, RuntimeValue> {
    return this.current;
  }
  /** Replaces every value of the layer in one assignment. */
  replace(values: ReadonlyMap<string, RuntimeValue>): void {
    this.current = values;
  }
  get(key: string): RuntimeValue | undefined {
    return this.current.get(key);
  }
}

/**
 * Envoy's layered runtime: `layers` lowest first (static < KV < admin); a key's value is the one of the
 * highest layer that holds it. The layers are read live on every lookup, so a layer that changes (a
 * {@link RuntimeLayer} replaced, an admin Map modified) is seen by every consumer holding this runtime.
 * A FractionalPercent's nested keys are resolved key by key, each from its own highest layer.
 */
export function createLayeredRuntime(layers: readonly RuntimeLayerLookup[]): Runtime {
  const top = [...layers].reverse();
  if (top.length === 1) return runtimeOver((key) => top[0]!.get(key));
  return runtimeOver((key) => {
    for (const layer of top) {
      const v = layer.get(key);
      if (v !== undefined) return v;
    }
    return undefined;
  });
}

function runtimeOver(lookup: (key: string) => RuntimeValue | undefined): Runtime {
  return {
    getInteger(key, defaultValue) {
      return toInteger(lookup(key)) ?? defaultValue;
    },
    getBoolean(key, defaultValue) {
      const v = lookup(key);
      if (v === true || v === "true") return true;
      if (v === false || v === "false") return false;
      return defaultValue;
    },
    featureEnabled(key, defaultValue, randomValue) {
      const percent = key === "" ? undefined : fractionalFrom(lookup, key);
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
function fractionalFrom(lookup: (key: string) => RuntimeValue | undefined, key: string): FractionalPercent | undefined {
  const direct = toInteger(lookup(key));
  if (direct !== undefined) return { numerator: direct, denominator: "HUNDRED" };
  const numerator = toInteger(lookup(`${key}.numerator`));
  if (numerator === undefined) return undefined;
  const d = lookup(`${key}.denominator`) ?? "HUNDRED";
  if (typeof d !== "string" || !(d in DENOMINATORS)) return undefined;
  return { numerator, denominator: d as FractionalDenominator };
}
