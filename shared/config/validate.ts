/**
 * Validates an Envoy v3 config (already parsed from YAML/JSON) against Envoy's own schema, a protobufjs
 * `Root` loaded from Envoy's .proto files, the way Envoy's config loader reads it:
 * protobuf's JSON mapping (proto or lowerCamel field names, enums by name or number, `"1.5s"` durations,
 * bare scalars for wrappers, `@type` for Any), the protoc-gen-validate rules Envoy enforces, and then
 * Legate's support layer (shared/config/coverage.ts, shared/config/extensions.ts).
 *
 * Runtime-neutral: it never loads files. The schema is loaded by the Node side
 * (tcp-tier/src/config/envoy-schema.ts) and passed in; protobufjs is only a type import here.
 *
 * The output is the config in canonical form: proto field names, enum names, wrappers unwrapped,
 * Any kept as `{"@type", ...fields}` (TypedStruct unwrapped into that form), optional extensions that
 * were skipped removed, and (with {@link SchemaWalkOptions.readFile}) file data sources inlined.
 */
import type { Enum, FieldBase, MapField, OneOf, ReflectionObject, Root, Type } from "protobufjs";
import { EXTENSION_POINTS, type ExtensionPoint, type MessageSupport, messageSupport } from "./coverage.ts";
import { extensionByName, extensionByTypeUrl, type ExtensionCategory } from "./extensions.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";

/** The message at the root of an Envoy config. */
export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

export interface SchemaWalkOptions {
  /** Full name of the root message; default {@link BOOTSTRAP_TYPE}. */
  typeName?: string;
  /**
   * `full` (default): schema, protoc-gen-validate rules, Legate's support table and extensions, data source
   * inlining. `syntax`: the protobuf JSON mapping only (types, names, enums, oneofs), used to canonicalise each
   * part of a config before parts are merged (Envoy's `--config-yaml`); the merged result is then walked in full.
   */
  mode?: "full" | "syntax";
  /**
   * Reads the file of a `DataSource.filename` so it can be inlined. Called synchronously, once per such data
   * source in a supported part of the config, in `full` mode. Absent: filenames are left as they are.
   */
  readFile?: (filename: string) => { bytes: Uint8Array } | { error: string };
}

export interface SchemaWalkResult {
  /** The config in canonical form. Parts with errors are left out, so use it only when `issues` has no errors. */
  canonical: Record<string, unknown>;
  /** Every problem found, in document order. */
  issues: ConfigIssue[];
}

/**
 * Walks `value` as a message of `options.typeName` (default the bootstrap). Never throws on any input:
 * every problem becomes an issue with a JSON path that uses proto field names.
 */
export function validateAgainstSchema(root: Root, value: unknown, options: SchemaWalkOptions = {}): SchemaWalkResult {
  const typeName = options.typeName ?? BOOTSTRAP_TYPE;
  const type = lookupType(root, typeName);
  if (!type) throw new Error(`the schema has no message ${typeName}`);
  const w = new Walker(root, options.mode ?? "full", options.readFile);
  const full = w.mode === "full";
  const out = w.message(type, value, "", { checked: full, covered: false, pgv: full });
  const canonical = isObject(out) ? out : {};
  return { canonical, issues: w.issues };
}

/**
 * Merges two canonical configs with protobuf `MergeFrom` semantics, as Envoy merges `--config-yaml` into the
 * config file: set scalars replace (proto3 scalars left at their default do not), repeated fields are appended,
 * map entries are replaced by key, sub-messages are merged recursively, and setting a member of a oneof clears
 * the others. Neither input is modified.
 */
export function mergeCanonical(
  root: Root,
  base: Record<string, unknown>,
  overlay: Record<string, unknown>,
  typeName: string = BOOTSTRAP_TYPE,
): Record<string, unknown> {
  const type = lookupType(root, typeName);
  if (!type) throw new Error(`the schema has no message ${typeName}`);
  return mergeMessage(root, type, base, overlay);
}

// ---------------------------------------------------------------------------------------------------------
// Schema helpers

type Obj = Record<string, unknown>;
type Rules = Record<string, unknown>;

/** Returned by a walk step when the value is an optional extension that was skipped (removed from output). */
const REMOVED: unique symbol = Symbol("removed");
type Walked = unknown | typeof REMOVED;

interface Ctx {
  /** Legate's support table applies (every field above this one is supported). */
  checked: boolean;
  /** An issue already covers this subtree (an unsupported field or extension above): say nothing more about support. */
  covered: boolean;
  /** protoc-gen-validate rules apply. */
  pgv: boolean;
}

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isType(o: ReflectionObject | null | undefined): o is Type {
  return !!o && "fieldsArray" in o && "oneofsArray" in o;
}

function isEnum(o: ReflectionObject | null | undefined): o is Enum {
  return !!o && "valuesById" in o;
}

function lookupType(root: Root, name: string): Type | undefined {
  try {
    const o = root.lookup(name.startsWith(".") ? name : `.${name}`);
    return isType(o) ? o : undefined;
  } catch {
    return undefined;
  }
}

function fullName(o: ReflectionObject): string {
  return o.fullName.startsWith(".") ? o.fullName.slice(1) : o.fullName;
}

/** protoc's default JSON name: drop each `_` and upper-case the letter after it. */
function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, "");
}

/** True for proto3 `optional` fields, whose synthetic oneof is not a real choice. */
function realOneof(f: FieldBase): OneOf | null {
  const o = f.partOf;
  if (!o) return null;
  if (o.oneof.length === 1 && (f.options?.proto3_optional === true || o.name === `_${f.name}`)) return null;
  return o;
}

