/**
 * A {@link Connection} over a Node `net.Socket`, for accepted (downstream) and connected (upstream)
 * sockets alike. It owns:
 * - read control: a counted `readDisable`, mapped to `socket.pause()`/`resume()`, which stops reading
 *   from the kernel once Node's small readable buffer is full, so TCP flow control reaches the peer;
 * - write watermarks: above `bufferLimit` bytes waiting in the socket's user-space write buffer it tells
 *   its callbacks once; at half the limit or less, once more;
 * - half-close: the socket runs with `allowHalfOpen`, a peer FIN is delivered to the read filters as
 *   `endStream`, a write with `endStream` sends our FIN, and Node closes the socket when both
 *   directions are done;
 * - STARTTLS: {@link SocketConnection.startSecureTransport} swaps a clear-text socket for a TLS socket
 *   over it, mid-stream, when the socket was made by a starttls transport socket (tls/starttls.ts).
 */
import type { Socket } from "node:net";
import { EMPTY, FilterManagerImpl } from "./filter-manager.ts";
import type { Connection, ConnectionCallbacks, ConnectionCloseType, ConnectionEvent, ConnectionInfo, ConnectionStats } from "./filter.ts";
import { startTlsFor } from "../tls/starttls.ts";
import { tuneGcForProxying } from "./gc-tuning.ts";

tuneGcForProxying();

let nextId = 1;

export interface SocketConnectionOptions {
  /** Write-buffer high watermark (Envoy's per_connection_buffer_limit_bytes); 0 disables watermarks. */
  bufferLimit: number;
  /** What listener filters learned (default: raw_buffer, nothing else known). */
  info?: ConnectionInfo;
  /** Addresses a listener filter (PROXY protocol) substituted for the socket's own. */
  remote?: { address: string; port: number };
  local?: { address: string; port: number };
}

export class SocketConnection implements Connection {
  readonly id = nextId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly info: ConnectionInfo;
  readonly bufferLimit: number;
  readonly startTime = performance.now();
  readonly filterManager: FilterManagerImpl;
  private currentState: "open" | "closing" | "closed" = "open";
  /** The socket; replaced by a TLS socket over it after {@link startSecureTransport}. */
  private socket: Socket;
  /** Writes made while a STARTTLS handshake runs, sent once it is done; undefined otherwise. */
  private upgrading: [Uint8Array, boolean][] | undefined;
  private secured = false;
  private idle: { ms: number; onIdle: () => void } | undefined;
  private readonly callbacks: ConnectionCallbacks[] = [];
  private readDisableCount = 0;
  private above = false;
  private localEnded = false;
  private closedLocally = false;
  private stats: ConnectionStats | undefined;
  private reportedBuffered = 0;
  /** The error that ended the socket, if any (for logs). */
  lastError: Error | undefined;

  constructor(socket: Socket, options: SocketConnectionOptions) {
    this.socket = socket;
    this.bufferLimit = options.bufferLimit;
    this.directRemoteAddress = socket.remoteAddress ?? "";
    this.directRemotePort = socket.remotePort ?? 0;
    this.remoteAddress = options.remote?.address ?? this.directRemoteAddress;
    this.remotePort = options.remote?.port ?? this.directRemotePort;
    this.localAddress = options.local?.address ?? socket.localAddress ?? "";
    this.localPort = options.local?.port ?? socket.localPort ?? 0;
    this.info = options.info ?? { transportProtocol: "raw_buffer", applicationProtocols: [] };
    this.filterManager = new FilterManagerImpl({
      connection: this,
      writeToSocket: (data, endStream) => this.writeToSocket(data, endStream),
    });
    socket.on("error", this.onSocketError);
    socket.on("close", this.onSocketClose);
  }

