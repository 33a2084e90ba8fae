/**
 * Envoy's regexes are RE2 (`safe_regex`, `regex_rewrite`, StringMatcher `safe_regex`). Neither runtime
 * here has RE2, so each pattern is translated once, at config compile time, into an equivalent
 * JavaScript RegExp (with the `u` flag), or refused with the reason:
 *
 * - `not-envoy`: RE2 itself refuses the pattern, so Envoy would refuse the config: JavaScript-only
 *   syntax (lookahead and lookbehind, backreferences, atomic groups, possessive quantifiers, `\Z`,
 *   `\k<name>`), unbalanced parentheses, a repetition without an argument or above 1000, an invalid
 *   escape.
 * - `unsupported`: valid RE2 that has no JavaScript equivalent (`\C`, a negated POSIX class inside a
 *   larger class, a repetition of an empty-width assertion).
 *
 * What the translation keeps exact: `.` excludes only `\n` (RE2), not every line terminator (JS);
 * `\s` is RE2's `[\t\n\f\r ]`; `^`/`$` are text anchors unless `(?m)`; `(?s)`, `(?m)` and `(?U)`
 * (ungreedy) are applied by rewriting, `(?i)` becomes the `i` flag (leading) or an inline modifier group
 * `(?i:…)`; POSIX classes (`[[:alpha:]]`), `\pN`/`\p{Greek}`, `\x{263a}`, octal escapes, `\Q…\E`,
 * `(?P<name>…)`.
 *
 * What it cannot keep: RE2 runs in linear time; JavaScript backtracks. A pathological pattern (nested
 * unbounded repetition such as `(a+)+`) can take exponential time on a hostile input; the Worker's CPU
 * limit then ends the request. RE2's program-size limit is not enforced.
 */

export type Re2ErrorKind = "not-envoy" | "unsupported";

/** A pattern that cannot be used; `kind` says whether Envoy would refuse it too. */
export class Re2Error extends Error {
  readonly code = "LEGATE_REGEX_INVALID";
  readonly kind: Re2ErrorKind;
  constructor(kind: Re2ErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = "Re2Error";
  }
}