const keyMaps = new WeakMap<Type, Map<string, FieldBase>>();

/** Field lookup by proto name, lowerCamel JSON name and any explicit json_name. */
function fieldKeys(type: Type): Map<string, FieldBase> {
  let m = keyMaps.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      m.set(f.name, f);
      const j = typeof f.options?.json_name === "string" ? (f.options.json_name as string) : jsonName(f.name);
      if (!m.has(j)) m.set(j, f);
    }
    keyMaps.set(type, m);
  }
  return m;
}

const ruleCache = new WeakMap<object, Rules | null>();

function deepMerge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

/** The `(validate.rules)` of a field, as one nested object (protobufjs spreads them over several entries). */
function rulesOf(f: FieldBase): Rules | undefined {
  const cached = ruleCache.get(f);
  if (cached !== undefined) return cached ?? undefined;
  let rules: Obj | undefined;
  for (const entry of f.parsedOptions ?? []) {
    const r = (entry as Obj)["(validate.rules)"];
    if (isObject(r)) rules = deepMerge(rules ?? {}, r);
  }
  if (!rules && f.options) {
    for (const [k, v] of Object.entries(f.options)) {
      if (!k.startsWith("(validate.rules).")) continue;
      const parts = k.slice("(validate.rules).".length).split(".");
      let o: Obj = (rules ??= {});
      parts.forEach((p, i) => {
        if (i === parts.length - 1) o[p] = v;
        else o = (o[p] = isObject(o[p]) ? o[p] : {}) as Obj;
      });
    }
  }
  ruleCache.set(f, rules ?? null);
  return rules;
}

function oneofRequired(o: OneOf): boolean {
  if (o.options?.["(validate.required)"] === true) return true;
  return (o.parsedOptions ?? []).some((e) => (e as Obj)["(validate.required)"] === true);
}

const INT32 = new Set(["int32", "sint32", "sfixed32"]);
const UINT32 = new Set(["uint32", "fixed32"]);
const INT64 = new Set(["int64", "sint64", "sfixed64"]);
const UINT64 = new Set(["uint64", "fixed64"]);

const WRAPPERS: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

const TYPED_STRUCTS = new Set(["udpa.type.v1.TypedStruct", "xds.type.v3.TypedStruct"]);
const DATA_SOURCE = "envoy.config.core.v3.DataSource";

/** Protobuf's special JSON forms, which an Any carries under `value`. */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Any",
]);

/** Well-known types protobuf's legacy JSON mode also accepts as an object of their fields. */
const OBJECT_FORM = new Set([
  ...Object.keys(WRAPPERS),
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.ListValue",
]);

const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const MAX_DURATION_S = 315_576_000_000n;

function durationNanos(s: string): bigint | undefined {
  const m = DURATION_RE.exec(s);
  if (!m) return undefined;
  const secs = BigInt(m[2]!);
  if (secs > MAX_DURATION_S) return undefined;
  const ns = secs * 1_000_000_000n + BigInt((m[3] ?? "").padEnd(9, "0") || "0");
  return m[1] ? -ns : ns;
}

function ruleNanos(r: unknown): bigint {
  const o = isObject(r) ? r : {};
  return BigInt(Number(o.seconds ?? 0)) * 1_000_000_000n + BigInt(Number(o.nanos ?? 0));
}

