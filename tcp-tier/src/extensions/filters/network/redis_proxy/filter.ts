/**
 * envoy.filters.network.redis_proxy, per-client half: parses the client's commands, sends each to its
 * shard over the pool's shared connections, and writes the replies back in the order the commands came,
 * whatever order the shards answer in (each command has a slot in a FIFO; the head slots are written as
 * soon as they are filled). Malformed bytes close the client connection (`downstream_cx_protocol_error`).
 */
import type { Connection, ConnectionCallbacks, FilterStatus, ReadFilter, ReadFilterCallbacks } from "../../../../network/filter.ts";
import type { Cluster } from "../../../../upstream/cluster.ts";
import type { Host } from "../../../../upstream/host.ts";
import { arrayOf, bulkString, concatBytes, decodeReply, elementBounds, encodeCommand, errorReply, integerReply, CommandScanner, type CommandView, mergeElements, simpleString, splitAggregate } from "./codec.ts";
import { COMMANDS, commandName, type CommandSpec } from "./commands.ts";
import { ShardConnection, type ReplySink } from "./upstream.ts";
import { routeFor, shardFor, type CommandStats, type RedisProxyConfig, type ResolvedRoute } from "./config.ts";

const OK = simpleString("OK");
const EMPTY_BYTES = new Uint8Array(0);
/** Redis's default `client-output-buffer-limit pubsub` hard limit: 32 MiB. */
const PUBSUB_OUTPUT_LIMIT = 32 * 1024 * 1024;
const latin1 = new TextDecoder("latin1");
const QUEUED = simpleString("QUEUED");
/** Settings of a client's own connection for blocking commands: no op_timeout, writes at once. */
const NO_TIMEOUT = { opTimeoutMs: 0, maxBufferSizeBeforeFlush: 0, bufferFlushTimeoutMs: 0 };
const PONG = simpleString("PONG");
const NOAUTH = errorReply("NOAUTH Authentication required.");
/** INFO's reply: the proxy's own short Server section (clients such as ioredis read `loading:0` before they send commands). */
const INFO = bulkString("# Server\r\nredis_version:7.0.0\r\nredis_mode:proxy\r\nproxy:legate\r\n\r\n# Persistence\r\nloading:0\r\n");
const ERR = (s: string) => errorReply(`ERR ${s}`);

/**
 * The commands of up to 6 letters by their lower-cased bytes packed into a number (8 bits each, then the
 * length): the name of a common command is looked up without making a string of it.
 */
const SHORT_NAMES = new Map<number, CommandSpec>();
for (const spec of COMMANDS.values()) {
  if (spec.name.length > 6) continue;
  let k = 0;
  for (let i = 0; i < spec.name.length; i++) k = k * 256 + spec.name.charCodeAt(i);
  SHORT_NAMES.set(k * 8 + spec.name.length, spec);
}

/**
 * Fills a command's slot. `isError` overrides the first-byte test for the `error`/`success` stats. An
 * undefined reply is a shard failure (the shape of a shard connection's callback, so a command forwarded
 * as is needs no closure of its own): it is answered `-ERR <error>`.
 */
type Done = (reply: Uint8Array | undefined, isError?: boolean | string) => void;
const IGNORE = (): void => {};

/** A pub/sub command waiting for its confirmations (`"<kind> <name>"`). */
interface PubSubWaiter {
  expected: Set<string>;
  /** Confirmations in arrival order: the reply's first two elements and the change to the count. */
  confirmations: { kind: Uint8Array; name: Uint8Array; delta: number; at: number }[];
  /** The expected confirmations in argument order (shards answer in any order; Redis confirms in this one). */
  order: string[];
  done: Done;
  unsubscribe: boolean;
}

interface PubSubState {
  conns: Map<Host, ShardConnection>;
  /** Channels and patterns asked for (by commands sent), as latin1 strings. */
  channels: Set<string>;
  patterns: Set<string>;
  /** Channels and patterns the shards confirmed. */
  confirmedChannels: Set<string>;
  confirmedPatterns: Set<string>;
  waiting: PubSubWaiter[];
  /** The subscription count as last shown to the client. */
  shown: number;
}

/** One command's place in the reply order. */
class Slot implements ReplySink {
  /** The reply, once it came: `buf[start, end)` (a shard's reply stays where the shard connection read it). */
  buf: Uint8Array | undefined = undefined;
  start = 0;
  end = 0;
  readonly filter: RedisProxyFilter | undefined;
  readonly stats: CommandStats | undefined;
  readonly started: number;

  constructor(filter: RedisProxyFilter | undefined, stats: CommandStats | undefined, started: number) {
    this.filter = filter;
    this.stats = stats;
    this.started = started;
  }

  /** A shard's reply, or its failure (the slot is its own callback: no closure per forwarded command). */
  onReply(frame: Uint8Array | undefined, error?: string): void {
    this.filter!.fill(this, frame, error);
  }

  onReplyBytes(buf: Uint8Array, start: number, end: number): void {
    this.filter!.fillAt(this, buf, start, end, undefined);
  }
}

/** A key routed to its shard. */
interface Routed {
  cluster: Cluster;
  host: Host;
  key: Uint8Array;
  route: ResolvedRoute;
}

