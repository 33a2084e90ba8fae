/**
 * SocketConnection's write path over real loopback sockets: a write the kernel takes at once asks Node
 * for no completion callback, and a write that leaves bytes in user space still reports them (the
 * buffered gauge, the watermarks) until they are sent.
 */
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SocketConnection } from "../src/network/connection.ts";
import { connectClient, listenTcp, waitFor } from "./helpers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Byte counters and a gauge with the shapes ConnectionStats asks for. */
function recordingStats() {
  const s = { read: 0, written: 0, buffered: 0, maxBuffered: 0 };
  return {
    s,
    stats: {
      readTotal: { inc: (by: number) => void (s.read += by) },
      writeTotal: { inc: (by: number) => void (s.written += by) },
      writeBuffered: {
        inc: (by: number) => void ((s.buffered += by), (s.maxBuffered = Math.max(s.maxBuffered, s.buffered))),
        dec: (by: number) => void (s.buffered -= by),
      },
    },
  };
}

/** An accepted socket as a started SocketConnection, and the client connected to it. */
async function serve(bufferLimit: number) {
  const conns: SocketConnection[] = [];
  const srv = await listenTcp((sock: Socket) => {
    const conn = new SocketConnection(sock, { bufferLimit });
    conn.filterManager.addReadFilter({ initializeReadFilterCallbacks() {}, onData: () => "stop" });
    conns.push(conn);
    conn.start();
  });
  cleanups.push(() => srv.close());
  const client = await connectClient(srv.port);
  cleanups.push(() => void client.destroy());
  await waitFor(() => conns.length === 1, "accept");
  return { client, conn: conns[0]! };
}

/** Reads everything the client gets, checking each byte is `(offset mod 251)`. */
function patternReader(client: Socket) {
  const r = { received: 0, ok: true };
  client.on("data", (d: Buffer) => {
    for (let i = 0; i < d.length; i++) if (d[i] !== (r.received + i) % 251) r.ok = false;
    r.received += d.length;
  });
  return r;
}

function pattern(from: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (from + i) % 251;
  return out;
}

describe("SocketConnection write path", () => {
  it("small writes the kernel takes at once: bytes counted, nothing reported buffered, no watermark", async () => {
    const { client, conn } = await serve(16 * 1024);
    const { s, stats } = recordingStats();
    conn.setConnectionStats(stats);
    const marks: string[] = [];
    conn.addConnectionCallbacks({ onAboveWriteBufferHighWatermark: () => marks.push("above"), onBelowWriteBufferLowWatermark: () => marks.push("below") });
    const r = patternReader(client);
    let sent = 0;
    for (let i = 0; i < 200; i++) {
      conn.write(pattern(sent, 100), false);
      sent += 100;
      // Each write went to the kernel whole: nothing waits in user space.
      expect(conn.writeBufferedBytes).toBe(0);
      if (i % 20 === 0) await new Promise((res) => setTimeout(res, 1));
    }
    await waitFor(() => r.received === sent, "everything received");
    expect(r.ok).toBe(true);
    expect(s.written).toBe(sent);
    expect(s.maxBuffered).toBe(0);
    expect(s.buffered).toBe(0);
    expect(marks).toEqual([]);
  });

  it("one write larger than the kernel takes: the rest is reported buffered, then drained to 0 while the connection stays open", async () => {
    const limit = 16 * 1024;
    const { client, conn } = await serve(limit);
    const { s, stats } = recordingStats();
    conn.setConnectionStats(stats);
    const marks: string[] = [];
    conn.addConnectionCallbacks({ onAboveWriteBufferHighWatermark: () => marks.push("above"), onBelowWriteBufferLowWatermark: () => marks.push("below") });
    client.pause();
    // Far more than loopback socket buffers hold, in a single write on an empty connection.
    const size = 96 * 1024 * 1024;
    conn.write(pattern(0, size), false);
    expect(conn.writeBufferedBytes).toBeGreaterThan(limit);
    expect(s.buffered).toBe(conn.writeBufferedBytes);
    expect(marks).toEqual(["above"]);
    const r = patternReader(client);
    client.resume();
    await waitFor(() => r.received === size, "everything received", 2000, 5);
    expect(r.ok).toBe(true);
    // Sent without any later write: the connection still learned that the buffer drained.
    await waitFor(() => s.buffered === 0, "the buffered gauge back to 0");
    expect(conn.state).toBe("open");
    expect(conn.writeBufferedBytes).toBe(0);
    expect(marks).toEqual(["above", "below"]);
    expect(conn.aboveHighWatermark).toBe(false);
    expect(s.written).toBe(size);
  });

  it("a write with endStream after a partial write: every byte, then the FIN", async () => {
    const { client, conn } = await serve(1024 * 1024);
    client.pause();
    const size = 64 * 1024 * 1024;
    conn.write(pattern(0, size / 2), false);
    conn.write(pattern(size / 2, size / 2), true);
    const r = patternReader(client);
    const ended = new Promise<void>((res) => client.once("end", () => res()));
    client.resume();
    await ended;
    expect(r.received).toBe(size);
    expect(r.ok).toBe(true);
  });
});