function formatNanos(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  const s = a / 1_000_000_000n;
  const frac = (a % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${s}${frac ? `.${frac}` : ""}s`;
}

/** "a string", "a number", ... for messages about wrong JSON types. */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v)}`;
    case "number":
      return `the number ${v}`;
    case "boolean":
      return `${v}`;
    case "object":
      return "an object";
    default:
      return `a ${typeof v}`;
  }
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The field name closest to a mistyped key, if one is close enough to be a likely typo. */
function didYouMean(key: string, names: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const exact = names.find((n) => norm(n) === norm(key));
  if (exact) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = levenshtein(key.toLowerCase(), n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  const limit = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  return bestD <= limit ? best : undefined;
}

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

const CATEGORY_LABEL: Record<ExtensionCategory, string> = {
  network: "network filter",
  http: "HTTP filter",
  listener: "listener filter",
  udp_listener: "UDP listener filter",
  access_logger: "access logger",
  transport_socket: "transport socket",
};

/** "an HTTP filter", "a network filter". */
function withArticle(label: string): string {
  return `${/^(?:[aeiou]|HTTP|UDP)/i.test(label) ? "an" : "a"} ${label}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// ---------------------------------------------------------------------------------------------------------
// The walker

class Walker {
  readonly issues: ConfigIssue[] = [];
  readonly root: Root;
  readonly mode: "full" | "syntax";
  readonly readFile: SchemaWalkOptions["readFile"];
  constructor(root: Root, mode: "full" | "syntax", readFile: SchemaWalkOptions["readFile"]) {
    this.root = root;
    this.mode = mode;
    this.readFile = readFile;
  }

  private add(kind: ConfigIssue["kind"], path: string, message: string): undefined {
    this.issues.push({ kind, path, message });
    return undefined;
  }

  /** Walks one message value. Returns its canonical form, undefined when it is invalid, or REMOVED. */
  message(type: Type, v: unknown, path: string, ctx: Ctx, plain = false): Walked {
    const name = fullName(type);
    if (!plain && name.startsWith("google.protobuf.")) {
      const special = this.wellKnown(name, type, v, path, ctx);
      if (special !== NOT_SPECIAL) return special;
    }
    if (!isObject(v)) return this.add("not-envoy", path, `expected an object (${name}), got ${describe(v)}`);

    const full = this.mode === "full";
    const support = ctx.checked ? messageSupport(name) : undefined;
    let extensionCovered = false;
    const point = ctx.checked ? EXTENSION_POINTS[name] : undefined;
    if (point) {
      const verdict = this.extension(point, v, path);
      if (verdict === "skip") return REMOVED;
      extensionCovered = verdict === "unsupported";
    }

    const keys = fieldKeys(type);
    const out: Obj = {};
    const given = new Map<string, string>();
    const invalid = new Set<string>();
    const chosen = new Map<string, string>();
    for (const [key, raw] of Object.entries(v)) {
      const f = keys.get(key);
      if (!f) {
        const hint = didYouMean(key, type.fieldsArray.map((x) => x.name));
        this.add("not-envoy", joinPath(path, key), `unknown field \`${key}\` in ${name}${hint ? `; did you mean \`${hint}\`?` : ""}`);
        continue;
      }
      const fp = joinPath(path, f.name);
      // protobuf's JSON mapping reads null as "not set", except where null is itself a value.
      if (raw === null && !(f.resolvedType && fullName(f.resolvedType) === "google.protobuf.Value")) continue;
      const oneof = realOneof(f);
      if (oneof) {
        const other = chosen.get(oneof.name);
        if (other !== undefined) {
          const what = other === f.name ? `\`${f.name}\` of ${name} is set twice` : `\`${other}\` and \`${f.name}\` of ${name} are both set`;
          this.add("not-envoy", fp, `${what}, but only one member of oneof ${oneof.name} may be`);
          invalid.add(f.name);
          continue;
        }
        chosen.set(oneof.name, f.name);
      }
      // Envoy's JSON parser runs in protobuf's legacy mode: a field given twice (as proto_name and
      // jsonName) is accepted, the last one winning.
      given.set(f.name, key);
      invalid.delete(f.name);

      let fctx = ctx;
      const fs = support?.fields[f.name];
      if (ctx.checked) {
        if (!fs) {
          if (this.isDefault(f, raw)) {
            fctx = { ...ctx, checked: false };
          } else {
            this.unsupportedField(support, name, f.name, fp);
            fctx = { checked: false, covered: true, pgv: ctx.pgv };
          }
        } else if (extensionCovered && f.name === "typed_config") {
          fctx = { checked: false, covered: true, pgv: ctx.pgv };
        }
      }
      if (fctx.pgv && (rulesOf(f)?.message as Obj | undefined)?.skip === true) fctx = { ...fctx, pgv: false };

      const val = this.field(f, raw, fp, fctx);
      if (val === undefined) {
        invalid.add(f.name);
        continue;
      }
      out[f.name] = val;
      if (fctx.checked && fs?.values) this.checkValues(fs.values, name, f.name, val, fp);
    }

    if (full && ctx.pgv) this.messageRules(type, name, out, given, invalid, path);
    if (full && ctx.checked && name === DATA_SOURCE) this.inlineFile(out, path);
    return out;
  }

  private unsupportedField(support: MessageSupport | undefined, typeName: string, field: string, path: string): void {
    const feature = support?.features?.[field];
    this.add("unsupported", path, `\`${field}\`${feature ? ` (${feature})` : ""} of ${typeName} is not supported by Legate`);
  }

  private checkValues(values: readonly string[], typeName: string, field: string, val: unknown, path: string): void {
    const list = Array.isArray(val) ? val : [val];
    list.forEach((x, i) => {
      if (typeof x === "string" && !values.includes(x)) {
        this.add("unsupported", Array.isArray(val) ? joinPath(path, i) : path,
          `${x} for \`${field}\` of ${typeName} is not supported by Legate (supported: ${values.join(", ")})`);
      }
    });
  }

  /** A proto3 scalar (or list, or map) at its default is the same as not set, so it needs no support. */
  private isDefault(f: FieldBase, raw: unknown): boolean {
    if (realOneof(f)) return false;
    if (f.map) return isObject(raw) && Object.keys(raw).length === 0;
    if (f.repeated) return Array.isArray(raw) && raw.length === 0;
    const rt = f.resolvedType;
    if (isEnum(rt)) return raw === 0 || raw === rt.valuesById[0];
    if (rt) return false;
    return raw === false || raw === 0 || raw === "" || raw === "0";
  }

  /**
   * Decides whether the extension a wrapper (Filter, HttpFilter, ...) selects is one Legate supports.
   * Envoy resolves `typed_config`'s `@type` first (through a TypedStruct's `type_url`) and `name` only without it.
   */
  private extension(point: ExtensionPoint, v: Obj, path: string): "ok" | "unsupported" | "skip" {
    const tc = v.typed_config ?? v.typedConfig;
    const name = typeof v.name === "string" ? v.name : "";
    let url = isObject(tc) && typeof tc["@type"] === "string" ? (tc["@type"] as string) : "";
    if (url && TYPED_STRUCTS.has(url.slice(url.lastIndexOf("/") + 1)) && isObject(tc)) {
      const inner = tc.type_url ?? tc.typeUrl;
      if (typeof inner === "string" && inner) url = inner;
    }
    if (!url && !name) return "ok"; // the missing name is reported by the schema rules
    const ext = url ? extensionByTypeUrl(url) : extensionByName(name);
    const desc = url ? (name ? `${name} (${url})` : url) : name;
    if (ext && point.categories.includes(ext.category)) return "ok";
    if (ext) {
      this.add("not-envoy", path, `${ext.name} is ${withArticle(CATEGORY_LABEL[ext.category])}, not ${withArticle(point.label)}`);
      return "unsupported";
    }
    if ((v.is_optional ?? v.isOptional) === true) {
      this.add("skipped-optional", path, `${capitalize(point.label)} ${desc} is not supported by Legate; skipped because it is marked is_optional`);
      return "skip";
    }
    this.add("unsupported", path, `${capitalize(point.label)} ${desc} is not supported by Legate`);
    return "unsupported";
  }

  /** A field's value: a list, a map or a single value. */
  private field(f: FieldBase, raw: unknown, path: string, ctx: Ctx): unknown {
    if (f.map) {
      if (!isObject(raw)) return this.add("not-envoy", path, `expected an object (a map), got ${describe(raw)}`);
      const keyType = (f as MapField).keyType;
      const out: Obj = {};
      for (const [k, item] of Object.entries(raw)) {
        const kp = joinPath(path, k);
        if (!this.mapKeyOk(keyType, k, kp)) continue;
        if (item === null && !(f.resolvedType && fullName(f.resolvedType) === "google.protobuf.Value")) {
          this.add("not-envoy", kp, "a map value cannot be null");
          continue;
        }
        const val = this.single(f, item, kp, ctx);
        if (val !== undefined && val !== REMOVED) out[k] = val;
      }
      return out;
    }
    if (f.repeated) {
      // Legacy mode again: a single value stands for a list of one (real Envoy configs rely on it).
      if (!Array.isArray(raw)) {
        const val = this.single(f, raw, path, ctx);
        return val === undefined ? undefined : val === REMOVED ? [] : [val];
      }
      const out: unknown[] = [];
      raw.forEach((item, i) => {
        const ip = joinPath(path, i);
        if (item === null && !(f.resolvedType && fullName(f.resolvedType) === "google.protobuf.Value")) {
          this.add("not-envoy", ip, "a list item cannot be null");
          return;
        }
        const val = this.single(f, item, ip, ctx);
        if (val !== undefined && val !== REMOVED) out.push(val);
      });
      return out;
    }
    const val = this.single(f, raw, path, ctx);
    return val === REMOVED ? undefined : val;
  }

  private mapKeyOk(keyType: string, k: string, path: string): boolean {
    if (keyType === "string") return true;
    if (keyType === "bool") {
      if (k === "true" || k === "false") return true;
      this.add("not-envoy", path, `map key ${JSON.stringify(k)} is not true or false`);
      return false;
    }
    if (this.scalar(keyType, k, path) === undefined) return false;
    return true;
  }

  private single(f: FieldBase, raw: unknown, path: string, ctx: Ctx): Walked {
    const rt = f.resolvedType;
    if (isEnum(rt)) return this.enumValue(rt, raw, path);
    if (isType(rt)) return this.message(rt, raw, path, ctx);
    return this.scalar(f.type, raw, path);
  }

  private enumValue(e: Enum, v: unknown, path: string): unknown {
    const name = fullName(e);
    if (name === "google.protobuf.NullValue" && (v === null || v === "NULL_VALUE" || v === 0)) return null;
    if (typeof v === "string" && Object.hasOwn(e.values, v)) return v;
    // Envoy parses enums case-insensitively (configs in the wild say `strict_dns`), and accepts numbers.
    if (typeof v === "string") {
      const upper = v.toUpperCase();
      const match = Object.keys(e.values).find((k) => k.toUpperCase() === upper);
      if (match) return match;
      if (/^-?\d+$/.test(v) && e.valuesById[Number(v)] !== undefined) return e.valuesById[Number(v)];
    }
    if (typeof v === "number" && Number.isInteger(v) && e.valuesById[v] !== undefined) return e.valuesById[v];
    const valid = Object.keys(e.values).join(", ");
    if (typeof v === "string" || typeof v === "number") {
      return this.add("not-envoy", path, `unknown value ${JSON.stringify(v)} for enum ${name}; valid values: ${valid}`);
    }
    return this.add("not-envoy", path, `expected an enum value of ${name} (${valid}), got ${describe(v)}`);
  }

  /** A scalar in protobuf's JSON mapping; returns its canonical form. */
  private scalar(kind: string, v: unknown, path: string): unknown {
    if (kind === "string") {
      return typeof v === "string" ? v : this.add("not-envoy", path, `expected a string, got ${describe(v)}`);
    }
    if (kind === "bool") {
      return typeof v === "boolean" ? v : this.add("not-envoy", path, `expected true or false, got ${describe(v)}`);
    }
    if (kind === "bytes") {
      if (typeof v === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v) && v.replace(/=+$/, "").length % 4 !== 1) return v;
      return this.add("not-envoy", path, `expected base64 bytes, got ${describe(v)}`);
    }
    if (kind === "double" || kind === "float") {
      if (typeof v === "number" && !Number.isNaN(v)) {
        if (kind === "float" && Number.isFinite(v) && Math.abs(v) > 3.4028234663852886e38) {
          return this.add("not-envoy", path, `${v} is out of range for float`);
        }
        return v;
      }
      if (v === "NaN" || v === "Infinity" || v === "-Infinity") return v;
      if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
      return this.add("not-envoy", path, `expected a number (${kind}), got ${describe(v)}`);
    }
    const is32 = INT32.has(kind) || UINT32.has(kind);
    const is64 = INT64.has(kind) || UINT64.has(kind);
    if (is32 || is64) {
      let n: bigint | undefined;
      if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
      else if (typeof v === "string" && /^-?\d+$/.test(v)) n = BigInt(v);
      else if (typeof v === "string" && /^-?\d+(\.0*)?(e\+?\d+)?$/i.test(v) && Number.isInteger(Number(v))) n = BigInt(Number(v));
      if (n === undefined) return this.add("not-envoy", path, `expected an integer (${kind}), got ${describe(v)}`);
      const [min, max] = INT32.has(kind)
        ? [-(2n ** 31n), 2n ** 31n - 1n]
        : UINT32.has(kind)
          ? [0n, 2n ** 32n - 1n]
          : INT64.has(kind)
            ? [-(2n ** 63n), 2n ** 63n - 1n]
            : [0n, 2n ** 64n - 1n];
      if (n < min || n > max) return this.add("not-envoy", path, `${n} is out of range for ${kind} (${min} to ${max})`);
      return is32 ? Number(n) : n.toString();
    }
    return this.add("not-envoy", path, `unsupported scalar type ${kind}`);
  }

  /** Protobuf's well-known types with their own JSON form; NOT_SPECIAL for the others. */
  private wellKnown(name: string, type: Type, v: unknown, path: string, ctx: Ctx): Walked {
    if (isObject(v) && OBJECT_FORM.has(name)) return this.objectForm(name, type, v, path, ctx);
    const wrapped = WRAPPERS[name];
    if (wrapped) return this.scalar(wrapped, v, path);
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof v === "string" && durationNanos(v) !== undefined) return v;
        return this.add("not-envoy", path, `expected a duration such as "1.5s", got ${describe(v)}`);
      case "google.protobuf.Timestamp":
        if (typeof v === "string" && TIMESTAMP_RE.test(v)) return v;
        return this.add("not-envoy", path, `expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got ${describe(v)}`);
      case "google.protobuf.FieldMask":
        return typeof v === "string" ? v : this.add("not-envoy", path, `expected a field mask string such as "a.b,c", got ${describe(v)}`);
      case "google.protobuf.Struct":
        return isObject(v) ? this.jsonValue(v, path) : this.add("not-envoy", path, `expected an object (google.protobuf.Struct), got ${describe(v)}`);
      case "google.protobuf.ListValue":
        return Array.isArray(v) ? this.jsonValue(v, path) : this.add("not-envoy", path, `expected a list (google.protobuf.ListValue), got ${describe(v)}`);
      case "google.protobuf.Value":
        return this.jsonValue(v, path);
      case "google.protobuf.Empty":
        if (!isObject(v)) return this.add("not-envoy", path, `expected an empty object (google.protobuf.Empty), got ${describe(v)}`);
        for (const k of Object.keys(v)) this.add("not-envoy", joinPath(path, k), `unknown field \`${k}\` in google.protobuf.Empty`);
        return {};
      case "google.protobuf.Any":
        return this.any(v, path, ctx);
      default:
        return NOT_SPECIAL;
    }
  }

  /**
   * Protobuf's legacy JSON mode (Envoy's) also takes these types as plain messages, e.g. a duration as
   * `{seconds: 5}` or a wrapper as `{value: 3}`; converted here to their usual JSON form.
   */
  private objectForm(name: string, type: Type, v: Obj, path: string, ctx: Ctx): Walked {
    const walker = new Walker(this.root, "syntax", undefined);
    const m = walker.message(type, v, path, { ...ctx, checked: false, pgv: false }, true);
    this.issues.push(...walker.issues);
    if (!isObject(m)) return undefined;
    if (WRAPPERS[name]) return m.value ?? (WRAPPERS[name] === "bool" ? false : WRAPPERS[name] === "string" || WRAPPERS[name] === "bytes" ? "" : 0);
    if (name === "google.protobuf.Duration") {
      const ns = BigInt(String(m.seconds ?? "0")) * 1_000_000_000n + BigInt(Number(m.nanos ?? 0));
      return formatNanos(ns);
    }
    if (name === "google.protobuf.Timestamp") {
      const ms = Number(BigInt(String(m.seconds ?? "0")) * 1000n) + Math.floor(Number(m.nanos ?? 0) / 1e6);
      const d = new Date(ms);
      return Number.isNaN(d.getTime()) ? this.add("not-envoy", path, "timestamp out of range") : d.toISOString();
    }
    if (name === "google.protobuf.FieldMask") return Array.isArray(m.paths) ? m.paths.join(",") : "";
    if (name === "google.protobuf.ListValue") return Array.isArray(m.values) ? m.values : [];
    return m;
  }

  /** Any JSON value (Struct, Value, ListValue), copied; numbers must be finite. */
  private jsonValue(v: unknown, path: string): unknown {
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : this.add("not-envoy", path, `${v} cannot be represented in a google.protobuf.Value`);
    if (Array.isArray(v)) return v.map((x, i) => this.jsonValue(x, joinPath(path, i)) ?? null);
    if (isObject(v)) {
      const out: Obj = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.jsonValue(x, joinPath(path, k)) ?? null;
      return out;
    }
    return this.add("not-envoy", path, `expected a JSON value, got ${describe(v)}`);
  }

  private any(v: unknown, path: string, ctx: Ctx): Walked {
    if (!isObject(v)) return this.add("not-envoy", path, `expected an object with "@type" (google.protobuf.Any), got ${describe(v)}`);
    const url = v["@type"];
    if (url === undefined && Object.keys(v).length === 0) return {};
    if (typeof url !== "string" || url === "") {
      return this.add("not-envoy", joinPath(path, "@type"), "`@type` is required in google.protobuf.Any (e.g. type.googleapis.com/<message name>)");
    }
    const slash = url.lastIndexOf("/");
    if (slash < 0 || slash === url.length - 1) {
      return this.add("not-envoy", joinPath(path, "@type"), `invalid type URL ${JSON.stringify(url)} (expected type.googleapis.com/<message name>)`);
    }
    const typeName = url.slice(slash + 1);
    const t = lookupType(this.root, typeName);
    const rest: Obj = { ...v };
    delete rest["@type"];
    if (!t) {
      if (this.mode === "full" && !ctx.covered) {
        this.add("unsupported", path, `${url} is not in Legate's copy of Envoy's API (a contrib, third-party or newer extension), so Legate does not support it`);
      }
      return { "@type": url, ...rest };
    }
    if (SPECIAL_JSON.has(typeName)) {
      const val = this.message(t, rest.value, joinPath(path, "value"), ctx);
      for (const k of Object.keys(rest)) if (k !== "value") this.add("not-envoy", joinPath(path, k), `unknown field \`${k}\` in an Any holding ${typeName} (its JSON goes under \`value\`)`);
      return val === undefined || val === REMOVED ? undefined : { "@type": url, value: val };
    }
    if (TYPED_STRUCTS.has(typeName)) return this.typedStruct(t, url, rest, path, ctx);
    const body = this.message(t, rest, path, ctx);
    return isObject(body) ? { "@type": url, ...body } : body;
  }

  /** A TypedStruct carries a message as a Struct; walked as that message and output as a plain Any. */
  private typedStruct(t: Type, url: string, rest: Obj, path: string, ctx: Ctx): Walked {
    const walked = this.message(t, rest, path, { ...ctx, checked: false });
    if (!isObject(walked)) return walked;
    const inner = walked.type_url;
    if (typeof inner !== "string" || inner === "") {
      return this.add("not-envoy", joinPath(path, "type_url"), "`type_url` of a TypedStruct is required");
    }
    const innerType = lookupType(this.root, inner.slice(inner.lastIndexOf("/") + 1));
    if (!innerType) {
      if (this.mode === "full" && !ctx.covered) {
        this.add("unsupported", path, `${inner} is not in Legate's copy of Envoy's API (a contrib, third-party or newer extension), so Legate does not support it`);
      }
      return { "@type": url, ...walked };
    }
    const body = this.message(innerType, walked.value ?? {}, joinPath(path, "value"), ctx);
    return isObject(body) ? { "@type": inner, ...body } : body;
  }

  private inlineFile(out: Obj, path: string): void {
    const filename = out.filename;
    if (typeof filename !== "string" || !this.readFile || filename === "") return;
    const r = this.readFile(filename);
    if ("error" in r) {
      this.add("invalid-reference", joinPath(path, "filename"), `cannot read ${JSON.stringify(filename)}: ${r.error}`);
      return;
    }
    delete out.filename;
    try {
      out.inline_string = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(r.bytes);
    } catch {
      out.inline_bytes = toBase64(r.bytes);
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // protoc-gen-validate

  private messageRules(type: Type, typeName: string, out: Obj, given: Map<string, string>, invalid: Set<string>, path: string): void {
    for (const oneof of type.oneofsArray) {
      if (!oneofRequired(oneof)) continue;
      if (oneof.oneof.some((n) => given.has(n) || invalid.has(n))) continue;
      this.add("not-envoy", path, `one of ${oneof.oneof.map((n) => `\`${n}\``).join(", ")} is required in ${typeName}`);
    }
    for (const f of type.fieldsArray) {
      const rules = rulesOf(f);
      if (!rules || invalid.has(f.name)) continue;
      const present = Object.hasOwn(out, f.name);
      if (!present && f.partOf) continue; // a oneof member's rules apply only when it is the one set
      const fp = joinPath(path, f.name);
      const label = `\`${f.name}\` of ${typeName}`;
      if (f.map) {
        const m = (present ? out[f.name] : {}) as Obj;
        const r = rules.map as Rules | undefined;
        if (!r) continue;
        const n = Object.keys(m).length;
        if (typeof r.min_pairs === "number" && n < r.min_pairs) this.add("not-envoy", fp, `${label} needs at least ${r.min_pairs} entr${r.min_pairs === 1 ? "y" : "ies"}`);
        if (typeof r.max_pairs === "number" && n > r.max_pairs) this.add("not-envoy", fp, `${label} takes at most ${r.max_pairs} entries`);
        for (const [k, x] of Object.entries(m)) {
          if (isObject(r.keys)) this.valueRules(undefined, "string", r.keys, k, joinPath(fp, k), `a key of ${label}`);
          if (isObject(r.values)) this.valueRules(f, f.type, r.values, x, joinPath(fp, k), `a value of ${label}`);
        }
        continue;
      }
      if (f.repeated) {
        const list = (present ? out[f.name] : []) as unknown[];
        const r = rules.repeated as Rules | undefined;
        if (!r) continue;
        const min = Number(r.min_items ?? 0);
        const max = r.max_items === undefined ? undefined : Number(r.max_items);
        if (list.length < min) this.add("not-envoy", fp, `${label} needs at least ${min} item${min === 1 ? "" : "s"}`);
        if (max !== undefined && list.length > max) this.add("not-envoy", fp, `${label} takes at most ${max} item${max === 1 ? "" : "s"}`);
        if (r.unique === true && new Set(list.map((x) => JSON.stringify(x))).size !== list.length) this.add("not-envoy", fp, `the items of ${label} must be unique`);
        if (isObject(r.items)) list.forEach((x, i) => this.valueRules(f, f.type, r.items as Rules, x, joinPath(fp, i), `an item of ${label}`));
        continue;
      }
      this.valueRules(f, f.type, rules, present ? out[f.name] : undefined, fp, label);
    }
  }

  /**
   * Applies a field's rules to one value (canonical form). `v` undefined means "not set": a message is then
   * absent (only `required` applies) and a scalar has its proto3 default.
   */
  private valueRules(f: FieldBase | undefined, kind: string, rules: Rules, v: unknown, path: string, label: string): void {
    const bad = (message: string) => this.add("not-envoy", path, `${label} ${message}`);
    const rt = f?.resolvedType;
    if (isType(rt)) {
      const tn = fullName(rt);
      const msgRules = rules.message as Rules | undefined;
      if (v === undefined) {
        const required = msgRules?.required === true || (rules.duration as Rules | undefined)?.required === true
          || (rules.any as Rules | undefined)?.required === true || (rules.timestamp as Rules | undefined)?.required === true;
        if (required) bad("is required");
        return;
      }
      const wrapped = WRAPPERS[tn];
      if (wrapped) return this.scalarRules(wrapped, rules, v, bad);
      if (tn === "google.protobuf.Duration" && isObject(rules.duration) && typeof v === "string") {
        const ns = durationNanos(v);
        const r = rules.duration;
        if (ns === undefined) return;
        if (r.gt !== undefined && !(ns > ruleNanos(r.gt))) bad(`must be longer than ${formatNanos(ruleNanos(r.gt))}`);
        if (r.gte !== undefined && !(ns >= ruleNanos(r.gte))) bad(`must be at least ${formatNanos(ruleNanos(r.gte))}`);
        if (r.lt !== undefined && !(ns < ruleNanos(r.lt))) bad(`must be shorter than ${formatNanos(ruleNanos(r.lt))}`);
        if (r.lte !== undefined && !(ns <= ruleNanos(r.lte))) bad(`must be at most ${formatNanos(ruleNanos(r.lte))}`);
        if (r.const !== undefined && ns !== ruleNanos(r.const)) bad(`must be ${formatNanos(ruleNanos(r.const))}`);
      }
      if (tn === "google.protobuf.Any" && isObject(rules.any) && isObject(v)) {
        const url = String(v["@type"] ?? "");
        const inList = rules.any.in;
        if (Array.isArray(inList) && !inList.includes(url)) bad(`must hold one of ${inList.join(", ")}`);
      }
      return;
    }
    if (isEnum(rt)) {
      const r = rules.enum as Rules | undefined;
      if (!r) return;
      const num = v === undefined ? 0 : typeof v === "string" ? rt.values[v] : undefined;
      if (num === undefined) return;
      const names = (xs: unknown[]) => xs.map((x) => rt.valuesById[Number(x)] ?? String(x)).join(", ");
      if (r.defined_only === true && rt.valuesById[num] === undefined) bad("must be a defined value");
      if (Array.isArray(r.in) && !r.in.map(Number).includes(num)) bad(`must be one of ${names(r.in)}`);
      if (Array.isArray(r.not_in) && r.not_in.map(Number).includes(num)) bad(`must not be ${names(r.not_in)}`);
      if (r.const !== undefined && Number(r.const) !== num) bad(`must be ${names([r.const])}`);
      return;
    }
    this.scalarRules(kind, rules, v, bad);
  }

  private scalarRules(kind: string, rules: Rules, v: unknown, bad: (m: string) => void): void {
    if (kind === "string") {
      const r = rules.string as Rules | undefined;
      if (!r) return;
      const s = typeof v === "string" ? v : "";
      const chars = [...s].length;
      const bytes = new TextEncoder().encode(s).length;
      const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
      if (r.min_len !== undefined && chars < Number(r.min_len)) bad(Number(r.min_len) === 1 ? "must not be empty" : `must be at least ${plural(Number(r.min_len), "character")} long`);
      if (r.max_len !== undefined && chars > Number(r.max_len)) bad(`must be at most ${plural(Number(r.max_len), "character")} long`);
      if (r.len !== undefined && chars !== Number(r.len)) bad(`must be exactly ${plural(Number(r.len), "character")} long`);
      if (r.min_bytes !== undefined && bytes < Number(r.min_bytes)) bad(Number(r.min_bytes) === 1 ? "must not be empty" : `must be at least ${plural(Number(r.min_bytes), "byte")} long`);
      if (r.max_bytes !== undefined && bytes > Number(r.max_bytes)) bad(`must be at most ${plural(Number(r.max_bytes), "byte")} long`);
      if (typeof r.prefix === "string" && !s.startsWith(r.prefix)) bad(`must start with ${JSON.stringify(r.prefix)}`);
      if (typeof r.suffix === "string" && !s.endsWith(r.suffix)) bad(`must end with ${JSON.stringify(r.suffix)}`);
      if (typeof r.contains === "string" && !s.includes(r.contains)) bad(`must contain ${JSON.stringify(r.contains)}`);
      if (Array.isArray(r.in) && !r.in.includes(s)) bad(`must be one of ${r.in.map((x) => JSON.stringify(x)).join(", ")}`);
      if (Array.isArray(r.not_in) && r.not_in.includes(s)) bad(`must not be ${JSON.stringify(s)}`);
      if (typeof r.pattern === "string") {
        let re: RegExp | undefined;
        try {
          re = new RegExp(r.pattern, "u");
        } catch {
          re = undefined; // an RE2 pattern JavaScript cannot compile: not checked
        }
        if (re && !re.test(s)) bad(`must match the pattern ${r.pattern}`);
      }
      if (r.well_known_regex === "HTTP_HEADER_NAME" || r.well_known_regex === "HTTP_HEADER_VALUE") {
        const strict = r.strict !== false;
        const isName = r.well_known_regex === "HTTP_HEADER_NAME";
        const re = !strict
          ? /^[^\0\r\n]*$/
          : isName
            ? /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/
            : /^[^\0-\x08\x0A-\x1F\x7F]*$/;
        if (s !== "" && !re.test(s)) bad(`must be a valid HTTP header ${isName ? "name" : "value"}`);
      }
      return;
    }
    if (kind === "bytes") {
      const r = rules.bytes as Rules | undefined;
      if (!r || (typeof v !== "string" && v !== undefined)) return;
      const n = v === undefined ? 0 : Math.floor(((v as string).replace(/=+$/, "").length * 3) / 4);
      if (r.min_len !== undefined && n < Number(r.min_len)) bad(`must be at least ${r.min_len} bytes long`);
      if (r.max_len !== undefined && n > Number(r.max_len)) bad(`must be at most ${r.max_len} bytes long`);
      return;
    }
    if (kind === "bool") {
      const r = rules.bool as Rules | undefined;
      if (r && typeof r.const === "boolean" && (v ?? false) !== r.const) bad(`must be ${r.const}`);
      return;
    }
    const r = rules[kind] as Rules | undefined;
    if (!r) return;
    const n = v === undefined ? 0 : Number(v);
    if (Number.isNaN(n)) return;
    if (r.gt !== undefined && !(n > Number(r.gt))) bad(`must be greater than ${r.gt}`);
    if (r.gte !== undefined && !(n >= Number(r.gte))) bad(`must be at least ${r.gte}`);
    if (r.lt !== undefined && !(n < Number(r.lt))) bad(`must be less than ${r.lt}`);
    if (r.lte !== undefined && !(n <= Number(r.lte))) bad(`must be at most ${r.lte}`);
    if (r.const !== undefined && n !== Number(r.const)) bad(`must be ${r.const}`);
    if (Array.isArray(r.in) && !r.in.map(Number).includes(n)) bad(`must be one of ${r.in.join(", ")}`);
    if (Array.isArray(r.not_in) && r.not_in.map(Number).includes(n)) bad(`must not be ${n}`);
  }
}