export class RedisProxyFilter implements ReadFilter {
  private readonly config: RedisProxyConfig;
  private connection!: Connection;
  private readonly parser: CommandScanner;
  private readonly slots: Slot[] = [];
  private head = 0;
  private authenticated: boolean;
  private closed = false;
  private quitting = false;
  private paused = false;
  private drainScheduled = false;
  /** Pub/sub: this client's subscriber connections per shard and what it is subscribed to (latin1 names). */
  private pubsub: PubSubState | undefined;
  /** Inside MULTI: the queued commands (encoded), the shard they are pinned to, and whether one was refused. */
  private tx: { pin: Routed | undefined; queued: Uint8Array[]; aborted: boolean } | undefined;
  /** The shard WATCH was sent to (on this client's own connection), until EXEC, DISCARD or UNWATCH. */
  private watchPin: Routed | undefined;
  /** Connections of this client's own, per shard, for blocking commands. */
  private dedicated: Map<Host, ShardConnection> | undefined;
  /** Commands whose replies have not come yet (downstream_rq_active's share of this connection). */
  private active = 0;
  /** Bytes of an incomplete command held by the parser (downstream_cx_rx_bytes_buffered's share). */
  private rxBuffered = 0;
  /**
   * The shard picked for a one-host cluster during the current read of the client's bytes: its load
   * balancer can only answer that host (or none), and nothing changes its state while the commands of
   * one read are handled, so the pick is made once per read instead of once per key.
   */
  private pickedCluster: Cluster | undefined;
  private pickedHost: Host | undefined;

  constructor(config: RedisProxyConfig) {
    this.config = config;
    this.authenticated = config.passwords.size === 0;
    this.parser = new CommandScanner((v) => this.onCommand(v));
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.connection = callbacks.connection;
    const s = this.config.stats;
    this.connection.setConnectionStats({ readTotal: s.downstream_cx_rx_bytes_total, writeTotal: s.downstream_cx_tx_bytes_total, writeBuffered: s.downstream_cx_tx_bytes_buffered });
    this.connection.addConnectionCallbacks(this.callbacks);
  }

  onNewConnection(): FilterStatus {
    this.config.stats.downstream_cx_total.inc();
    this.config.stats.downstream_cx_active.inc();
    return "stop";
  }

  onData(data: Uint8Array, endStream: boolean): FilterStatus {
    if (this.closed || this.quitting) return "stop";
    this.pickedCluster = undefined;
    const err = this.parser.feed(data);
    this.pickedCluster = this.pickedHost = undefined;
    const buffered = this.parser.buffered;
    if (buffered !== this.rxBuffered) {
      const g = this.config.stats.downstream_cx_rx_bytes_buffered;
      if (buffered > this.rxBuffered) g.inc(buffered - this.rxBuffered);
      else g.dec(this.rxBuffered - buffered);
      this.rxBuffered = buffered;
    }
    if (err) {
      this.config.stats.downstream_cx_protocol_error.inc();
      this.connection.close("no-flush");
      return "stop";
    }
    if (endStream) {
      // The client sent its last command: close once every reply is written (at once when none is due).
      // A blocked command could wait forever for a client that is gone: then close now, as Redis does.
      const blocked = this.dedicated !== undefined && [...this.dedicated.values()].some((c) => c.outstanding > 0);
      if (this.head === this.slots.length || blocked) this.connection.close(blocked ? "no-flush" : "flush-write");
      else this.quitting = true;
    }
    return "stop";
  }

  private readonly callbacks: ConnectionCallbacks = {
    onEvent: (event) => {
      if (event === "connected" || this.closed) return;
      this.closed = true;
      const s = this.config.stats;
      s.downstream_cx_active.dec();
      if (this.dedicated) for (const c of this.dedicated.values()) c.fail("client closed");
      if (this.pubsub) for (const c of this.pubsub.conns.values()) c.fail("client closed");
      this.pubsub = undefined;
      this.dedicated = undefined;
      s.downstream_rq_active.dec(this.active);
      this.active = 0;
      s.downstream_cx_rx_bytes_buffered.dec(this.rxBuffered);
      this.rxBuffered = 0;
    },
    // The client reads slower than it sends: stop taking its commands until its replies drain.
    onAboveWriteBufferHighWatermark: () => {
      if (this.paused) return;
      this.paused = true;
      this.connection.readDisable(true);
    },
    onBelowWriteBufferLowWatermark: () => {
      if (!this.paused) return;
      this.paused = false;
      this.connection.readDisable(false);
    },
  };

  /** Opens a slot for a command; the returned function fills it (once). */
  private open(stats: CommandStats | undefined): Done {
    const slot = this.openSlot(stats);
    return (reply, isError) => this.fill(slot, reply, isError);
  }

  /** Opens a slot for a command (in reply order); {@link fill} fills it (once). */
  private openSlot(stats: CommandStats | undefined): Slot {
    const slot = new Slot(this, stats, stats?.latency ? performance.now() : 0);
    this.slots.push(slot);
    const s = this.config.stats;
    s.downstream_rq_total.inc();
    s.downstream_rq_active.inc();
    this.active++;
    return slot;
  }

