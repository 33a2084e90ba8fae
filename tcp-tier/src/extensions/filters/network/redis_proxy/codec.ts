/**
 * RESP2 and RESP3, pure: bytes in, values out, no sockets.
 *
 * - {@link RequestParser}: the client side. Commands arrive as arrays of bulk strings (what every client
 *   library sends) or as inline commands (a line of space-separated words, what `telnet` and `redis-cli`
 *   in a pipe may send). Incremental: feed chunks of any size; each complete command is handed out as its
 *   arguments.
 * - {@link ReplyParser}: the server side, every RESP2 and RESP3 type. Incremental too; each complete reply
 *   is handed out as its exact bytes (the proxy forwards them untouched) and decoded only when a reply
 *   has to be merged ({@link decodeReply}).
 * - {@link CommandScanner} and {@link ReplyScanner}: the same scanning, handing out where a command's
 *   arguments and a reply are instead of views of them (the proxy's forwarding path: it copies bytes and
 *   makes a view only of what it reads). The two parsers above are built on them.
 * - Encoders for the replies the proxy makes itself.
 *
 * Malformed input never throws out of `feed`: it returns an error string (the filter closes that
 * connection and counts `downstream_cx_protocol_error`), and the parser stays failed.
 */

/** A decoded reply. Maps and attributes are flattened key, value, key, value… as on the wire. */
export type RespValue =
  | { type: "simple"; value: string }
  | { type: "error"; value: string }
  | { type: "integer"; value: bigint }
  | { type: "bulk"; value: Uint8Array | null }
  | { type: "array"; value: RespValue[] | null }
  | { type: "null" }
  | { type: "boolean"; value: boolean }
  | { type: "double"; value: string }
  | { type: "bignum"; value: string }
  | { type: "verbatim"; value: Uint8Array }
  | { type: "bulkerror"; value: Uint8Array }
  | { type: "map" | "set" | "push" | "attribute"; value: RespValue[] };

/** Redis's own limits: a bulk string up to 512 MB, an inline command up to 64 KiB. */
export const MAX_BULK_LENGTH = 512 * 1024 * 1024;
export const MAX_INLINE_LENGTH = 64 * 1024;
/** Elements in one multibulk request (Redis allows 1M for a client's command). */
export const MAX_ARRAY_LENGTH = 1024 * 1024;
/** Nesting of reply aggregates; deeper is treated as malformed so parsing stays bounded. */
export const MAX_DEPTH = 64;

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** Thrown inside this module only; `feed` turns it into an error string. */
class ProtocolError extends Error {}

/** Needs more bytes. */
const INCOMPLETE = -1;

/** Accumulates chunks and hands out a contiguous view; consumed bytes are dropped lazily. */
class Buffer {
  buf: Uint8Array = EMPTY;
  start = 0;
  end = 0;

  append(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.start === this.end) {
      // Common case: the previous chunk was consumed whole; borrow the new one without copying. A
      // Node Buffer is viewed as a plain Uint8Array: the views handed out per argument and per reply
      // are then made by the engine's own subarray (Buffer's is a slower JS function, one per view).
      this.buf = chunk.constructor === Uint8Array ? chunk : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    const live = this.end - this.start;
    const next = new Uint8Array(Math.max(live + chunk.length, live * 2));
    next.set(this.buf.subarray(this.start, this.end), 0);
    next.set(chunk, live);
    this.buf = next;
    this.start = 0;
    this.end = live + chunk.length;
  }

  get length(): number {
    return this.end - this.start;
  }

  clear(): void {
    this.buf = EMPTY;
    this.start = this.end = 0;
  }
}

/** Index of the CR of the next CRLF at or after `pos`, or INCOMPLETE. A CR not followed by LF is malformed. */
function lineEnd(buf: Uint8Array, pos: number, end: number, max: number): number {
  const limit = Math.min(end, pos + max + 1);
  const i = buf.indexOf(CR, pos);
  if (i < 0 || i >= end) {
    if (end - pos > max) throw new ProtocolError("line too long");
    return INCOMPLETE;
  }
  if (i >= limit) throw new ProtocolError("line too long");
  if (i + 1 >= end) return INCOMPLETE;
  if (buf[i + 1] !== LF) throw new ProtocolError("expected CRLF");
  return i;
}

