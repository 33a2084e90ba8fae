/**
 * `envoy.filters.network.mongo_proxy`, per-connection half: a read+write filter that decodes the client's
 * requests (read path) and the server's replies (write path), counts them, writes the access log, and
 * passes every byte on unchanged. Only the `delay` fault changes anything: it holds the client's bytes for
 * a while. A decoding error in either direction counts `decoding_error` and stops sniffing on the
 * connection; the bytes keep flowing.
 *
 * Requests awaiting a reply are kept by request id; the reply (matched by `responseTo`) records
 * `reply_num_docs`, `reply_size` and `reply_time_ms` into the stats the request chose.
 */
import type { ConnectionEvent, Filter, FilterStatus, ReadFilterCallbacks } from "../../../../network/filter.ts";
import {
  type BsonDocument,
  type BsonValue,
  commandName,
  MongoDecodeError,
  MongoDecoder,
  type MongoMessage,
  MSG_EXHAUST_ALLOWED,
  MSG_MORE_TO_COME,
  QUERY_AWAIT_DATA,
  QUERY_EXHAUST,
  QUERY_NO_CURSOR_TIMEOUT,
  QUERY_TAILABLE_CURSOR,
  REPLY_CURSOR_NOT_FOUND,
  REPLY_QUERY_FAILURE,
} from "./codec.ts";
import type { MongoProxyConfig, ReplyStats } from "./config.ts";

interface ActiveQuery {
  start: number;
  stats: ReplyStats[];
}

/** The extended-JSON shapes codec.ts gives BSON scalars that JSON lacks: still scalars for scatter/multi get. */
const EXT_SCALARS = new Set(["$oid", "$date", "$numberLong", "$numberDecimal", "$numberDouble", "$binary", "$timestamp", "$regularExpression", "$symbol", "$code", "$minKey", "$maxKey", "$undefined", "$dbPointer"]);

