/**
 * mongo_proxy on the legacy opcodes (OP_QUERY/OP_REPLY/OP_GET_MORE/OP_KILL_CURSORS/OP_INSERT/OP_UPDATE/
 * OP_DELETE) over real sockets, with a raw upstream that answers every OP_QUERY with an OP_REPLY; the
 * connection-close counters; and the validator's view of the MongoProxy config.
 */
import { BSON, type Document } from "bson";
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { connectClient, listenTcp, proxyPort, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const MONGO_TYPE = "type.googleapis.com/envoy.extensions.filters.network.mongo_proxy.v3.MongoProxy";

function yaml(upPort: number, mongoConfig: string, withTcpProxy = true): string {
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
${withTcpProxy ? `      - name: envoy.filters.network.tcp_proxy\n        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }` : ""}
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
  return Buffer.from(`${s}\0`);
}
function doc(d: Document): Buffer {
  return Buffer.from(BSON.serialize(d));
}
function frame(opCode: number, requestId: number, body: Buffer, responseTo = 0): Buffer {
  return Buffer.concat([i32(16 + body.length), i32(requestId), i32(responseTo), i32(opCode), body]);
}

/** An upstream answering each OP_QUERY with an OP_REPLY: query failure + cursor not found flags when the query asks `fail`. */
function legacyServer() {
  return listenTcp((s) => {
    let buf = Buffer.alloc(0);
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= buf.readInt32LE(0)) {
        const m = buf.subarray(0, buf.readInt32LE(0));
        buf = buf.subarray(m.length);
        if (m.readInt32LE(12) !== 2004) continue;
        const fail = m.includes(Buffer.from("fail"));
        const docs = fail ? [doc({ $err: "boom" })] : [doc({ a: 1 }), doc({ a: 2 })];
        s.write(frame(1, 500, Buffer.concat([i32(fail ? 3 : 0), i64(fail ? 0n : 99n), i32(0), i32(docs.length), ...docs]), m.readInt32LE(4)));
      }
    });
  });
}

