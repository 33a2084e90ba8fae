/**
 * postgres_proxy's pure parts: the incremental protocol decoder (every vector as one chunk, byte by byte
 * and at seeded random splits, with the same events each way) and the SQL tokenizer.
 */
import { describe, expect, it } from "vitest";
import {
  type BackendEvent,
  CANCEL_REQUEST_CODE,
  encode,
  type FrontendEvent,
  GSSENC_REQUEST_CODE,
  MAX_BUFFERED_BODY,
  PgDecoder,
  SSL_REQUEST_CODE,
} from "../src/extensions/filters/network/postgres_proxy/codec.ts";
import { parseSql } from "../src/extensions/filters/network/postgres_proxy/sql.ts";

type Step = ["f" | "b", Uint8Array];
type Seen = ["f", FrontendEvent] | ["b", BackendEvent] | ["error", string] | ["encrypted"];

const u8 = (...parts: (Uint8Array | number[])[]) => new Uint8Array(parts.flatMap((p) => [...p]));
const int32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
};
const byte = (c: string) => new Uint8Array([c.charCodeAt(0)]);

/** Fields of an ErrorResponse / NoticeResponse. */
function fields(f: Record<string, string>): Uint8Array {
  return u8(...Object.entries(f).map(([k, v]) => u8(byte(k), encode.cstr(v))), [0]);
}

/** A small deterministic PRNG (mulberry32) so random splits are reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Splitter = (b: Uint8Array) => Uint8Array[];
const whole: Splitter = (b) => [b];
const bytewise: Splitter = (b) => [...b].map((x) => new Uint8Array([x]));
const randomSplits = (seed: number): Splitter => {
  const next = rng(seed);
  return (b) => {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < b.length) {
      const n = 1 + Math.floor(next() * Math.min(17, b.length - i));
      out.push(b.subarray(i, i + n));
      i += n;
    }
    return out;
  };
};

function run(steps: Step[], split: Splitter): { seen: Seen[]; decoder: PgDecoder } {
  const seen: Seen[] = [];
  const decoder = new PgDecoder({
    frontend: (e) => seen.push(["f", e]),
    backend: (e) => seen.push(["b", e]),
    onDecodingError: (d, r) => seen.push(["error", `${d}: ${r}`]),
    onEncrypted: () => seen.push(["encrypted"]),
  });
  for (const [dir, bytes] of steps) {
    for (const chunk of split(bytes)) {
      if (dir === "f") decoder.frontend(chunk);
      else decoder.backend(chunk);
    }
  }
  return { seen, decoder };
}

/** Runs `steps` whole, byte by byte and at 20 random splittings; all must give `expected`. */
function expectEverySplit(steps: Step[], expected: Seen[]): PgDecoder {
  const { seen, decoder } = run(steps, whole);
  expect(seen).toEqual(expected);
  expect(run(steps, bytewise).seen).toEqual(expected);
  for (let seed = 1; seed <= 20; seed++) expect(run(steps, randomSplits(seed)).seen).toEqual(expected);
  return decoder;
}

const startup = encode.startup({ user: "postgres", database: "test", application_name: "t" });
const authOk = encode.typed("R", int32(0));
const idle = encode.typed("Z", byte("I"));

