/**
 * Envoy's network filter contract (Network::ReadFilter / WriteFilter / FilterManager), in TypeScript.
 *
 * A listener's filter chain holds config-time {@link NetworkFilterFactory} functions, built once per
 * config version. For every accepted connection each factory runs once and adds fresh filter objects
 * to that connection's {@link FilterManager}: filters are per connection, factories are shared.
 *
 * Read path: bytes read from the socket go through the read filters in config order. Write path:
 * bytes written with {@link Connection.write} go through the write filters in reverse config order,
 * then to the socket. A filter added with `addFilter` is both.
 */

/** What a filter tells the manager after handling an event. */
export type FilterStatus = "continue" | "stop";

/**
 * What a read filter's `onData` may return: a {@link FilterStatus}, or `consumed` when the filter took
 * the bytes itself (nothing is held for the next filter; it may pass bytes on later with
 * `injectReadDataToFilterChain`), as an Envoy filter that drains its buffer and stops iteration.
 */
export type ReadFilterStatus = FilterStatus | "consumed";

/** Connection events, as Envoy's `Network::ConnectionEvent`. */
export type ConnectionEvent = "connected" | "remote-close" | "local-close";

/**
 * How to close (Envoy's `ConnectionCloseType`).
 * - `flush-write`: stop reading, send what is buffered for writing, then close.
 * - `no-flush`: close now, dropping buffered writes.
 */
export type ConnectionCloseType = "flush-write" | "no-flush";

/** Observer of one connection's lifecycle and write-buffer watermarks (Envoy's `ConnectionCallbacks`). */
export interface ConnectionCallbacks {
  /**
   * Called on `connected` (client connections, once, when the TCP handshake completes) and once on
   * close: `remote-close` when the peer reset or both directions finished after the peer's FIN came
   * last, `local-close` when this side closed it. No further calls after a close event.
   */
  onEvent?(event: ConnectionEvent): void;
  /**
   * Called when the connection's socket write buffer grows above the high watermark (the buffer
   * limit). Called again only after {@link onBelowWriteBufferLowWatermark}. The usual reaction is to
   * stop reading from whatever feeds this connection (`readDisable(true)` on the other side).
   */
  onAboveWriteBufferHighWatermark?(): void;
  /** Called when the write buffer drains to half the limit or less, after an above-high call. */
  onBelowWriteBufferLowWatermark?(): void;
}

/**
 * Counters a connection updates as bytes move (Envoy's `Connection::ConnectionStats`); set by the
 * filter that owns the naming (tcp_proxy sets `tcp.<prefix>.downstream_cx_*` on the downstream).
 * Gauges track bytes currently buffered for writing, in the socket's user-space buffer.
 */
export interface ConnectionStats {
  /** Incremented by the size of every chunk read from the socket, before the read filters run. */
  readTotal?: { inc(by: number): void };
  /** Incremented by the size of every chunk handed to the socket (after the write filters). */
  writeTotal?: { inc(by: number): void };
  /** Follows the bytes waiting in the socket's write buffer: up on writes, down as they drain, to 0 at close. */
  writeBuffered?: { inc(by: number): void; dec(by: number): void };
}

/** A peer certificate, as filters, RBAC and access logs read it. */
export interface PeerCertificate {
  /** RFC 2253 subject, e.g. `CN=client,O=Example`. */
  subject: string;
  issuer: string;
  /** Subject alternative names, by type. */
  sans: { dns: string[]; uri: string[]; email: string[]; ip: string[] };
  /** Lower-case hex SHA-256 of the DER certificate. */
  sha256: string;
  serialNumber: string;
  validFrom: string;
  validTo: string;
  /** The certificate, PEM-encoded. */
  pem: string;
}

/**
 * Per-connection facts set by listener filters (`tls_inspector`, `proxy_protocol`, `http_inspector`)
 * and the transport socket (TLS), read by chain selection, network filters and access logs.
 */
