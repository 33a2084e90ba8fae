/**
 * MongoDB wire protocol decoder for the mongo_proxy sniffing filter: pure (bytes in, messages out, no
 * sockets). Decodes the 16-byte header and OP_MSG (flag bits, kind 0 body, kind 1 document sequences,
 * CRC-32C checksum), OP_QUERY, OP_REPLY, OP_GET_MORE, OP_KILL_CURSORS, OP_INSERT, OP_UPDATE, OP_DELETE and
 * OP_COMPRESSED (noop, zlib and zstd payloads through node:zlib; snappy is reported as undecodable: no
 * well-kept pure-JS snappy library is a dependency). BSON documents are read into plain JSON-able values
 * (extended-JSON shapes for the types JSON lacks), enough for command names, collections, `$comment`
 * callsites and reply fields.
 *
 * {@link MongoDecoder} is incremental: bytes may arrive in any split. Any malformed input throws a
 * {@link MongoDecodeError}; the decoder is then unusable and the caller stops sniffing.
 */
import { zlib } from "../../../../node-builtins.ts";

export const OP_REPLY = 1;
export const OP_UPDATE = 2001;
export const OP_INSERT = 2002;
export const OP_QUERY = 2004;
export const OP_GET_MORE = 2005;
export const OP_DELETE = 2006;
export const OP_KILL_CURSORS = 2007;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

/** MongoDB's largest message (`maxMessageSizeBytes`); a longer header length is a decoding error. */
export const MAX_MESSAGE_SIZE = 48_000_000;
/** BSON nesting deeper than this is refused, so reading stays bounded. */
const MAX_DEPTH = 100;

/** OP_QUERY flag bits. */
export const QUERY_TAILABLE_CURSOR = 1 << 1;
export const QUERY_NO_CURSOR_TIMEOUT = 1 << 4;
export const QUERY_AWAIT_DATA = 1 << 5;
export const QUERY_EXHAUST = 1 << 6;
/** OP_REPLY flag bits. */
export const REPLY_CURSOR_NOT_FOUND = 1 << 0;
export const REPLY_QUERY_FAILURE = 1 << 1;
/** OP_MSG flag bits. */
export const MSG_CHECKSUM_PRESENT = 1 << 0;
export const MSG_MORE_TO_COME = 1 << 1;
export const MSG_EXHAUST_ALLOWED = 1 << 16;

/** A BSON value as read: JSON-able (int64 outside the safe range, ObjectId, dates... as `{"$...": ...}`). */
export type BsonValue = null | boolean | number | string | BsonValue[] | BsonDocument;
export interface BsonDocument {
  [key: string]: BsonValue;
}

export interface MsgHeader {
  messageLength: number;
  requestId: number;
  responseTo: number;
  opCode: number;
}

export type MongoMessage =
  | { op: "OP_REPLY"; header: MsgHeader; flags: number; cursorId: bigint; startingFrom: number; numberReturned: number; documents: BsonDocument[] }
  | { op: "OP_QUERY"; header: MsgHeader; flags: number; collection: string; skip: number; limit: number; query: BsonDocument; fields?: BsonDocument }
  | { op: "OP_GET_MORE"; header: MsgHeader; collection: string; numberToReturn: number; cursorId: bigint }
  | { op: "OP_KILL_CURSORS"; header: MsgHeader; cursorIds: bigint[] }
  | { op: "OP_INSERT"; header: MsgHeader; flags: number; collection: string; documents: BsonDocument[] }
  | { op: "OP_UPDATE"; header: MsgHeader; flags: number; collection: string; selector: BsonDocument; update: BsonDocument }
  | { op: "OP_DELETE"; header: MsgHeader; flags: number; collection: string; selector: BsonDocument }
  | { op: "OP_MSG"; header: MsgHeader; flags: number; body: BsonDocument; sequences: { identifier: string; documents: BsonDocument[] }[]; checksum?: number }
  | {
      op: "OP_COMPRESSED";
      header: MsgHeader;
      originalOpCode: number;
      uncompressedSize: number;
      compressorId: number;
      /** The decompressed message; absent when the compressor is not one this decoder can undo (snappy). */
      inner?: MongoMessage;
    };

export class MongoDecodeError extends Error {}

function fail(msg: string): never {
  throw new MongoDecodeError(msg);
}

/** Bounds-checked little-endian reader over one message. */
class Cursor {
  readonly b: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly end: number;
  /** Documents nested deeper than this are checked for length and terminator only, and read as empty. */
  readonly maxDepth: number;