describe("PgDecoder", () => {
  it("decodes an SSLRequest refused with N, the startup and a simple query session", () => {
    const steps: Step[] = [
      ["f", encode.untyped(SSL_REQUEST_CODE)],
      ["b", byte("N")],
      ["f", startup],
      ["b", u8(authOk, encode.typed("S", encode.cstr("server_version", "15")), encode.typed("K", u8(int32(7), int32(9))), idle)],
      ["f", encode.typed("Q", encode.cstr("SELECT 1; SELECT 'a;b'"))],
      [
        "b",
        u8(
          encode.typed("T", u8([0, 1], encode.cstr("x"), new Uint8Array(18))),
          encode.typed("D", u8([0, 1], int32(1), byte("1"))),
          encode.typed("C", encode.cstr("SELECT 1")),
          encode.typed("C", encode.cstr("SELECT 1")),
          idle,
        ),
      ],
      ["f", encode.typed("X", new Uint8Array(0))],
    ];
    expectEverySplit(steps, [
      ["f", { kind: "ssl-request" }],
      ["b", { kind: "encryption-answer", accepted: false, request: "ssl" }],
      ["f", { kind: "startup", version: 196608, params: { user: "postgres", database: "test", application_name: "t" } }],
      ["b", { kind: "authentication", code: 0 }],
      ["b", { kind: "message", name: "ParameterStatus" }],
      ["b", { kind: "message", name: "BackendKeyData" }],
      ["b", { kind: "ready-for-query", status: "I" }],
      ["f", { kind: "query", sql: "SELECT 1; SELECT 'a;b'" }],
      ["b", { kind: "message", name: "RowDescription" }],
      ["b", { kind: "message", name: "DataRow" }],
      ["b", { kind: "command-complete", tag: "SELECT 1" }],
      ["b", { kind: "command-complete", tag: "SELECT 1" }],
      ["b", { kind: "ready-for-query", status: "I" }],
      ["f", { kind: "message", name: "Terminate" }],
    ]);
  });

  it("decodes the extended protocol, errors and notices with their severities", () => {
    const steps: Step[] = [
      ["f", startup],
      ["b", u8(encode.typed("R", u8(int32(10), encode.cstr("SCRAM-SHA-256"), [0])), encode.typed("R", int32(0)), idle)],
      [
        "f",
        u8(
          encode.typed("P", u8(encode.cstr("s1", "INSERT INTO t VALUES ($1)"), [0, 0])),
          encode.typed("B", u8(encode.cstr("", "s1"), [0, 0, 0, 1], int32(1), byte("5"), [0, 0])),
          encode.typed("D", u8(byte("P"), encode.cstr(""))),
          encode.typed("E", u8(encode.cstr(""), int32(0))),
          encode.typed("S", new Uint8Array(0)),
        ),
      ],
      [
        "b",
        u8(
          encode.typed("1", new Uint8Array(0)),
          encode.typed("2", new Uint8Array(0)),
          encode.typed("n", new Uint8Array(0)),
          encode.typed("N", fields({ S: "AVISO", V: "WARNING", C: "01000", M: "careful" })),
          encode.typed("C", encode.cstr("INSERT 0 1")),
          encode.typed("E", fields({ S: "ERROR", C: "42601", M: "syntax error" })),
          encode.typed("Z", byte("E")),
        ),
      ],
    ];
    expectEverySplit(steps, [
      ["f", { kind: "startup", version: 196608, params: { user: "postgres", database: "test", application_name: "t" } }],
      ["b", { kind: "authentication", code: 10 }],
      ["b", { kind: "authentication", code: 0 }],
      ["b", { kind: "ready-for-query", status: "I" }],
      ["f", { kind: "parse", statement: "s1", sql: "INSERT INTO t VALUES ($1)" }],
      ["f", { kind: "message", name: "Bind" }],
      ["f", { kind: "message", name: "Describe" }],
      ["f", { kind: "message", name: "Execute" }],
      ["f", { kind: "message", name: "Sync" }],
      ["b", { kind: "message", name: "ParseComplete" }],
      ["b", { kind: "message", name: "BindComplete" }],
      ["b", { kind: "message", name: "NoData" }],
      // The non-localized V field wins over the localized S.
      ["b", { kind: "notice", severity: "WARNING", fields: { S: "AVISO", V: "WARNING", C: "01000", M: "careful" } }],
      ["b", { kind: "command-complete", tag: "INSERT 0 1" }],
      ["b", { kind: "error", severity: "ERROR", fields: { S: "ERROR", C: "42601", M: "syntax error" } }],
      ["b", { kind: "ready-for-query", status: "E" }],
    ]);
  });

  it("stops decoding once the server accepts SSL, without an error", () => {
    const d = expectEverySplit(
      [
        ["f", encode.untyped(SSL_REQUEST_CODE)],
        ["b", u8(byte("S"), [0x16, 0x03, 0x01, 0x00, 0x01])],
        ["f", u8([0x16, 0x03, 0x01, 0x02, 0x00], new Uint8Array(40))],
      ],
      [["f", { kind: "ssl-request" }], ["b", { kind: "encryption-answer", accepted: true, request: "ssl" }], ["encrypted"]],
    );
    expect(d.encrypted).toBe(true);
    expect(d.failed).toBe(false);
    expect(d.active).toBe(false);
  });

  it("decodes a GSSENCRequest refused, then a CancelRequest on its own connection", () => {
    expectEverySplit(
      [
        ["f", encode.untyped(GSSENC_REQUEST_CODE)],
        ["b", byte("N")],
        ["f", startup],
      ],
      [
        ["f", { kind: "gssenc-request" }],
        ["b", { kind: "encryption-answer", accepted: false, request: "gssenc" }],
        ["f", { kind: "startup", version: 196608, params: { user: "postgres", database: "test", application_name: "t" } }],
      ],
    );
    expectEverySplit([["f", encode.untyped(CANCEL_REQUEST_CODE, u8(int32(42), int32(7)))]], [["f", { kind: "cancel-request" }]]);
  });

  it("skips large bodies it does not read and reports an oversized Query without its SQL", () => {
    const big = new Uint8Array(MAX_BUFFERED_BODY + 10).fill(0x41);
    const steps: Step[] = [
      ["f", startup],
      ["f", encode.typed("Q", u8(big, [0]))],
      ["b", u8(encode.typed("D", u8([0, 1], int32(big.length), big)), encode.typed("C", encode.cstr("SELECT 1")))],
    ];
    const expected: Seen[] = [
      ["f", { kind: "startup", version: 196608, params: { user: "postgres", database: "test", application_name: "t" } }],
      ["f", { kind: "query", sql: undefined }],
      ["b", { kind: "message", name: "DataRow" }],
      ["b", { kind: "command-complete", tag: "SELECT 1" }],
    ];
    expect(run(steps, whole).seen).toEqual(expected);
    expect(run(steps, randomSplits(3)).seen).toEqual(expected);
  });

  it("reports unknown type bytes and goes on", () => {
    expectEverySplit(
      [["f", startup], ["f", u8(encode.typed("y", u8([1, 2, 3])), encode.typed("H", new Uint8Array(0)))], ["b", encode.typed("!", u8([9]))]],
      [
        ["f", { kind: "startup", version: 196608, params: { user: "postgres", database: "test", application_name: "t" } }],
        ["f", { kind: "unknown", type: "y".charCodeAt(0) }],
        ["f", { kind: "message", name: "Flush" }],
        ["b", { kind: "unknown", type: "!".charCodeAt(0) }],
      ],
    );
  });

  it("stops on broken framing, once, and ignores later bytes", () => {
    const cases: [Step[], string][] = [
      [[["f", startup], ["f", u8(byte("Q"), int32(2))], ["f", encode.typed("Q", encode.cstr("SELECT 1"))]], "frontend: message Q with length 2"],
      [[["f", u8(int32(8), int32(0x00020000))]], "frontend: unsupported protocol version 2.0"],
      [[["f", u8(int32(20000), int32(196608))]], "frontend: startup packet with length 20000"],
      [[["f", encode.untyped(SSL_REQUEST_CODE, u8([1, 2, 3, 4]))]], `frontend: startup packet ${SSL_REQUEST_CODE} with length 12`],
      [[["f", encode.untyped(196608, u8(encode.cstr("user"), [0]))]], "frontend: malformed StartupMessage parameters"],
      [[["f", encode.untyped(SSL_REQUEST_CODE)], ["b", byte("x")], ["b", byte("N")]], "backend: unexpected answer byte 120 to ssl request"],
      [[["f", startup], ["b", encode.typed("Z", u8([0x49, 0x49]))]], "backend: ReadyForQuery with a body that is not one byte"],
      [[["f", startup], ["b", encode.typed("C", byte("x"))]], "backend: CommandComplete without a terminating zero"],
      [[["f", startup], ["b", encode.typed("E", u8(byte("S"), encode.cstr("ERROR")))]], "backend: malformed ErrorResponse/NoticeResponse fields"],
      [[["f", startup], ["b", encode.typed("R", u8([0, 0]))]], "backend: Authentication message shorter than its code"],
    ];
    for (const [steps, reason] of cases) {
      for (const split of [whole, bytewise, randomSplits(9)]) {
        const { seen, decoder } = run(steps, split);
        expect(seen.filter((s) => s[0] === "error"), reason).toEqual([["error", reason]]);
        // Nothing is decoded after the error.
        expect(seen[seen.length - 1], reason).toEqual(["error", reason]);
        expect(decoder.failed).toBe(true);
        decoder.frontend(encode.typed("Q", encode.cstr("SELECT 1")));
        expect(seen[seen.length - 1]).toEqual(["error", reason]);
      }
    }
  });

  it("never throws on random bytes", () => {
    const next = rng(77);
    for (let k = 0; k < 200; k++) {
      const junk = new Uint8Array(1 + Math.floor(next() * 64)).map(() => Math.floor(next() * 256));
      const d = new PgDecoder({ frontend: () => {}, backend: () => {}, onDecodingError: () => {} });
      expect(() => {
        d.frontend(startup);
        d.frontend(junk);
        d.backend(junk);
      }).not.toThrow();
    }
  });
});