const NOT_SPECIAL: unique symbol = Symbol("not-special");

// ---------------------------------------------------------------------------------------------------------
// Merge (protobuf MergeFrom over canonical JSON)

function isDefaultScalar(f: FieldBase, v: unknown): boolean {
  const rt = f.resolvedType;
  if (isEnum(rt)) return v === rt.valuesById[0];
  return v === false || v === 0 || v === "" || v === "0";
}

function mergeMessage(root: Root, type: Type, dst: Obj, src: Obj): Obj {
  const out: Obj = { ...dst };
  for (const [k, sv] of Object.entries(src)) {
    const f = type.fields[k];
    if (!f) {
      out[k] = sv;
      continue;
    }
    const oneof = realOneof(f);
    if (oneof) for (const other of oneof.oneof) if (other !== k) delete out[other];
    const dv = out[k];
    const rt = f.resolvedType;
    if (f.map) out[k] = { ...(isObject(dv) ? dv : {}), ...(sv as Obj) };
    else if (f.repeated) out[k] = [...(Array.isArray(dv) ? dv : []), ...(sv as unknown[])];
    else if (isType(rt)) out[k] = dv === undefined ? sv : mergeValue(root, rt, dv, sv);
    else if (oneof || dv === undefined || !isDefaultScalar(f, sv)) out[k] = sv;
  }
  return out;
}

