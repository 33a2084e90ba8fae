/**
 * The mongo_proxy wire-protocol decoder on every opcode, fed as one chunk, byte by byte and at random
 * splits; malformed input throws MongoDecodeError. Messages are built with the `bson` package (the driver's).
 */
import { deflateSync, zstdCompressSync } from "node:zlib";
import { BSON, Long, ObjectId, type Document } from "bson";
import { describe, expect, it } from "vitest";
import {
  crc32c,
  decodeMessage,
  MongoDecodeError,
  MongoDecoder,
  type MongoMessage,
  OP_COMPRESSED,
  OP_DELETE,
  OP_GET_MORE,
  OP_INSERT,
  OP_KILL_CURSORS,
  OP_MSG,
  OP_QUERY,
  OP_REPLY,
  OP_UPDATE,
} from "../src/extensions/filters/network/mongo_proxy/codec.ts";

function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}
function i64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
}
function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), Buffer.from([0])]);
}
function doc(d: Document): Buffer {
  return Buffer.from(BSON.serialize(d));
}
function frame(opCode: number, body: Buffer, requestId = 1, responseTo = 0): Buffer {
  return Buffer.concat([i32(16 + body.length), i32(requestId), i32(responseTo), i32(opCode), body]);
}

function opMsg(flags: number, body: Document, seq?: { id: string; docs: Document[] }, checksum = false): Buffer {
  const parts = [i32(flags | (checksum ? 1 : 0)), Buffer.from([0]), doc(body)];
  if (seq) {
    const payload = Buffer.concat([cstr(seq.id), ...seq.docs.map(doc)]);
    parts.push(Buffer.from([1]), i32(4 + payload.length), payload);
  }
  const m = frame(OP_MSG, Buffer.concat(parts), 42);
  if (!checksum) return m;
  const withLen = Buffer.concat([m, Buffer.alloc(4)]);
  withLen.writeInt32LE(withLen.length, 0);
  withLen.writeUInt32LE(crc32c(withLen.subarray(0, withLen.length - 4)), withLen.length - 4);
  return withLen;
}

function compressed(inner: Buffer, compressor: number): Buffer {
  const body = inner.subarray(16);
  const payload = compressor === 2 ? deflateSync(body) : compressor === 3 ? zstdCompressSync(body) : body;
  return frame(OP_COMPRESSED, Buffer.concat([i32(inner.readInt32LE(12)), i32(body.length), Buffer.from([compressor]), payload]), inner.readInt32LE(4));
}

const oid = new ObjectId("64b7f0c2a1b2c3d4e5f60718");

