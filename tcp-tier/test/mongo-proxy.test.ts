/**
 * mongo_proxy through the tcp tier: the official `mongodb` driver → [mongo_proxy, tcp_proxy] → the test
 * wire-protocol server (mongo-wire-server.ts). Checks the driver's results, the data on the server, and the
 * filter's stats and access log; the delay fault; zlib OP_COMPRESSED; garbage bytes passed unchanged.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient, MongoServerError, ObjectId } from "mongodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { connectClient, echoServer, listenTcp, proxyPort, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";
import { type MongoWireServer, startMongoWireServer } from "./mongo-wire-server.ts";

const MONGO_TYPE = "type.googleapis.com/envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy";

function mongoYaml(upPort: number, mongoConfig: string): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.mongo_proxy
        typed_config:
          "@type": ${MONGO_TYPE}
${mongoConfig}
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } }
`;
}

function client(port: number, extra = ""): MongoClient {
  return new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=3000&maxPoolSize=1${extra}`, { monitorCommands: false });
}

function hist(h: ServerHandle, name: string) {
  return h.stats.histogram(name);
}

describe("mongo_proxy with the mongodb driver", () => {
  let up: MongoWireServer;
  let proxy: ServerHandle;
  let dir: string;
  let logPath: string;

  beforeAll(async () => {
    up = await startMongoWireServer();
    dir = mkdtempSync(join(tmpdir(), "legate-mongo-"));
    logPath = join(dir, "mongo.log");
    proxy = await startYaml(
      mongoYaml(
        up.port,
        `          stat_prefix: m
          access_log: ${logPath}
          commands: [insert, update, delete, getMore, notARealCommand]`,
      ),
    );
  });

  afterAll(async () => {
    await proxy?.close();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes CRUD, cursors and errors through and counts them as Envoy names them", async () => {
    const c = client(proxyPort(proxy));
    const ids: ObjectId[] = [];
    try {
      await c.connect();
      const items = c.db("shop").collection<{ _id?: ObjectId; k: number; v?: string }>("items");
      const ins = await items.insertMany(Array.from({ length: 10 }, (_, k) => ({ k })));
      expect(ins.insertedCount).toBe(10);
      ids.push(...Object.values(ins.insertedIds));

      // 10 documents in batches of 3: find + 3 getMore.
      const all = await items.find({}, { batchSize: 3 }).toArray();
      expect(all.map((d) => d.k)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

      const one = await items.find({ _id: ids[2] }, { comment: JSON.stringify({ callingFunction: "getItem" }), maxTimeMS: 1000 }).toArray();
      expect(one.map((d) => d.k)).toEqual([2]);
      const some = await items.find({ _id: { $in: [ids[0]!, ids[1]!] } }).toArray();
      expect(some.map((d) => d.k)).toEqual([0, 1]);

      const upd = await items.updateOne({ k: 2 }, { $set: { v: "x" } });
      expect(upd.modifiedCount).toBe(1);
      const del = await items.deleteMany({ k: { $gte: 5 } });
      expect(del.deletedCount).toBe(5);

      const err = await c.db("shop").command({ notARealCommand: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MongoServerError);
      expect((err as MongoServerError).code).toBe(59);
    } finally {
      await c.close();
    }

    // What the server holds.
    const stored = up.data.get("shop.items")!;
    expect(stored.map((d) => d.k)).toEqual([0, 1, 2, 3, 4]);
    expect(stored.find((d) => d.k === 2)?.v).toBe("x");

    await waitFor(() => stat(proxy, "mongo.m.op_query_active") === 0 && stat(proxy, "mongo.m.cmd.notARealCommand.total") === 1, "replies counted");
    expect(stat(proxy, "mongo.m.decoding_error")).toBe(0);
    expect(stat(proxy, "mongo.m.op_msg")).toBeGreaterThanOrEqual(10);
    expect(stat(proxy, "mongo.m.op_msg_reply")).toBeGreaterThanOrEqual(10);
    expect(stat(proxy, "mongo.m.op_msg_reply_error")).toBe(1);
    expect(stat(proxy, "mongo.m.cmd.insert.total")).toBe(1);
    expect(stat(proxy, "mongo.m.cmd.getMore.total")).toBe(3);
    expect(stat(proxy, "mongo.m.cmd.update.total")).toBe(1);
    expect(stat(proxy, "mongo.m.cmd.delete.total")).toBe(1);
    // Commands not in `commands` get no per-command stats.
    expect(stat(proxy, "mongo.m.cmd.ping.total")).toBe(0);
    expect(hist(proxy, "mongo.m.cmd.insert.reply_num_docs").count).toBe(1);
    expect(hist(proxy, "mongo.m.cmd.insert.reply_time_ms").count).toBe(1);
    expect(hist(proxy, "mongo.m.cmd.getMore.reply_size").count).toBe(3);
    // getMore batches: 3, 3, 1 documents.
    expect(hist(proxy, "mongo.m.cmd.getMore.reply_num_docs").sum).toBe(7);

    // Queries (OP_MSG find) by collection: a scatter get, an _id get, a multi get; one with a callsite.
    expect(stat(proxy, "mongo.m.collection.items.query.total")).toBe(3);
    expect(stat(proxy, "mongo.m.collection.items.query.scatter_get")).toBe(1);
    expect(stat(proxy, "mongo.m.collection.items.query.multi_get")).toBe(1);
    expect(stat(proxy, "mongo.m.op_query_scatter_get")).toBe(1);
    expect(stat(proxy, "mongo.m.op_query_multi_get")).toBe(1);
    expect(stat(proxy, "mongo.m.op_query_no_max_time")).toBe(2);
    expect(stat(proxy, "mongo.m.collection.items.callsite.getItem.query.total")).toBe(1);
    expect(hist(proxy, "mongo.m.collection.items.query.reply_num_docs").sum).toBe(3 + 1 + 2);
    expect(hist(proxy, "mongo.m.collection.items.callsite.getItem.query.reply_num_docs").sum).toBe(1);

    // Access log: JSON lines as Envoy writes them, one per decoded message.
    await waitFor(() => readFileSync(logPath, "utf8").includes('"notARealCommand"'), "access log written");
    const lines = readFileSync(logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { time: string; message: Record<string, unknown>; upstream_host: string });
    expect(lines.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(l.time) && l.upstream_host === "")).toBe(true);
    const insert = lines.find((l) => (l.message.body as Record<string, unknown> | undefined)?.insert === "items");
    expect(insert?.message.opcode).toBe("OP_MSG");
    expect(((insert?.message.body as Record<string, unknown>).documents as unknown[]).length).toBe(10);
    const errReply = lines.find((l) => l.message.response_to !== 0 && l.message.ok === 0);
    expect(errReply?.message.opcode).toBe("OP_MSG");
  });

  it("decodes zlib OP_COMPRESSED messages and still counts the commands inside", async () => {
    const before = stat(proxy, "mongo.m.cmd.insert.total");
    const c = client(proxyPort(proxy), "&compressors=zlib");
    try {
      await c.connect();
      const r = await c.db("shop").collection("zipped").insertOne({ a: 1 });
      expect(r.acknowledged).toBe(true);
      expect((await c.db("shop").collection("zipped").find({}).toArray()).map((d) => d.a)).toEqual([1]);
    } finally {
      await c.close();
    }
    expect(up.compressedRequests).toBeGreaterThan(0);
    expect(up.data.get("shop.zipped")?.length).toBe(1);
    await waitFor(() => stat(proxy, "mongo.m.cmd.insert.total") === before + 1, "compressed insert counted");
    expect(stat(proxy, "mongo.m.op_compressed")).toBeGreaterThan(0);
    expect(stat(proxy, "mongo.m.op_compressed_undecodable")).toBe(0);
    expect(stat(proxy, "mongo.m.decoding_error")).toBe(0);
  });

  it("counts garbage as a decoding error, stops sniffing, and passes the bytes unchanged", async () => {
    const echo = await echoServer();
    const h = await startYaml(mongoYaml(echo.port, "          stat_prefix: g"));
    try {
      const s = await connectClient(proxyPort(h));
      // A header whose length (5) is below the 16-byte minimum, then more bytes.
      const garbage = Buffer.from([5, 0, 0, 0, 1, 2, 3, 4, 0xff, 0xfe, 0x00, 0x10, ...Buffer.from("not mongo at all")]);
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      s.write(garbage);
      await waitFor(() => Buffer.concat(got).length >= garbage.length, "echo of the garbage");
      const more = Buffer.from("still flowing after the error");
      s.write(more);
      await waitFor(() => Buffer.concat(got).length >= garbage.length + more.length, "echo after the error");
      expect(Buffer.concat(got).equals(Buffer.concat([garbage, more]))).toBe(true);
      expect(stat(h, "mongo.g.decoding_error")).toBe(1);
      s.destroy();
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("injects the delay fault before operations (delays_injected) and the driver still succeeds", async () => {
    const h = await startYaml(
      mongoYaml(
        up.port,
        `          stat_prefix: d
          delay: { fixed_delay: 0.02s, percentage: { numerator: 100, denominator: HUNDRED } }`,
      ),
    );
    const c = client(proxyPort(h));
    try {
      await c.connect();
      await c.db("shop").collection("slow").insertOne({ s: 1 });
      const docs = await c.db("shop").collection("slow").find({}).toArray();
      expect(docs.map((d) => d.s)).toEqual([1]);
    } finally {
      await c.close();
      await h.close();
    }
    // At least the handshake, the insert and the find were each delayed.
    expect(stat(h, "mongo.d.delays_injected")).toBeGreaterThanOrEqual(3);
  });

  it("counts connections closed with a query in flight", async () => {
    // An upstream that never answers: the request stays active until the client goes away.
    const silent = await listenTcp((s) => s.resume());
    const h = await startYaml(mongoYaml(silent.port, "          stat_prefix: a\n          commands: [ping]"));
    try {
      const s = await connectClient(proxyPort(h));
      const body = Buffer.from([0, 0, 0, 0, 0, ...Buffer.from(bsonPing())]);
      const header = Buffer.alloc(16);
      header.writeInt32LE(16 + body.length, 0);
      header.writeInt32LE(7, 4);
      header.writeInt32LE(2013, 12);
      s.write(Buffer.concat([header, body]));
      await waitFor(() => stat(h, "mongo.a.op_query_active") === 1, "active query");
      expect(stat(h, "mongo.a.cmd.ping.total")).toBe(1);
      // A reset from the client: the connection closes remotely with the ping unanswered.
      s.resetAndDestroy();
      await waitFor(() => stat(h, "mongo.a.cx_destroy_remote_with_active_rq") === 1, "remote close counted");
      expect(stat(h, "mongo.a.op_query_active")).toBe(0);
    } finally {
      await h.close();
      await silent.close();
    }
  });
});

/** `{ping: 1, $db: "admin"}` as BSON, by hand. */
function bsonPing(): Uint8Array {
  const parts: number[] = [];
  parts.push(0x10, ...Buffer.from("ping"), 0, 1, 0, 0, 0);
  parts.push(0x02, ...Buffer.from("$db"), 0, 6, 0, 0, 0, ...Buffer.from("admin"), 0);
  const len = 4 + parts.length + 1;
  return Uint8Array.from([len & 0xff, len >> 8, 0, 0, ...parts, 0]);
}