export interface ConnectionInfo {
  /** `raw_buffer` unless the TLS inspector saw a ClientHello (`tls`). */
  transportProtocol: string;
  /** SNI from the ClientHello (tls_inspector) or the TLS handshake. */
  requestedServerName?: string;
  /** ALPN offered by the client (tls_inspector) or detected by http_inspector (`http/1.1`, `h2c`). */
  applicationProtocols: string[];
  /** After a TLS handshake: the negotiated ALPN, the TLS version (`TLSv1.3`) and cipher. */
  tls?: { alpn?: string; version: string; cipher: string; peerCertificate?: PeerCertificate; sessionId?: string };
  /** Name of the filter chain that serves the connection, once chosen. */
  filterChainName?: string;
}

/** A TCP connection as filters see it (Envoy's `Network::Connection`). */
export interface Connection {
  /** Process-unique id, increasing; used in logs. */
  readonly id: number;
  /**
   * The peer as filters and access logs see it: the source a `proxy_protocol` listener filter read,
   * else the socket's peer (Envoy's `remoteAddress()` vs `directRemoteAddress()`).
   */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The socket's own peer, whatever a listener filter said. */
  readonly directRemoteAddress: string;
  readonly directRemotePort: number;
  /** The local address; a PROXY protocol header's destination replaces it, as in Envoy. */
  readonly localAddress: string;
  readonly localPort: number;
  /** What listener filters and the transport socket learned before the filter chain was chosen. */
  readonly info: ConnectionInfo;
  /** `open` until {@link close} or a close event; `closing` while a flush-write close drains. */
  readonly state: "open" | "closing" | "closed";
  /**
   * Writes bytes through this connection's write filters (reverse order) and then to the socket.
   * `endStream` half-closes the write side (sends FIN) after the bytes. Ignored once closing or after
   * an `endStream` was written.
   */
  write(data: Uint8Array, endStream: boolean): void;
  /** Closes the connection; idempotent. Close events are raised on the callbacks. */
  close(type: ConnectionCloseType): void;
  /**
   * Stops (`true`) or resumes (`false`) reading from the socket. Counted, as Envoy's: reading resumes
   * only when every disable has been matched by an enable. Bytes already read are still delivered.
   */
  readDisable(disable: boolean): void;
  /** True when no readDisable(true) is outstanding. */
  readonly readEnabled: boolean;
  /** Registers lifecycle and watermark callbacks; called in registration order. */
  addConnectionCallbacks(callbacks: ConnectionCallbacks): void;
  /** The write-buffer high watermark in bytes (low is half of it); 0 disables watermarks. */
  readonly bufferLimit: number;
  /** Bytes accepted for writing but not yet handed to the kernel. */
  readonly writeBufferedBytes: number;
  /** True between an above-high and the next below-low watermark event. */
  readonly aboveHighWatermark: boolean;
  /** Installs byte counters (at most one set; a later call replaces the earlier one). */
  setConnectionStats(stats: ConnectionStats): void;
  /**
   * Closes the connection (without flushing) when neither direction has carried a byte for `ms`;
   * `onIdle` runs just before. Any read or write restarts the clock. 0 turns it off. One per connection:
   * a later call replaces the earlier one.
   */
  setIdleTimeout(ms: number, onIdle: () => void): void;
  /** Time the connection was accepted (or connected, for upstream connections), `performance.now()` ms. */
  readonly startTime: number;
  /**
   * Switches a clear-text connection to TLS mid-stream (Envoy's `startSecureTransport()`), when its
   * transport socket is `envoy.transport_sockets.starttls`; false (and nothing changes) otherwise.
   * Writes made during the handshake go out encrypted after it; `head` is bytes already read that
   * belong to the handshake; `onDone(ok)` once it ended (a failed handshake closes the connection).
   */
  startSecureTransport(head?: Uint8Array, onDone?: (ok: boolean) => void): boolean;
}

