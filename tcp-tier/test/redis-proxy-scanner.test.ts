/**
 * The redis_proxy fast path's codec pieces: the command scanner (argument offsets instead of views, the
 * command's exact bytes), and the MGET merge from element bounds. Every vector whole, byte by byte, at
 * every two-way split and at random splits, from plain Uint8Arrays and from Node Buffers.
 */
import { describe, expect, it } from "vitest";
import { arrayOf, CommandScanner, elementBounds, mergeElements, ReplyParser, splitAggregate } from "../src/extensions/filters/network/redis_proxy/codec.ts";

const enc = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const b = (s: string) => enc.encode(s);
const text = (x: Uint8Array) => latin1.decode(x);

/** Whole, byte by byte, every two-way split, and seeded random splits. */
function splits(data: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[data], Array.from(data, (_x, i) => data.subarray(i, i + 1))];
  for (let i = 1; i < data.length; i++) out.push([data.subarray(0, i), data.subarray(i)]);
  let seed = 11;
  for (let n = 0; n < 10; n++) {
    const chunks: Uint8Array[] = [];
    let i = 0;
    while (i < data.length) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const len = 1 + (seed % 7);
      chunks.push(data.subarray(i, i + len));
      i += len;
    }
    out.push(chunks);
  }
  return out;
}

interface Seen {
  args: string[];
  raw: string | undefined;
  lengths: number[];
  firstBytes: number[];
  plain: boolean;
}

function scan(chunks: Uint8Array[], asBuffer = false): { seen: Seen[]; error?: string } {
  const seen: Seen[] = [];
  const s = new CommandScanner((v) => {
    const args = Array.from({ length: v.argc }, (_x, i) => text(v.arg(i)));
    const raw = v.raw();
    seen.push({
      args,
      raw: raw && text(raw),
      lengths: Array.from({ length: v.argc }, (_x, i) => v.argLength(i)),
      // byteOf reads multibulk arguments in place (inline commands have no offsets).
      firstBytes: v.start >= 0 ? Array.from({ length: v.argc }, (_x, i) => (v.argLength(i) > 0 ? v.byteOf(i, 0) : -1)) : [],
      plain: v.args().every((a) => a.constructor === Uint8Array) && (raw === undefined || raw.constructor === Uint8Array),
    });
    expect(v.args().map(text)).toEqual(args);
  });
  for (const c of chunks) {
    const error = s.feed(asBuffer ? Buffer.from(c) : c);
    if (error) return { seen, error };
  }
  expect(s.buffered).toBe(0);
  return { seen };
}

const many = Array.from({ length: 100 }, (_x, i) => `k${i}`);
const manyWire = `*101\r\n$4\r\nMGET\r\n${many.map((k) => `$${k.length}\r\n${k}\r\n`).join("")}`;