  /** Fills a slot (see {@link Done}): counts it and schedules the write of the replies now due. */
  fill(slot: Slot, reply: Uint8Array | undefined, isError?: boolean | string): void {
    if (reply === undefined) {
      reply = ERR(typeof isError === "string" ? isError : "upstream failure");
      isError = undefined;
    }
    this.fillAt(slot, reply, 0, reply.length, isError as boolean | undefined);
  }

  /** {@link fill} with the reply in `buf[start, end)`. */
  fillAt(slot: Slot, buf: Uint8Array, start: number, end: number, isError: boolean | undefined): void {
    if (slot.buf) return;
    slot.buf = buf;
    slot.start = start;
    slot.end = end;
    const stats = slot.stats;
    if (stats?.success) {
      (isError ?? buf[start] === 45 ? stats.error! : stats.success).inc();
      const ms = performance.now() - slot.started;
      stats.latency!.record(this.config.model.latencyInMicros ? Math.round(ms * 1000) : Math.round(ms));
    }
    if (this.closed) return;
    this.config.stats.downstream_rq_active.dec();
    this.active--;
    this.drain();
  }

  /**
   * Schedules a write of the filled slots at the head. Deferred to a microtask, so every reply that
   * arrives in one shard read (a pipeline's worth, often) goes to the client in one socket write.
   */
  private drain(): void {
    if (this.drainScheduled || this.slots[this.head]?.buf === undefined) return;
    this.drainScheduled = true;
    queueMicrotask(this.flushReplies);
  }