function mergeValue(root: Root, t: Type, dv: unknown, sv: unknown): unknown {
  const name = fullName(t);
  const wrapped = WRAPPERS[name];
  if (wrapped) return sv === false || sv === 0 || sv === "" || sv === "0" ? dv : sv;
  switch (name) {
    case "google.protobuf.Duration": {
      const d = typeof dv === "string" ? durationNanos(dv) : undefined;
      const s = typeof sv === "string" ? durationNanos(sv) : undefined;
      if (d === undefined || s === undefined) return sv;
      const split = (ns: bigint) => [ns / 1_000_000_000n, ns % 1_000_000_000n] as const;
      const [ds, dn] = split(d);
      const [ss, sn] = split(s);
      return formatNanos((ss !== 0n ? ss : ds) * 1_000_000_000n + (sn !== 0n ? sn : dn));
    }
    case "google.protobuf.Struct":
      return { ...(isObject(dv) ? dv : {}), ...(isObject(sv) ? sv : {}) };
    case "google.protobuf.ListValue":
      return [...(Array.isArray(dv) ? dv : []), ...(Array.isArray(sv) ? sv : [])];
    case "google.protobuf.Value":
      if (isObject(dv) && isObject(sv)) return { ...dv, ...sv };
      if (Array.isArray(dv) && Array.isArray(sv)) return [...dv, ...sv];
      return sv;
    case "google.protobuf.FieldMask":
      return [dv, sv].filter((x) => typeof x === "string" && x !== "").join(",");
    case "google.protobuf.Empty":
      return {};
    case "google.protobuf.Any":
      return isObject(sv) && Object.keys(sv).length === 0 ? dv : sv;
    case "google.protobuf.Timestamp":
      return sv;
    default:
      return isObject(dv) && isObject(sv) ? mergeMessage(root, t, dv, sv) : sv;
  }
}