const COMMANDS: [string, { args: string[]; raw: string | undefined }[]][] = [
  ["*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", [{ args: ["GET", "key"], raw: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n" }]],
  [
    "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
    [
      { args: ["set", "k", "a\r\nb"], raw: "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n" },
      { args: ["PING"], raw: "*1\r\n$4\r\nPING\r\n" },
    ],
  ],
  ["*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [{ args: ["GET", ""], raw: "*2\r\n$3\r\nGET\r\n$0\r\n\r\n" }]],
  ["get k\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [{ args: ["get", "k"], raw: undefined }, { args: ["GET", "k"], raw: "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" }]],
  [manyWire, [{ args: ["MGET", ...many], raw: manyWire }]],
];

describe("command scanner", () => {
  const named = COMMANDS.map(([wire, want]) => [wire.length > 60 ? `${JSON.stringify(wire.slice(0, 40))}… (${wire.length} bytes)` : JSON.stringify(wire), wire, want] as const);
  it.each(named)("finds the arguments and exact bytes of %s at every split, from Uint8Arrays and Buffers", (_name, wire, want) => {
    for (const asBuffer of [false, true]) {
      for (const chunks of splits(b(wire))) {
        const { seen, error } = scan(chunks, asBuffer);
        expect(error).toBeUndefined();
        expect(seen.map((s) => ({ args: s.args, raw: s.raw }))).toEqual(want);
        for (const s of seen) {
          expect(s.lengths).toEqual(s.args.map((a) => a.length));
          if (s.raw !== undefined) expect(s.firstBytes).toEqual(s.args.map((a) => (a.length > 0 ? a.charCodeAt(0) : -1)));
          // Views are plain Uint8Arrays even when Node Buffers were fed.
          expect(s.plain).toBe(true);
        }
      }
    }
  });

  it.each(["*1\r\n:4\r\n", "*1\r\n$4\r\nPINGX\r\n", "*x\r\n", "*1\r\n$-5\r\n", 'get "k\r\n'])("reports malformed %j (never throws) and stays failed", (wire) => {
    for (const chunks of splits(b(wire))) expect(scan(chunks).error).toMatch(/^Protocol error/);
    const s = new CommandScanner(() => {});
    expect(s.feed(b(wire))).toBeDefined();
    expect(s.feed(b("*1\r\n$4\r\nPING\r\n"))).toBeDefined();
  });

  it("keeps views made during the callback valid after later chunks arrive", () => {
    const kept: Uint8Array[] = [];
    const s = new CommandScanner((v) => {
      kept.push(v.raw()!, v.arg(1));
    });
    const wire = b("*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n");
    for (const chunks of splits(wire)) {
      kept.length = 0;
      for (const c of chunks) s.feed(c);
      expect(kept.map(text)).toEqual(["*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n", "k1", "*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n", "k2"]);
    }
  });
});

/** Array replies as a shard may send them: bulk strings, nulls, nested arrays, RESP3 types, errors. */
const ARRAYS = [
  "*3\r\n$1\r\na\r\n$-1\r\n$0\r\n\r\n",
  "*2\r\n*2\r\n:1\r\n*1\r\n+x\r\n-ERR inner\r\n",
  "*4\r\n_\r\n#t\r\n,1.5\r\n%1\r\n+k\r\n$1\r\nv\r\n",
  "*2\r\n=7\r\ntxt:abc\r\n(123\r\n",
  "*1\r\n$70\r\n" + "v".repeat(70) + "\r\n",
  "*0\r\n",
];
const NOT_ARRAYS = ["-ERR down\r\n", "*-1\r\n", "$3\r\nabc\r\n", ":1\r\n"];

/** Frames of `wire` through the reply parser, at every split (the merge works on frames the parser handed out). */
function frames(wire: string): Uint8Array[][] {
  return splits(b(wire)).map((chunks) => {
    const out: Uint8Array[] = [];
    const p = new ReplyParser((f) => out.push(f.slice()));
    for (const c of chunks) expect(p.feed(Buffer.from(c))).toBeUndefined();
    return out;
  });
}

describe("element bounds and the MGET merge", () => {
  it.each(ARRAYS)("bounds each element of %j as splitAggregate does, at every split", (wire) => {
    for (const [frame] of frames(wire)) {
      const items = splitAggregate(frame!)!;
      const bounds = elementBounds(frame!, 1000)!;
      expect(bounds.length).toBe(items.length + 1);
      expect(Array.from({ length: items.length }, (_x, i) => text(frame!.subarray(bounds[i]!, bounds[i + 1]!)))).toEqual(items.map(text));
      // At most `max` elements.
      if (items.length > 1) expect(elementBounds(frame!, 1)!.length).toBe(2);
    }
  });

  it.each(NOT_ARRAYS)("has no bounds for %j", (wire) => {
    expect(elementBounds(b(wire), 5)).toBeUndefined();
  });

  it("merges interleaved groups in request order, equal to arrayOf of the elements", () => {
    for (const [x] of frames("*3\r\n$2\r\nx0\r\n$-1\r\n$70\r\n" + "y".repeat(70) + "\r\n")) {
      for (const [y] of frames("*2\r\n$2\r\ny0\r\n$0\r\n\r\n")) {
        const owner = Int32Array.from([0, 1, 0, 1, 0]);
        const merged = mergeElements(owner, [x!, y!], [elementBounds(x!, 3), elementBounds(y!, 2)]);
        const xs = splitAggregate(x!)!;
        const ys = splitAggregate(y!)!;
        expect(text(merged)).toBe(text(arrayOf([xs[0]!, ys[0]!, xs[1]!, ys[1]!, xs[2]!])));
      }
    }
  });

  it("puts a group's non-array reply (an error, a null array) whole in each of its positions, and a short array's missing elements too", () => {
    const ok = b("*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    const err = b("-ERR upstream failure\r\n");
    const owner = Int32Array.from([1, 0, 1, 0]);
    expect(text(mergeElements(owner, [ok, err], [elementBounds(ok, 2), elementBounds(err, 2)]))).toBe(
      "*4\r\n-ERR upstream failure\r\n$1\r\na\r\n-ERR upstream failure\r\n$1\r\nb\r\n",
    );
    const nil = b("*-1\r\n");
    expect(text(mergeElements(Int32Array.from([0, 0]), [nil], [elementBounds(nil, 2)]))).toBe("*2\r\n*-1\r\n*-1\r\n");
    const short = b("*1\r\n$1\r\na\r\n");
    expect(text(mergeElements(Int32Array.from([0, 0]), [short], [elementBounds(short, 2)]))).toBe("*2\r\n$1\r\na\r\n*1\r\n$1\r\na\r\n");
  });

  it("writes counts of every digit width", () => {
    for (const n of [1, 9, 10, 99, 100, 1000]) {
      const reply = b(`*${n}\r\n${":7\r\n".repeat(n)}`);
      const merged = mergeElements(new Int32Array(n), [reply], [elementBounds(reply, n)]);
      expect(text(merged)).toBe(text(reply));
    }
  });
});
