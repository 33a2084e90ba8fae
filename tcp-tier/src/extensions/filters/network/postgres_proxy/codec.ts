/**
 * A pure, incremental decoder of the PostgreSQL frontend/backend protocol 3.0 (bytes in, events out,
 * no sockets), for the postgres_proxy filter, which only observes traffic.
 *
 * One {@link PgDecoder} follows one connection in both directions: {@link PgDecoder.frontend} takes
 * client→server bytes, {@link PgDecoder.backend} server→client bytes, each in any chunking. The
 * frontend starts with untyped startup packets (StartupMessage, SSLRequest, GSSENCRequest,
 * CancelRequest: an int32 length including itself, then an int32 code); after a StartupMessage every
 * message is typed (one type byte, then an int32 length that includes itself but not the type byte).
 * The backend answers an SSLRequest or GSSENCRequest with one untyped byte, `S`/`G` (encryption
 * follows: decoding stops, nothing more can be read) or `N` (the client goes on in plain text with
 * another startup packet); otherwise it sends typed messages.
 *
 * Only bodies the filter reads are buffered (Query, Parse, CommandComplete, ErrorResponse,
 * NoticeResponse, ReadyForQuery, Authentication, StartupMessage), up to {@link MAX_BUFFERED_BODY}
 * bytes; every other body (DataRow, CopyData, ...) is skipped as it streams by, never copied.
 *
 * Bytes that break the framing (a length shorter than its own header, an unknown startup code) end
 * decoding for the whole connection: {@link PgDecoder.failed} is set, `onDecodingError` runs once, and
 * later bytes are ignored. The decoder never throws on input.
 */

/** Protocol codes of the untyped startup packets. */
export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** PostgreSQL's own limit for a startup packet (`MAX_STARTUP_PACKET_LENGTH`). */
export const MAX_STARTUP_PACKET = 10000;
/** Bodies of interesting messages above this are skipped and reported as truncated. */
export const MAX_BUFFERED_BODY = 1 << 20;

/** Frontend typed messages of protocol 3.0, by type byte. */
export const FRONTEND_TYPES: ReadonlyMap<number, string> = new Map([
  ["B", "Bind"], ["C", "Close"], ["d", "CopyData"], ["c", "CopyDone"], ["f", "CopyFail"], ["D", "Describe"],
  ["E", "Execute"], ["H", "Flush"], ["F", "FunctionCall"], ["p", "PasswordMessage"], ["P", "Parse"],
  ["Q", "Query"], ["S", "Sync"], ["X", "Terminate"],
].map(([k, v]) => [k!.charCodeAt(0), v!] as const));

/** Backend typed messages of protocol 3.0, by type byte. */
export const BACKEND_TYPES: ReadonlyMap<number, string> = new Map([
  ["R", "Authentication"], ["K", "BackendKeyData"], ["2", "BindComplete"], ["3", "CloseComplete"],
  ["C", "CommandComplete"], ["d", "CopyData"], ["c", "CopyDone"], ["G", "CopyInResponse"], ["H", "CopyOutResponse"],
  ["W", "CopyBothResponse"], ["D", "DataRow"], ["I", "EmptyQueryResponse"], ["E", "ErrorResponse"],
  ["V", "FunctionCallResponse"], ["v", "NegotiateProtocolVersion"], ["n", "NoData"], ["N", "NoticeResponse"],
  ["A", "NotificationResponse"], ["t", "ParameterDescription"], ["S", "ParameterStatus"], ["1", "ParseComplete"],
  ["s", "PortalSuspended"], ["Z", "ReadyForQuery"], ["T", "RowDescription"],
].map(([k, v]) => [k!.charCodeAt(0), v!] as const));

const Q = 0x51, P = 0x50, C = 0x43, E = 0x45, N = 0x4e, Z = 0x5a, R = 0x52, S = 0x53, G = 0x47;
const FRONTEND_BUFFERED = new Set([Q, P]);
const BACKEND_BUFFERED = new Set([C, E, N, Z, R]);

export type FrontendEvent =
  | { kind: "ssl-request" }
  | { kind: "gssenc-request" }
  | { kind: "cancel-request" }
  | { kind: "startup"; version: number; params: Record<string, string> }
  /** `Query`: `sql` undefined when the body was too large to buffer. */
  | { kind: "query"; sql: string | undefined }
  /** `Parse` (extended protocol): the prepared statement's name and SQL. */
  | { kind: "parse"; statement: string; sql: string | undefined }
  /** Any other known typed message, by name (`Bind`, `Execute`, `Sync`, `Terminate`, ...). */
  | { kind: "message"; name: string }
  | { kind: "unknown"; type: number };