describe("parseSql", () => {
  it("finds each statement's kind and tables", () => {
    const r = parseSql(`
      INSERT INTO public.orders (id, note) VALUES (1, 'it''s; fine');
      UPDATE "Orders" SET n = n + 1 WHERE id IN (SELECT id FROM archive);
      DELETE FROM orders o USING items WHERE o.id = items.id;
      SELECT a.x, b.y FROM a, c AS cc JOIN b ON a.id = b.id WHERE $$ ; $$ <> E'\\' ;' -- comment ;
      ;
      WITH t AS (SELECT 1 FROM src) SELECT * FROM t FOR UPDATE;
      /* outer /* nested */ still comment ; */ CREATE TABLE x (i int);
      (SELECT 1) UNION (SELECT 2);
      SELECT * FROM generate_series(1, 3)`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.statements.map((s) => [s.kind, s.keyword, s.tables])).toEqual([
      ["insert", "insert", ["public.orders"]],
      ["update", "update", ["Orders", "archive"]],
      ["delete", "delete", ["orders"]],
      ["select", "select", ["a", "c", "b"]],
      ["select", "select", ["src", "t"]],
      ["other", "create", ["x"]],
      ["select", "select", []],
      ["select", "select", []],
    ]);
  });

  it("refuses unterminated quotes and comments, unbalanced parentheses and statements without a keyword", () => {
    for (const [sql, error] of [
      ["SELECT 'abc", "unterminated string literal"],
      ['SELECT "abc', "unterminated quoted identifier"],
      ["SELECT $x$ abc $y$", "unterminated dollar-quoted string"],
      ["SELECT 1 /* a /* b */", "unterminated comment"],
      ["SELECT (1", "unbalanced parentheses"],
      ["SELECT 1)", "unbalanced parentheses"],
      ["42", "a statement must start with a keyword"],
    ] as const) {
      expect(parseSql(sql), sql).toEqual({ ok: false, error });
    }
    expect(parseSql("")).toEqual({ ok: true, statements: [] });
  });
});