/** A decimal integer in `buf[pos, end)`: optional '-', 1..19 digits. */
function parseInt(buf: Uint8Array, pos: number, end: number): number {
  let neg = false;
  if (buf[pos] === 45) {
    neg = true;
    pos++;
  }
  if (pos >= end || end - pos > 18) throw new ProtocolError("invalid length");
  let n = 0;
  for (let i = pos; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) throw new ProtocolError("invalid integer");
    n = n * 10 + d;
  }
  return neg ? -n : n;
}

/** Lines of simple types are at most this long (Redis's own error and status lines are short). */
const MAX_LINE = 64 * 1024;

/**
 * Scans one reply starting at `pos`; returns the position just after it, or INCOMPLETE. Throws
 * ProtocolError on malformed bytes.
 */
function scanReply(buf: Uint8Array, pos: number, end: number, depth: number): number {
  if (pos >= end) return INCOMPLETE;
  if (depth > MAX_DEPTH) throw new ProtocolError("replies nest too deep");
  const t = buf[pos]!;
  const le = lineEnd(buf, pos + 1, end, MAX_LINE);
  if (le === INCOMPLETE) return INCOMPLETE;
  const next = le + 2;
  switch (t) {
    case 43: // + simple
    case 45: // - error
    case 40: // ( big number
      return next;
    case 58: // : integer
      if (le === pos + 1) throw new ProtocolError("empty integer");
      parseInt(buf, pos + 1, le);
      return next;
    case 44: // , double
      if (le === pos + 1) throw new ProtocolError("empty double");
      return next;
    case 95: // _ null
      if (le !== pos + 1) throw new ProtocolError("invalid null");
      return next;
    case 35: // # boolean
      if (le !== pos + 2 || (buf[pos + 1] !== 116 && buf[pos + 1] !== 102)) throw new ProtocolError("invalid boolean");
      return next;
    case 36: // $ bulk
    case 61: // = verbatim
    case 33: {
      // ! bulk error
      const n = parseInt(buf, pos + 1, le);
      if (n === -1 && t === 36) return next;
      if (n < 0 || n > MAX_BULK_LENGTH) throw new ProtocolError("invalid bulk length");
      if (next + n + 2 > end) return INCOMPLETE;
      if (buf[next + n] !== CR || buf[next + n + 1] !== LF) throw new ProtocolError("bulk string not followed by CRLF");
      return next + n + 2;
    }
    case 42: // * array
    case 126: // ~ set
    case 62: // > push
    case 37: // % map
    case 124: {
      // | attribute (followed by the value it annotates)
      let n = parseInt(buf, pos + 1, le);
      if (n === -1 && t === 42) return next;
      if (n < 0 || n > MAX_ARRAY_LENGTH) throw new ProtocolError("invalid aggregate length");
      if (t === 37 || t === 124) n *= 2;
      let p = next;
      for (let i = 0; i < n; i++) {
        p = scanReply(buf, p, end, depth + 1);
        if (p === INCOMPLETE) return INCOMPLETE;
      }
      return t === 124 ? scanReply(buf, p, end, depth + 1) : p;
    }
    default:
      throw new ProtocolError(`unknown reply type byte ${t}`);
  }
}

/** Decodes one complete, already scanned reply at `pos`; returns it and the position after it. */
function decodeAt(buf: Uint8Array, pos: number): [RespValue, number] {
  const t = buf[pos]!;
  const le = buf.indexOf(CR, pos + 1);
  const line = () => latin1.decode(buf.subarray(pos + 1, le));
  const next = le + 2;
  switch (t) {
    case 43:
      return [{ type: "simple", value: line() }, next];
    case 45:
      return [{ type: "error", value: line() }, next];
    case 40:
      return [{ type: "bignum", value: line() }, next];
    case 58:
      return [{ type: "integer", value: BigInt(line()) }, next];
    case 44:
      return [{ type: "double", value: line() }, next];
    case 95:
      return [{ type: "null" }, next];
    case 35:
      return [{ type: "boolean", value: buf[pos + 1] === 116 }, next];
    case 36:
    case 61:
    case 33: {
      const n = parseInt(buf, pos + 1, le);
      if (n === -1) return [{ type: "bulk", value: null }, next];
      const value = buf.slice(next, next + n);
      const type = t === 36 ? "bulk" : t === 61 ? "verbatim" : "bulkerror";
      return [{ type, value } as RespValue, next + n + 2];
    }
    default: {
      let n = parseInt(buf, pos + 1, le);
      if (n === -1) return [{ type: "array", value: null }, next];
      if (t === 37 || t === 124) n *= 2;
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const [v, q] = decodeAt(buf, p);
        items.push(v);
        p = q;
      }
      if (t === 124) return decodeAt(buf, p); // attributes are metadata: the value they annotate is the reply
      const type = t === 42 ? "array" : t === 126 ? "set" : t === 62 ? "push" : "map";
      return [{ type, value: items } as RespValue, p];
    }
  }
}