/** Backend events; an error's or notice's `severity` is its non-localized `V` field, else `S`. */
export type BackendEvent =
  /** The one-byte answer to SSLRequest / GSSENCRequest. */
  | { kind: "encryption-answer"; accepted: boolean; request: "ssl" | "gssenc" }
  | { kind: "authentication"; code: number }
  | { kind: "command-complete"; tag: string }
  | { kind: "error"; severity: string; fields: Record<string, string> }
  | { kind: "notice"; severity: string; fields: Record<string, string> }
  /** `I` idle, `T` in a transaction block, `E` in a failed transaction block. */
  | { kind: "ready-for-query"; status: string }
  | { kind: "message"; name: string }
  | { kind: "unknown"; type: number };

export interface PgDecoderCallbacks {
  frontend(event: FrontendEvent): void;
  backend(event: BackendEvent): void;
  /** Called once, when decoding stops because the bytes broke the protocol. */
  onDecodingError(direction: "frontend" | "backend", reason: string): void;
  /** Called once, when the server accepted encryption: nothing more is decoded. */
  onEncrypted?(): void;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Reads a C string at `from`; undefined when there is no terminator. */
function cstring(body: Uint8Array, from: number): { value: string; next: number } | undefined {
  const z = body.indexOf(0, from);
  if (z < 0) return undefined;
  return { value: decoder.decode(body.subarray(from, z)), next: z + 1 };
}

/** ErrorResponse / NoticeResponse fields: (code byte, C string)* then a zero byte. */
export function parseFields(body: Uint8Array): Record<string, string> | undefined {
  const fields: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const s = cstring(body, i + 1);
    if (!s) return undefined;
    fields[code] = s.value;
    i = s.next;
  }
  return i < body.length ? fields : undefined;
}

type Mode = "untyped" | "typed" | "answer" | "done";

const EMPTY = new Uint8Array(0);

/** One direction's framing state: a header being collected, then a body being buffered or skipped. */
class Framer {
  mode: Mode;
  /** Header bytes so far: 5 for typed, 8 for untyped (length + code), 1 for an answer. */
  private readonly head = new Uint8Array(8);
  private headLen = 0;
  /** Body bytes still to come. */
  private remaining = 0;
  private inBody = false;
  private body: Uint8Array | undefined;
  private bodyPos = 0;
  private type = 0;
  /** The code of the untyped packet being read (`type` is -1 then). */
  private untypedCode = 0;
  private truncated = false;
  /** The current body is to be handed to the callbacks (allocated lazily, only when it spans chunks). */
  private keepBody = false;

  private readonly buffered: ReadonlySet<number>;
  private readonly onMessage: (type: number, body: Uint8Array | undefined, truncated: boolean) => void;
  private readonly onUntyped: (code: number, body: Uint8Array | undefined) => void;
  private readonly onAnswer: (byte: number) => void;
  private readonly onError: (reason: string) => void;

  constructor(
    mode: Mode,
    buffered: ReadonlySet<number>,
    handlers: {
      message: (type: number, body: Uint8Array | undefined, truncated: boolean) => void;
      untyped: (code: number, body: Uint8Array | undefined) => void;
      answer: (byte: number) => void;
      error: (reason: string) => void;
    },
  ) {
    this.mode = mode;
    this.buffered = buffered;
    this.onMessage = handlers.message;
    this.onUntyped = handlers.untyped;
    this.onAnswer = handlers.answer;
    this.onError = handlers.error;
  }

