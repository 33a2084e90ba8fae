/**
 * Reads the few wrangler config fields `legate push` needs (the LEGATE_KV binding's namespace id,
 * `account_id`, `[vars]`) without loading wrangler itself (which takes a second to import).
 *
 * Finds the config as wrangler does: `wrangler.json`, `wrangler.jsonc`, then `wrangler.toml`, in the
 * working directory and then each parent. TOML is read by a small reader that covers what wrangler
 * configs use (tables, arrays of tables, strings, numbers, booleans, arrays and inline tables,
 * comments); JSON with comments and trailing commas is read as wrangler reads it.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const KV_BINDING = "LEGATE_KV";

export interface WranglerConfig {
  /** Absolute path of the file read. */
  path: string;
  accountId?: string;
  kvNamespaces: { binding: string; id?: string; previewId?: string }[];
  vars: Record<string, unknown>;
}

/** A wrangler config that cannot be read; `code` is stable. */
export class WranglerConfigError extends Error {
  readonly code = "LEGATE_WRANGLER_CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "WranglerConfigError";
  }
}

const CONFIG_NAMES = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

/** The first wrangler config found from `cwd` upward, or undefined. */
export function findWranglerConfig(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (let depth = 0; depth < 64; depth++) {
    for (const name of CONFIG_NAMES) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

/** Reads and interprets a wrangler config file. Throws {@link WranglerConfigError}. */
export function readWranglerConfig(path: string): WranglerConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new WranglerConfigError(`cannot read wrangler config '${path}': ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.endsWith(".toml") ? parseToml(text) : JSON.parse(stripJsonc(text));
  } catch (e) {
    throw new WranglerConfigError(`cannot parse wrangler config '${path}': ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new WranglerConfigError(`wrangler config '${path}' is not a table/object`);
  }
  const obj = raw as Record<string, unknown>;
  const out: WranglerConfig = { path: resolve(path), kvNamespaces: [], vars: {} };
  if (typeof obj.account_id === "string") out.accountId = obj.account_id;
  if (Array.isArray(obj.kv_namespaces)) {
    for (const ns of obj.kv_namespaces) {
      if (ns && typeof ns === "object" && typeof (ns as Record<string, unknown>).binding === "string") {
        const n = ns as Record<string, unknown>;
        out.kvNamespaces.push({
          binding: n.binding as string,
          ...(typeof n.id === "string" ? { id: n.id } : {}),
          ...(typeof n.preview_id === "string" ? { previewId: n.preview_id } : {}),
        });
      }
    }
  }
  if (obj.vars && typeof obj.vars === "object" && !Array.isArray(obj.vars)) out.vars = obj.vars as Record<string, unknown>;
  return out;
}

/** Removes `//` and `/* *\/` comments and trailing commas outside strings (JSONC, as wrangler accepts). */
export function stripJsonc(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === ",") {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text[j] !== "}" && text[j] !== "]") out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

type TomlTable = Record<string, unknown>;

/**
 * Parses TOML into plain values (dates stay strings). Throws with a line number on malformed input.
 * Covers TOML 1.0 except the finer points wrangler configs never use (e.g. redefining tables).
 */
export function parseToml(text: string): TomlTable {
  const root: TomlTable = {};
  let current = root;
  let pos = 0;
  const line = (): number => text.slice(0, pos).split("\n").length;
  const fail = (msg: string): never => {
    throw new Error(`line ${line()}: ${msg}`);
  };
  const skipWs = (): void => {
    while (pos < text.length && (text[pos] === " " || text[pos] === "\t")) pos++;
  };
  const skipComment = (): void => {
    if (text[pos] === "#") while (pos < text.length && text[pos] !== "\n") pos++;
  };
  /** Whitespace, newlines and comments (inside arrays). */
  const skipAll = (): void => {
    for (;;) {
      skipWs();
      skipComment();
      if (text[pos] === "\n" || text[pos] === "\r") pos++;
      else return;
    }
  };
  const endOfLine = (): void => {
    skipWs();
    skipComment();
    if (text[pos] === "\r") pos++;
    if (pos < text.length && text[pos] !== "\n") fail(`unexpected '${text[pos]}'`);
    pos++;
  };

  const basicString = (): string => {
    const multi = text.startsWith('"""', pos);
    pos += multi ? 3 : 1;
    if (multi && text[pos] === "\n") pos++;
    let s = "";
    for (;;) {
      if (pos >= text.length) fail("unterminated string");
      const c = text[pos]!;
      if (multi ? text.startsWith('"""', pos) : c === '"') {
        pos += multi ? 3 : 1;
        return s;
      }
      if (!multi && c === "\n") fail("newline in string");
      if (c === "\\") {
        const e = text[pos + 1];
        const simple: Record<string, string> = { b: "\b", t: "\t", n: "\n", f: "\f", r: "\r", '"': '"', "\\": "\\" };
        if (e !== undefined && simple[e] !== undefined) {
          s += simple[e];
          pos += 2;
        } else if (e === "u" || e === "U") {
          const len = e === "u" ? 4 : 8;
          const hex = text.slice(pos + 2, pos + 2 + len);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) fail("bad unicode escape");
          s += String.fromCodePoint(parseInt(hex, 16));
          pos += 2 + len;
        } else if (multi && (e === "\n" || e === " " || e === "\t" || e === "\r")) {
          // Line-ending backslash: trim the newline and following whitespace.
          pos++;
          while (pos < text.length && /\s/.test(text[pos]!)) pos++;
        } else {
          fail(`bad escape '\\${e}'`);
        }
      } else {
        s += c;
        pos++;
      }
    }
  };

  const literalString = (): string => {
    const multi = text.startsWith("'''", pos);
    pos += multi ? 3 : 1;
    if (multi && text[pos] === "\n") pos++;
    const end = text.indexOf(multi ? "'''" : "'", pos);
    if (end < 0) fail("unterminated string");
    const s = text.slice(pos, end);
    if (!multi && s.includes("\n")) fail("newline in string");
    pos = end + (multi ? 3 : 1);
    return s;
  };

  const key = (): string => {
    skipWs();
    const c = text[pos];
    if (c === '"') return basicString();
    if (c === "'") return literalString();
    const m = /^[A-Za-z0-9_-]+/.exec(text.slice(pos));
    if (!m) fail("expected a key");
    pos += m![0].length;
    return m![0];
  };
  const dottedKey = (): string[] => {
    const parts = [key()];
    for (;;) {
      skipWs();
      if (text[pos] !== ".") return parts;
      pos++;
      parts.push(key());
    }
  };

  const value = (): unknown => {
    skipWs();
    const c = text[pos];
    if (c === '"') return basicString();
    if (c === "'") return literalString();
    if (c === "[") {
      pos++;
      const arr: unknown[] = [];
      for (;;) {
        skipAll();
        if (text[pos] === "]") {
          pos++;
          return arr;
        }
        arr.push(value());
        skipAll();
        if (text[pos] === ",") pos++;
        else if (text[pos] !== "]") fail("expected ',' or ']'");
      }
    }
    if (c === "{") {
      pos++;
      const tbl: TomlTable = {};
      skipWs();
      if (text[pos] === "}") {
        pos++;
        return tbl;
      }
      for (;;) {
        const k = dottedKey();
        skipWs();
        if (text[pos] !== "=") fail("expected '='");
        pos++;
        assign(tbl, k, value());
        skipWs();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "}") {
          pos++;
          return tbl;
        } else fail("expected ',' or '}'");
      }
    }
    const m = /^[^\s,\]}#]+/.exec(text.slice(pos));
    if (!m) fail("expected a value");
    const word = m![0];
    pos += word.length;
    if (word === "true") return true;
    if (word === "false") return false;
    if (/^[+-]?(inf|nan)$/.test(word)) return word.includes("nan") ? NaN : word.startsWith("-") ? -Infinity : Infinity;
    if (/^0x[0-9a-fA-F_]+$/.test(word)) return parseInt(word.slice(2).replaceAll("_", ""), 16);
    if (/^0o[0-7_]+$/.test(word)) return parseInt(word.slice(2).replaceAll("_", ""), 8);
    if (/^0b[01_]+$/.test(word)) return parseInt(word.slice(2).replaceAll("_", ""), 2);
    if (/^[+-]?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?$/.test(word)) return Number(word.replaceAll("_", ""));
    if (/^\d{4}-\d{2}-\d{2}/.test(word) || /^\d{2}:\d{2}/.test(word)) {
      // A date-time may hold one space ("1979-05-27 07:32:00Z").
      const more = /^ \d{2}:\d{2}[^\s,\]}#]*/.exec(text.slice(pos));
      if (more) pos += more[0].length;
      return text.slice(pos - word.length - (more ? more[0].length : 0), pos);
    }
    return fail(`bad value '${word}'`);
  };

  const assign = (tbl: TomlTable, path: string[], v: unknown): void => {
    let t = tbl;
    for (const part of path.slice(0, -1)) {
      const next = t[part];
      if (next === undefined) t = t[part] = {} as TomlTable;
      else if (next && typeof next === "object" && !Array.isArray(next)) t = next as TomlTable;
      else fail(`'${part}' is not a table`);
    }
    const last = path[path.length - 1]!;
    if (last in t) fail(`duplicate key '${last}'`);
    t[last] = v;
  };

  const tableAt = (path: string[], arrayItem: boolean): TomlTable => {
    let t = root;
    path.forEach((part, i) => {
      const isLast = i === path.length - 1;
      let next = t[part];
      if (isLast && arrayItem) {
        if (next === undefined) next = t[part] = [];
        if (!Array.isArray(next)) fail(`'${part}' is not an array of tables`);
        const item: TomlTable = {};
        (next as unknown[]).push(item);
        t = item;
        return;
      }
      if (next === undefined) next = t[part] = {};
      if (Array.isArray(next)) next = next[next.length - 1];
      if (!next || typeof next !== "object") fail(`'${part}' is not a table`);
      t = next as TomlTable;
    });
    return t;
  };

  while (pos < text.length) {
    skipWs();
    const c = text[pos];
    if (c === "\n" || c === "\r" || c === "#") {
      skipComment();
      if (text[pos] === "\r") pos++;
      pos++;
      continue;
    }
    if (c === "[") {
      const arrayItem = text[pos + 1] === "[";
      pos += arrayItem ? 2 : 1;
      const path = dottedKey();
      skipWs();
      if (!text.startsWith(arrayItem ? "]]" : "]", pos)) fail("expected ']'");
      pos += arrayItem ? 2 : 1;
      current = tableAt(path, arrayItem);
      endOfLine();
      continue;
    }
    const k = dottedKey();
    skipWs();
    if (text[pos] !== "=") fail("expected '='");
    pos++;
    assign(current, k, value());
    endOfLine();
  }
  return root;
}
