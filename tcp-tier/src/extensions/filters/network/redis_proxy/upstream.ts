/**
 * One shared connection to one shard (a cluster host), multiplexing the commands of every client of a
 * redis_proxy filter config, as twemproxy and Envoy do. Redis answers in order on a connection, so each
 * reply belongs to the oldest command still waiting.
 *
 * Writes are batched: commands are appended to a buffer and written once per event-loop turn
 * (`setImmediate`), or, with `max_buffer_size_before_flush`, when the buffer reaches that size or after
 * `buffer_flush_timeout`. `op_timeout` runs on one timer for the oldest waiting command (all share the
 * same timeout, so the oldest expires first); on expiry the connection is closed (later replies could no
 * longer be matched) and every waiting command fails.
 */
import type { ConnectionCallbacks, ConnectionEvent, FilterStatus } from "../../../../network/filter.ts";
import type { SocketConnection } from "../../../../network/connection.ts";
import type { Cluster, PendingConnect, UpstreamConnectHandler } from "../../../../upstream/cluster.ts";
import type { Host } from "../../../../upstream/host.ts";
import { encodeCommand, ReplyScanner } from "./codec.ts";
import type { Counter } from "../../../../../../shared/stats/store.ts";

/** Gets the reply's exact bytes, or an error text when the command failed (no reply will come). */
export type ReplyCallback = (frame: Uint8Array | undefined, error?: string) => void;

/** The same as an object (a caller's per-command state then needs no closure of its own). */
export interface ReplySink {
  onReply(frame: Uint8Array | undefined, error?: string): void;
  /** When present, a reply comes here as where it is (`buf[start, end)`), without a view made of it. */
  onReplyBytes?(buf: Uint8Array, start: number, end: number): void;
}

export type ReplyTarget = ReplyCallback | ReplySink;

function deliver(target: ReplyTarget, frame: Uint8Array | undefined, error?: string): void {
  if (typeof target === "function") target(frame, error);
  else target.onReply(frame, error);
}

const EMPTY = new Uint8Array(0);

export interface UpstreamSettings {
  opTimeoutMs: number;
  maxBufferSizeBeforeFlush: number;
  bufferFlushTimeoutMs: number;
}

export class ShardConnection implements UpstreamConnectHandler {
  readonly host: Host;
  private readonly cluster: Cluster;
  private readonly settings: UpstreamSettings;
  private readonly timeouts: Counter;
  private readonly onGone: (c: ShardConnection) => void;
  private connection: SocketConnection | undefined;
  private pending: PendingConnect | undefined;
  private closed = false;
  /** Commands written (or to be written) whose replies have not come; FIFO. Their op_timeout deadlines in
   * `deadlines`, at the same index (two flat arrays: no object per command). */
  private readonly waiting: (ReplyTarget | undefined)[] = [];
  private readonly deadlines: number[] = [];
  private head = 0;
  /** Commands to write, copied in as they come (one array per flush: the socket may still hold the last one). */
  private out: Uint8Array = EMPTY;
  private outBytes = 0;
  /** Bytes of the last flush: the size the next buffer starts with. */
  private lastFlush = 1024;
  private flushScheduled = false;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly parser: ReplyScanner;
  /** A subscriber connection sent AUTH and its reply has not come yet. */
  private authPending = false;

  /**
   * Subscriber mode (pub/sub): every frame the shard sends goes to `onPush` (confirmations and messages
   * are not one reply per command), and `send`'s callback is called only if the connection fails.
   */
  private readonly onPush: ((frame: Uint8Array) => void) | undefined;

  constructor(cluster: Cluster, host: Host, settings: UpstreamSettings, timeouts: Counter, onGone: (c: ShardConnection) => void, onPush?: (frame: Uint8Array) => void) {
    this.onPush = onPush;
    this.cluster = cluster;
    this.host = host;
    this.settings = settings;
    this.timeouts = timeouts;
    this.onGone = onGone;
    this.parser = new ReplyScanner((buf, start, end) => this.onReply(buf, start, end));
    this.pending = cluster.connect(host, this);
  }

  /** Queues one encoded command; `cb` is called exactly once. */
  send(command: Uint8Array, cb: ReplyTarget): void {
    this.sendBytes(command, 0, command.length, cb);
  }

