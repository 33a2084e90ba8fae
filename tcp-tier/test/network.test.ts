/** The network filter contract (filter.ts) over real sockets: order, stop/continueReading, holds, watermarks, half-close. */
import { once } from "node:events";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SocketConnection } from "../src/network/connection.ts";
import type { ConnectionEvent, FilterStatus, ReadFilter, ReadFilterCallbacks, WriteFilter, WriteFilterCallbacks } from "../src/network/filter.ts";
import { connectClient, listenTcp, readAll, waitFor } from "./helpers.ts";

const text = (d: Uint8Array) => Buffer.from(d.buffer, d.byteOffset, d.length).toString();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server whose accepted sockets become SocketConnections set up by `setup`. */
async function serve(setup: (conn: SocketConnection) => void, bufferLimit = 1024 * 1024) {
  const conns: SocketConnection[] = [];
  const srv = await listenTcp((s: Socket) => {
    const conn = new SocketConnection(s, { bufferLimit });
    conns.push(conn);
    setup(conn);
    conn.start();
  });
  cleanups.push(() => srv.close());
  const client = await connectClient(srv.port);
  cleanups.push(() => void client.destroy());
  await waitFor(() => conns.length === 1, "accept");
  return { client, conn: conns[0]! };
}

class Recorder implements ReadFilter {
  cb!: ReadFilterCallbacks;
  readonly log: string[];
  readonly name: string;
  private readonly decide: (data: Uint8Array, end: boolean) => FilterStatus;
  private readonly init: FilterStatus;
  constructor(name: string, log: string[], decide: (data: Uint8Array, end: boolean) => FilterStatus = () => "continue", init: FilterStatus = "continue") {
    this.name = name;
    this.log = log;
    this.decide = decide;
    this.init = init;
  }
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks) {
    this.cb = cb;
  }
  onNewConnection(): FilterStatus {
    this.log.push(`${this.name}:new`);
    return this.init;
  }
  onData(data: Uint8Array, end: boolean): FilterStatus {
    this.log.push(`${this.name}:${text(data)}${end ? "<end>" : ""}`);
    return this.decide(data, end);
  }
}

