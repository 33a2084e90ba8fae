/**
 * A {@link Connection} over a Node `net.Socket`, for accepted (downstream) and connected (upstream)
 * sockets alike. It owns:
 * - read control: a counted `readDisable`, mapped to `socket.pause()`/`resume()`, which stops reading
 *   from the kernel once Node's small readable buffer is full, so TCP flow control reaches the peer;
 * - write watermarks: above `bufferLimit` bytes waiting in the socket's user-space write buffer it tells
 *   its callbacks once; at half the limit or less, once more;
 * - half-close: the socket runs with `allowHalfOpen`, a peer FIN is delivered to the read filters as
 *   `endStream`, a write with `endStream` sends our FIN, and Node closes the socket when both
 *   directions are done.
 */
import type { Socket } from "node:net";
import { EMPTY, FilterManagerImpl } from "./filter-manager.ts";
import type { Connection, ConnectionCallbacks, ConnectionCloseType, ConnectionEvent, ConnectionInfo, ConnectionStats } from "./filter.ts";
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
  private readonly socket: Socket;
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
    if (disable) {
      if (this.readDisableCount++ === 0 && this.currentState !== "closed") this.socket.pause();
      return;
    }
    if (this.readDisableCount === 0) return;
    if (--this.readDisableCount === 0 && this.currentState !== "closed") this.socket.resume();
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
