/**
 * A small SQL tokenizer for postgres_proxy's `enable_sql_parsing`: splits a Query or Parse string into
 * statements and reports, for each, its kind (the leading keyword, after any `WITH` clause) and the
 * tables it names after FROM, JOIN, INTO, UPDATE, TABLE and TRUNCATE. It is not a SQL parser: it
 * understands PostgreSQL's lexical rules (quoted identifiers, '' and E'' strings, $tag$ dollar quotes,
 * -- and nested /* *\/ comments, parentheses), which is what decides whether a string is well formed
 * enough to be counted as parsed. Unterminated quotes or comments and unbalanced parentheses are
 * parse errors.
 */

export type StatementKind = "select" | "insert" | "update" | "delete" | "other";

export interface SqlStatement {
  kind: StatementKind;
  /** The leading keyword, lower case (`select`, `create`, `begin`, ...). */
  keyword: string;
  /** Tables named, lower case unless quoted, schema-qualified as written, in order, no duplicates. */
  tables: string[];
}

export type SqlParseResult = { ok: true; statements: SqlStatement[] } | { ok: false; error: string };

type Token = { t: "word"; v: string; quoted: boolean } | { t: "punct"; v: string } | { t: "literal" };

/** Letters, `_` and non-ASCII (PostgreSQL's identifier start). */
function identStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
}

/** Identifier characters after the first: also digits and `$`. */
function identPart(c: number): boolean {
  return identStart(c) || (c >= 48 && c <= 57) || c === 36;
}

/** Characters of a numeric literal after its first digit (decimal, exponent, hex/octal/binary, `_`). */
function numberPart(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 95 || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Splits `sql` into tokens per statement; an error string when the lexical structure is broken. */
function tokenize(sql: string): Token[][] | string {
  const statements: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\f") {
      i++;
    } else if (ch === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (ch === "/" && sql[i + 1] === "*") {
      let level = 1;
      i += 2;
      while (i < n && level > 0) {
        if (sql[i] === "/" && sql[i + 1] === "*") { level++; i += 2; }
        else if (sql[i] === "*" && sql[i + 1] === "/") { level--; i += 2; }
        else i++;
      }
      if (level > 0) return "unterminated comment";
    } else if (ch === "'" || ((ch === "E" || ch === "e") && sql[i + 1] === "'")) {
      const backslash = ch !== "'";
      i += backslash ? 2 : 1;
      let closed = false;
      while (i < n) {
        const c = sql[i]!;
        if (backslash && c === "\\") { i += 2; continue; }
        if (c === "'") {
          if (sql[i + 1] === "'") { i += 2; continue; }
          i++;
          closed = true;
          break;
        }
        i++;
      }
      if (!closed) return "unterminated string literal";
      cur.push({ t: "literal" });
    } else if (ch === '"') {
      let v = "";
      i++;
      let closed = false;
      while (i < n) {
        if (sql[i] === '"') {
          if (sql[i + 1] === '"') { v += '"'; i += 2; continue; }
          i++;
          closed = true;
          break;
        }
        v += sql[i++];
      }
      if (!closed) return "unterminated quoted identifier";
      cur.push({ t: "word", v, quoted: true });
    } else if (ch === "$" && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i, i + 66))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66))![0];
      const end = sql.indexOf(tag, i + tag.length);
      if (end < 0) return "unterminated dollar-quoted string";
      i = end + tag.length;
      cur.push({ t: "literal" });
    } else if (identStart(sql.charCodeAt(i))) {
      let j = i + 1;
      while (j < n && identPart(sql.charCodeAt(j))) j++;
      cur.push({ t: "word", v: sql.slice(i, j).toLowerCase(), quoted: false });
      i = j;
    } else if (ch >= "0" && ch <= "9") {
      let j = i + 1;
      while (j < n && numberPart(sql.charCodeAt(j))) j++;
      cur.push({ t: "literal" });
      i = j;
    } else if (ch === ";" && depth === 0) {
      if (cur.length > 0) statements.push(cur);
      cur = [];
      i++;
    } else {
      if (ch === "(") depth++;
      if (ch === ")" && --depth < 0) return "unbalanced parentheses";
      cur.push({ t: "punct", v: ch });
      i++;
    }
  }
  if (depth !== 0) return "unbalanced parentheses";
  if (cur.length > 0) statements.push(cur);
  return statements;
}