const VECTORS: { name: string; bytes: Buffer; check(m: MongoMessage): void }[] = [
  {
    name: "OP_MSG kind 0 + kind 1 with checksum",
    bytes: opMsg(0, { insert: "items", $db: "shop", ordered: true }, { id: "documents", docs: [{ _id: oid, k: 1 }, { k: Long.fromString("9007199254740993") }] }, true),
    check(m) {
      expect(m.op).toBe("OP_MSG");
      if (m.op !== "OP_MSG") return;
      expect(m.body).toEqual({ insert: "items", $db: "shop", ordered: true });
      expect(m.sequences).toEqual([{ identifier: "documents", documents: [{ _id: { $oid: oid.toHexString() }, k: 1 }, { k: { $numberLong: "9007199254740993" } }] }]);
      expect(m.checksum).toBeTypeOf("number");
    },
  },
  {
    name: "OP_MSG with every BSON type",
    bytes: opMsg(1 << 16, {
      find: "c", d: 1.5, s: "é", o: { a: [1, "x"] }, b: new BSON.Binary(Buffer.from([1, 2]), 4), t: true, n: null,
      dt: new Date(1_000), re: new BSON.BSONRegExp("^a", "i"), ts: new BSON.Timestamp({ t: 5, i: 6 }), dec: BSON.Decimal128.fromString("1.5"),
      min: new BSON.MinKey(), max: new BSON.MaxKey(), code: new BSON.Code("x()"), scoped: new BSON.Code("y()", { z: 1 }),
    }),
    check(m) {
      if (m.op !== "OP_MSG") throw new Error(m.op);
      expect(m.flags).toBe(1 << 16);
      const b = m.body;
      expect(b.d).toBe(1.5);
      expect(b.s).toBe("é");
      expect(b.o).toEqual({ a: [1, "x"] });
      expect(b.b).toEqual({ $binary: { base64: "AQI=", subType: "04" } });
      expect([b.t, b.n]).toEqual([true, null]);
      expect(b.dt).toEqual({ $date: 1000 });
      expect(b.re).toEqual({ $regularExpression: { pattern: "^a", options: "i" } });
      expect(b.ts).toEqual({ $timestamp: { t: 5, i: 6 } });
      expect(Object.keys(b.dec as object)).toEqual(["$numberDecimal"]);
      expect([b.min, b.max]).toEqual([{ $minKey: 1 }, { $maxKey: 1 }]);
      expect(b.code).toEqual({ $code: "x()" });
      expect(b.scoped).toEqual({ $code: "y()", $scope: { z: 1 } });
    },
  },
  {
    name: "OP_QUERY with fields",
    bytes: frame(OP_QUERY, Buffer.concat([i32(1 << 1 | 1 << 5), cstr("db.coll"), i32(3), i32(-1), doc({ $query: { _id: 1 }, $comment: "c" }), doc({ a: 1 })])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_QUERY", flags: 34, collection: "db.coll", skip: 3, limit: -1, query: { $query: { _id: 1 }, $comment: "c" }, fields: { a: 1 } });
    },
  },
  {
    name: "OP_REPLY",
    bytes: frame(OP_REPLY, Buffer.concat([i32(2), i64(77n), i32(0), i32(2), doc({ a: 1 }), doc({ b: 2 })]), 9, 42),
    check(m) {
      expect(m).toMatchObject({ op: "OP_REPLY", flags: 2, cursorId: 77n, numberReturned: 2, documents: [{ a: 1 }, { b: 2 }], header: { requestId: 9, responseTo: 42 } });
    },
  },
  {
    name: "OP_GET_MORE",
    bytes: frame(OP_GET_MORE, Buffer.concat([i32(0), cstr("db.c"), i32(10), i64(123456789012n)])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_GET_MORE", collection: "db.c", numberToReturn: 10, cursorId: 123456789012n });
    },
  },
  {
    name: "OP_KILL_CURSORS",
    bytes: frame(OP_KILL_CURSORS, Buffer.concat([i32(0), i32(2), i64(1n), i64(-2n)])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_KILL_CURSORS", cursorIds: [1n, -2n] });
    },
  },
  {
    name: "OP_INSERT",
    bytes: frame(OP_INSERT, Buffer.concat([i32(1), cstr("db.c"), doc({ a: 1 }), doc({ a: 2 })])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_INSERT", flags: 1, collection: "db.c", documents: [{ a: 1 }, { a: 2 }] });
    },
  },
  {
    name: "OP_UPDATE",
    bytes: frame(OP_UPDATE, Buffer.concat([i32(0), cstr("db.c"), i32(2), doc({ a: 1 }), doc({ $set: { a: 2 } })])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_UPDATE", flags: 2, collection: "db.c", selector: { a: 1 }, update: { $set: { a: 2 } } });
    },
  },
  {
    name: "OP_DELETE",
    bytes: frame(OP_DELETE, Buffer.concat([i32(0), cstr("db.c"), i32(1), doc({ a: 1 })])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_DELETE", flags: 1, collection: "db.c", selector: { a: 1 } });
    },
  },
  ...[0, 2, 3].map((compressor) => ({
    name: `OP_COMPRESSED (compressor ${compressor}) around OP_MSG`,
    bytes: compressed(opMsg(0, { ping: 1, $db: "admin" }), compressor),
    check(m: MongoMessage) {
      expect(m).toMatchObject({ op: "OP_COMPRESSED", compressorId: compressor, originalOpCode: OP_MSG, inner: { op: "OP_MSG", body: { ping: 1, $db: "admin" }, header: { requestId: 42 } } });
    },
  })),
  {
    name: "OP_COMPRESSED with snappy: header only",
    bytes: frame(OP_COMPRESSED, Buffer.concat([i32(OP_MSG), i32(30), Buffer.from([1]), Buffer.from("snappy bytes")])),
    check(m) {
      expect(m).toMatchObject({ op: "OP_COMPRESSED", compressorId: 1, originalOpCode: OP_MSG, uncompressedSize: 30 });
      expect(m.op === "OP_COMPRESSED" && "inner" in m).toBe(false);
    },
  },
];