export interface Re2Translation {
  /** JavaScript source, to be used with {@link Re2Translation.flags}. */
  source: string;
  /** `u`, plus `i` when the pattern starts with `(?i)`. */
  flags: string;
  /** Number of capturing groups (for `\N` in substitutions). */
  groups: number;
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

const MAX_REPEAT = 1000;
/** Characters that must be escaped to be literal in a `u`-mode RegExp outside a class. */
const SYNTAX = new Set(["^", "$", "\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "/"]);
/** Characters escaped inside a class (the ones `u` mode allows to be escaped there). */
const CLASS_SYNTAX = new Set(["^", "$", "\\", ".", "*", "+", "?", "(", ")", "[", "]", "{", "}", "|", "/", "-"]);

const POSIX: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`\\{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

/** Unicode general categories RE2 knows; any other `\p{Name}` is a script. */
const CATEGORIES = new Set([
  "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No",
  "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
]);

const RE2_SPACE = "\\t\\n\\f\\r ";

/** Per-group state: the flags in force and what the emitted JS has in force for `i`. */
interface Group {
  flags: Flags;
  /** The `i` state the JS context of this group has (before any modifier group this translator opens). */
  jsI: boolean;
}

class Translator {
  private pos = 0;
  private groups = 0;
  private readonly names = new Set<string>();
  private readonly src: string;

  constructor(src: string) {
    this.src = src;
  }

  private fail(kind: Re2ErrorKind, message: string): never {
    throw new Re2Error(kind, message);
  }

  translate(): Re2Translation {
    const flags: Flags = { i: false, m: false, s: false, U: false };
    // A leading flag group sets the whole pattern's flags: `(?i)` then becomes the JS `i` flag.
    const lead = /^\(\?([imsU]+)\)/.exec(this.src);
    if (lead) {
      for (const f of lead[1]!) flags[f as keyof Flags] = true;
      this.pos = lead[0].length;
    }
    const source = this.alternation({ flags, jsI: flags.i }, 0);
    if (this.pos < this.src.length) this.fail("not-envoy", `unexpected ) at offset ${this.pos}`);
    return { source, flags: flags.i ? "ui" : "u", groups: this.groups };
  }

  /** Alternatives up to the group's `)` (not consumed) or the end. */
  private alternation(group: Group, depth: number): string {
    if (depth > 1000) this.fail("not-envoy", "nesting too deep");
    const parts: string[] = [];
    for (;;) {
      parts.push(this.sequence(group, depth));
      if (this.src[this.pos] === "|") {
        this.pos++;
        continue;
      }
      return parts.join("|");
    }
  }

  /** One alternative: atoms with their repetitions, up to `|`, `)` or the end. */
  private sequence(group: Group, depth: number): string {
    let out = "";
    // When a mid-group flag change toggles `i`, the rest of the alternative is wrapped in a modifier group.
    let openI: boolean | undefined;
    const setI = (want: boolean) => {
      if (openI !== undefined) {
        out += ")";
        openI = undefined;
      }
      if (want !== group.jsI) {
        out += want ? "(?i:" : "(?-i:";
        openI = want;
      }
    };
    if (group.flags.i !== group.jsI) setI(group.flags.i);

    let last: { text: string; quantifiable: boolean } | undefined;
    let lastWasRepeat = false;
    const flush = () => {
      if (last) out += last.text;
      last = undefined;
    };
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (c === "|" || c === ")") break;
      if (c === "*" || c === "+" || c === "?" || (c === "{" && this.repeatAhead())) {
        const q = this.quantifier(group.flags);
        if (lastWasRepeat) this.fail("not-envoy", `bad repetition operator at offset ${this.pos}`);
        if (!last) this.fail("not-envoy", `missing argument to repetition operator at offset ${this.pos}`);
        if (!last.quantifiable) this.fail("unsupported", "a repetition of an empty-width assertion has no JavaScript equivalent");
        out += last.text + q;
        last = undefined;
        lastWasRepeat = true;
        continue;
      }
      lastWasRepeat = false;
      flush();
      if (c === "(" && this.src.startsWith("(?", this.pos) && /^\(\?[-imsU]+\)/.test(this.src.slice(this.pos))) {
        // `(?flags)`: changes the flags for the rest of the current group.
        const m = /^\(\?([-imsU]+)\)/.exec(this.src.slice(this.pos))!;
        this.pos += m[0].length;
        const before = group.flags.i;
        group.flags = this.applyFlags(group.flags, m[1]!);
        if (group.flags.i !== before) setI(group.flags.i);
        continue;
      }
      last = this.atom(group, depth);
    }
    flush();
    if (openI !== undefined) out += ")";
    return out;
  }

  /** True when a `{` at pos starts a valid RE2 repetition (`{n}`, `{n,}`, `{n,m}`); else it is a literal. */
  private repeatAhead(): boolean {
    return /^\{\d+(,\d*)?\}/.test(this.src.slice(this.pos, this.pos + 24));
  }

  private quantifier(flags: Flags): string {
    const c = this.src[this.pos]!;
    let q: string;
    if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos))!;
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : m[3] === "" ? undefined : Number(m[3]);
      if (lo > MAX_REPEAT || (hi !== undefined && hi > MAX_REPEAT)) this.fail("not-envoy", `bad repetition operator: ${m[0]} (RE2 allows at most ${MAX_REPEAT})`);
      if (hi !== undefined && hi < lo) this.fail("not-envoy", `bad repetition operator: ${m[0]}`);
      q = m[0];
      this.pos += m[0].length;
    } else {
      q = c;
      this.pos++;
    }
    let lazy = false;
    if (this.src[this.pos] === "?") {
      lazy = true;
      this.pos++;
    }
    // Possessive forms (`a*+`) are not RE2; neither is a second repetition (`a**`).
    const next = this.src[this.pos];
    if (next === "*" || next === "+" || (next === "?" && !lazy) || (next === "{" && this.repeatAhead())) {
      this.fail("not-envoy", `bad repetition operator at offset ${this.pos}`);
    }
    // (?U) swaps the meaning of `x*` and `x*?`.
    if (flags.U) lazy = !lazy;
    return lazy ? `${q}?` : q;
  }

  private atom(group: Group, depth: number): { text: string; quantifiable: boolean } {
    const c = this.src[this.pos]!;
    const flags = group.flags;
    switch (c) {
      case "(":
        return { text: this.group(group, depth), quantifiable: true };
      case "[":
        return { text: this.charClass(), quantifiable: true };
      case "\\":
        return this.escape();
      case ".":
        this.pos++;
        return { text: flags.s ? "[^]" : "[^\\n]", quantifiable: true };
      case "^":
        this.pos++;
        return { text: flags.m ? "(?<![^\\n])" : "^", quantifiable: false };
      case "$":
        this.pos++;
        return { text: flags.m ? "(?![^\\n])" : "$", quantifiable: false };
      default: {
        const cp = this.src.codePointAt(this.pos)!;
        const ch = String.fromCodePoint(cp);
        this.pos += ch.length;
        return { text: SYNTAX.has(ch) ? `\\${ch}` : ch, quantifiable: true };
      }
    }
  }

  private group(parent: Group, depth: number): string {
    const rest = this.src.slice(this.pos);
    let open: string;
    let flags = { ...parent.flags };
    if (rest.startsWith("(?:")) {
      open = "(?:";
      this.pos += 3;
    } else if (/^\(\?P?<[A-Za-z_][A-Za-z0-9_]*>/.test(rest)) {
      const m = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest)!;
      if (this.names.has(m[1]!)) this.fail("not-envoy", `duplicate capture group name ${m[1]}`);
      this.names.add(m[1]!);
      this.groups++;
      open = `(?<${m[1]}>`;
      this.pos += m[0].length;
    } else if (/^\(\?[-imsU]+:/.test(rest)) {
      const m = /^\(\?([-imsU]+):/.exec(rest)!;
      flags = this.applyFlags(flags, m[1]!);
      open = "(?:";
      this.pos += m[0].length;
    } else if (rest.startsWith("(?")) {
      const what = rest.startsWith("(?=") || rest.startsWith("(?!") ? "lookahead assertions"
        : rest.startsWith("(?<=") || rest.startsWith("(?<!") ? "lookbehind assertions"
          : rest.startsWith("(?>") ? "atomic groups"
            : rest.startsWith("(?P=") ? "backreferences"
              : rest.startsWith("(?#") ? "comment groups" : undefined;
      this.fail("not-envoy", what ? `${what} are not RE2 syntax (Envoy's regex engine refuses them)` : `invalid or unsupported Perl syntax at offset ${this.pos}`);
    } else {
      this.groups++;
      open = "(";
      this.pos++;
    }
    // In every sequence the emitted JS keeps `i` equal to the RE2 flags in force, so the JS context at the
    // group's start has the parent's `i`; the body opens its own modifier group when its flags differ.
    const body = this.alternation({ flags, jsI: parent.flags.i }, depth + 1);
    if (this.src[this.pos] !== ")") this.fail("not-envoy", "missing closing )");
    this.pos++;
    return `${open}${body})`;
  }

  /** Applies `(?flags)` / `(?flags:` to a copy of the flags: letters before `-` set, after `-` clear. */
  private applyFlags(flags: Flags, spec: string): Flags {
    if (spec.startsWith("-") && spec.length === 1) this.fail("not-envoy", `invalid flag group (?${spec})`);
    if (spec.endsWith("-") || spec.indexOf("-") !== spec.lastIndexOf("-")) this.fail("not-envoy", `invalid flag group (?${spec})`);
    const out = { ...flags };
    let on = true;
    for (const ch of spec) {
      if (ch === "-") on = false;
      else out[ch as keyof Flags] = on;
    }
    return out;
  }

  private escape(): { text: string; quantifiable: boolean } {
    const start = this.pos;
    this.pos++;
    if (this.pos >= this.src.length) this.fail("not-envoy", "trailing \\");
    const c = this.src[this.pos]!;
    this.pos++;
    switch (c) {
      case "d": case "D": case "w": case "W":
        return { text: `\\${c}`, quantifiable: true };
      case "s":
        return { text: `[${RE2_SPACE}]`, quantifiable: true };
      case "S":
        return { text: `[^${RE2_SPACE}]`, quantifiable: true };
      case "b": case "B":
        return { text: `\\${c}`, quantifiable: false };
      case "A":
        return { text: "^", quantifiable: false };
      case "z":
        return { text: "$", quantifiable: false };
      case "Z": case "G":
        return this.fail("not-envoy", `\\${c} is not RE2 syntax`);
      case "C":
        return this.fail("unsupported", "\\C (any byte) has no JavaScript equivalent");
      case "Q": {
        const end = this.src.indexOf("\\E", this.pos);
        const text = end < 0 ? this.src.slice(this.pos) : this.src.slice(this.pos, end);
        this.pos = end < 0 ? this.src.length : end + 2;
        const lit = [...text].map((ch) => (SYNTAX.has(ch) ? `\\${ch}` : ch)).join("");
        // A repetition after \Q...\E applies to its last character, in RE2 and in the emitted JS alike.
        return { text: lit, quantifiable: text.length > 0 };
      }
      case "E":
        // A stray \E (no \Q before it) is ignored by RE2.
        return { text: "", quantifiable: false };
      case "p": case "P": {
        const u = this.unicodeClass(c === "P");
        if (u.any) return { text: u.negated ? "[^\\s\\S]" : "[\\s\\S]", quantifiable: true };
        return { text: u.text, quantifiable: true };
      }
      default:
        return { text: this.escapedLiteral(c, start), quantifiable: true };
    }
  }

  /** `\pN`, `\p{Name}`, `\p{^Name}` after the `p`/`P` was consumed. */
  private unicodeClass(negated: boolean): { text: string; any: boolean; negated: boolean } {
    let name: string;
    if (this.src[this.pos] === "{") {
      const end = this.src.indexOf("}", this.pos);
      if (end < 0) this.fail("not-envoy", "missing } in \\p{...}");
      name = this.src.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      if (this.pos >= this.src.length) this.fail("not-envoy", "trailing \\p");
      name = this.src[this.pos]!;
      this.pos++;
    }
    if (name.startsWith("^")) {
      negated = !negated;
      name = name.slice(1);
    }
    if (name === "Any") return { text: "", any: true, negated };
    if (!/^[A-Za-z_]+$/.test(name)) this.fail("not-envoy", `invalid Unicode class name ${JSON.stringify(name)}`);
    const prop = CATEGORIES.has(name) ? name : `Script=${name}`;
    return { text: `\\${negated ? "P" : "p"}{${prop}}`, any: false, negated };
  }

  /** Escapes that stand for one character (outside or inside a class), as JS `u`-mode source. */
  private escapedLiteral(c: string, start: number): string {
    switch (c) {
      case "a": return "\\x07";
      case "f": return "\\f";
      case "t": return "\\t";
      case "n": return "\\n";
      case "r": return "\\r";
      case "v": return "\\v";
      case "x": {
        const braced = /^\{([0-9A-Fa-f]{1,8})\}/.exec(this.src.slice(this.pos));
        if (braced) {
          this.pos += braced[0].length;
          const cp = parseInt(braced[1]!, 16);
          if (cp > 0x10ffff) this.fail("not-envoy", `invalid escape \\x{${braced[1]}}`);
          return `\\u{${cp.toString(16)}}`;
        }
        const two = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.pos));
        if (!two) this.fail("not-envoy", `invalid escape at offset ${start}`);
        this.pos += 2;
        return `\\x${two[0]}`;
      }
      case "0": case "1": case "2": case "3": case "4": case "5": case "6": case "7": {
        // RE2: \1-\7 alone would be a backreference (not supported); with more octal digits, or \0, it is octal.
        const more = /^[0-7]{0,2}/.exec(this.src.slice(this.pos))![0];
        if (c !== "0" && more === "") this.fail("not-envoy", `backreferences (\\${c}) are not RE2 syntax`);
        this.pos += more.length;
        return `\\u{${parseInt(c + more, 8).toString(16)}}`;
      }
      case "8": case "9":
        return this.fail("not-envoy", `backreferences (\\${c}) are not RE2 syntax`);
      default:
        if (/[A-Za-z0-9]/.test(c)) this.fail("not-envoy", `invalid escape \\${c}`);
        // RE2 lets any punctuation be escaped; JS `u` mode only syntax characters.
        return SYNTAX.has(c) ? `\\${c}` : this.literalChar(c);
    }
  }

  private literalChar(c: string): string {
    // A surrogate half: take the whole code point.
    const cp = c.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdbff && this.pos < this.src.length) {
      const lo = this.src[this.pos]!;
      this.pos++;
      return c + lo;
    }
    return c;
  }

  /** `[...]`, with RE2's rules: a leading `]` is literal, POSIX classes, escapes. */
  private charClass(): string {
    this.pos++;
    let negated = false;
    if (this.src[this.pos] === "^") {
      negated = true;
      this.pos++;
    }
    const items: string[] = [];
    let first = true;
    let negPosix: string | undefined;
    for (;;) {
      if (this.pos >= this.src.length) this.fail("not-envoy", "missing closing ]");
      const c = this.src[this.pos]!;
      if (c === "]" && !first) {
        this.pos++;
        break;
      }
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.src.slice(this.pos));
      if (posix) {
        const set = POSIX[posix[2]!];
        if (!set) this.fail("not-envoy", `invalid character class range: [:${posix[2]}:]`);
        this.pos += posix[0].length;
        if (posix[1]) {
          negPosix = set;
          items.push("");
        } else items.push(set);
        continue;
      }
      const lo = this.classChar();
      if (this.src[this.pos] === "-" && this.src[this.pos + 1] !== "]" && this.pos + 1 < this.src.length) {
        this.pos++;
        const hi = this.classChar();
        if (lo.kind !== "char" || hi.kind !== "char") this.fail("not-envoy", "bad character class range");
        if (lo.cp > hi.cp) this.fail("not-envoy", "bad character class range");
        items.push(`${lo.text}-${hi.text}`);
      } else items.push(lo.text);
    }
    if (negPosix !== undefined) {
      // `[[:^alpha:]]` alone is `[^A-Za-z]`; mixed with other items it would need a class union/intersection.
      if (items.length !== 1 || negated) this.fail("unsupported", "a negated POSIX class inside a larger class has no JavaScript equivalent");
      return `[^${negPosix}]`;
    }
    return `[${negated ? "^" : ""}${items.join("")}]`;
  }

  private classChar(): { kind: "char"; text: string; cp: number } | { kind: "set"; text: string } {
    const c = this.src[this.pos]!;
    if (c !== "\\") {
      const cp = this.src.codePointAt(this.pos)!;
      const ch = String.fromCodePoint(cp);
      this.pos += ch.length;
      return { kind: "char", text: CLASS_SYNTAX.has(ch) ? `\\${ch}` : ch, cp };
    }
    const start = this.pos;
    this.pos++;
    if (this.pos >= this.src.length) this.fail("not-envoy", "trailing \\");
    const e = this.src[this.pos]!;
    this.pos++;
    switch (e) {
      case "d": case "D": case "w": case "W": case "S":
        return { kind: "set", text: `\\${e}` };
      case "s":
        return { kind: "set", text: RE2_SPACE };
      case "p": case "P": {
        const u = this.unicodeClass(e === "P");
        if (u.any && u.negated) this.fail("unsupported", "\\P{Any} inside a character class has no JavaScript equivalent");
        return { kind: "set", text: u.any ? "\\s\\S" : u.text };
      }
      case "b": case "B": case "A": case "z": case "Z": case "C": case "Q": case "E": case "G":
        return this.fail("not-envoy", `\\${e} is not allowed in a character class`);
      default: {
        const text = e === "-" ? "\\-" : this.escapedLiteral(e, start);
        return { kind: "char", text, cp: codePointOfEscape(text) };
      }
    }
  }
}