describe("filter manager", () => {
  it("runs read filters in order, holds what a filter stops, resumes on continueReading; write filters run in reverse", async () => {
    const log: string[] = [];
    let gateOpen = false;
    const gate = new Recorder("B", log, () => (gateOpen ? "continue" : "stop"));
    const { client, conn } = await serve((conn) => {
      conn.filterManager.addReadFilter(new Recorder("A", log));
      conn.filterManager.addReadFilter(gate);
      conn.filterManager.addReadFilter(
        new Recorder("C", log, (data) => {
          conn.write(data, false);
          return "stop";
        }),
      );
      const w1: WriteFilter = {
        onWrite: () => {
          log.push("W1");
          return "continue";
        },
      };
      let w2cb!: WriteFilterCallbacks;
      const w2: WriteFilter = {
        initializeWriteFilterCallbacks: (cb) => (w2cb = cb),
        onWrite: (data, end) => {
          log.push("W2");
          w2cb.injectWriteDataToFilterChain(new TextEncoder().encode(text(data).toUpperCase()), end);
          return "stop";
        },
      };
      conn.filterManager.addWriteFilter(w1);
      conn.filterManager.addWriteFilter(w2);
    });
    expect(log).toEqual(["A:new", "B:new", "C:new"]);

    client.write("one");
    await waitFor(() => log.includes("B:one"), "one at B");
    client.write("two");
    await waitFor(() => log.includes("B:two"), "two at B");
    expect(log.filter((l) => l.startsWith("C:") && l !== "C:new")).toEqual([]);

    const echoed: string[] = [];
    client.on("data", (d) => echoed.push(String(d)));
    gateOpen = true;
    gate.cb.continueReading();
    expect(log.slice(-3)).toEqual(["C:onetwo", "W2", "W1"]);
    await waitFor(() => echoed.join("") === "ONETWO", "echo");

    client.write("three");
    await waitFor(() => log.includes("C:three"), "three at C");
    expect(log.slice(-5)).toEqual(["A:three", "B:three", "C:three", "W2", "W1"]);
    await waitFor(() => echoed.join("") === "ONETWOTHREE", "second echo");
    expect(conn.state).toBe("open");
  });

  it("pauses the chain when onNewConnection stops, and initializes the rest on continueReading", async () => {
    const log: string[] = [];
    const first = new Recorder("S", log, () => "stop", "stop");
    const { client } = await serve((conn) => {
      conn.filterManager.addReadFilter(first);
      conn.filterManager.addReadFilter(new Recorder("T", log));
    });
    expect(log).toEqual(["S:new"]);
    client.write("early");
    await waitFor(() => log.includes("S:early"), "early at S");
    expect(log).toEqual(["S:new", "S:early"]);
    first.cb.continueReading();
    expect(log).toEqual(["S:new", "S:early", "T:new", "T:early"]);
  });

  it("pauses reading while held bytes exceed the buffer limit, resumes when they are released", async () => {
    const log: string[] = [];
    let open = false;
    const gate = new Recorder("G", log, () => (open ? "continue" : "stop"));
    let delivered = 0;
    const { client, conn } = await serve((conn) => {
      conn.filterManager.addReadFilter(gate);
      conn.filterManager.addReadFilter({
        initializeReadFilterCallbacks() {},
        onData: (d) => {
          delivered += d.length;
          return "stop";
        },
      });
    }, 1024);
    client.write(Buffer.alloc(4096, 1));
    await waitFor(() => !conn.readEnabled, "reading paused");
    open = true;
    gate.cb.continueReading();
    expect(conn.readEnabled).toBe(true);
    await waitFor(() => delivered === 4096, "all bytes delivered");
  });

  it("delivers the peer's FIN as endStream once, and closes when both directions are done", async () => {
    const log: string[] = [];
    const events: ConnectionEvent[] = [];
    const { client, conn } = await serve((conn) => {
      conn.addConnectionCallbacks({ onEvent: (e) => events.push(e) });
      conn.filterManager.addReadFilter(
        new Recorder("R", log, (_d, end) => {
          if (end) conn.write(new TextEncoder().encode("bye"), true);
          return "stop";
        }),
      );
    });
    const got = readAll(client);
    client.end("last words");
    expect((await got).toString()).toBe("bye");
    await waitFor(() => events.length > 0, "close event");
    expect(log.filter((l) => l.endsWith("<end>"))).toEqual(["R:<end>"]);
    expect(events).toEqual(["remote-close"]);
    expect(conn.state).toBe("closed");
  });

  it("raises the high watermark once above the limit and the low one once drained to half", async () => {
    const marks: string[] = [];
    const limit = 16 * 1024;
    const { client, conn } = await serve((conn) => {
      conn.addConnectionCallbacks({
        onAboveWriteBufferHighWatermark: () => marks.push("above"),
        onBelowWriteBufferLowWatermark: () => marks.push("below"),
      });
      conn.filterManager.addReadFilter({ initializeReadFilterCallbacks() {}, onData: () => "stop" });
    }, limit);
    client.pause();
    const chunk = new Uint8Array(64 * 1024);
    // The kernel takes what fits in the socket buffers first (tcp_rmem/tcp_wmem: up to tens of MiB on some
    // machines), so write until the user-space buffer passes the limit, bounded at 128 MiB.
    let written = 0;
    while (marks.length === 0 && written < 2048) {
      conn.write(chunk, false);
      written++;
      if (written % 64 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(marks).toEqual(["above"]);
    expect(conn.aboveHighWatermark).toBe(true);
    expect(conn.writeBufferedBytes).toBeGreaterThan(limit);
    let received = 0;
    client.on("data", (d) => (received += d.length));
    client.resume();
    await waitFor(() => received === written * chunk.length, "everything received");
    expect(marks).toEqual(["above", "below"]);
    expect(conn.aboveHighWatermark).toBe(false);
  });

  it("counts readDisable calls, as Envoy does", async () => {
    const { conn } = await serve((conn) => {
      conn.filterManager.addReadFilter({ initializeReadFilterCallbacks() {}, onData: () => "stop" });
    });
    conn.readDisable(true);
    conn.readDisable(true);
    conn.readDisable(false);
    expect(conn.readEnabled).toBe(false);
    conn.readDisable(false);
    expect(conn.readEnabled).toBe(true);
    conn.readDisable(false);
    expect(conn.readEnabled).toBe(true);
  });

  it("flush-write close sends what is buffered, then closes; no-flush closes at once", async () => {
    const events: ConnectionEvent[] = [];
    const { client, conn } = await serve((conn) => {
      conn.addConnectionCallbacks({ onEvent: (e) => events.push(e) });
      conn.filterManager.addReadFilter({ initializeReadFilterCallbacks() {}, onData: () => "stop" });
    });
    const got = readAll(client);
    conn.write(new Uint8Array(256 * 1024).fill(7), false);
    conn.close("flush-write");
    expect(conn.state).toBe("closing");
    conn.write(new Uint8Array(10), false); // ignored once closing
    expect((await got).length).toBe(256 * 1024);
    await waitFor(() => conn.state === "closed", "closed");
    expect(events).toEqual(["local-close"]);

    const second = await serve((c) => c.filterManager.addReadFilter({ initializeReadFilterCallbacks() {}, onData: () => "stop" }));
    const ended = once(second.client, "end");
    second.conn.close("no-flush");
    await ended;
    expect(second.conn.state).toBe("closed");
  });
});