/** A small deterministic PRNG (mulberry32), so random splits are reproducible. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function feedSplits(bytes: Buffer, splits: number[]): MongoMessage[] {
  const d = new MongoDecoder();
  const out: MongoMessage[] = [];
  let off = 0;
  for (const end of [...splits, bytes.length]) {
    // Copy each piece: the decoder must not keep the caller's chunk.
    const chunk = Buffer.from(bytes.subarray(off, end));
    out.push(...d.feed(chunk));
    chunk.fill(0xee);
    off = end;
  }
  expect(d.buffered).toBe(0);
  return out;
}

describe("mongo wire codec", () => {
  const all = Buffer.concat(VECTORS.map((v) => v.bytes));

  for (const v of VECTORS) {
    it(`${v.name}: one chunk, byte by byte, random splits`, () => {
      const whole = feedSplits(v.bytes, []);
      expect(whole).toHaveLength(1);
      v.check(whole[0]!);
      const bytewise = feedSplits(v.bytes, Array.from({ length: v.bytes.length - 1 }, (_, i) => i + 1));
      expect(bytewise).toEqual(whole);
      const r = rng(v.bytes.length);
      for (let round = 0; round < 20; round++) {
        const cuts = [...new Set(Array.from({ length: 1 + Math.floor(r() * 5) }, () => 1 + Math.floor(r() * (v.bytes.length - 1))))].sort((a, b) => a - b);
        expect(feedSplits(v.bytes, cuts)).toEqual(whole);
      }
    });
  }

  it("decodes every vector back to back, at random splits", () => {
    const expected = feedSplits(all, []);
    expect(expected.map((m) => m.op)).toEqual(VECTORS.map((v) => decodeMessage(v.bytes).op));
    const r = rng(7);
    for (let round = 0; round < 30; round++) {
      const cuts = [...new Set(Array.from({ length: 20 }, () => 1 + Math.floor(r() * (all.length - 1))))].sort((a, b) => a - b);
      expect(feedSplits(all, cuts)).toEqual(expected);
    }
  });

  it("holds an incomplete message until the rest arrives", () => {
    const d = new MongoDecoder();
    const m = VECTORS[0]!.bytes;
    expect(d.feed(m.subarray(0, 3))).toEqual([]);
    expect(d.feed(m.subarray(3, m.length - 1))).toEqual([]);
    expect(d.buffered).toBe(m.length - 1);
    expect(d.feed(m.subarray(m.length - 1))).toHaveLength(1);
  });

  const BAD: [string, Buffer][] = [
    ["a length below the header size", Buffer.from([5, 0, 0, 0, 1, 2, 3, 4])],
    ["a length above 48 MB", Buffer.concat([i32(48_000_001), Buffer.alloc(12)])],
    ["an unknown opcode", frame(9999, Buffer.alloc(4))],
    ["a bad OP_MSG checksum", (() => {
      const m = opMsg(0, { ping: 1 }, undefined, true);
      m.writeUInt8(m.readUInt8(m.length - 1) ^ 0xff, m.length - 1);
      return m;
    })()],
    ["unknown OP_MSG required flag bits", opMsg(1 << 3, { ping: 1 })],
    ["an OP_MSG section kind 2", frame(OP_MSG, Buffer.concat([i32(0), Buffer.from([2]), doc({ a: 1 })]))],
    ["an OP_MSG without a body", frame(OP_MSG, i32(0))],
    ["a BSON length past the message", frame(OP_MSG, Buffer.concat([i32(0), Buffer.from([0]), i32(100), Buffer.from([0])]))],
    ["an unknown BSON type", frame(OP_MSG, Buffer.concat([i32(0), Buffer.from([0]), i32(8), Buffer.from([0x42, 0x61, 0, 0])]))],
    ["invalid UTF-8 in a string", frame(OP_QUERY, Buffer.concat([i32(0), Buffer.from([0xff, 0xfe, 0]), i32(0), i32(0), doc({})]))],
    ["an unterminated C string", frame(OP_QUERY, Buffer.concat([i32(0), Buffer.from("abc")]))],
    ["OP_REPLY numberReturned not matching", frame(OP_REPLY, Buffer.concat([i32(0), i64(0n), i32(0), i32(3), doc({ a: 1 })]))],
    ["OP_KILL_CURSORS count not matching", frame(OP_KILL_CURSORS, Buffer.concat([i32(0), i32(5), i64(1n)]))],
    ["trailing bytes", frame(OP_GET_MORE, Buffer.concat([i32(0), cstr("db.c"), i32(1), i64(1n), Buffer.from([1])]))],
    ["a zlib payload that does not inflate", frame(OP_COMPRESSED, Buffer.concat([i32(OP_MSG), i32(10), Buffer.from([2]), Buffer.from("not zlib")]))],
    ["a wrong uncompressedSize", frame(OP_COMPRESSED, Buffer.concat([i32(OP_MSG), i32(1000), Buffer.from([2]), deflateSync(Buffer.from("tiny"))]))],
    ["an unknown compressor", frame(OP_COMPRESSED, Buffer.concat([i32(OP_MSG), i32(4), Buffer.from([9]), Buffer.from("abcd")]))],
    ["nested BSON past the depth limit", (() => {
      let d: Document = { x: 1 };
      for (let i = 0; i < 120; i++) d = { d };
      return frame(OP_MSG, Buffer.concat([i32(0), Buffer.from([0]), doc(d)]));
    })()],
  ];

  for (const [what, bytes] of BAD) {
    it(`refuses ${what}`, () => {
      expect(() => new MongoDecoder().feed(bytes)).toThrow(MongoDecodeError);
    });
  }

  it("skips documents deeper than maxDepth but still counts them and checks their bounds", () => {
    const reply = opMsg(0, { cursor: { firstBatch: [{ a: { b: 1 } }, { c: 2 }, {}], id: Long.fromNumber(5), ns: "db.c" }, ok: 1 });
    const [m] = new MongoDecoder(2).feed(reply);
    if (m?.op !== "OP_MSG") throw new Error("expected OP_MSG");
    expect(m.body).toEqual({ cursor: { firstBatch: [{}, {}, {}], id: 5, ns: "db.c" }, ok: 1 });
    const [full] = new MongoDecoder().feed(reply);
    expect(full?.op === "OP_MSG" && full.body.cursor).toEqual({ firstBatch: [{ a: { b: 1 } }, { c: 2 }, {}], id: 5, ns: "db.c" });
    // A skipped document whose length runs past its parent is still an error.
    const bad = Buffer.from(reply);
    const at = bad.indexOf(Buffer.from("firstBatch")) + "firstBatch".length + 1 + 4 + 3;
    bad.writeInt32LE(5000, at);
    expect(() => new MongoDecoder(2).feed(bad)).toThrow(MongoDecodeError);
  });

  it("computes CRC-32C (the OP_MSG checksum)", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
  });
});
