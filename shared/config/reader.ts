/**
 * Typed reads of untrusted JSON for the compile steps (shared/config/compile*.ts): each read returns the
 * value, or records an issue at its JSON path and returns undefined. One class for every compile
 * step, so a value is judged the same way wherever it appears.
 */
import { parseDurationMs } from "./duration.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";

type Obj = Record<string, unknown>;

export class Reader {
  readonly issues: ConfigIssue[];
  /** Issues go to `issues` (a new list by default), so several readers can share one list. */
  constructor(issues: ConfigIssue[] = []) {
    this.issues = issues;
  }

  bad(path: string, message: string, kind: ConfigIssue["kind"] = "not-envoy"): undefined {
    this.issues.push({ kind, path, message });
    return undefined;
  }

  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) return this.bad(path, "expected an object");
    return v as Obj;
  }

  arr(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return this.bad(path, "expected a list") ?? [];
    return v;
  }

  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") return this.bad(path, "expected a string");
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    // BoolValue wrappers may arrive as `{ value: true }` from some tools; protobuf JSON gives the bare value.
    if (typeof v === "object" && !Array.isArray(v) && "value" in (v as Obj)) return this.bool((v as Obj).value, joinPath(path, "value"));
    if (typeof v !== "boolean") return this.bad(path, "expected a boolean");
    return v;
  }

  /** An unsigned integer (UInt32Value/UInt64Value arrive bare; 64-bit ones may be decimal strings). */
  uint(v: unknown, path: string, max = 0xffffffff): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "object" && !Array.isArray(v) && "value" in (v as Obj)) return this.uint((v as Obj).value, joinPath(path, "value"), max);
    const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) return this.bad(path, `expected an integer from 0 to ${max}`);
    return n;
  }

  durationMs(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    const ms = parseDurationMs(v);
    if (ms === undefined || ms < 0) return this.bad(path, `expected a duration such as "0.25s", got ${JSON.stringify(v)}`);
    return ms;
  }

  /**
   * An enum by name. `envoyValues` lists every value Envoy defines: one of those that Legate does not
   * implement is `unsupported` rather than `not-envoy`.
   */
  enumOf<T extends string>(v: unknown, path: string, allowed: readonly T[], dflt: T, envoyValues: readonly string[] = allowed): T {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "string" || !allowed.includes(v as T)) {
      if (typeof v === "string" && envoyValues.includes(v)) {
        this.bad(path, `${v} is not supported by Legate (supported: ${allowed.join(", ")})`, "unsupported");
      } else {
        this.bad(path, `expected one of ${envoyValues.join(", ")}, got ${JSON.stringify(v)}`);
      }
      return dflt;
    }
    return v as T;
  }

  required<T>(v: T | undefined, path: string, what: string): T | undefined {
    if (v === undefined) this.bad(path, `${what} is required`);
    return v;
  }

  /**
   * When a required choice is missing because the config uses an Envoy alternative Legate does not
   * implement (e.g. `weighted_clusters` instead of `cluster`), reports that alternative as unsupported, at
   * its own path (where the validator reports it too). Returns true when it did.
   */
  alternative(o: Obj, path: string, alternatives: Readonly<Record<string, string>>): boolean {
    const key = Object.keys(alternatives).find((k) => o[k] !== undefined && o[k] !== null);
    if (key === undefined) return false;
    this.bad(joinPath(path, key), `\`${key}\` (${alternatives[key]}) is not supported by Legate`, "unsupported");
    return true;
  }

  /** A double (protobuf JSON numbers, or the strings "NaN"/"Infinity" which Envoy would refuse here). */
  num(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n)) return this.bad(path, "expected a number");
    return n;
  }

  /** `envoy.type.v3.Percent` (`{ value: 0..100 }`), as a number. */
  percent(v: unknown, path: string): number | undefined {
    const o = this.obj(v, path);
    if (!o) return undefined;
    const p = this.num(o.value, joinPath(path, "value")) ?? 0;
    if (p < 0 || p > 100) return this.bad(joinPath(path, "value"), "a percentage must be from 0 to 100");
    return p;
  }

  /** A positive duration in ms (`gt {}` in Envoy's rules). */
  positiveDurationMs(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    const ms = parseDurationMs(v);
    if (ms === undefined || ms <= 0) return this.bad(path, `expected a positive duration such as "0.25s", got ${JSON.stringify(v)}`);
    return ms;
  }

  /** A percentage given as a UInt32Value capped at 100 (the `enforcing_*` fields). */
  pct(v: unknown, path: string, dflt: number): number {
    return this.uint(v, path, 100) ?? dflt;
  }
}