/** The code point a single-character escape (as emitted) stands for, for range checks. */
function codePointOfEscape(text: string): number {
  if (!text.startsWith("\\")) return text.codePointAt(0)!;
  const body = text.slice(1);
  if (body.startsWith("u{")) return parseInt(body.slice(2, -1), 16);
  if (body.startsWith("x")) return parseInt(body.slice(1), 16);
  const named: Record<string, number> = { f: 0x0c, t: 0x09, n: 0x0a, r: 0x0d, v: 0x0b };
  return named[body] ?? body.codePointAt(0)!;
}

/** Translates an RE2 pattern. Throws {@link Re2Error}. */
export function translateRe2(pattern: string): Re2Translation {
  if (pattern === "") throw new Re2Error("not-envoy", "the regex is empty");
  const t = new Translator(pattern).translate();
  try {
    new RegExp(t.source, t.flags);
  } catch (e) {
    // The translation is built to be valid JS; what still fails is an RE2 construct JS does not know
    // (an unknown Unicode script, say).
    throw new Re2Error("unsupported", `cannot be run by the JavaScript regex engine: ${e instanceof Error ? e.message : String(e)}`);
  }
  return t;
}

/** A compiled RE2 pattern for Envoy's uses of it. */
export interface CompiledRe2 {
  /** The RE2 source as configured. */
  readonly pattern: string;
  /** RE2's FullMatch: the whole input must match (Envoy's `safe_regex` matchers). */
  fullMatch(input: string): boolean;
  /**
   * RE2's GlobalReplace: every non-overlapping match replaced by `substitution`, in which `\0`–`\9`
   * are capture groups and `\\` is a backslash (Envoy's `regex_rewrite`).
   */
  replaceAll(input: string, substitution: CompiledSubstitution): string;
  readonly groups: number;
}