const MAIN_KINDS: Record<string, StatementKind> = { select: "select", insert: "insert", update: "update", delete: "delete" };
/** Keywords followed by table names. */
const TABLE_INTRODUCERS = new Set(["from", "join", "into", "update", "table", "truncate"]);
/** Words that end a FROM list rather than name an alias. */
const CLAUSE_WORDS = new Set([
  "where", "group", "order", "limit", "offset", "having", "join", "inner", "left", "right", "full", "cross", "natural",
  "on", "using", "set", "values", "returning", "union", "except", "intersect", "for", "window", "select", "default",
  "overriding", "only", "lateral", "as", "with", "fetch", "do", "into", "from", "table",
]);

function statementOf(tokens: Token[]): SqlStatement {
  // `(SELECT ...) UNION (...)`: the keyword is the first word after any opening parentheses.
  const first = tokens.find((tk) => !(tk.t === "punct" && tk.v === "("));
  let keyword = first?.t === "word" ? first.v : "";
  if (keyword === "with") {
    // The main statement is the first select/insert/update/delete at nesting depth 0 after the CTEs.
    let depth = 0;
    for (const tk of tokens.slice(1)) {
      if (tk.t === "punct") depth += tk.v === "(" ? 1 : tk.v === ")" ? -1 : 0;
      else if (tk.t === "word" && depth === 0 && !tk.quoted && tk.v in MAIN_KINDS) {
        keyword = tk.v;
        break;
      }
    }
  }
  const kind = MAIN_KINDS[keyword] ?? "other";
  const tables: string[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const tk = tokens[k]!;
    if (tk.t !== "word" || tk.quoted || !TABLE_INTRODUCERS.has(tk.v)) continue;
    // `update` names a table only as a statement's keyword (not in `FOR UPDATE`, `DO UPDATE`).
    if (tk.v === "update" && k > 0 && tokens[k - 1]!.t === "word") continue;
    k = readTableList(tokens, k + 1, tables, tk.v === "from" || tk.v === "truncate", tk.v === "from" || tk.v === "join");
  }
  return { kind, keyword, tables };
}

/** Reads `name [[AS] alias] [, name ...]` from `k`; returns the index of the last token used. */
function readTableList(tokens: Token[], k: number, out: string[], list: boolean, functions: boolean): number {
  for (;;) {
    while (tokens[k]?.t === "word" && !(tokens[k] as { quoted: boolean }).quoted && ["only", "lateral", "if", "exists"].includes((tokens[k] as { v: string }).v)) k++;
    const start = tokens[k];
    if (!start || start.t !== "word" || (!start.quoted && CLAUSE_WORDS.has(start.v))) return k - 1;
    let name = start.v;
    k++;
    while (tokens[k]?.t === "punct" && (tokens[k] as { v: string }).v === "." && tokens[k + 1]?.t === "word") {
      name += `.${(tokens[k + 1] as { v: string }).v}`;
      k += 2;
    }
    // After FROM and JOIN, a function call (`FROM generate_series(1, 3)`) is not a table; after INTO or
    // TABLE the parenthesis opens a column list.
    const call = functions && tokens[k]?.t === "punct" && (tokens[k] as { v: string }).v === "(";
    if (!call && !out.includes(name)) out.push(name);
    if (!list) return k - 1;
    // Skip to the next top-level comma of this list, or stop at a clause word.
    let depth = 0;
    for (; k < tokens.length; k++) {
      const tk = tokens[k]!;
      if (tk.t === "punct") {
        if (tk.v === "(") depth++;
        else if (tk.v === ")") { if (--depth < 0) return k - 1; }
        else if (tk.v === "," && depth === 0) break;
      } else if (tk.t === "word" && depth === 0 && !tk.quoted && CLAUSE_WORDS.has(tk.v) && tk.v !== "as") {
        return k - 1;
      }
    }
    if (k >= tokens.length) return k - 1;
    k++;
  }
}

/** Tokenizes `sql` into statements; see the module comment. An empty string is no statements. */
export function parseSql(sql: string): SqlParseResult {
  const tokens = tokenize(sql);
  if (typeof tokens === "string") return { ok: false, error: tokens };
  const statements: SqlStatement[] = [];
  for (const st of tokens) {
    const head = st.find((tk) => !(tk.t === "punct" && tk.v === "("));
    if (head?.t !== "word") return { ok: false, error: "a statement must start with a keyword" };
    statements.push(statementOf(st));
  }
  return { ok: true, statements };
}