  /**
   * Initializes the read filters, then starts delivering socket reads to them. Called once, after the
   * factories have added the filters (downstream) or the owner has added its read filter (upstream).
   */
  start(): void {
    this.socket.on("end", this.onSocketEnd);
    this.socket.on("data", this.onSocketData);
    if (this.readDisableCount > 0) this.socket.pause();
    this.filterManager.initializeReadFilters();
  }

  get state(): "open" | "closing" | "closed" {
    return this.currentState;
  }

  get readEnabled(): boolean {
    return this.readDisableCount === 0;
  }

  get writeBufferedBytes(): number {
    return this.socket.writableLength;
  }

  get aboveHighWatermark(): boolean {
    return this.above;
  }

  addConnectionCallbacks(callbacks: ConnectionCallbacks): void {
    this.callbacks.push(callbacks);
  }

  setConnectionStats(stats: ConnectionStats): void {
    if (this.reportedBuffered) this.stats?.writeBuffered?.dec(this.reportedBuffered);
    this.reportedBuffered = 0;
    this.stats = stats;
    this.updateBuffered();
  }

  /** Node's socket timeout, which every read and write resets, gives Envoy's idle-timeout semantics. */
  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.idle = ms > 0 ? { ms, onIdle } : undefined;
    this.socket.setTimeout(ms);
    this.socket.removeAllListeners("timeout");
    if (ms > 0) {
      this.socket.on("timeout", () => {
        if (this.currentState === "closed") return;
        onIdle();
        this.close("no-flush");
      });
    }
  }

  write(data: Uint8Array, endStream: boolean): void {
    if (this.currentState !== "open" || this.localEnded) return;
    this.filterManager.onWrite(data, endStream);
  }

  readDisable(disable: boolean): void {
    // During a STARTTLS handshake the clear-text socket stays paused; the count applies to the TLS socket.
    if (disable) {
      if (this.readDisableCount++ === 0 && this.currentState !== "closed" && !this.upgrading) this.socket.pause();
      return;
    }
    if (this.readDisableCount === 0) return;
    if (--this.readDisableCount === 0 && this.currentState !== "closed" && !this.upgrading) this.socket.resume();
  }

  /**
   * Envoy's `startSecureTransport()`: switches this clear-text connection to TLS, with the TLS context
   * of the starttls transport socket its socket came from. Returns false, changing nothing, when there
   * is none (a plain or already-TLS socket), when the connection is not open, or when it was switched
   * already. Otherwise reading stops, what was written so far is flushed in clear text, and the TLS
   * handshake runs; writes made meanwhile wait and go out encrypted; reads resume through TLS.
   * `head`: bytes already read that belong to the handshake (replayed first). `onDone(ok)` runs once the
   * handshake ended; a failed one (counted under `ssl.*` by the transport socket) closes the connection.
   */
  startSecureTransport(head: Uint8Array = EMPTY, onDone?: (ok: boolean) => void): boolean {
    const plain = this.socket;
    const upgrade = this.secured || this.upgrading || this.currentState !== "open" ? undefined : startTlsFor(plain);
    if (!upgrade) return false;
    this.upgrading = [];
    plain.off("data", this.onSocketData);
    plain.off("end", this.onSocketEnd);
    plain.pause();
    const run = (): void => {
      if (this.currentState === "closed") {
        this.upgrading = undefined;
        onDone?.(false);
        return;
      }
      upgrade(plain, head, (err, tls) => {
        const held = this.upgrading ?? [];
        this.upgrading = undefined;
        if (err || !tls || this.currentState === "closed") {
          if (err) this.lastError = err;
          tls?.destroy();
          // The clear-text socket's close raises this connection's close event.
          plain.destroy();
          onDone?.(false);
          return;
        }
        this.secured = true;
        plain.setTimeout(0);
        plain.removeAllListeners("timeout");
        this.socket = tls;
        tls.on("error", this.onSocketError);
        tls.on("close", this.onSocketClose);
        tls.on("end", this.onSocketEnd);
        tls.on("data", this.onSocketData);
        if (this.idle) this.setIdleTimeout(this.idle.ms, this.idle.onIdle);
        if (this.readDisableCount > 0) tls.pause();
        for (const [data, endStream] of held) this.writeToSocket(data, endStream);
        onDone?.(true);
      });
    };
    // Bytes written before the switch (e.g. postgres' `S`) must leave in clear text first.
    if (plain.writableLength === 0) run();
    else plain.write(EMPTY, run);
    return true;
  }

  close(type: ConnectionCloseType): void {
    if (this.currentState === "closed") return;
    this.closedLocally = true;
    if (type === "no-flush" || (this.socket.writableLength === 0 && this.localEnded)) {
      this.socket.destroy();
      return;
    }
    if (this.currentState === "closing") return;
    this.currentState = "closing";
    if (!this.localEnded) {
      this.localEnded = true;
      this.socket.end();
    }
    // Flushed: close the socket whole (Envoy's FlushWrite is a full close, not a half-close).
    if (this.socket.writableFinished) this.socket.destroy();
    else this.socket.once("finish", () => this.socket.destroy());
  }

  private writeToSocket(data: Uint8Array, endStream: boolean): void {
    if (this.localEnded || this.currentState === "closed") return;
    if (this.upgrading) {
      this.upgrading.push([data, endStream]);
      return;
    }
    if (data.length > 0) {
      const socket = this.socket;
      if (socket.writableLength > 0) {
        // Queued behind bytes not yet sent: learn when it drains (watermarks, the buffered gauge).
        socket.write(data, this.afterWrite);
      } else {
        // Usually the kernel takes all of it at once. A write callback would cost a process.nextTick
        // per write even then, so ask for one only when bytes are left over: an empty write queued
        // behind them completes once they are sent.
        socket.write(data);
        if (socket.writableLength > 0) socket.write(EMPTY, this.afterWrite);
      }
      this.stats?.writeTotal?.inc(data.length);
    }
    if (endStream) {
      this.localEnded = true;
      this.socket.end();
    }
    this.updateBuffered();
    if (!this.above && this.bufferLimit > 0 && this.socket.writableLength > this.bufferLimit) {
      this.above = true;
      for (const cb of this.callbacks) cb.onAboveWriteBufferHighWatermark?.();
    }
  }

  /** One shared callback for every socket write: no closure per write. */
  private readonly afterWrite = (): void => {
    if (this.currentState === "closed") return;
    this.updateBuffered();
    if (this.above && this.socket.writableLength <= this.bufferLimit / 2) {
      this.above = false;
      for (const cb of this.callbacks) cb.onBelowWriteBufferLowWatermark?.();
    }
  };

  private updateBuffered(): void {
    const gauge = this.stats?.writeBuffered;
    if (!gauge) return;
    const now = this.currentState === "closed" ? 0 : this.socket.writableLength;
    const delta = now - this.reportedBuffered;
    if (delta > 0) gauge.inc(delta);
    else if (delta < 0) gauge.dec(-delta);
    this.reportedBuffered = now;
  }

  private readonly onSocketData = (chunk: Uint8Array): void => {
    if (this.currentState !== "open") return;
    this.stats?.readTotal?.inc(chunk.length);
    this.filterManager.onRead(chunk, false);
  };

  private readonly onSocketEnd = (): void => {
    if (this.currentState !== "open") return;
    this.filterManager.onRead(EMPTY, true);
  };

  private readonly onSocketError = (err: Error): void => {
    this.lastError = err;
  };

  private readonly onSocketClose = (): void => {
    if (this.currentState === "closed") return;
    this.currentState = "closed";
    this.updateBuffered();
    this.raise(this.closedLocally ? "local-close" : "remote-close");
  };

  /** Raises an event on every registered callback, in registration order. */
  private raise(event: ConnectionEvent): void {
    for (const cb of this.callbacks) cb.onEvent?.(event);
  }
}