  private readonly flushReplies = (): void => {
    this.drainScheduled = false;
    if (this.closed) return;
    // The filled head slots, sized first and copied once into one write (no list of them).
    const from = this.head;
    let bytes = 0;
    while (this.head < this.slots.length && this.slots[this.head]!.buf) {
      const slot = this.slots[this.head++]!;
      bytes += slot.end - slot.start;
    }
    let data: Uint8Array | undefined;
    if (this.head - from === 1) {
      const slot = this.slots[from]!;
      data = slot.start === 0 && slot.end === slot.buf!.length ? slot.buf! : slot.buf!.subarray(slot.start, slot.end);
    } else if (this.head > from) {
      data = new Uint8Array(bytes);
      let o = 0;
      for (let i = from; i < this.head; i++) {
        const { buf, start, end } = this.slots[i]!;
        // Replies are mostly short: copied by hand, no view made of them.
        if (end - start < 64) for (let j = start; j < end; j++) data[o++] = buf![j]!;
        else {
          data.set(buf!.subarray(start, end), o);
          o += end - start;
        }
      }
    }
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.head = 0;
    }
    if (data) this.connection.write(data, false);
    if (this.quitting && this.slots.length === 0) this.connection.close("flush-write");
  };

  /**
   * A command from the client. The common case, a one-key command forwarded as the client sent it, is
   * handled here without a view of each argument; every other command goes to {@link command}.
   */
  private onCommand(v: CommandView): void {
    // Commands after QUIT (in the same read) are not run.
    if (this.quitting || this.closed) return;
    const spec = v.start >= 0 ? shortCommand(v) : undefined;
    if (!spec || spec.kind !== "simple" || v.argc < spec.minArgs || this.tx || !this.authenticated || this.subscriptions() > 0) return this.command(v.args(), v.raw());
    // As command() would do for it: counted, a slot opened, routed by its key.
    const stats = this.config.commandStats.get(spec.name);
    stats?.total.inc();
    const slot = this.openSlot(stats);
    const key = v.arg(1);
    const host = this.routeInto(key);
    if (host instanceof Uint8Array) return this.fill(slot, host);
    const { cluster, route, key: routedKey } = this.routed;
    // PUBLISH keeps its channel name (subscribers subscribed with the whole name); only its shard comes
    // from the route. The command's bytes are copied from the client's straight into the shard's buffer.
    if (routedKey === key || spec.name === "publish") {
      this.config.pool.get(cluster, host).sendBytes(v.buf, v.start, v.end, slot);
      if (route.mirrors.length > 0) this.mirror({ cluster, host, key: routedKey, route }, spec, v.raw()!);
      return;
    }
    const r: Routed = { cluster, host, key: routedKey, route };
    const args = v.args();
    args[1] = r.key;
    this.send(r, spec, args, (reply) => this.fill(slot, reply));
  }

  private command(args: Uint8Array[], raw: Uint8Array | undefined): void {
    const name = commandName(args[0]!);
    const spec = COMMANDS.get(name);
    const stats = spec ? this.config.commandStats.get(name) : undefined;
    stats?.total.inc();
    const done = this.open(stats);
    if (!spec) {
      this.config.stats.unsupported_command.inc();
      if (this.tx) this.tx.aborted = true;
      return done(ERR(`unsupported command '${name.replace(/[^\x20-\x7e]/g, "?")}'`), true);
    }
    if (args.length < spec.minArgs || (spec.kind === "mset" && args.length % 2 === 0)) {
      this.config.stats.invalid_request.inc();
      if (this.tx) this.tx.aborted = true;
      return done(ERR("invalid request"), true);
    }
    // Subscribed mode, from a SUBSCRIBE until no channel or pattern is left (in command order, as Redis).
    if (this.subscriptions() > 0 && spec.kind !== "pubsub" && name !== "quit") {
      if (name === "ping") return done(arrayOf([bulkString("pong"), bulkString(args[1]?.slice() ?? "")]));
      return done(ERR(`Can't execute '${name}': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT are allowed in this context`), true);
    }
    if (spec.kind === "local" && (!this.tx || name === "quit")) return this.local(name, args, done);
    if (!this.authenticated) return done(NOAUTH, true);
    if (spec.kind === "pubsub") {
      if (this.tx) {
        this.tx.aborted = true;
        return done(ERR(`'${name}' is not supported inside MULTI`), true);
      }
      return this.pubsubCommand(name, args, done);
    }
    if (spec.kind === "transaction") return this.transaction(name, args, done);
    if (this.tx) return this.queue(spec, args, done);
    switch (spec.kind) {
      case "simple":
        return this.simple(spec, args, raw, done);
      case "eval":
        return this.evalCommand(spec, args, done);
      case "mget":
        return this.mget(spec, args, raw, done);
      case "mset":
        return this.mset(spec, args, done);
      case "sum":
        return this.sum(spec, args, done);
      case "blocking":
        return this.blocking(spec, args, done);
    }
  }

  /** A key's route and shard, or an error reply. */
  private route(key: Uint8Array): Routed | Uint8Array {
    const host = this.routeInto(key);
    if (host instanceof Uint8Array) return host;
    const r = this.routed;
    return { cluster: r.cluster, host, key: r.key, route: r.route };
  }

  /** The last key routed by {@link routeInto}: its cluster, route and key (the prefix removed when the route says so). */
  private readonly routed: { cluster: Cluster; route: ResolvedRoute; key: Uint8Array } = { cluster: undefined as unknown as Cluster, route: undefined as unknown as ResolvedRoute, key: EMPTY_BYTES };

  /** Routes a key: its shard (the rest in {@link routed}, no object per key), or an error reply. */
  private routeInto(key: Uint8Array): Host | Uint8Array {
    const route = routeFor(this.config, key);
    if (!route) return ERR("no upstream host");
    const cluster = route.cluster;
    if (!cluster) return ERR("no upstream host");
    const k = route.removePrefix ? key.subarray(route.prefix.length) : key;
    let host: Host | undefined;
    if (cluster === this.pickedCluster) host = this.pickedHost;
    else {
      host = shardFor(this.config, cluster, k);
      if (host && cluster.hosts.length === 1) {
        this.pickedCluster = cluster;
        this.pickedHost = host;
      }
    }
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.inc();
      return ERR("no upstream host");
    }
    const r = this.routed;
    r.cluster = cluster;
    r.route = route;
    r.key = k;
    return host;
  }

  /** Sends a command to a shard; `cb` gets the reply bytes (an error reply when the shard failed). */
  private send(r: Routed, spec: CommandSpec, args: readonly Uint8Array[], cb: (reply: Uint8Array) => void): void {
    this.sendRaw(r, spec, encodeCommand(args), cb);
  }

  private sendRaw(r: Routed, spec: CommandSpec, command: Uint8Array, cb: (reply: Uint8Array) => void): void {
    this.forward(r, spec, command, (frame, error) => cb(frame ?? ERR(error ?? "upstream failure")));
  }

  /** Sends a command to its shard (and its route's mirrors); `done` gets the reply, or undefined and the error. */
  private forward(r: Routed, spec: CommandSpec, command: Uint8Array, done: (frame: Uint8Array | undefined, error?: string) => void): void {
    this.config.pool.get(r.cluster, r.host).send(command, done);
    this.mirror(r, spec, command);
  }

  /** Sends a command to its route's mirrors (replies ignored). */
  private mirror(r: Routed, spec: CommandSpec, command: Uint8Array): void {
    for (const m of r.route.mirrors) {
      if (!m.cluster || (m.excludeReadCommands && !spec.write)) continue;
      const host = shardFor(this.config, m.cluster, r.key);
      if (host) this.config.pool.get(m.cluster, host).send(command, IGNORE);
    }
  }

  /** One key (the first argument): the command's own bytes go upstream unless the key was rewritten. */
  private simple(spec: CommandSpec, args: Uint8Array[], raw: Uint8Array | undefined, done: Done): void {
    const r = this.route(args[1]!);
    if (r instanceof Uint8Array) return done(r);
    // PUBLISH keeps its channel name (subscribers subscribed with the whole name); only its shard comes from the route.
    if ((r.key === args[1] || spec.name === "publish") && raw) return this.forward(r, spec, raw, done);
    if (spec.name === "publish") return this.send(r, spec, args, done);
    this.send(r, spec, r.key === args[1] ? args : args.map((a, i) => (i === 1 ? r.key : a)), done);
  }

  /** EVAL script numkeys key… arg…: routed by the first key; every key must be on that shard. */
  private evalCommand(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const numkeys = Number(new TextDecoder().decode(args[2]));
    if (!Number.isInteger(numkeys) || numkeys < 1 || 3 + numkeys > args.length) {
      this.config.stats.invalid_request.inc();
      return done(ERR("invalid request"));
    }
    const first = this.route(args[3]!);
    if (first instanceof Uint8Array) return done(first);
    const out = args.slice();
    for (let i = 3; i < 3 + numkeys; i++) {
      const r = i === 3 ? first : this.route(args[i]!);
      if (r instanceof Uint8Array) return done(r);
      if (r.host !== first.host) return done(ERR("keys of this script are on different shards (use hash tags to keep them together)"));
      out[i] = r.key;
    }
    this.send(first, spec, out, done);
  }

  /**
   * BLPOP key… timeout (and BRPOP, BZPOPMIN, BZPOPMAX), BRPOPLPUSH src dst timeout, BLMOVE src dst … timeout:
   * every key must be on one shard; sent on this client's own connection to it, without op_timeout (the
   * command's own timeout bounds it), so a blocked client never holds up the shared connection.
   */
  private blocking(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const last = spec.name === "blmove" ? 3 : spec.name === "brpoplpush" ? 3 : args.length - 1;
    const out = args.slice();
    let first: Routed | undefined;
    for (let i = 1; i < last; i++) {
      const r = this.route(args[i]!);
      if (r instanceof Uint8Array) return done(r, true);
      if (first && (r.host !== first.host || r.cluster !== first.cluster)) return done(ERR("keys of this command are on different shards (use hash tags to keep them together)"), true);
      first ??= r;
      out[i] = r.key;
    }
    const conn = this.dedicatedFor(first!);
    conn.send(encodeCommand(out), (frame, error) => done(frame ?? ERR(error ?? "upstream failure")));
  }

  /** The argument positions of a command's keys (for pinning transactions). */
  private keyPositions(spec: CommandSpec, args: Uint8Array[]): number[] | undefined {
    const range = (from: number, to: number, step = 1) => Array.from({ length: Math.max(0, Math.ceil((to - from) / step)) }, (_x, i) => from + i * step);
    switch (spec.kind) {
      case "simple":
        return [1];
      case "mget":
      case "sum":
        return range(1, args.length);
      case "mset":
        return range(1, args.length, 2);
      case "blocking":
        return spec.name === "blmove" || spec.name === "brpoplpush" ? [1, 2] : range(1, args.length - 1);
      case "eval": {
        const n = Number(new TextDecoder().decode(args[2]));
        return Number.isInteger(n) && n >= 0 && 3 + n <= args.length ? range(3, 3 + n) : undefined;
      }
      case "local":
        return spec.name === "ping" || spec.name === "echo" ? [] : undefined;
      default:
        return undefined;
    }
  }

  /** A connection of this client's own to a shard (blocking commands, WATCH and transactions). */
  private dedicatedFor(r: Routed): ShardConnection {
    const dedicated = (this.dedicated ??= new Map<Host, ShardConnection>());
    let conn = dedicated.get(r.host);
    if (!conn || conn.isClosed) {
      conn = new ShardConnection(r.cluster, r.host, NO_TIMEOUT, this.config.pool.timeoutCounter(r.cluster), (gone) => {
        if (this.dedicated?.get(gone.host) === gone) this.dedicated.delete(gone.host);
      });
      if (!conn.isClosed) dedicated.set(r.host, conn);
    }
    return conn;
  }

  /** Routes every key at `positions` and checks they share `pin` (or the first key's shard); rewrites keys in `out`. */
  private pinKeys(args: Uint8Array[], positions: number[], pin: Routed | undefined, out: Uint8Array[]): Routed | undefined | Uint8Array {
    for (const i of positions) {
      const r = this.route(args[i]!);
      if (r instanceof Uint8Array) return r;
      if (pin && (r.host !== pin.host || r.cluster !== pin.cluster)) return ERR("keys of this transaction are on different shards (use hash tags to keep them together)");
      pin ??= r;
      out[i] = r.key;
    }
    return pin;
  }

  /** MULTI, EXEC, DISCARD, WATCH, UNWATCH: one transaction pinned to the shard of its keys. */
  private transaction(name: string, args: Uint8Array[], done: Done): void {
    switch (name) {
      case "multi":
        if (this.tx) return done(ERR("MULTI calls can not be nested"), true);
        this.tx = { pin: this.watchPin, queued: [], aborted: false };
        return done(OK);
      case "discard":
        if (!this.tx) return done(ERR("DISCARD without MULTI"), true);
        this.tx = undefined;
        this.unwatch();
        return done(OK);
      case "watch": {
        if (this.tx) return done(ERR("WATCH inside MULTI is not allowed"), true);
        const out = args.slice();
        const pin = this.pinKeys(args, Array.from({ length: args.length - 1 }, (_x, i) => i + 1), this.watchPin, out);
        if (pin instanceof Uint8Array || !pin) return done(pin ?? ERR("invalid request"), true);
        this.watchPin = pin;
        return this.dedicatedFor(pin).send(encodeCommand(out), (frame, error) => done(frame ?? ERR(error ?? "upstream failure")));
      }
      case "unwatch":
        this.unwatch();
        return done(OK);
      case "exec": {
        const tx = this.tx;
        if (!tx) return done(ERR("EXEC without MULTI"), true);
        this.tx = undefined;
        if (tx.aborted) {
          this.unwatch();
          return done(errorReply("EXECABORT Transaction discarded because of previous errors."), true);
        }
        if (!tx.pin) return tx.queued.length === 0 ? done(arrayOf([])) : done(ERR("a transaction without keys has no shard to run on"), true);
        this.watchPin = undefined; // EXEC unwatches every key
        const conn = this.dedicatedFor(tx.pin);
        const ignore = () => {};
        conn.send(encodeCommand(["MULTI"]), ignore);
        for (const command of tx.queued) conn.send(command, ignore);
        return conn.send(encodeCommand(["EXEC"]), (frame, error) => done(frame ?? ERR(error ?? "upstream failure")));
      }
    }
  }

  private unwatch(): void {
    const pin = this.watchPin;
    this.watchPin = undefined;
    if (pin) this.dedicatedFor(pin).send(encodeCommand(["UNWATCH"]), () => {});
  }

  /** A command inside MULTI: checked and queued here (`+QUEUED`), sent with the transaction at EXEC. */
  private queue(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const tx = this.tx!;
    const positions = this.keyPositions(spec, args);
    if (!positions) {
      tx.aborted = true;
      return done(ERR(`'${spec.name}' is not supported inside MULTI`), true);
    }
    const out = args.slice();
    const pin = this.pinKeys(args, positions, tx.pin, out);
    if (pin instanceof Uint8Array) {
      tx.aborted = true;
      return done(pin, true);
    }
    tx.pin = pin;
    tx.queued.push(encodeCommand(out));
    done(QUEUED);
  }

  private subscriptions(): number {
    return this.pubsub ? this.pubsub.channels.size + this.pubsub.patterns.size : 0;
  }

  /** Every host of every cluster the routes name, in a fixed order; the first one confirms pattern commands. */
  private allShards(): Routed[] {
    const out: Routed[] = [];
    const seen = new Set<Cluster>();
    for (const route of [...this.config.routes, ...(this.config.catchAll ? [this.config.catchAll] : [])]) {
      const cluster = route.cluster;
      if (!cluster || seen.has(cluster)) continue;
      seen.add(cluster);
      for (const host of cluster.hosts) out.push({ cluster, host, key: EMPTY_BYTES, route });
    }
    return out;
  }

  /** This client's subscriber connection to a shard. */
  private subscriber(r: Routed): ShardConnection {
    const ps: PubSubState = (this.pubsub ??= { conns: new Map(), channels: new Set(), patterns: new Set(), confirmedChannels: new Set(), confirmedPatterns: new Set(), waiting: [], shown: 0 });
    let conn = ps.conns.get(r.host);
    if (!conn || conn.isClosed) {
      const onGone = (gone: ShardConnection) => {
        // Subscriptions on that shard are lost: close the client so it reconnects and subscribes again.
        if (this.pubsub?.conns.get(gone.host) === gone && !this.closed) this.connection.close("flush-write");
      };
      conn = new ShardConnection(r.cluster, r.host, NO_TIMEOUT, this.config.pool.timeoutCounter(r.cluster), onGone, (frame) => this.onPush(r.host, frame));
      ps.conns.set(r.host, conn);
    }
    return conn;
  }

  /** Writes a frame to the client after every reply already due. */
  private emit(frame: Uint8Array): void {
    if (this.closed) return;
    // A subscriber that does not read would make messages pile up here: Redis's own pub/sub output limit.
    if (this.connection.writeBufferedBytes > PUBSUB_OUTPUT_LIMIT) return this.connection.close("no-flush");
    const slot = new Slot(undefined, undefined, 0);
    slot.buf = frame;
    slot.end = frame.length;
    this.slots.push(slot);
    this.drain();
  }

  /**
   * A frame from a subscriber connection. A confirmation gets this client's own subscription count and
   * goes into the reply of the command that asked for it (written once all of that command's
   * confirmations are in, so replies stay in command order); messages are written as they come.
   */
  private onPush(host: Host, frame: Uint8Array): void {
    const ps = this.pubsub;
    const items = frame[0] === 42 ? splitAggregate(frame) : null;
    if (!ps || !items || items.length !== 3 || items[0]![0] !== 36) return this.emit(frame);
    const kind = decodeReply(items[0]!);
    const k = kind.type === "bulk" && kind.value ? latin1.decode(kind.value) : "";
    if (k !== "subscribe" && k !== "unsubscribe" && k !== "psubscribe" && k !== "punsubscribe") return this.emit(frame);
    const pattern = k[0] === "p";
    // A pattern command went to every shard: only the first shard's confirmation is passed on.
    if (pattern && this.allShards()[0]?.host !== host) return;
    const nameV = decodeReply(items[1]!);
    const name = nameV.type === "bulk" && nameV.value ? latin1.decode(nameV.value) : undefined;
    const set = pattern ? ps.confirmedPatterns : ps.confirmedChannels;
    let delta = 0;
    if (name !== undefined) {
      if (k.endsWith("unsubscribe")) delta = set.delete(name) ? -1 : 0;
      else if (!set.has(name)) {
        set.add(name);
        delta = 1;
      }
    }
    const expect = `${k} ${name ?? ""}`;
    const w = ps.waiting.find((x) => x.expected.has(expect));
    if (!w) {
      // Not asked for (a shard restarted its subscriptions?): pass it on with the current count.
      ps.shown += delta;
      return this.emit(arrayOf([items[0]!, items[1]!, integerReply(ps.shown)]));
    }
    w.expected.delete(expect);
    w.confirmations.push({ kind: items[0]!, name: items[1]!, delta, at: w.order.indexOf(expect) });
    // Commands complete in order, so the counts shown go up and down as they would on one server.
    while (ps.waiting.length > 0 && ps.waiting[0]!.expected.size === 0) {
      const done = ps.waiting.shift()!;
      done.confirmations.sort((x, y) => x.at - y.at);
      const frames = done.confirmations.map((c) => arrayOf([c.kind, c.name, integerReply((ps.shown += c.delta))]));
      done.done(frames.length === 1 ? frames[0]! : concatBytes(frames));
    }
  }

  /** SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE. */
  private pubsubCommand(name: string, args: Uint8Array[], done: Done): void {
    const pattern = name[0] === "p";
    const unsub = name.endsWith("unsubscribe");
    let names = args.slice(1).map((a) => a.slice());
    if (unsub && names.length === 0) {
      const current = pattern ? this.pubsub?.patterns : this.pubsub?.channels;
      if (!current || current.size === 0) return done(arrayOf([bulkString(name), bulkString(null), integerReply(this.subscriptions())]));
      names = [...current].map((n) => Uint8Array.from(n, (c) => c.charCodeAt(0)));
    }
    const shards = pattern ? this.allShards() : [];
    if (pattern && shards.length === 0) return done(ERR("no upstream host"), true);
    const ps: PubSubState = (this.pubsub ??= { conns: new Map(), channels: new Set(), patterns: new Set(), confirmedChannels: new Set(), confirmedPatterns: new Set(), waiting: [], shown: 0 });
    const order = names.map((n) => `${name} ${latin1.decode(n)}`);
    const waiter: PubSubWaiter = { expected: new Set(order), order, confirmations: [], done, unsubscribe: unsub };
    ps.waiting.push(waiter);
    const intent = pattern ? ps.patterns : ps.channels;
    const record = () => {
      for (const n of names) {
        if (unsub) intent.delete(latin1.decode(n));
        else intent.add(latin1.decode(n));
      }
    };
    if (pattern) {
      record();
      for (const r of shards) this.subscriber(r).send(encodeCommand([name, ...names]), () => {});
      return;
    }
    const groups = new Map<Host, { r: Routed; names: Uint8Array[] }>();
    for (const n of names) {
      const r = this.route(n);
      if (r instanceof Uint8Array) {
        ps.waiting.pop();
        return done(r, true);
      }
      let g = groups.get(r.host);
      if (!g) groups.set(r.host, (g = { r, names: [] }));
      g.names.push(n);
    }
    record();
    for (const g of groups.values()) this.subscriber(g.r).send(encodeCommand([name, ...g.names]), () => {});
  }

  /** Groups keys (every `step`-th argument from 1) by shard; an error reply when one cannot be routed. */
  private group(args: Uint8Array[], step: number): Map<Host, { r: Routed; positions: number[]; args: Uint8Array[] }> | Uint8Array {
    const groups = new Map<Host, { r: Routed; positions: number[]; args: Uint8Array[] }>();
    for (let i = 1; i < args.length; i += step) {
      const r = this.route(args[i]!);
      if (r instanceof Uint8Array) return r;
      let g = groups.get(r.host);
      if (!g) groups.set(r.host, (g = { r, positions: [], args: [args[0]!] }));
      g.positions.push((i - 1) / step);
      g.args.push(r.key);
      for (let j = 1; j < step; j++) g.args.push(args[i + j]!);
    }
    return groups;
  }

  /**
   * MGET: keys grouped by shard (no object per key: each key's group index in `owner`), one MGET per
   * shard, the values put back in request order ({@link mergeElements}). When every key is on one shard
   * and none is rewritten, the client's own bytes go and the shard's array is the reply.
   */
  private mget(spec: CommandSpec, args: Uint8Array[], raw: Uint8Array | undefined, done: Done): void {
    const n = args.length - 1;
    const owner: number[] = [];
    const groups: { r: Routed; args: Uint8Array[] }[] = [];
    /** Group of each host, once there are too many groups to look through. */
    let byHost: Map<Host, number> | undefined;
    /** The keys as sent to the shards, only once one was rewritten (a prefix removed). */
    let rewritten: Uint8Array[] | undefined;
    for (let i = 0; i < n; i++) {
      const key = args[i + 1]!;
      const host = this.routeInto(key);
      if (host instanceof Uint8Array) return done(host);
      let g = -1;
      if (byHost) g = byHost.get(host) ?? -1;
      else for (let j = 0; j < groups.length && g < 0; j++) if (groups[j]!.r.host === host) g = j;
      if (g < 0) {
        g = groups.length;
        groups.push({ r: { cluster: this.routed.cluster, host, key: this.routed.key, route: this.routed.route }, args: [args[0]!] });
        if (byHost) byHost.set(host, g);
        else if (groups.length > 8) byHost = new Map(groups.map((x, j) => [x.r.host, j]));
      }
      if (this.routed.key !== key) (rewritten ??= args.slice(1))[i] = this.routed.key;
      owner.push(g);
    }
    if (groups.length === 1 && raw && !rewritten) {
      // The shard's array is the merged reply already (an error or a failure still fills every position).
      return this.sendRaw(groups[0]!.r, spec, raw, (reply) => done(reply[0] === 42 ? reply : arrayOf(new Array<Uint8Array>(n).fill(reply))));
    }
    const keys = rewritten ?? args.slice(1);
    for (let i = 0; i < n; i++) groups[owner[i]!]!.args.push(keys[i]!);
    const replies = new Array<Uint8Array>(groups.length);
    const bounds = new Array<number[] | undefined>(groups.length);
    let left = groups.length;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      this.send(group.r, spec, group.args, (reply) => {
        replies[g] = reply;
        bounds[g] = elementBounds(reply, group.args.length - 1);
        if (--left === 0) done(mergeElements(owner, replies, bounds));
      });
    }
  }

  private mset(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const groups = this.group(args, 2);
    if (groups instanceof Uint8Array) return done(groups);
    let left = groups.size;
    let errors = 0;
    for (const g of groups.values()) {
      this.send(g.r, spec, g.args, (reply) => {
        if (reply[0] === 45) errors++;
        if (--left === 0) done(errors ? ERR(`finished with ${errors} error(s)`) : OK, errors > 0);
      });
    }
  }

  private sum(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const groups = this.group(args, 1);
    if (groups instanceof Uint8Array) return done(groups);
    let left = groups.size;
    let errors = 0;
    let total = 0n;
    for (const g of groups.values()) {
      this.send(g.r, spec, g.args, (reply) => {
        if (reply[0] === 58) {
          const v = decodeReply(reply);
          if (v.type === "integer") total += v.value;
        } else errors++;
        if (--left === 0) done(errors ? ERR(`finished with ${errors} error(s)`) : integerReply(total), errors > 0);
      });
    }
  }

  private local(name: string, args: Uint8Array[], done: Done): void {
    switch (name) {
      case "ping":
        if (!this.authenticated) return done(NOAUTH, true);
        return done(args.length > 1 ? bulkString(args[1]!.slice()) : PONG);
      case "echo":
        if (!this.authenticated) return done(NOAUTH, true);
        return done(bulkString(args[1]!.slice()));
      case "quit":
        this.quitting = true;
        return done(OK);
      case "select": {
        if (!this.authenticated) return done(NOAUTH, true);
        return new TextDecoder().decode(args[1]) === "0" ? done(OK) : done(ERR("SELECT is not allowed in cluster mode"), true);
      }
      case "auth": {
        const user = args.length > 2 ? new TextDecoder().decode(args[1]) : undefined;
        const pass = new TextDecoder().decode(args[args.length - 1]);
        return this.auth(user, pass, done);
      }
      case "hello":
        return this.hello(args, done);
      case "info":
        if (!this.authenticated) return done(NOAUTH, true);
        return done(INFO);
    }
  }

  private auth(user: string | undefined, pass: string, done: Done): void {
    if (this.config.passwords.size === 0) return done(ERR("Client sent AUTH, but no password is set"), true);
    const wantUser = this.config.model.downstreamAuthUsername;
    const userOk = wantUser === undefined ? user === undefined || user === "default" : user === wantUser;
    if (userOk && this.config.passwords.has(pass)) {
      this.authenticated = true;
      return done(OK);
    }
    this.config.stats.auth_failure.inc();
    return done(errorReply(wantUser === undefined && user === undefined ? "ERR invalid password" : "WRONGPASS invalid username-password pair"), true);
  }

  /** HELLO [protover [AUTH user pass] [SETNAME name]]: RESP2 only (shard connections are shared), so 3 gets NOPROTO. */
  private hello(args: Uint8Array[], done: Done): void {
    const dec = new TextDecoder();
    if (args.length > 1) {
      const v = dec.decode(args[1]);
      if (v !== "2") return done(errorReply("NOPROTO this proxy speaks RESP2 only"), true);
    }
    for (let i = 2; i < args.length; i++) {
      const opt = commandName(args[i]!);
      if (opt === "auth" && i + 2 < args.length) {
        let ok = true;
        this.auth(dec.decode(args[i + 1]), dec.decode(args[i + 2]), (_r, isError) => (ok = !isError));
        if (!ok) return done(errorReply("WRONGPASS invalid username-password pair"), true);
        i += 2;
      } else if (opt === "setname" && i + 1 < args.length) {
        i += 1;
      } else {
        return done(ERR("syntax error in HELLO"), true);
      }
    }
    if (!this.authenticated) return done(NOAUTH, true);
    const kv = (k: string, v: Uint8Array) => [bulkString(k), v];
    done(
      arrayOf([
        ...kv("server", bulkString("redis")),
        ...kv("version", bulkString("7.0.0")),
        ...kv("proto", integerReply(2)),
        ...kv("id", integerReply(this.connection.id)),
        ...kv("mode", bulkString("cluster")),
        ...kv("role", bulkString("master")),
        ...kv("modules", arrayOf([])),
      ]),
    );
  }
}

/** The spec of a multibulk command whose name has at most 6 letters (undefined otherwise: looked up by name then). */
function shortCommand(v: CommandView): CommandSpec | undefined {
  const n = v.argLength(0);
  if (n === 0 || n > 6) return undefined;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const c = v.byteOf(0, i);
    k = k * 256 + (c >= 65 && c <= 90 ? c + 32 : c);
  }
  return SHORT_NAMES.get(k * 8 + n);
}