  push(data: Uint8Array): void {
    let i = 0;
    const n = data.length;
    while (i < n && this.mode !== "done") {
      if (this.inBody) {
        const take = Math.min(this.remaining, n - i);
        if (this.keepBody && this.body === undefined) {
          // A body that is whole in this chunk is handed over as a view, without a copy: the callbacks
          // consume it synchronously.
          if (take === this.remaining) {
            this.body = data.subarray(i, i + take);
            this.remaining = 0;
            i += take;
            this.finishBody();
            continue;
          }
          this.body = new Uint8Array(this.remaining);
        }
        if (this.body) this.body.set(data.subarray(i, i + take), this.bodyPos);
        this.bodyPos += take;
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.finishBody();
        continue;
      }
      if (this.mode === "answer") {
        const b = data[i]!;
        if (b === E) {
          // A server that does not know the request answers with a typed ErrorResponse.
          this.mode = "typed";
          continue;
        }
        i++;
        this.onAnswer(b);
        continue;
      }
      const want = this.mode === "typed" ? 5 : 8;
      while (this.headLen < want && i < n) this.head[this.headLen++] = data[i++]!;
      if (this.headLen < want) return;
      this.headLen = 0;
      const h = this.head;
      if (this.mode === "typed") this.startTyped(h[0]!, ((h[1]! << 24) | (h[2]! << 16) | (h[3]! << 8) | h[4]!) >>> 0);
      else this.startUntyped(((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0, ((h[4]! << 24) | (h[5]! << 16) | (h[6]! << 8) | h[7]!) >>> 0);
    }
  }

  private startTyped(type: number, length: number): void {
    if (length < 4) return this.onError(`message ${String.fromCharCode(type)} with length ${length}`);
    this.type = type;
    this.begin(length - 4, this.buffered.has(type) ? MAX_BUFFERED_BODY : -1);
  }

  private startUntyped(length: number, code: number): void {
    if (length < 8 || length > MAX_STARTUP_PACKET) return this.onError(`startup packet with length ${length}`);
    const fixed = code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE ? 8 : code === CANCEL_REQUEST_CODE ? 16 : 0;
    if (fixed !== 0 && length !== fixed) return this.onError(`startup packet ${code} with length ${length}`);
    if (fixed === 0 && code >>> 16 !== 3) return this.onError(`unsupported protocol version ${code >>> 16}.${code & 0xffff}`);
    // type -1 marks an untyped packet; its code is kept until the body is complete.
    this.type = -1;
    this.untypedCode = code;
    this.begin(length - 8, fixed === 0 ? MAX_STARTUP_PACKET : -1);
  }

  /** `keep`: buffer up to that many bytes; -1: skip the body. */
  private begin(len: number, keep: number): void {
    this.truncated = keep >= 0 && len > keep;
    this.keepBody = keep >= 0 && len <= keep;
    this.body = len === 0 && this.keepBody ? EMPTY : undefined;
    this.bodyPos = 0;
    this.remaining = len;
    this.inBody = true;
    if (len === 0) this.finishBody();
  }

  private finishBody(): void {
    this.inBody = false;
    const body = this.body;
    this.body = undefined;
    if (this.type === -1) this.onUntyped(this.untypedCode, body);
    else this.onMessage(this.type, body, this.truncated);
  }
}

/** Decodes one connection's traffic, both directions; see the module comment. */
export class PgDecoder {
  private readonly front: Framer;
  private readonly back: Framer;
  private pendingRequest: "ssl" | "gssenc" | undefined;
  /** True once the bytes broke the protocol: nothing more is decoded. */
  failed = false;
  /** True once the server accepted SSL or GSS encryption: nothing more can be decoded. */
  encrypted = false;

  private readonly cb: PgDecoderCallbacks;

  constructor(cb: PgDecoderCallbacks) {
    this.cb = cb;
    this.front = new Framer("untyped", FRONTEND_BUFFERED, {
      message: (t, b, tr) => this.frontMessage(t, b, tr),
      untyped: (c, b) => this.frontStartup(c, b),
      answer: () => {},
      error: (r) => this.fail("frontend", r),
    });
    this.back = new Framer("typed", BACKEND_BUFFERED, {
      message: (t, b, tr) => this.backMessage(t, b, tr),
      untyped: () => {},
      answer: (b) => this.answer(b),
      error: (r) => this.fail("backend", r),
    });
  }

  /** Client→server bytes. */
  frontend(data: Uint8Array): void {
    if (!this.failed && !this.encrypted) this.front.push(data);
  }

  /** Server→client bytes. */
  backend(data: Uint8Array): void {
    if (!this.failed && !this.encrypted) this.back.push(data);
  }

  /** False once decoding has stopped (broken bytes or encryption). */
  get active(): boolean {
    return !this.failed && !this.encrypted;
  }

  private fail(direction: "frontend" | "backend", reason: string): void {
    if (this.failed) return;
    this.failed = true;
    this.front.mode = "done";
    this.back.mode = "done";
    this.cb.onDecodingError(direction, reason);
  }

  private frontStartup(code: number, body: Uint8Array | undefined): void {
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      this.pendingRequest = code === SSL_REQUEST_CODE ? "ssl" : "gssenc";
      this.back.mode = "answer";
      this.cb.frontend({ kind: code === SSL_REQUEST_CODE ? "ssl-request" : "gssenc-request" });
      return;
    }
    if (code === CANCEL_REQUEST_CODE) {
      this.cb.frontend({ kind: "cancel-request" });
      return;
    }
    const params: Record<string, string> = {};
    if (body) {
      const strings = startupStrings(body);
      if (!strings) return this.fail("frontend", "malformed StartupMessage parameters");
      for (let k = 0; k + 1 < strings.length; k += 2) params[strings[k]!] = strings[k + 1]!;
    }
    this.front.mode = "typed";
    this.cb.frontend({ kind: "startup", version: code, params });
  }

  private answer(byte: number): void {
    const request = this.pendingRequest ?? "ssl";
    this.pendingRequest = undefined;
    const accepted = byte === S || byte === G;
    if (!accepted && byte !== N) return this.fail("backend", `unexpected answer byte ${byte} to ${request} request`);
    this.back.mode = "typed";
    this.cb.backend({ kind: "encryption-answer", accepted, request });
    if (accepted) {
      this.encrypted = true;
      this.front.mode = "done";
      this.back.mode = "done";
      this.cb.onEncrypted?.();
    }
  }

  private frontMessage(type: number, body: Uint8Array | undefined, truncated: boolean): void {
    if (type === Q) {
      if (truncated || !body) return this.cb.frontend({ kind: "query", sql: undefined });
      const s = cstring(body, 0);
      if (!s) return this.fail("frontend", "Query without a terminating zero");
      return this.cb.frontend({ kind: "query", sql: s.value });
    }
    if (type === P) {
      if (truncated || !body) return this.cb.frontend({ kind: "parse", statement: "", sql: undefined });
      const name = cstring(body, 0);
      const sql = name ? cstring(body, name.next) : undefined;
      if (!name || !sql) return this.fail("frontend", "Parse without terminating zeros");
      return this.cb.frontend({ kind: "parse", statement: name.value, sql: sql.value });
    }
    const name = FRONTEND_TYPES.get(type);
    this.cb.frontend(name ? { kind: "message", name } : { kind: "unknown", type });
  }

  private backMessage(type: number, body: Uint8Array | undefined, truncated: boolean): void {
    if (!body || truncated) {
      const name = BACKEND_TYPES.get(type);
      if (name && BACKEND_BUFFERED.has(type)) return this.fail("backend", `${name} too large (${MAX_BUFFERED_BODY} bytes at most)`);
      return this.cb.backend(name ? { kind: "message", name } : { kind: "unknown", type });
    }
    switch (type) {
      case C: {
        const s = cstring(body, 0);
        if (!s) return this.fail("backend", "CommandComplete without a terminating zero");
        return this.cb.backend({ kind: "command-complete", tag: s.value });
      }
      case E:
      case N: {
        const fields = parseFields(body);
        if (!fields) return this.fail("backend", "malformed ErrorResponse/NoticeResponse fields");
        const severity = fields.V ?? fields.S ?? "";
        return this.cb.backend({ kind: type === E ? "error" : "notice", severity, fields });
      }
      case Z:
        if (body.length !== 1) return this.fail("backend", "ReadyForQuery with a body that is not one byte");
        return this.cb.backend({ kind: "ready-for-query", status: String.fromCharCode(body[0]!) });
      case R:
        if (body.length < 4) return this.fail("backend", "Authentication message shorter than its code");
        return this.cb.backend({ kind: "authentication", code: new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0) });
      default: {
        const name = BACKEND_TYPES.get(type);
        return this.cb.backend(name ? { kind: "message", name } : { kind: "unknown", type });
      }
    }
  }
}

/** StartupMessage parameters: name/value C strings ending with an extra zero byte. */
function startupStrings(body: Uint8Array): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const s = cstring(body, i);
    if (!s) return undefined;
    out.push(s.value);
    i = s.next;
  }
  if (i !== body.length - 1 || out.length % 2 !== 0) return undefined;
  return out;
}

/** Test and tool helpers: encoders for the messages the decoder reads. */
export const encode = {
  typed(type: string, body: Uint8Array): Uint8Array {
    const out = new Uint8Array(5 + body.length);
    out[0] = type.charCodeAt(0);
    new DataView(out.buffer).setUint32(1, body.length + 4);
    out.set(body, 5);
    return out;
  },
  cstr(...parts: string[]): Uint8Array {
    return new TextEncoder().encode(parts.map((p) => `${p}\0`).join(""));
  },
  untyped(code: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
    const out = new Uint8Array(8 + body.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, out.length);
    v.setUint32(4, code);
    out.set(body, 8);
    return out;
  },
  startup(params: Record<string, string>): Uint8Array {
    const kv = Object.entries(params).flatMap(([k, v]) => [k, v]);
    const body = new Uint8Array([...encode.cstr(...kv), 0]);
    return encode.untyped(PROTOCOL_3_0, body);
  },
};