/** Decodes one complete reply (as handed out by {@link ReplyParser}). */
export function decodeReply(frame: Uint8Array): RespValue {
  return decodeAt(frame, 0)[0];
}

/** The exact bytes of each element of an array/set/push reply frame (for merging MGET replies without re-encoding). */
export function splitAggregate(frame: Uint8Array): Uint8Array[] | null {
  const t = frame[0];
  if (t !== 42 && t !== 126 && t !== 62) return null;
  const le = frame.indexOf(CR, 1);
  const n = parseInt(frame, 1, le);
  if (n < 0) return null;
  const out: Uint8Array[] = [];
  let p = le + 2;
  for (let i = 0; i < n; i++) {
    const q = scanReply(frame, p, frame.length, 1);
    out.push(frame.subarray(p, q));
    p = q;
  }
  return out;
}

/**
 * Where the elements of an array reply frame are, without a view per element: offsets of the first `max`
 * (at most) elements' starts and the end of the last, `out[i]`..`out[i + 1]` being element i. Undefined
 * when the frame is not an array (an error, a null array). For merging MGET replies.
 */
export function elementBounds(frame: Uint8Array, max: number): number[] | undefined {
  if (frame[0] !== 42) return undefined;
  const le = frame.indexOf(CR, 1);
  const n = parseInt(frame, 1, le);
  if (n < 0) return undefined;
  const m = Math.min(n, max);
  let p = le + 2;
  const out = [p];
  for (let i = 0; i < m; i++) out.push((p = scanReply(frame, p, frame.length, 1)));
  return out;
}

/**
 * The merged reply of a split MGET: an array of `owner.length` elements, element i taken from the
 * reply of group `owner[i]` (the groups' elements in order, `bounds` from {@link elementBounds}); a
 * group's reply that is not an array (or too short) stands whole for each of its elements. Sized first
 * and written once.
 */
export function mergeElements(owner: ArrayLike<number>, replies: readonly Uint8Array[], bounds: readonly (ArrayLike<number> | undefined)[]): Uint8Array {
  const next = new Array<number>(replies.length).fill(0);
  let total = headerLength(owner.length);
  for (let i = 0; i < owner.length; i++) {
    const g = owner[i]!;
    const b = bounds[g];
    const k = next[g]!;
    next[g] = k + 1;
    total += b && k + 1 < b.length ? b[k + 1]! - b[k]! : replies[g]!.length;
  }
  const out = new Uint8Array(total);
  let o = putHeader(out, 0, STAR, owner.length);
  next.fill(0);
  for (let i = 0; i < owner.length; i++) {
    const g = owner[i]!;
    const b = bounds[g];
    const r = replies[g]!;
    const k = next[g]!;
    next[g] = k + 1;
    if (b && k + 1 < b.length) {
      const from = b[k]!;
      const to = b[k + 1]!;
      // Elements are mostly short (a bulk string's header and value): copied by hand, no view per element.
      if (to - from < 64) for (let j = from; j < to; j++) out[o++] = r[j]!;
      else {
        out.set(r.subarray(from, to), o);
        o += to - from;
      }
    } else {
      out.set(r, o);
      o += r.length;
    }
  }
  return out;
}

/**
 * Incremental reply scanner: `onReply` gets where each complete reply is (`buf[start, end)`), so a
 * caller that only passes the bytes on makes no view of them. The bytes stay as they are as long as the
 * fed chunks are not modified (the scanner copies into a new array when it must join chunks).
 */
export class ReplyScanner {
  private readonly input = new Buffer();
  private failed: string | undefined;
  private readonly onReply: (buf: Uint8Array, start: number, end: number) => void;

  constructor(onReply: (buf: Uint8Array, start: number, end: number) => void) {
    this.onReply = onReply;
  }