  constructor(b: Uint8Array, pos: number, end: number, maxDepth: number) {
    this.maxDepth = maxDepth;
    this.b = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.pos = pos;
    this.end = end;
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) fail("message truncated");
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }
  cstring(): string {
    const start = this.pos;
    const z = this.b.indexOf(0, start);
    if (z < 0 || z >= this.end) fail("unterminated C string");
    this.pos = z + 1;
    return utf8(this.b.subarray(start, z));
  }
  remaining(): number {
    return this.end - this.pos;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });
function utf8(b: Uint8Array): string {
  try {
    return decoder.decode(b);
  } catch {
    return fail("invalid UTF-8");
  }
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function long(v: bigint): BsonValue {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : { $numberLong: v.toString() };
}

/** Reads one BSON document at the cursor (its int32 length first) and advances past it. */
function readDocument(c: Cursor, depth = 0): BsonDocument {
  if (depth > MAX_DEPTH) fail("BSON nested too deeply");
  const start = c.pos;
  const len = c.i32();
  if (len < 5) fail("BSON document length too small");
  c.pos = start;
  c.need(len);
  const end = start + len;
  if (c.b[end - 1] !== 0) fail("BSON document not terminated");
  if (depth > c.maxDepth) {
    c.pos = end;
    return Object.create(null) as BsonDocument;
  }
  const inner = new Cursor(c.b, start + 4, end - 1, c.maxDepth);
  const doc: BsonDocument = Object.create(null) as BsonDocument;
  while (inner.pos < inner.end) {
    const type = inner.u8();
    const key = inner.cstring();
    doc[key] = readValue(inner, type, depth);
  }
  c.pos = end;
  return doc;
}

function readString(c: Cursor): string {
  const n = c.i32();
  if (n < 1) fail("BSON string length");
  c.need(n);
  if (c.b[c.pos + n - 1] !== 0) fail("BSON string not terminated");
  const s = utf8(c.b.subarray(c.pos, c.pos + n - 1));
  c.pos += n;
  return s;
}

function readValue(c: Cursor, type: number, depth: number): BsonValue {
  switch (type) {
    case 0x01: {
      c.need(8);
      const v = c.view.getFloat64(c.pos, true);
      c.pos += 8;
      return Number.isFinite(v) ? v : { $numberDouble: String(v) };
    }
    case 0x02:
      return readString(c);
    case 0x03:
      return readDocument(c, depth + 1);
    case 0x04:
      return Object.values(readDocument(c, depth + 1));
    case 0x05: {
      const n = c.i32();
      if (n < 0) fail("BSON binary length");
      const sub = c.u8();
      c.need(n);
      const data = c.b.subarray(c.pos, c.pos + n);
      c.pos += n;
      return { $binary: { base64: Buffer.from(data).toString("base64"), subType: sub.toString(16).padStart(2, "0") } };
    }
    case 0x06:
      return { $undefined: true };
    case 0x07: {
      c.need(12);
      const id = hex(c.b.subarray(c.pos, c.pos + 12));
      c.pos += 12;
      return { $oid: id };
    }
    case 0x08: {
      const v = c.u8();
      if (v > 1) fail("BSON boolean");
      return v === 1;
    }
    case 0x09:
      return { $date: long(c.i64()) };
    case 0x0a:
      return null;
    case 0x0b:
      return { $regularExpression: { pattern: c.cstring(), options: c.cstring() } };
    case 0x0c: {
      const ref = readString(c);
      c.need(12);
      const id = hex(c.b.subarray(c.pos, c.pos + 12));
      c.pos += 12;
      return { $dbPointer: { $ref: ref, $id: { $oid: id } } };
    }
    case 0x0d:
      return { $code: readString(c) };
    case 0x0e:
      return { $symbol: readString(c) };
    case 0x0f: {
      const start = c.pos;
      const total = c.i32();
      if (total < 14) fail("BSON code_w_scope length");
      c.need(total - 4);
      const end = start + total;
      const code = readString(c);
      const scope = readDocument(c, depth + 1);
      if (c.pos !== end) fail("BSON code_w_scope length");
      return { $code: code, $scope: scope };
    }
    case 0x10:
      return c.i32();
    case 0x11: {
      const i = c.u32();
      const t = c.u32();
      return { $timestamp: { t, i } };
    }
    case 0x12:
      return long(c.i64());
    case 0x13: {
      c.need(16);
      const v = hex(c.b.subarray(c.pos, c.pos + 16));
      c.pos += 16;
      return { $numberDecimal: v };
    }
    case 0xff:
      return { $minKey: 1 };
    case 0x7f:
      return { $maxKey: 1 };
    default:
      return fail(`unknown BSON type 0x${type.toString(16)}`);
  }
}

function documentsUntilEnd(c: Cursor): BsonDocument[] {
  const docs: BsonDocument[] = [];
  while (c.pos < c.end) docs.push(readDocument(c));
  return docs;
}

// CRC-32C (Castagnoli), the OP_MSG checksum. The table is built on first use, not at import: its 2,048-step
// loop is hot enough for V8 to compile it with TurboFan, which maps pages of the compiler into every tcp
// tier at start, mongo_proxy or not (about 5 MiB of RSS; docs/tcp-tier.md "Memory").
let CRC32C: Uint32Array | undefined;

function crc32cTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

export function crc32c(b: Uint8Array): number {
  const table = (CRC32C ??= crc32cTable());
  let c = 0xffffffff;
  for (const x of b) c = table[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Compressor ids of OP_COMPRESSED. */
export const COMPRESSOR_NOOP = 0;
export const COMPRESSOR_SNAPPY = 1;
export const COMPRESSOR_ZLIB = 2;
export const COMPRESSOR_ZSTD = 3;

/** Decodes one whole message (`b` holds exactly `messageLength` bytes). */
export function decodeMessage(b: Uint8Array, maxDepth = MAX_DEPTH, nested = false): MongoMessage {
  const c = new Cursor(b, 0, b.length, maxDepth);
  const header: MsgHeader = { messageLength: c.i32(), requestId: c.i32(), responseTo: c.i32(), opCode: c.i32() };
  if (header.messageLength !== b.length) fail("message length mismatch");
  let m: MongoMessage;
  switch (header.opCode) {
    case OP_REPLY: {
      const flags = c.i32();
      const cursorId = c.i64();
      const startingFrom = c.i32();
      const numberReturned = c.i32();
      const documents = documentsUntilEnd(c);
      if (numberReturned !== documents.length) fail("OP_REPLY numberReturned does not match its documents");
      m = { op: "OP_REPLY", header, flags, cursorId, startingFrom, numberReturned, documents };
      break;
    }
    case OP_QUERY: {
      const flags = c.i32();
      const collection = c.cstring();
      const skip = c.i32();
      const limit = c.i32();
      const query = readDocument(c);
      const fields = c.pos < c.end ? readDocument(c) : undefined;
      m = { op: "OP_QUERY", header, flags, collection, skip, limit, query, ...(fields ? { fields } : {}) };
      break;
    }
    case OP_GET_MORE: {
      c.i32();
      const collection = c.cstring();
      const numberToReturn = c.i32();
      m = { op: "OP_GET_MORE", header, collection, numberToReturn, cursorId: c.i64() };
      break;
    }
    case OP_KILL_CURSORS: {
      c.i32();
      const n = c.i32();
      if (n < 0 || n * 8 !== c.remaining()) fail("OP_KILL_CURSORS count does not match its length");
      const cursorIds: bigint[] = [];
      for (let i = 0; i < n; i++) cursorIds.push(c.i64());
      m = { op: "OP_KILL_CURSORS", header, cursorIds };
      break;
    }
    case OP_INSERT: {
      const flags = c.i32();
      const collection = c.cstring();
      m = { op: "OP_INSERT", header, flags, collection, documents: documentsUntilEnd(c) };
      break;
    }
    case OP_UPDATE: {
      c.i32();
      const collection = c.cstring();
      const flags = c.i32();
      const selector = readDocument(c);
      m = { op: "OP_UPDATE", header, flags, collection, selector, update: readDocument(c) };
      break;
    }
    case OP_DELETE: {
      c.i32();
      const collection = c.cstring();
      const flags = c.i32();
      m = { op: "OP_DELETE", header, flags, collection, selector: readDocument(c) };
      break;
    }
    case OP_MSG: {
      const flags = c.u32();
      // Bits 0-15 not defined by the protocol must be 0 (the server refuses them too).
      if ((flags & 0xfffc) !== 0) fail("OP_MSG has unknown required flag bits");
      let checksum: number | undefined;
      const sectionsEnd = flags & MSG_CHECKSUM_PRESENT ? b.length - 4 : b.length;
      if (sectionsEnd < c.pos) fail("message truncated");
      if (flags & MSG_CHECKSUM_PRESENT) {
        checksum = new DataView(b.buffer, b.byteOffset + sectionsEnd, 4).getUint32(0, true);
        if (crc32c(b.subarray(0, sectionsEnd)) !== checksum) fail("OP_MSG checksum mismatch");
      }
      const s = new Cursor(b, c.pos, sectionsEnd, maxDepth);
      let body: BsonDocument | undefined;
      const sequences: { identifier: string; documents: BsonDocument[] }[] = [];
      while (s.pos < s.end) {
        const kind = s.u8();
        if (kind === 0) {
          if (body) fail("OP_MSG has two body sections");
          body = readDocument(s);
        } else if (kind === 1) {
          const start = s.pos;
          const size = s.i32();
          if (size < 5) fail("OP_MSG document sequence size");
          s.need(size - 4);
          const seq = new Cursor(b, s.pos, start + size, maxDepth);
          const identifier = seq.cstring();
          sequences.push({ identifier, documents: documentsUntilEnd(seq) });
          s.pos = start + size;
        } else {
          fail(`OP_MSG section kind ${kind}`);
        }
      }
      if (!body) fail("OP_MSG has no body section");
      c.pos = c.end;
      m = { op: "OP_MSG", header, flags, body, sequences, ...(checksum !== undefined ? { checksum } : {}) };
      break;
    }
    case OP_COMPRESSED: {
      if (nested) fail("OP_COMPRESSED inside OP_COMPRESSED");
      const originalOpCode = c.i32();
      const uncompressedSize = c.i32();
      const compressorId = c.u8();
      if (uncompressedSize < 0 || uncompressedSize > MAX_MESSAGE_SIZE - 16) fail("OP_COMPRESSED size");
      if (originalOpCode === OP_COMPRESSED) fail("OP_COMPRESSED inside OP_COMPRESSED");
      const payload = b.subarray(c.pos);
      c.pos = c.end;
      let raw: Uint8Array | undefined;
      try {
        if (compressorId === COMPRESSOR_NOOP) raw = payload;
        else if (compressorId === COMPRESSOR_ZLIB) raw = zlib().inflateSync(payload, { maxOutputLength: uncompressedSize + 1 });
        else if (compressorId === COMPRESSOR_ZSTD) raw = zlib().zstdDecompressSync(payload, { maxOutputLength: uncompressedSize + 1 });
        else if (compressorId !== COMPRESSOR_SNAPPY) fail(`unknown compressor ${compressorId}`);
      } catch (err) {
        if (err instanceof MongoDecodeError) throw err;
        fail("OP_COMPRESSED payload does not decompress");
      }
      let inner: MongoMessage | undefined;
      if (raw) {
        if (raw.length !== uncompressedSize) fail("OP_COMPRESSED uncompressedSize mismatch");
        const whole = new Uint8Array(16 + raw.length);
        const v = new DataView(whole.buffer);
        v.setInt32(0, whole.length, true);
        v.setInt32(4, header.requestId, true);
        v.setInt32(8, header.responseTo, true);
        v.setInt32(12, originalOpCode, true);
        whole.set(raw, 16);
        inner = decodeMessage(whole, maxDepth, true);
      }
      m = { op: "OP_COMPRESSED", header, originalOpCode, uncompressedSize, compressorId, ...(inner ? { inner } : {}) };
      break;
    }
    default:
      return fail(`unknown opcode ${header.opCode}`);
  }
  if (c.pos !== c.end) fail("trailing bytes in message");
  return m;
}

/**
 * Incremental decoder for one direction of one connection. `feed` copies what it needs (the caller's
 * chunk is not kept) and returns the messages completed by it, in order.
 */
export class MongoDecoder {
  private buf = new Uint8Array(0);
  private len = 0;
  private readonly maxDepth: number;

  /**
   * @param maxDepth documents nested deeper are skipped (bounds checked, read as `{}` or `[]`): the filter
   *   reads replies to depth 2 (body → cursor → batch, whose length it counts) so large batches cost no
   *   allocation. Default: everything, up to the 100-level limit.
   */
  constructor(maxDepth = MAX_DEPTH) {
    this.maxDepth = maxDepth;
  }

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.len;
  }

  feed(data: Uint8Array): MongoMessage[] {
    const out: MongoMessage[] = [];
    let off = 0;
    // Fast path: nothing held, whole messages in the chunk are decoded in place.
    if (this.len === 0) {
      while (data.length - off >= 4) {
        const n = this.checkLength(data, off);
        if (data.length - off < n) break;
        out.push(decodeMessage(data.subarray(off, off + n), this.maxDepth));
        off += n;
      }
      if (off < data.length) this.append(data.subarray(off));
      return out;
    }
    this.append(data);
    let start = 0;
    while (this.len - start >= 4) {
      const n = this.checkLength(this.buf, start);
      if (this.len - start < n) break;
      out.push(decodeMessage(this.buf.slice(start, start + n), this.maxDepth));
      start += n;
    }
    if (start > 0) {
      this.buf.copyWithin(0, start, this.len);
      this.len -= start;
    }
    return out;
  }

  private checkLength(b: Uint8Array, off: number): number {
    const n = b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24);
    if (n < 16 || n > MAX_MESSAGE_SIZE) fail(`message length ${n} out of range`);
    return n;
  }

  private append(d: Uint8Array): void {
    if (this.len + d.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.len + d.length, this.buf.length * 2, 1024));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(d, this.len);
    this.len += d.length;
  }
}

/** The command name of a command document: its first key. */
export function commandName(doc: BsonDocument): string | undefined {
  for (const k in doc) return k;
  return undefined;
}
