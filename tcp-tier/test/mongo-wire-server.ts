/**
 * TEST INFRASTRUCTURE: a minimal in-memory MongoDB wire-protocol server for the mongo_proxy tests.
 *
 * No mongod can be installed here (mongodb-memory-server downloads one), and no npm package offers a
 * maintained, wire-compatible server, so this file speaks just enough of the protocol for the official
 * `mongodb` driver (the real client in the tests): the legacy OP_QUERY handshake, OP_MSG commands
 * (hello/isMaster, ping, buildInfo, insert, find, getMore, killCursors, update, delete, endSessions, drop;
 * any other command gets MongoDB's CommandNotFound error) and OP_COMPRESSED with zlib. Queries match
 * top-level fields by equality or with $in/$gt/$gte/$lt/$lte/$ne; updates support $set, $inc, $unset and
 * replacement. BSON comes from the `bson` package (the driver's own).
 */
import { createServer, type Server, type Socket } from "node:net";
import { deflateSync, inflateSync } from "node:zlib";
import { BSON, Long, type Document } from "bson";

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_COMPRESSED = 2012;
const OP_MSG = 2013;

interface Cursor {
  ns: string;
  docs: Document[];
}

function eq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a && b && typeof a === "object" && typeof b === "object") return BSON.EJSON.stringify(a as Document) === BSON.EJSON.stringify(b as Document);
  return false;
}