describe("mongo_proxy on legacy opcodes", () => {
  it("counts OP_QUERY flags, scatter/multi gets, callsites, commands and replies as Envoy", async () => {
    const up = await legacyServer();
    const h = await startYaml(yaml(up.port, "          stat_prefix: l\n          commands: [insert, count]"));
    try {
      const s = await connectClient(proxyPort(h));
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      const q = (id: number, flags: number, ns: string, query: Document) => frame(2004, id, Buffer.concat([i32(flags), cstr(ns), i32(0), i32(-1), doc(query)]));
      const msgs = [
        // Tailable + await data + no cursor timeout + exhaust, a multi get with a callsite.
        q(1, (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6), "app.users", { $query: { _id: { $in: [1, 2] } }, $comment: JSON.stringify({ callingFunction: "loadUsers" }) }),
        // A get by scalar _id with a max time.
        q(2, 0, "app.users", { $query: { _id: 7 }, $maxTimeMS: 100 }),
        // A scatter get that fails.
        q(3, 0, "app.users", { fail: true }),
        // Commands: one listed, one not.
        q(4, 0, "app.$cmd", { count: "users" }),
        q(5, 0, "app.$cmd", { buildinfo: 1 }),
        frame(2002, 6, Buffer.concat([i32(0), cstr("app.users"), doc({ a: 1 })])),
        frame(2005, 7, Buffer.concat([i32(0), cstr("app.users"), i32(10), i64(99n)])),
        frame(2007, 8, Buffer.concat([i32(0), i32(1), i64(99n)])),
        frame(2001, 9, Buffer.concat([i32(0), cstr("app.users"), i32(0), doc({ a: 1 }), doc({ a: 2 })])),
        frame(2006, 10, Buffer.concat([i32(0), cstr("app.users"), i32(0), doc({ a: 1 })])),
      ];
      // One write, split in odd places, so the filter decodes across chunk boundaries.
      const all = Buffer.concat(msgs);
      for (let off = 0; off < all.length; off += 37) s.write(all.subarray(off, off + 37));
      await waitFor(() => stat(h, "mongo.l.op_reply") === 5, "five replies");
      const p = "mongo.l.";
      const counts = Object.fromEntries(
        ["op_query", "op_query_tailable_cursor", "op_query_no_cursor_timeout", "op_query_await_data", "op_query_exhaust", "op_query_no_max_time",
          "op_query_scatter_get", "op_query_multi_get", "op_reply", "op_reply_cursor_not_found", "op_reply_query_failure", "op_reply_valid_cursor",
          "op_insert", "op_get_more", "op_kill_cursors", "op_update", "op_delete", "decoding_error", "op_query_active"].map((n) => [n, stat(h, p + n)]),
      );
      expect(counts).toEqual({
        op_query: 5, op_query_tailable_cursor: 1, op_query_no_cursor_timeout: 1, op_query_await_data: 1, op_query_exhaust: 1, op_query_no_max_time: 2,
        op_query_scatter_get: 1, op_query_multi_get: 1, op_reply: 5, op_reply_cursor_not_found: 1, op_reply_query_failure: 1, op_reply_valid_cursor: 4,
        op_insert: 1, op_get_more: 1, op_kill_cursors: 1, op_update: 1, op_delete: 1, decoding_error: 0, op_query_active: 0,
      });
      expect(stat(h, `${p}collection.users.query.total`)).toBe(3);
      expect(stat(h, `${p}collection.users.query.scatter_get`)).toBe(1);
      expect(stat(h, `${p}collection.users.query.multi_get`)).toBe(1);
      expect(stat(h, `${p}collection.users.callsite.loadUsers.query.total`)).toBe(1);
      expect(stat(h, `${p}collection.users.callsite.loadUsers.query.multi_get`)).toBe(1);
      expect(h.stats.histogram(`${p}collection.users.query.reply_num_docs`).sum).toBe(2 + 2 + 1);
      expect(stat(h, `${p}cmd.count.total`)).toBe(1);
      expect(stat(h, `${p}cmd.buildinfo.total`)).toBe(0);
      expect(h.stats.histogram(`${p}cmd.count.reply_num_docs`).count).toBe(1);
      // The client gets the upstream's replies, in order: five frames answering requests 1 to 5.
      const responseTos = () => {
        const b = Buffer.concat(got);
        const ids: number[] = [];
        for (let off = 0; off + 16 <= b.length && off + b.readInt32LE(off) <= b.length; off += b.readInt32LE(off)) ids.push(b.readInt32LE(off + 8));
        return ids;
      };
      await waitFor(() => responseTos().length === 5, "five replies at the client");
      expect(responseTos()).toEqual([1, 2, 3, 4, 5]);
      s.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("counts a connection the proxy closes with a query in flight (cx_destroy_local_with_active_rq)", async () => {
    // The upstream resets as soon as it reads anything: tcp_proxy then closes the client's connection.
    const up = await listenTcp((s) => s.once("data", () => s.resetAndDestroy()));
    const h = await startYaml(yaml(up.port, "          stat_prefix: x"));
    try {
      const s = await connectClient(proxyPort(h));
      s.write(frame(2004, 1, Buffer.concat([i32(0), cstr("app.users"), i32(0), i32(1), doc({ _id: 1 })])));
      await waitFor(() => stat(h, "mongo.x.cx_destroy_local_with_active_rq") === 1, "local close counted");
      expect(stat(h, "mongo.x.cx_destroy_remote_with_active_rq")).toBe(0);
      expect(stat(h, "mongo.x.op_query_active")).toBe(0);
      s.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });
});

describe("mongo_proxy compression and runtime", () => {
  it("passes a snappy OP_COMPRESSED it cannot decompress, counted as undecodable, not as an error", async () => {
    const got: Buffer[] = [];
    const up = await listenTcp((s) => s.on("data", (d: Buffer) => got.push(d)));
    const h = await startYaml(yaml(up.port, "          stat_prefix: z"));
    try {
      const s = await connectClient(proxyPort(h));
      const snappy = frame(2012, 1, Buffer.concat([i32(2013), i32(40), Buffer.from([1]), Buffer.from("opaque snappy payload")]));
      const plain = frame(2002, 2, Buffer.concat([i32(0), cstr("app.users"), doc({ a: 1 })]));
      s.write(Buffer.concat([snappy, plain]));
      await waitFor(() => Buffer.concat(got).length === snappy.length + plain.length, "bytes upstream");
      expect(Buffer.concat(got).equals(Buffer.concat([snappy, plain]))).toBe(true);
      expect([stat(h, "mongo.z.op_compressed"), stat(h, "mongo.z.op_compressed_undecodable"), stat(h, "mongo.z.op_insert"), stat(h, "mongo.z.decoding_error")]).toEqual([1, 1, 1, 0]);
      s.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("sniffs nothing on connections runtime mongo.proxy_enabled leaves out", async () => {
    const got: Buffer[] = [];
    const up = await listenTcp((s) => s.on("data", (d: Buffer) => got.push(d)));
    const runtime = "layered_runtime:\n  layers:\n  - name: static\n    static_layer: { mongo.proxy_enabled: 0 }\n";
    const h = await startYaml(runtime + yaml(up.port, "          stat_prefix: off"));
    try {
      const s = await connectClient(proxyPort(h));
      const insert = frame(2002, 2, Buffer.concat([i32(0), cstr("app.users"), doc({ a: 1 })]));
      s.write(insert);
      await waitFor(() => Buffer.concat(got).length === insert.length, "bytes upstream");
      expect(stat(h, "mongo.off.op_insert")).toBe(0);
      s.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });
});

describe("mongo_proxy drain close", () => {
  it("closes an idle connection on a reply boundary while the server drains (cx_drain_close)", async () => {
    const up = await legacyServer();
    const h = await startYaml(yaml(up.port, "          stat_prefix: dr"));
    try {
      const s = await connectClient(proxyPort(h));
      // The proxy half-closes (FIN after the flushed reply); the client then finishes its side.
      const closed = new Promise<void>((resolve) => s.once("end", () => {
        s.end();
        resolve();
      }));
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      const query = frame(2004, 1, Buffer.concat([i32(0), cstr("app.users"), i32(0), i32(1), doc({ _id: 1 })]));
      s.write(query);
      await waitFor(() => stat(h, "mongo.dr.op_reply") === 1, "first reply");
      expect(stat(h, "mongo.dr.cx_drain_close")).toBe(0);
      // SIGTERM's drain: the next reply boundary with nothing in flight closes the connection.
      const drained = h.drainAndClose();
      s.write(frame(2004, 2, query.subarray(16)));
      await closed;
      await drained;
      expect(stat(h, "mongo.dr.op_reply")).toBe(2);
      expect(stat(h, "mongo.dr.cx_drain_close")).toBe(1);
      // The second reply reached the client before the close.
      expect(Buffer.concat(got).length).toBe(2 * Buffer.concat(got).readInt32LE(0));
    } finally {
      await h.close();
      await up.close();
    }
  });
});

describe("MongoProxy config", () => {
  it("validates Envoy's fields and refuses what Legate does not run", async () => {
    const good = await validateBootstrapValue(
      parseConfigText(yaml(1, "          stat_prefix: m\n          access_log: /tmp/m.log\n          commands: [find]\n          delay: { fixed_delay: 1s, percentage: { numerator: 50 } }")).value,
    );
    expect(good.ok ? [] : good.issues).toEqual([]);
    const filters = good.ok ? good.model.listeners[0]!.filterChains[0]!.filters : [];
    expect(filters[0]).toEqual({
      kind: "mongo_proxy", name: "envoy.filters.network.mongo_proxy", statPrefix: "m", accessLog: "/tmp/m.log", commands: ["find"],
      delay: { fixedDelayMs: 1000, percentage: { numerator: 50, denominator: "HUNDRED" } },
    });

    const dyn = await validateBootstrapValue(parseConfigText(yaml(1, "          stat_prefix: m\n          emit_dynamic_metadata: true")).value);
    expect(dyn.ok ? [] : dyn.issues.map((i) => `${i.kind} ${i.path}`)).toEqual(["unsupported static_resources.listeners[0].filter_chains[0].filters[0].typed_config.emit_dynamic_metadata"]);

    const header = await validateBootstrapValue(parseConfigText(yaml(1, "          stat_prefix: m\n          delay: { header_delay: {} }")).value);
    expect(header.ok ? [] : header.issues.map((i) => `${i.kind} ${i.path}`)).toEqual(["unsupported static_resources.listeners[0].filter_chains[0].filters[0].typed_config.delay.header_delay"]);

    // Not terminal: a chain must not end with it.
    const alone = compileBootstrap(parseConfigText(yaml(1, "          stat_prefix: m", false)).value);
    expect(alone.issues.map((i) => i.message).join("\n")).toMatch(/mongo_proxy is not a terminal filter/);
    // The edge listener runs one http_connection_manager: mongo_proxy is refused there.
    const edge = compileBootstrap(parseConfigText(yaml(1, "          stat_prefix: m")).value, { edgeListener: "proxy" });
    expect(edge.issues.map((i) => i.message).join("\n")).toMatch(/mongo_proxy runs in the tcp tier only/);
    // Defaults: Envoy's commands, no delay, no log.
    const dflt = compileBootstrap(parseConfigText(yaml(1, "          stat_prefix: m")).value);
    expect(dflt.model?.listeners[0]!.filterChains[0]!.filters[0]).toEqual({ kind: "mongo_proxy", name: "envoy.filters.network.mongo_proxy", statPrefix: "m", commands: ["delete", "insert", "update"] });
  });
});
