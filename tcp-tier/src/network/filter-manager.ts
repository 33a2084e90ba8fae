/**
 * The per-connection filter manager: runs read filters in order and write filters in reverse, holds
 * bytes that a non-terminal filter stopped, and resumes on `continueReading()`. See filter.ts for the
 * contract each filter sees.
 */
import type {
  Connection,
  Filter,
  FilterManager,
  FilterStatus,
  ReadFilter,
  ReadFilterCallbacks,
  ReadFilterStatus,
  WriteFilter,
  WriteFilterCallbacks,
} from "./filter.ts";

export const EMPTY: Uint8Array = new Uint8Array(0);

/** What the manager needs from the connection it serves, beyond the public {@link Connection}. */
export interface FilterManagerHost {
  readonly connection: Connection;
  /** Hands bytes that passed every write filter to the socket. */
  writeToSocket(data: Uint8Array, endStream: boolean): void;
}

interface ActiveReadFilter {
  filter: ReadFilter;
  initialized: boolean;
  /** Bytes waiting to be delivered to this filter (a previous filter stopped, or this one's onNewConnection did). */
  held: Uint8Array[];
  heldBytes: number;
  heldEnd: boolean;
}

export class FilterManagerImpl implements FilterManager {
  private readonly reads: ActiveReadFilter[] = [];
  private readonly writes: WriteFilter[] = [];
  private heldTotal = 0;
  private pausedForHeld = false;
  private readonly host: FilterManagerHost;

  constructor(host: FilterManagerHost) {
    this.host = host;
  }

  addReadFilter(filter: ReadFilter): void {
    const index = this.reads.length;
    this.reads.push({ filter, initialized: false, held: [], heldBytes: 0, heldEnd: false });
    const callbacks: ReadFilterCallbacks = {
      connection: this.host.connection,
      continueReading: () => this.deliver(index, EMPTY, false),
      injectReadDataToFilterChain: (data, endStream) => this.deliver(index + 1, data, endStream),
      startUpstreamSecureTransport: (onDone) => this.reads.some((r) => r.filter.startUpstreamSecureTransport?.(onDone) === true),
    };
    filter.initializeReadFilterCallbacks(callbacks);
  }

  addWriteFilter(filter: WriteFilter): void {
    const index = this.writes.length;
    this.writes.push(filter);
    const callbacks: WriteFilterCallbacks = {
      connection: this.host.connection,
      injectWriteDataToFilterChain: (data, endStream) => this.writeFrom(index - 1, data, endStream),
    };
    filter.initializeWriteFilterCallbacks?.(callbacks);
  }

  addFilter(filter: Filter): void {
    this.addReadFilter(filter);
    this.addWriteFilter(filter);
  }

  /** True when at least one read filter was added (a chain without one cannot serve the connection). */
  get hasReadFilters(): boolean {
    return this.reads.length > 0;
  }

  /** Runs `onNewConnection` down the chain until a filter stops. Called once, before the first read. */
  initializeReadFilters(): void {
    this.deliver(0, EMPTY, false);
  }

  /** Bytes read from the socket (or the peer's FIN, as empty data with `endStream`). */
  onRead(data: Uint8Array, endStream: boolean): void {
    this.deliver(0, data, endStream);
  }

  /** A write from {@link Connection.write}: every write filter, last added first, then the socket. */
  onWrite(data: Uint8Array, endStream: boolean): void {
    this.writeFrom(this.writes.length - 1, data, endStream);
  }

  private writeFrom(start: number, data: Uint8Array, endStream: boolean): void {
    for (let i = start; i >= 0; i--) {
      const status: FilterStatus = this.writes[i]!.onWrite(data, endStream);
      if (status === "stop" || this.host.connection.state === "closed") return;
    }
    this.host.writeToSocket(data, endStream);
  }

  /** Delivers bytes to filter `start` and onwards, merging in whatever was held for each filter. */
  private deliver(start: number, data: Uint8Array, endStream: boolean): void {
    const conn = this.host.connection;
    let bytes = data;
    let end = endStream;
    for (let i = start; i < this.reads.length; i++) {
      if (conn.state !== "open") return;
      const entry = this.reads[i]!;
      if (entry.heldBytes > 0 || entry.heldEnd) {
        bytes = this.release(entry, bytes);
        end = end || entry.heldEnd;
        entry.heldEnd = false;
      }
      if (!entry.initialized) {
        entry.initialized = true;
        const status = entry.filter.onNewConnection?.() ?? "continue";
        if (conn.state !== "open") return;
        if (status === "stop") {
          this.hold(entry, bytes, end);
          return;
        }
      }
      if (bytes.length === 0 && !end) continue;
      const status: ReadFilterStatus = entry.filter.onData(bytes, end);
      if (conn.state !== "open" || status === "consumed") return;
      if (status === "stop") {
        const next = this.reads[i + 1];
        if (next) this.hold(next, bytes, end);
        return;
      }
    }
  }

  private hold(entry: ActiveReadFilter, bytes: Uint8Array, end: boolean): void {
    if (end) entry.heldEnd = true;
    if (bytes.length === 0) return;
    entry.held.push(bytes);
    entry.heldBytes += bytes.length;
    this.heldTotal += bytes.length;
    const limit = this.host.connection.bufferLimit;
    if (limit > 0 && !this.pausedForHeld && this.heldTotal > limit) {
      this.pausedForHeld = true;
      this.host.connection.readDisable(true);
    }
  }

  private release(entry: ActiveReadFilter, after: Uint8Array): Uint8Array {
    const parts = after.length ? [...entry.held, after] : entry.held;
    const out = concat(parts, entry.heldBytes + after.length);
    this.heldTotal -= entry.heldBytes;
    entry.held = [];
    entry.heldBytes = 0;
    if (this.pausedForHeld && this.heldTotal <= this.host.connection.bufferLimit / 2) {
      this.pausedForHeld = false;
      this.host.connection.readDisable(false);
    }
    return out;
  }
}

/** Joins chunks; returns the only chunk itself when there is one. */
export function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