function isDoc(v: BsonValue | undefined): v is BsonDocument {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isScalar(v: BsonValue): boolean {
  if (Array.isArray(v)) return false;
  if (!isDoc(v)) return true;
  const k = commandName(v);
  return k !== undefined && EXT_SCALARS.has(k);
}

/** Envoy's `$comment` callsite: a JSON string (or, with OP_MSG, a document) holding `callingFunction`. */
function callsite(comment: BsonValue | undefined): string | undefined {
  let c: unknown = comment;
  if (typeof c === "string") {
    try {
      c = JSON.parse(c);
    } catch {
      return undefined;
    }
  }
  if (typeof c === "object" && c !== null && typeof (c as Record<string, unknown>).callingFunction === "string") {
    const f = (c as Record<string, string>).callingFunction;
    return f || undefined;
  }
  return undefined;
}

/** `db.coll` → `coll` (the collection part of a namespace). */
function collectionOf(ns: string): string {
  const i = ns.indexOf(".");
  return i < 0 ? ns : ns.slice(i + 1);
}

function flagsHex(f: number): string {
  return `0x${(f >>> 0).toString(16)}`;
}

/** The access log's `message`: the request in full, replies summarised (Envoy's summary for large data). */
function describe(m: MongoMessage): Record<string, unknown> {
  const base = { opcode: m.op, id: m.header.requestId, response_to: m.header.responseTo };
  switch (m.op) {
    case "OP_QUERY":
      return { ...base, flags: flagsHex(m.flags), ns: m.collection, skip: m.skip, limit: m.limit, query: m.query, ...(m.fields ? { fields: m.fields } : {}) };
    case "OP_REPLY":
      return { ...base, flags: flagsHex(m.flags), cursor: m.cursorId.toString(), from: m.startingFrom, returned: m.numberReturned };
    case "OP_GET_MORE":
      return { ...base, ns: m.collection, return: m.numberToReturn, cursor: m.cursorId.toString() };
    case "OP_KILL_CURSORS":
      return { ...base, cursors: m.cursorIds.map((c) => c.toString()) };
    case "OP_INSERT":
      return { ...base, flags: flagsHex(m.flags), ns: m.collection, documents: m.documents };
    case "OP_UPDATE":
      return { ...base, flags: flagsHex(m.flags), ns: m.collection, selector: m.selector, update: m.update };
    case "OP_DELETE":
      return { ...base, flags: flagsHex(m.flags), ns: m.collection, selector: m.selector };
    case "OP_MSG":
      return { ...base, flags: flagsHex(m.flags), body: m.body, sequences: m.sequences.map((s) => ({ identifier: s.identifier, documents: s.documents.length })) };
    case "OP_COMPRESSED":
      return { ...base, compressor: m.compressorId, original_opcode: m.originalOpCode, ...(m.inner ? { message: describe(m.inner) } : {}) };
  }
}

/** Replies are logged without their documents: counts and the OP_MSG status only. */
function describeReply(m: MongoMessage): Record<string, unknown> {
  if (m.op === "OP_MSG") {
    const cursor = m.body.cursor;
    const batch = isDoc(cursor) ? (cursor.firstBatch ?? cursor.nextBatch) : undefined;
    return {
      opcode: m.op, id: m.header.requestId, response_to: m.header.responseTo, flags: flagsHex(m.flags), ok: m.body.ok ?? null,
      ...(Array.isArray(batch) ? { returned: batch.length } : {}),
      ...(typeof m.body.n === "number" ? { n: m.body.n } : {}),
    };
  }
  if (m.op === "OP_COMPRESSED") return { opcode: m.op, id: m.header.requestId, response_to: m.header.responseTo, compressor: m.compressorId, original_opcode: m.originalOpCode, ...(m.inner ? { message: describeReply(m.inner) } : {}) };
  return describe(m);
}

/** How deep the stats read documents (see MongoDecoder). */
const STATS_DEPTH = 2;

const HUNDRED = { numerator: 100, denominator: "HUNDRED" } as const;

function random(): number {
  return Math.floor(Math.random() * 0x100000000);
}

export class MongoProxyFilter implements Filter {
  private readonly config: MongoProxyConfig;
  private callbacks!: ReadFilterCallbacks;
  /** False after a decoding error, or when `mongo.proxy_enabled` left this connection out. */
  private sniffing = true;
  /** Requests in full when they are logged, else as deep as the stats look (body → filter → `_id`). */
  private requests!: MongoDecoder;
  /** Replies only as deep as the stats and the summary log look: body → cursor → batch (counted). */
  private readonly replies = new MongoDecoder(STATS_DEPTH);
  private readonly active = new Map<number, ActiveQuery>();
  private logging = false;
  private delayTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private drainScheduled = false;

  constructor(config: MongoProxyConfig) {
    this.config = config;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
    const rt = this.config.runtime;
    this.sniffing = rt.featureEnabled("mongo.proxy_enabled", HUNDRED, random());
    this.logging = this.config.log !== undefined && rt.featureEnabled("mongo.connection_logging_enabled", HUNDRED, random());
    this.requests = new MongoDecoder(this.logging ? undefined : STATS_DEPTH);
    callbacks.connection.addConnectionCallbacks({ onEvent: (e) => this.onEvent(e) });
  }

  onNewConnection(): FilterStatus {
    return "continue";
  }

  onData(data: Uint8Array): FilterStatus {
    if (this.sniffing && data.length > 0) {
      try {
        for (const m of this.requests.feed(data)) this.onRequest(m);
      } catch (err) {
        this.decodingError(err);
      }
    }
    // Once a delay is running, every byte read until it fires is part of it (as Envoy).
    return this.delayTimer ? "stop" : "continue";
  }

  onWrite(data: Uint8Array): FilterStatus {
    if (this.sniffing && data.length > 0) {
      try {
        for (const m of this.replies.feed(data)) this.onReply(m);
      } catch (err) {
        this.decodingError(err);
      }
    }
    return "continue";
  }

  private decodingError(err: unknown): void {
    if (!(err instanceof MongoDecodeError)) throw err;
    this.config.stats.decoding_error.inc();
    this.sniffing = false;
    this.clearActive();
  }

  private writeLog(m: MongoMessage, reply: boolean): void {
    if (!this.logging || !this.config.runtime.featureEnabled("mongo.logging_enabled", HUNDRED, random())) return;
    const line = JSON.stringify({ time: new Date().toISOString(), message: reply ? describeReply(m) : describe(m), upstream_host: "" });
    this.config.log!(`${line}\n`);
  }

  private onRequest(m: MongoMessage): void {
    const s = this.config.stats;
    this.writeLog(m, false);
    if (m.op === "OP_COMPRESSED") {
      s.op_compressed.inc();
      if (!m.inner) {
        s.op_compressed_undecodable.inc();
        return;
      }
      this.handleRequest(m.inner, m.header.requestId);
      return;
    }
    this.handleRequest(m, m.header.requestId);
  }

  private handleRequest(m: MongoMessage, requestId: number): void {
    const s = this.config.stats;
    switch (m.op) {
      case "OP_GET_MORE":
        s.op_get_more.inc();
        break;
      case "OP_INSERT":
        s.op_insert.inc();
        break;
      case "OP_KILL_CURSORS":
        s.op_kill_cursors.inc();
        break;
      case "OP_UPDATE":
        s.op_update.inc();
        return;
      case "OP_DELETE":
        s.op_delete.inc();
        return;
      case "OP_QUERY":
        this.onQuery(m, requestId);
        break;
      case "OP_MSG":
        this.onMsg(m, requestId);
        break;
      default:
        // A reply opcode sent by the client: counted nowhere, passed on.
        return;
    }
    this.maybeDelay();
  }

  private onQuery(m: Extract<MongoMessage, { op: "OP_QUERY" }>, requestId: number): void {
    const s = this.config.stats;
    s.op_query.inc();
    if (m.flags & QUERY_TAILABLE_CURSOR) s.op_query_tailable_cursor.inc();
    if (m.flags & QUERY_NO_CURSOR_TIMEOUT) s.op_query_no_cursor_timeout.inc();
    if (m.flags & QUERY_AWAIT_DATA) s.op_query_await_data.inc();
    if (m.flags & QUERY_EXHAUST) s.op_query_exhaust.inc();
    if (m.collection.endsWith(".$cmd")) {
      const inner = isDoc(m.query.$query) ? m.query.$query : m.query;
      const name = commandName(inner);
      if (name !== undefined && this.config.commands.has(name)) {
        const cs = this.config.commandStats(name);
        cs.total.inc();
        this.track(requestId, [cs]);
      }
      return;
    }
    const q = isDoc(m.query.$query) ? m.query.$query : m.query;
    const hasMaxTime = m.query.$maxTimeMS !== undefined || m.query.maxTimeMS !== undefined;
    const id = m.query._id !== undefined ? m.query._id : q._id;
    this.onCollectionQuery(collectionOf(m.collection), id, hasMaxTime, callsite(m.query.$comment), requestId);
  }

  /** A query on a collection (OP_QUERY, or an OP_MSG `find`): per-collection and callsite stats. */
  private onCollectionQuery(collection: string, id: BsonValue | undefined, hasMaxTime: boolean, site: string | undefined, requestId: number | undefined): void {
    const s = this.config.stats;
    if (!hasMaxTime) s.op_query_no_max_time.inc();
    const scatter = id === undefined;
    const multi = !scatter && !isScalar(id);
    if (scatter) s.op_query_scatter_get.inc();
    if (multi) s.op_query_multi_get.inc();
    const targets: ReplyStats[] = [];
    for (const qs of site === undefined ? [this.config.queryStats(collection)] : [this.config.queryStats(collection), this.config.queryStats(collection, site)]) {
      qs.total.inc();
      if (scatter) qs.scatter_get.inc();
      if (multi) qs.multi_get.inc();
      targets.push(qs);
    }
    if (requestId !== undefined) this.track(requestId, targets);
  }

  private onMsg(m: Extract<MongoMessage, { op: "OP_MSG" }>, requestId: number): void {
    const s = this.config.stats;
    s.op_msg.inc();
    if (m.flags & MSG_MORE_TO_COME) s.op_msg_more_to_come.inc();
    if (m.flags & MSG_EXHAUST_ALLOWED) s.op_msg_exhaust_allowed.inc();
    const name = commandName(m.body);
    if (name === undefined) return;
    // With moreToCome the server sends no reply: nothing to wait for.
    const expectsReply = (m.flags & MSG_MORE_TO_COME) === 0;
    if (name === "find" && typeof m.body.find === "string") {
      const filter = m.body.filter;
      const id = isDoc(filter) ? filter._id : undefined;
      this.onCollectionQuery(m.body.find, id, m.body.maxTimeMS !== undefined, callsite(m.body.comment), expectsReply ? requestId : undefined);
      return;
    }
    if (!this.config.commands.has(name)) return;
    const cs = this.config.commandStats(name);
    cs.total.inc();
    if (expectsReply) this.track(requestId, [cs]);
  }

  private track(requestId: number, stats: ReplyStats[]): void {
    if (!this.active.has(requestId)) this.config.opQueryActive.inc();
    this.active.set(requestId, { start: performance.now(), stats });
  }

  private untrack(requestId: number): ActiveQuery | undefined {
    const q = this.active.get(requestId);
    if (q) {
      this.active.delete(requestId);
      this.config.opQueryActive.dec();
    }
    return q;
  }

  private clearActive(): void {
    if (this.active.size > 0) this.config.opQueryActive.dec(this.active.size);
    this.active.clear();
  }

  private maybeDelay(): void {
    const d = this.config.model.delay;
    if (!d || this.delayTimer || this.closed) return;
    const rt = this.config.runtime;
    if (!rt.featureEnabled("mongo.fault.fixed_delay.percent", d.percentage, random())) return;
    const ms = rt.getInteger("mongo.fault.fixed_delay.duration_ms", d.fixedDelayMs);
    this.config.stats.delays_injected.inc();
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      if (!this.closed) this.callbacks.continueReading();
    }, ms);
  }

  private onReply(m: MongoMessage): void {
    this.writeLog(m, true);
    const inner = m.op === "OP_COMPRESSED" ? m.inner : m;
    if (m.op === "OP_COMPRESSED") {
      this.config.stats.op_compressed.inc();
      if (!inner) this.config.stats.op_compressed_undecodable.inc();
    }
    if (!inner) {
      this.untrack(m.header.responseTo);
      return;
    }
    const s = this.config.stats;
    let docs = 0;
    if (inner.op === "OP_REPLY") {
      s.op_reply.inc();
      if (inner.flags & REPLY_CURSOR_NOT_FOUND) s.op_reply_cursor_not_found.inc();
      if (inner.flags & REPLY_QUERY_FAILURE) s.op_reply_query_failure.inc();
      if (inner.cursorId !== 0n) s.op_reply_valid_cursor.inc();
      docs = inner.numberReturned;
    } else if (inner.op === "OP_MSG") {
      s.op_msg_reply.inc();
      if (inner.body.ok !== 1) s.op_msg_reply_error.inc();
      const cursor = inner.body.cursor;
      docs = 1;
      if (isDoc(cursor)) {
        const batch = cursor.firstBatch ?? cursor.nextBatch;
        if (Array.isArray(batch)) docs = batch.length;
        if (cursor.id !== 0 && cursor.id !== undefined) s.op_msg_reply_valid_cursor.inc();
      }
    } else {
      return;
    }
    const q = this.untrack(inner.header.responseTo);
    if (q) {
      const ms = performance.now() - q.start;
      for (const st of q.stats) {
        st.reply_num_docs.record(docs);
        st.reply_size.record(m.header.messageLength);
        st.reply_time_ms.record(ms);
      }
    }
    this.maybeDrainClose();
  }

  /** Envoy's drain close: while the server drains, a connection with nothing in flight closes on a reply boundary. */
  private maybeDrainClose(): void {
    if (!this.config.serverState.draining || this.active.size > 0 || this.drainScheduled) return;
    if (!this.config.runtime.featureEnabled("mongo.drain_close_enabled", HUNDRED, random())) return;
    this.drainScheduled = true;
    // After the reply being written has gone through the write path.
    setImmediate(() => {
      if (this.closed) return;
      this.config.stats.cx_drain_close.inc();
      this.callbacks.connection.close("flush-write");
    });
  }

  private onEvent(e: ConnectionEvent): void {
    if (e === "connected") return;
    this.closed = true;
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    if (this.active.size > 0) {
      if (e === "local-close") this.config.stats.cx_destroy_local_with_active_rq.inc();
      else this.config.stats.cx_destroy_remote_with_active_rq.inc();
    }
    this.clearActive();
  }
}