  /** Feeds bytes; returns an error message when they are not RESP (the scanner then stays failed). */
  feed(chunk: Uint8Array): string | undefined {
    if (this.failed) return this.failed;
    const b = this.input;
    b.append(chunk);
    try {
      while (b.start < b.end) {
        const q = scanReply(b.buf, b.start, b.end, 0);
        if (q === INCOMPLETE) break;
        const from = b.start;
        b.start = q;
        this.onReply(b.buf, from, q);
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.failed = err.message;
      b.clear();
      return this.failed;
    }
    if (b.start === b.end) b.clear();
    return undefined;
  }

  /** Bytes held for an incomplete reply. */
  get buffered(): number {
    return this.input.length;
  }
}

/** Incremental reply parser: `onReply` gets each reply's exact bytes (a copy-free view when possible). */
export class ReplyParser {
  private readonly scanner: ReplyScanner;

  constructor(onReply: (frame: Uint8Array) => void) {
    this.scanner = new ReplyScanner((buf, start, end) => onReply(buf.subarray(start, end)));
  }

  /** Feeds bytes; returns an error message when they are not RESP (the parser then stays failed). */
  feed(chunk: Uint8Array): string | undefined {
    return this.scanner.feed(chunk);
  }

  /** Bytes held for an incomplete reply. */
  get buffered(): number {
    return this.scanner.buffered;
  }
}

/**
 * One command as {@link CommandScanner} found it: where its arguments are in `buf`, so the caller makes
 * a view only of the arguments it reads (most commands need their name's bytes and one key). One object
 * is reused for every command: valid only during the callback; views made from it stay valid as long as
 * the fed chunks are not modified (the scanner copies into a new array when it must join chunks).
 */
export class CommandView {
  buf: Uint8Array = EMPTY;
  argc = 0;
  /** Argument i is `buf[offsets[2i], offsets[2i + 1])` (multibulk commands). */
  offsets = new Int32Array(64);
  /** The command's exact bytes are `buf[start, end)` when it came as a multibulk; start is -1 for an inline command. */
  start = -1;
  end = -1;
  /** An inline command's arguments (already views). */
  inline: Uint8Array[] | undefined;

  /** A view of argument i (< argc). */
  arg(i: number): Uint8Array {
    return this.inline ? this.inline[i]! : this.buf.subarray(this.offsets[2 * i]!, this.offsets[2 * i + 1]!);
  }

  /** Every argument, as views. */
  args(): Uint8Array[] {
    if (this.inline) return this.inline;
    const out = new Array<Uint8Array>(this.argc);
    for (let i = 0; i < this.argc; i++) out[i] = this.buf.subarray(this.offsets[2 * i]!, this.offsets[2 * i + 1]!);
    return out;
  }

  /** The command's exact bytes (forwardable as is); undefined for an inline command. */
  raw(): Uint8Array | undefined {
    return this.start < 0 ? undefined : this.buf.subarray(this.start, this.end);
  }

  /** Byte `j` of argument `i` (multibulk commands only; the caller checks the length). */
  byteOf(i: number, j: number): number {
    return this.buf[this.offsets[2 * i]! + j]!;
  }

  /** Length of argument i. */
  argLength(i: number): number {
    return this.inline ? this.inline[i]!.length : this.offsets[2 * i + 1]! - this.offsets[2 * i]!;
  }
}

/**
 * Incremental request scanner: `onCommand` gets each command as a {@link CommandView} (no object per
 * argument). An empty inline line and an empty multibulk are skipped, as Redis does.
 */
export class CommandScanner {
  private readonly input = new Buffer();
  private failed: string | undefined;
  private readonly view = new CommandView();
  private readonly onCommand: (command: CommandView) => void;

  constructor(onCommand: (command: CommandView) => void) {
    this.onCommand = onCommand;
  }

  feed(chunk: Uint8Array): string | undefined {
    if (this.failed) return this.failed;
    const b = this.input;
    const v = this.view;
    b.append(chunk);
    try {
      while (b.start < b.end) {
        let q: number;
        if (b.buf[b.start] === 42) {
          v.inline = undefined;
          q = scanMultibulk(b.buf, b.start, b.end, v);
          if (q === INCOMPLETE) break;
          v.buf = b.buf;
          v.start = b.start;
          v.end = q;
        } else {
          const args: Uint8Array[] = [];
          q = scanInline(b.buf, b.start, b.end, args);
          if (q === INCOMPLETE) break;
          v.inline = args;
          v.argc = args.length;
          v.start = v.end = -1;
        }
        b.start = q;
        if (v.argc > 0) this.onCommand(v);
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.failed = `Protocol error: ${err.message}`;
      b.clear();
      return this.failed;
    }
    v.inline = undefined;
    v.buf = EMPTY;
    if (b.start === b.end) b.clear();
    return undefined;
  }

  get buffered(): number {
    return this.input.length;
  }
}

/**
 * Incremental request parser: `onCommand` gets each command's arguments. They are views into the input:
 * the parser never writes into bytes it has handed out (it copies into a new array when it must join
 * chunks), so the views stay valid as long as the caller does not modify the chunks it fed. An empty
 * inline line and an empty multibulk are skipped, as Redis does.
 */
export class RequestParser {
  private readonly scanner: CommandScanner;