function cmp(a: unknown, b: unknown): number {
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

function matches(doc: Document, filter: Document | undefined): boolean {
  for (const [k, cond] of Object.entries(filter ?? {})) {
    const v = doc[k];
    const isOps = cond && typeof cond === "object" && !Array.isArray(cond) && Object.keys(cond).length > 0 && Object.keys(cond).every((x) => x.startsWith("$"));
    if (!isOps) {
      if (!eq(v, cond)) return false;
      continue;
    }
    for (const [op, arg] of Object.entries(cond as Document)) {
      if (op === "$in" && !(arg as unknown[]).some((x) => eq(v, x))) return false;
      if (op === "$ne" && eq(v, arg)) return false;
      if (op === "$gt" && !(cmp(v, arg) > 0)) return false;
      if (op === "$gte" && !(cmp(v, arg) >= 0)) return false;
      if (op === "$lt" && !(cmp(v, arg) < 0)) return false;
      if (op === "$lte" && !(cmp(v, arg) <= 0)) return false;
    }
  }
  return true;
}

function applyUpdate(doc: Document, u: Document): Document {
  const ops = Object.keys(u).some((k) => k.startsWith("$"));
  if (!ops) return { _id: doc._id, ...u };
  const out = { ...doc };
  for (const [k, v] of Object.entries((u.$set as Document | undefined) ?? {})) out[k] = v;
  for (const [k, v] of Object.entries((u.$inc as Document | undefined) ?? {})) out[k] = ((out[k] as number | undefined) ?? 0) + (v as number);
  for (const k of Object.keys((u.$unset as Document | undefined) ?? {})) delete out[k];
  return out;
}

export interface MongoWireServer {
  port: number;
  /** Collections by `db.coll`. */
  data: Map<string, Document[]>;
  /** Commands received, in order (command names). */
  commands: string[];
  /** Messages received compressed. */
  compressedRequests: number;
  close(): Promise<void>;
}

export async function startMongoWireServer(): Promise<MongoWireServer> {
  const data = new Map<string, Document[]>();
  const cursors = new Map<string, Cursor>();
  const sockets = new Set<Socket>();
  let nextCursor = 1000;
  let nextReqId = 1;
  let connections = 0;
  const state: MongoWireServer = { port: 0, data, commands: [], compressedRequests: 0, close: async () => {} };

  const coll = (db: string, c: string) => {
    const ns = `${db}.${c}`;
    let docs = data.get(ns);
    if (!docs) data.set(ns, (docs = []));
    return docs;
  };

  function hello(connectionId: number): Document {
    return {
      helloOk: true, ismaster: true, isWritablePrimary: true, maxBsonObjectSize: 16 * 1024 * 1024, maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000, localTime: new Date(), logicalSessionTimeoutMinutes: 30, connectionId, minWireVersion: 0, maxWireVersion: 21,
      readOnly: false, compression: ["zlib"], ok: 1,
    };
  }

  function batch(ns: string, docs: Document[], size: number, first: boolean): Document {
    const take = docs.slice(0, size);
    const rest = docs.slice(size);
    let id = 0;
    if (rest.length > 0) {
      id = nextCursor++;
      cursors.set(String(id), { ns, docs: rest });
    }
    return { cursor: { [first ? "firstBatch" : "nextBatch"]: take, id: Long.fromNumber(id), ns }, ok: 1 };
  }

  function command(body: Document, seqs: Map<string, Document[]>, connectionId: number): Document {
    const name = Object.keys(body)[0] ?? "";
    state.commands.push(name);
    const db = (body.$db as string | undefined) ?? "admin";
    switch (name) {
      case "hello":
      case "isMaster":
      case "ismaster":
        return hello(connectionId);
      case "ping":
      case "endSessions":
        return { ok: 1 };
      case "buildInfo":
      case "buildinfo":
        return { version: "7.0.0", versionArray: [7, 0, 0, 0], ok: 1 };
      case "drop":
        data.delete(`${db}.${body.drop as string}`);
        return { ok: 1 };
      case "insert": {
        const docs = [...((body.documents as Document[] | undefined) ?? []), ...(seqs.get("documents") ?? [])];
        coll(db, body.insert as string).push(...docs);
        return { n: docs.length, ok: 1 };
      }
      case "find": {
        const ns = `${db}.${body.find as string}`;
        let docs = coll(db, body.find as string).filter((d) => matches(d, body.filter as Document | undefined));
        if (typeof body.skip === "number") docs = docs.slice(body.skip);
        if (typeof body.limit === "number" && body.limit > 0) docs = docs.slice(0, body.limit);
        return batch(ns, docs, typeof body.batchSize === "number" ? body.batchSize : 101, true);
      }
      case "getMore": {
        const id = String(body.getMore);
        const c = cursors.get(id);
        if (!c) return { ok: 0, errmsg: `cursor id ${id} not found`, code: 43, codeName: "CursorNotFound" };
        cursors.delete(id);
        return batch(c.ns, c.docs, typeof body.batchSize === "number" ? body.batchSize : 101, false);
      }
      case "killCursors": {
        const ids = (body.cursors as unknown[]).map(String);
        for (const id of ids) cursors.delete(id);
        return { cursorsKilled: body.cursors, cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
      }
      case "update": {
        const docs = coll(db, body.update as string);
        let n = 0;
        for (const u of [...((body.updates as Document[] | undefined) ?? []), ...(seqs.get("updates") ?? [])]) {
          for (let i = 0; i < docs.length; i++) {
            if (!matches(docs[i]!, u.q as Document)) continue;
            docs[i] = applyUpdate(docs[i]!, u.u as Document);
            n++;
            if (!u.multi) break;
          }
        }
        return { n, nModified: n, ok: 1 };
      }
      case "delete": {
        const ns = `${db}.${body.delete as string}`;
        let docs = coll(db, body.delete as string);
        let n = 0;
        for (const d of [...((body.deletes as Document[] | undefined) ?? []), ...(seqs.get("deletes") ?? [])]) {
          const keep: Document[] = [];
          for (const doc of docs) {
            if (matches(doc, d.q as Document) && (d.limit !== 1 || n === 0)) n++;
            else keep.push(doc);
          }
          docs = keep;
        }
        data.set(ns, docs);
        return { n, ok: 1 };
      }
      default:
        return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: "CommandNotFound" };
    }
  }

  function frame(opCode: number, responseTo: number, body: Uint8Array, compressor?: number): Buffer {
    if (compressor === 2) {
      const z = deflateSync(body);
      const inner = Buffer.alloc(9);
      inner.writeInt32LE(opCode, 0);
      inner.writeInt32LE(body.length, 4);
      inner.writeUInt8(2, 8);
      return frame(OP_COMPRESSED, responseTo, Buffer.concat([inner, z]));
    }
    const h = Buffer.alloc(16);
    h.writeInt32LE(16 + body.length, 0);
    h.writeInt32LE(nextReqId++, 4);
    h.writeInt32LE(responseTo, 8);
    h.writeInt32LE(opCode, 12);
    return Buffer.concat([h, body]);
  }

  function handle(s: Socket, msg: Buffer, connectionId: number): void {
    const requestId = msg.readInt32LE(4);
    let opCode = msg.readInt32LE(12);
    let body = msg.subarray(16);
    let compressor: number | undefined;
    if (opCode === OP_COMPRESSED) {
      state.compressedRequests++;
      opCode = body.readInt32LE(0);
      compressor = body.readUInt8(8);
      if (compressor !== 2) throw new Error(`test server: compressor ${compressor}`);
      body = inflateSync(body.subarray(9));
    }
    if (opCode === OP_QUERY) {
      const nsEnd = body.indexOf(0, 4);
      const q = BSON.deserialize(body.subarray(nsEnd + 9), { allowObjectSmallerThanBufferSize: true });
      const reply = command(q, new Map(), connectionId);
      const doc = BSON.serialize(reply);
      const r = Buffer.alloc(20);
      r.writeInt32LE(0, 0);
      r.writeBigInt64LE(0n, 4);
      r.writeInt32LE(0, 12);
      r.writeInt32LE(1, 16);
      s.write(frame(OP_REPLY, requestId, Buffer.concat([r, doc]), compressor));
      return;
    }
    if (opCode !== OP_MSG) throw new Error(`test server: opcode ${opCode}`);
    const flags = body.readUInt32LE(0);
    let pos = 4;
    const end = flags & 1 ? body.length - 4 : body.length;
    let cmdBody: Document = {};
    const seqs = new Map<string, Document[]>();
    while (pos < end) {
      const kind = body[pos++];
      const size = body.readInt32LE(pos);
      if (kind === 0) {
        cmdBody = BSON.deserialize(body.subarray(pos, pos + size));
        pos += size;
      } else {
        const idEnd = body.indexOf(0, pos + 4);
        const ident = body.subarray(pos + 4, idEnd).toString();
        const docs: Document[] = [];
        let p = idEnd + 1;
        while (p < pos + size) {
          const n = body.readInt32LE(p);
          docs.push(BSON.deserialize(body.subarray(p, p + n)));
          p += n;
        }
        seqs.set(ident, docs);
        pos += size;
      }
    }
    const reply = command(cmdBody, seqs, connectionId);
    if (flags & 2) return; // moreToCome: no reply
    const doc = BSON.serialize(reply);
    s.write(frame(OP_MSG, requestId, Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), doc]), compressor));
  }

  const server: Server = createServer((s) => {
    sockets.add(s);
    const connectionId = ++connections;
    let buf = Buffer.alloc(0);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const n = buf.readInt32LE(0);
        if (n < 16 || n > 48_000_000) {
          s.destroy();
          return;
        }
        if (buf.length < n) break;
        const msg = buf.subarray(0, n);
        buf = buf.subarray(n);
        try {
          handle(s, msg, connectionId);
        } catch {
          s.destroy();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as { port: number }).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
