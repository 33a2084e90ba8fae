/**
 * envoy.filters.network.redis_proxy, per-client half: parses the client's commands, sends each to its
 * shard over the pool's shared connections, and writes the replies back in the order the commands came,
 * whatever order the shards answer in (each command has a slot in a FIFO; the head slots are written as
 * soon as they are filled). Malformed bytes close the client connection (`downstream_cx_protocol_error`).
 */
import type { Connection, ConnectionCallbacks, FilterStatus, ReadFilter, ReadFilterCallbacks } from "../../../../network/filter.ts";
import type { Cluster } from "../../../../upstream/cluster.ts";
import type { Host } from "../../../../upstream/host.ts";
import { arrayOf, bulkString, concatBytes, decodeReply, encodeCommand, errorReply, integerReply, RequestParser, simpleString, splitAggregate } from "./codec.ts";
import { COMMANDS, commandName, type CommandSpec } from "./commands.ts";
import { ShardConnection } from "./upstream.ts";
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

type Done = (reply: Uint8Array, isError?: boolean) => void;

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
interface Slot {
  reply: Uint8Array | undefined;
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
  private readonly parser: RequestParser;
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

  constructor(config: RedisProxyConfig) {
    this.config = config;
    this.authenticated = config.passwords.size === 0;
    this.parser = new RequestParser((args, raw) => this.onCommand(args, raw));
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
    const err = this.parser.feed(data);
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
    const slot: Slot = { reply: undefined };
    this.slots.push(slot);
    const s = this.config.stats;
    s.downstream_rq_total.inc();
    s.downstream_rq_active.inc();
    this.active++;
    const started = stats?.latency ? performance.now() : 0;
    return (reply, isError) => {
      if (slot.reply) return;
      slot.reply = reply;
      if (stats?.success) {
        (isError ?? reply[0] === 45 ? stats.error! : stats.success).inc();
        const ms = performance.now() - started;
        stats.latency!.record(this.config.model.latencyInMicros ? Math.round(ms * 1000) : Math.round(ms));
      }
      if (this.closed) return;
      s.downstream_rq_active.dec();
      this.active--;
      this.drain();
    };
  }

  /**
   * Schedules a write of the filled slots at the head. Deferred to a microtask, so every reply that
   * arrives in one shard read (a pipeline's worth, often) goes to the client in one socket write.
   */
  private drain(): void {
    if (this.drainScheduled || this.slots[this.head]?.reply === undefined) return;
    this.drainScheduled = true;
    queueMicrotask(this.flushReplies);
  }

  private readonly flushReplies = (): void => {
    this.drainScheduled = false;
    if (this.closed) return;
    const out: Uint8Array[] = [];
    while (this.head < this.slots.length && this.slots[this.head]!.reply) {
      out.push(this.slots[this.head]!.reply!);
      this.head++;
    }
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.head = 0;
    }
    if (out.length > 0) this.connection.write(out.length === 1 ? out[0]! : concatBytes(out), false);
    if (this.quitting && this.slots.length === 0) this.connection.close("flush-write");
  };

  private onCommand(args: Uint8Array[], raw: Uint8Array | undefined): void {
    // Commands after QUIT (in the same read) are not run.
    if (this.quitting || this.closed) return;
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
        return this.mget(spec, args, done);
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
    const route = routeFor(this.config, key);
    if (!route) return ERR("no upstream host");
    const cluster = route.cluster;
    if (!cluster) return ERR("no upstream host");
    const k = route.removePrefix ? key.subarray(route.prefix.length) : key;
    const host = shardFor(this.config, cluster, k);
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.inc();
      return ERR("no upstream host");
    }
    return { cluster, host, key: k, route };
  }

  /** Sends a command to a shard; `cb` gets the reply bytes (an error reply when the shard failed). */
  private send(r: Routed, spec: CommandSpec, args: readonly Uint8Array[], cb: (reply: Uint8Array) => void): void {
    this.sendRaw(r, spec, encodeCommand(args), cb);
  }

  private sendRaw(r: Routed, spec: CommandSpec, command: Uint8Array, cb: (reply: Uint8Array) => void): void {
    this.config.pool.get(r.cluster, r.host).send(command, (frame, error) => cb(frame ?? ERR(error ?? "upstream failure")));
    for (const m of r.route.mirrors) {
      if (!m.cluster || (m.excludeReadCommands && !spec.write)) continue;
      const host = shardFor(this.config, m.cluster, r.key);
      if (host) this.config.pool.get(m.cluster, host).send(command, () => {});
    }
  }

  /** One key (the first argument): the command's own bytes go upstream unless the key was rewritten. */
  private simple(spec: CommandSpec, args: Uint8Array[], raw: Uint8Array | undefined, done: Done): void {
    const r = this.route(args[1]!);
    if (r instanceof Uint8Array) return done(r);
    // PUBLISH keeps its channel name (subscribers subscribed with the whole name); only its shard comes from the route.
    if ((r.key === args[1] || spec.name === "publish") && raw) return this.sendRaw(r, spec, raw, done);
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
    this.slots.push({ reply: frame });
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

  private mget(spec: CommandSpec, args: Uint8Array[], done: Done): void {
    const groups = this.group(args, 1);
    if (groups instanceof Uint8Array) return done(groups);
    const values = new Array<Uint8Array>(args.length - 1);
    let left = groups.size;
    for (const g of groups.values()) {
      this.send(g.r, spec, g.args, (reply) => {
        const items = reply[0] === 42 ? splitAggregate(reply) : null;
        g.positions.forEach((pos, i) => (values[pos] = items?.[i] ?? reply));
        if (--left === 0) done(arrayOf(values));
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