/** A substitution string, parsed once (see {@link compileSubstitution}). */
export type CompiledSubstitution = readonly (string | number)[];

/** Compiles a pattern for full matching and global replacement. Throws {@link Re2Error}. */
export function compileRe2(pattern: string): CompiledRe2 {
  const t = translateRe2(pattern);
  const full = new RegExp(`^(?:${t.source})$`, t.flags);
  const global = new RegExp(t.source, `${t.flags}g`);
  return {
    pattern,
    groups: t.groups,
    fullMatch: (input) => full.test(input),
    replaceAll(input, substitution) {
      global.lastIndex = 0;
      return input.replace(global, (...args: unknown[]) => {
        let out = "";
        for (const part of substitution) out += typeof part === "string" ? part : ((args[part] as string | undefined) ?? "");
        return out;
      });
    },
  };
}

/**
 * Parses an RE2 rewrite string against a pattern with `groups` capture groups, as RE2's
 * `CheckRewriteString` does: `\N` (N ≤ groups) and `\\` only. Throws {@link Re2Error} (`not-envoy`).
 */
export function compileSubstitution(substitution: string, groups: number): CompiledSubstitution {
  const parts: (string | number)[] = [];
  let lit = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    if (c !== "\\") {
      lit += c;
      continue;
    }
    const n = substitution[++i];
    if (n === "\\") lit += "\\";
    else if (n !== undefined && n >= "0" && n <= "9") {
      const g = Number(n);
      if (g > groups) throw new Re2Error("not-envoy", `the substitution uses \\${g}, but the pattern has only ${groups} capture group(s)`);
      if (lit) parts.push(lit);
      lit = "";
      parts.push(g);
    } else throw new Re2Error("not-envoy", `invalid rewrite string: a backslash must be followed by a digit or another backslash`);
  }
  if (lit) parts.push(lit);
  return parts;
}