/** Handed to a read filter when it is added (Envoy's `ReadFilterCallbacks`). */
export interface ReadFilterCallbacks {
  readonly connection: Connection;
  /**
   * Resumes read-filter iteration after this filter returned `stop` from `onNewConnection` or
   * `onData`: remaining filters get `onNewConnection` if they have not had it, and the bytes held
   * since the stop are delivered to the next filter. Call it outside this filter's own `onData`.
   */
  continueReading(): void;
  /**
   * Hands bytes this filter kept or made to the read filters after it (Envoy's
   * `injectReadDataToFilterChain`), e.g. after returning `consumed`.
   */
  injectReadDataToFilterChain(data: Uint8Array, endStream: boolean): void;
  /**
   * Asks the terminal filter that owns the upstream connection (tcp_proxy) to switch it to TLS
   * (Envoy's `startUpstreamSecureTransport()`): false when no filter can (no upstream connection yet,
   * or its cluster's transport socket is not starttls). `onDone(ok)` once the handshake ended.
   */
  startUpstreamSecureTransport(onDone?: (ok: boolean) => void): boolean;
}

/** Handed to a write filter when it is added (Envoy's `WriteFilterCallbacks`). */
export interface WriteFilterCallbacks {
  readonly connection: Connection;
  /**
   * Sends bytes through the write filters that come after this one (towards the socket). A write filter
   * that returned `stop` and kept bytes uses this to release them, or bytes it made itself.
   */
  injectWriteDataToFilterChain(data: Uint8Array, endStream: boolean): void;
}

/** Reads from a connection (Envoy's `Network::ReadFilter`). */
export interface ReadFilter {
  /** Called once, when the filter is added, before any other member. */
  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void;
  /**
   * Called once per connection, in config order, before the filter's first `onData`. `continue`
   * initializes the next filter; `stop` pauses the chain (later filters are not initialized and get no
   * bytes) until this filter calls `continueReading()`. Default: `continue`.
   */
  onNewConnection?(): FilterStatus;
  /**
   * Called with bytes read from the socket, in order, possibly many times per connection; each byte
   * is seen once per filter. `endStream` is true exactly once, when the peer half-closed (FIN); the
   * data may then be empty. Synchronous.
   * - `continue`: the same bytes go to the next filter (the data belongs to the chain, do not keep it
   *   unless you copy it).
   * - `stop`: the bytes go no further for now. If this is the last filter it has consumed them.
   *   Otherwise the connection holds them (they count against the buffer limit and reading pauses
   *   above it) and hands them, followed by later bytes, to the next filter when this filter calls
   *   `continueReading()` or next returns `continue`.
   * - `consumed`: this filter took the bytes; nothing goes on or is held for the next filter.
   * The connection may be closed from inside; iteration stops then.
   */
  onData(data: Uint8Array, endStream: boolean): ReadFilterStatus;
  /**
   * Terminal filters that own an upstream connection: switch it to TLS (see
   * {@link ReadFilterCallbacks.startUpstreamSecureTransport}). Absent or false: this filter cannot.
   */
  startUpstreamSecureTransport?(onDone?: (ok: boolean) => void): boolean;
}

/** Writes to a connection (Envoy's `Network::WriteFilter`). */
export interface WriteFilter {
  /** Called once, when the filter is added, before any other member. */
  initializeWriteFilterCallbacks?(callbacks: WriteFilterCallbacks): void;
  /**
   * Called for each {@link Connection.write}, write filters in reverse config order. `continue` passes
   * the bytes on towards the socket; `stop` means this filter took them (it may release them later with
   * `injectWriteDataToFilterChain`). Synchronous.
   */
  onWrite(data: Uint8Array, endStream: boolean): FilterStatus;
}

/** A filter that is both. */
export type Filter = ReadFilter & WriteFilter;

/** Where factories add filters, per connection (Envoy's `Network::FilterManager`). */
export interface FilterManager {
  /**
   * Appends a read filter (read filters run in the order added) and calls its
   * `initializeReadFilterCallbacks` at once. Called by factories, before the connection starts reading.
   */
  addReadFilter(filter: ReadFilter): void;
  /** Appends a write filter (write filters run last added first) and calls its `initializeWriteFilterCallbacks`. */
  addWriteFilter(filter: WriteFilter): void;
  /** Adds one object as both a read and a write filter. */
  addFilter(filter: Filter): void;
}

/**
 * A config-time factory (Envoy's `Network::FilterFactoryCb`): built once per filter config, called once
 * per accepted connection to add that connection's filter objects. Must be cheap: parse and look up
 * everything (stats, clusters) when the factory is made.
 */
export type NetworkFilterFactory = (manager: FilterManager, connection: Connection) => void;