  /** Queues the command in `buf[start, end)` (copied: the caller's bytes are not kept); `cb` is called exactly once. */
  sendBytes(buf: Uint8Array, start: number, end: number, cb: ReplyTarget): void {
    if (this.closed) return deliver(cb, undefined, "upstream failure");
    if (this.onPush) {
      this.append(buf, start, end);
      if (this.connection) this.flush();
      return;
    }
    this.waiting.push(cb);
    this.deadlines.push(performance.now() + this.settings.opTimeoutMs);
    if (this.waiting.length - this.head === 1) this.armTimeout(this.settings.opTimeoutMs);
    this.append(buf, start, end);
    if (!this.connection) return;
    const max = this.settings.maxBufferSizeBeforeFlush;
    if (max > 0) {
      if (this.outBytes >= max) this.flush();
      else this.flushTimer ??= setTimeout(() => this.flush(), this.settings.bufferFlushTimeoutMs);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private append(buf: Uint8Array, start: number, end: number): void {
    const n = end - start;
    let o = this.outBytes;
    if (o + n > this.out.length) {
      const grown = new Uint8Array(Math.max(o + n, 2 * this.out.length, this.lastFlush));
      if (o > 0) grown.set(this.out.subarray(0, o));
      this.out = grown;
    }
    const out = this.out;
    // Commands are mostly short: copied by hand, no view made of them.
    if (n < 128) for (let i = start; i < end; i++) out[o++] = buf[i]!;
    else out.set(buf.subarray(start, end), o);
    this.outBytes += n;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (!this.connection || this.closed || this.outBytes === 0) return;
    const data = this.out.subarray(0, this.outBytes);
    this.lastFlush = Math.max(1024, this.outBytes);
    this.out = EMPTY;
    this.outBytes = 0;
    this.connection.write(data, false);
  }

  onConnected(connection: SocketConnection): void {
    this.pending = undefined;
    if (this.closed) {
      connection.close("no-flush");
      return;
    }
    this.connection = connection;
    connection.filterManager.addReadFilter({
      initializeReadFilterCallbacks() {},
      onData: (data: Uint8Array, endStream: boolean): FilterStatus => {
        const err = this.parser.feed(data);
        if (err) this.fail("upstream protocol error");
        else if (endStream) this.fail("upstream failure");
        return "stop";
      },
    });
    connection.addConnectionCallbacks(this.callbacks);
    connection.start();
    const auth = this.cluster.model.redisAuth;
    if (auth) {
      // The cluster's RedisProtocolOptions: AUTH goes first, ahead of every command queued while connecting.
      const command = encodeCommand(auth.username ? ["AUTH", auth.username, auth.password] : ["AUTH", auth.password]);
      const queued = this.out.subarray(0, this.outBytes);
      this.out = EMPTY;
      this.outBytes = 0;
      this.append(command, 0, command.length);
      this.append(queued, 0, queued.length);
      const onAuth: ReplyCallback = (frame) => {
        if (frame && frame[0] === 45) this.fail("upstream authentication failed");
      };
      if (this.onPush) this.authPending = true;
      else {
        this.waiting.splice(this.head, 0, onAuth);
        this.deadlines.splice(this.head, 0, performance.now() + this.settings.opTimeoutMs);
        if (this.waiting.length - this.head === 1) this.armTimeout(this.settings.opTimeoutMs);
      }
    }
    this.flush();
  }

  onFailure(): void {
    this.pending = undefined;
    this.fail("upstream failure");
  }

  private readonly callbacks: ConnectionCallbacks = {
    onEvent: (event: ConnectionEvent) => {
      if (event !== "connected") this.fail("upstream failure");
    },
  };

  private onReply(buf: Uint8Array, start: number, end: number): void {
    if (this.authPending) {
      // A subscriber connection's AUTH reply comes before any push.
      this.authPending = false;
      if (buf[start] === 45) this.fail("upstream authentication failed");
      return;
    }
    if (this.onPush) return this.onPush(buf.subarray(start, end));
    if (this.head >= this.waiting.length) {
      // A reply nobody asked for (a push message): the stream is out of step; drop the connection.
      this.fail("upstream protocol error");
      return;
    }
    const target = this.waiting[this.head]!;
    this.waiting[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.deadlines.splice(0, this.head);
      this.head = 0;
    }
    if (typeof target !== "function" && target.onReplyBytes) target.onReplyBytes(buf, start, end);
    else deliver(target, buf.subarray(start, end));
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.deadlines.length = 0;
      this.head = 0;
      if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
      this.timeoutTimer = undefined;
    }
  }

  private armTimeout(ms: number): void {
    // 0: no op_timeout (a client's own connection for blocking commands).
    if (this.settings.opTimeoutMs <= 0) return;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = setTimeout(() => this.checkTimeout(), Math.max(1, ms));
  }

  private checkTimeout(): void {
    this.timeoutTimer = undefined;
    if (this.head >= this.waiting.length) return;
    const left = this.deadlines[this.head]! - performance.now();
    if (left > 0) return this.armTimeout(left);
    this.timeouts.inc();
    this.fail("upstream failure");
  }

  /** Fails every waiting command and closes; the pool makes a new connection for the next command. */
  fail(error: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onGone(this);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.pending?.cancel();
    this.pending = undefined;
    const waiting = this.waiting.slice(this.head);
    this.waiting.length = 0;
    this.deadlines.length = 0;
    this.head = 0;
    this.out = EMPTY;
    this.outBytes = 0;
    if (this.connection && this.connection.state !== "closed") this.connection.close("no-flush");
    for (const target of waiting) deliver(target!, undefined, error);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Commands waiting for a reply (tests and stats). */
  get outstanding(): number {
    return this.waiting.length - this.head;
  }
}

/**
 * Shared shard connections, per cluster (the Cluster object: it lives as long as its config) and per
 * upstream settings. Filter configs rebuilt by a reload that keeps the clusters find the same
 * connections here instead of opening (and leaking) new ones; when the clusters go, so does this entry.
 */
const REGISTRY = new WeakMap<Cluster, Map<string, Map<Host, ShardConnection>>>();

/** One filter config's view of the shared shard connections: one per host, made on first use. */
export class ShardPool {
  private readonly settings: UpstreamSettings;
  private readonly settingsKey: string;
  private readonly byCluster = new Map<Cluster, Map<Host, ShardConnection>>();
  private readonly timeoutCounters = new Map<Cluster, Counter>();
  private readonly makeTimeoutCounter: (cluster: Cluster) => Counter;

  constructor(settings: UpstreamSettings, timeoutCounter: (cluster: Cluster) => Counter) {
    this.settings = { opTimeoutMs: settings.opTimeoutMs, maxBufferSizeBeforeFlush: settings.maxBufferSizeBeforeFlush, bufferFlushTimeoutMs: settings.bufferFlushTimeoutMs };
    this.settingsKey = `${settings.opTimeoutMs}/${settings.maxBufferSizeBeforeFlush}/${settings.bufferFlushTimeoutMs}`;
    this.makeTimeoutCounter = timeoutCounter;
  }

  /** `cluster.<name>.upstream_rq_timeout`, looked up once per cluster. */
  timeoutCounter(cluster: Cluster): Counter {
    let counter = this.timeoutCounters.get(cluster);
    if (!counter) this.timeoutCounters.set(cluster, (counter = this.makeTimeoutCounter(cluster)));
    return counter;
  }

  private connectionsOf(cluster: Cluster): Map<Host, ShardConnection> {
    let conns = this.byCluster.get(cluster);
    if (!conns) {
      let bySettings = REGISTRY.get(cluster);
      if (!bySettings) REGISTRY.set(cluster, (bySettings = new Map()));
      conns = bySettings.get(this.settingsKey);
      if (!conns) bySettings.set(this.settingsKey, (conns = new Map()));
      this.byCluster.set(cluster, conns);
    }
    return conns;
  }

  get(cluster: Cluster, host: Host): ShardConnection {
    const conns = this.connectionsOf(cluster);
    let c = conns.get(host);
    if (!c) {
      c = new ShardConnection(cluster, host, this.settings, this.timeoutCounter(cluster), (gone) => {
        if (conns.get(gone.host) === gone) conns.delete(gone.host);
      });
      // An open circuit breaker fails the connect synchronously: such a connection is not kept.
      if (!c.isClosed) conns.set(host, c);
    }
    return c;
  }
}