  /** `raw` is the command's exact bytes when it came as a multibulk (forwardable as is); undefined for inline commands. */
  constructor(onCommand: (args: Uint8Array[], raw: Uint8Array | undefined) => void) {
    this.scanner = new CommandScanner((v) => onCommand(v.args(), v.raw()));
  }

  feed(chunk: Uint8Array): string | undefined {
    return this.scanner.feed(chunk);
  }

  get buffered(): number {
    return this.scanner.buffered;
  }
}

/** Scans one multibulk command at `pos` into `v` (argc and offsets); returns the position after it, or INCOMPLETE. */
function scanMultibulk(buf: Uint8Array, pos: number, end: number, v: CommandView): number {
  const le = lineEnd(buf, pos + 1, end, 32);
  if (le === INCOMPLETE) return INCOMPLETE;
  const n = parseInt(buf, pos + 1, le);
  if (n > MAX_ARRAY_LENGTH) throw new ProtocolError("invalid multibulk length");
  let p = le + 2;
  let argc = 0;
  for (let i = 0; i < n; i++) {
    if (p >= end) return INCOMPLETE;
    if (buf[p] !== 36) throw new ProtocolError(`expected '$', got '${String.fromCharCode(buf[p]!)}'`);
    const l = lineEnd(buf, p + 1, end, 32);
    if (l === INCOMPLETE) return INCOMPLETE;
    const len = parseInt(buf, p + 1, l);
    if (len < 0 || len > MAX_BULK_LENGTH) throw new ProtocolError("invalid bulk length");
    const body = l + 2;
    if (body + len + 2 > end) return INCOMPLETE;
    if (buf[body + len] !== CR || buf[body + len + 1] !== LF) throw new ProtocolError("bulk string not followed by CRLF");
    if (2 * argc + 2 > v.offsets.length) {
      const grown = new Int32Array(v.offsets.length * 2);
      grown.set(v.offsets);
      v.offsets = grown;
    }
    v.offsets[2 * argc] = body;
    v.offsets[2 * argc + 1] = body + len;
    argc++;
    p = body + len + 2;
  }
  v.argc = argc;
  return p;
}

/** An inline command: words separated by spaces or tabs; a bare LF ends the line too, as in Redis. */
function scanInline(buf: Uint8Array, pos: number, end: number, args: Uint8Array[]): number {
  const i = buf.indexOf(LF, pos);
  if (i < 0 || i >= end) {
    if (end - pos > MAX_INLINE_LENGTH) throw new ProtocolError("too big inline request");
    return INCOMPLETE;
  }
  if (i - pos > MAX_INLINE_LENGTH) throw new ProtocolError("too big inline request");
  const lineStop = i > pos && buf[i - 1] === CR ? i - 1 : i;
  let p = pos;
  while (p < lineStop) {
    while (p < lineStop && (buf[p] === 32 || buf[p] === 9)) p++;
    if (p >= lineStop) break;
    if (buf[p] === 34 || buf[p] === 39) {
      const quote = buf[p]!;
      const close = buf.indexOf(quote, p + 1);
      if (close < 0 || close >= lineStop) throw new ProtocolError("unbalanced quotes in request");
      args.push(buf.subarray(p + 1, close));
      p = close + 1;
      continue;
    }
    const s = p;
    while (p < lineStop && buf[p] !== 32 && buf[p] !== 9) p++;
    args.push(buf.subarray(s, p));
  }
  return i + 1;
}

// ---- encoders ----

const CRLF = new Uint8Array([CR, LF]);

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `+OK\r\n`. The text must not contain CR or LF (they are replaced by spaces). */
export function simpleString(s: string): Uint8Array {
  return encoder.encode(`+${s.replace(/[\r\n]/g, " ")}\r\n`);
}

/** `-ERR …\r\n`. */
export function errorReply(s: string): Uint8Array {
  return encoder.encode(`-${s.replace(/[\r\n]/g, " ")}\r\n`);
}

export function integerReply(n: number | bigint): Uint8Array {
  return encoder.encode(`:${n}\r\n`);
}

export function bulkString(v: Uint8Array | string | null): Uint8Array {
  if (v === null) return NULL_BULK;
  const body = typeof v === "string" ? encoder.encode(v) : v;
  const out = new Uint8Array(headerLength(body.length) + body.length + 2);
  putBody(out, putHeader(out, 0, DOLLAR, body.length), body);
  return out;
}

/** An array whose elements are already encoded replies. */
export function arrayOf(elements: readonly Uint8Array[]): Uint8Array {
  let total = headerLength(elements.length);
  for (const e of elements) total += e.length;
  const out = new Uint8Array(total);
  let o = putHeader(out, 0, STAR, elements.length);
  for (const e of elements) {
    out.set(e, o);
    o += e.length;
  }
  return out;
}

/** A command as clients send it: an array of bulk strings. */
export function encodeCommand(args: readonly (Uint8Array | string)[]): Uint8Array {
  let bytes = true;
  for (const a of args) if (typeof a === "string") bytes = false;
  // Arguments already bytes (the MGET/MSET split): no encoded copy of the list.
  const bodies = bytes ? (args as readonly Uint8Array[]) : args.map((a) => (typeof a === "string" ? encoder.encode(a) : a));
  let total = headerLength(bodies.length);
  for (const b of bodies) total += headerLength(b.length) + b.length + 2;
  const out = new Uint8Array(total);
  let o = putHeader(out, 0, STAR, bodies.length);
  for (const b of bodies) o = putBody(out, putHeader(out, o, DOLLAR, b.length), b);
  return out;
}

// The encoders size their output first and write it once: no header strings, no concatenation (the
// MGET/MSET split and merge path runs them for every key).
const STAR = 0x2a;
const DOLLAR = 0x24;
const NULL_BULK = encoder.encode("$-1\r\n");

function decimalDigits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Bytes of `<prefix><n>\r\n`. */
function headerLength(n: number): number {
  return decimalDigits(n) + 3;
}

/** Writes `<prefix><n>\r\n` at `o` (n ≥ 0); returns the offset after it. */
function putHeader(out: Uint8Array, o: number, prefix: number, n: number): number {
  out[o++] = prefix;
  const d = decimalDigits(n);
  for (let i = d - 1; i >= 0; i--) {
    out[o + i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  o += d;
  out[o++] = 0x0d;
  out[o++] = 0x0a;
  return o;
}

/** Writes `body\r\n` at `o`; returns the offset after it. */
function putBody(out: Uint8Array, o: number, body: Uint8Array): number {
  out.set(body, o);
  o += body.length;
  out[o++] = 0x0d;
  out[o++] = 0x0a;
  return o;
}

/** Encodes a decoded value back to RESP (RESP3 types as themselves). */
export function encodeValue(v: RespValue): Uint8Array {
  switch (v.type) {
    case "simple":
      return simpleString(v.value);
    case "error":
      return errorReply(v.value);
    case "integer":
      return integerReply(v.value);
    case "bulk":
      return bulkString(v.value);
    case "array":
      return v.value === null ? encoder.encode("*-1\r\n") : arrayOf(v.value.map(encodeValue));
    case "null":
      return encoder.encode("_\r\n");
    case "boolean":
      return encoder.encode(v.value ? "#t\r\n" : "#f\r\n");
    case "double":
      return encoder.encode(`,${v.value}\r\n`);
    case "bignum":
      return encoder.encode(`(${v.value}\r\n`);
    case "verbatim":
    case "bulkerror":
      return concat([encoder.encode(`${v.type === "verbatim" ? "=" : "!"}${v.value.length}\r\n`), v.value, CRLF]);
    default: {
      const tag = v.type === "map" ? "%" : v.type === "set" ? "~" : v.type === "push" ? ">" : "|";
      const n = v.type === "map" || v.type === "attribute" ? v.value.length / 2 : v.value.length;
      return concat([encoder.encode(`${tag}${n}\r\n`), ...v.value.map(encodeValue)]);
    }
  }
}

/** Concatenates encoded pieces (exported for the filter's batching). */
export { concat as concatBytes };
