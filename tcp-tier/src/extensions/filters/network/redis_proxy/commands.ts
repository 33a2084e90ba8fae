/**
 * The redis_proxy command table: every command the proxy knows, how it is handled, and why the others
 * are refused. docs/redis-commands.md is generated from it (`renderCommandMatrix`), and a test keeps the
 * two equal.
 */

/**
 * - `simple`: one key (the first argument) names the shard; forwarded as is, reply passed back.
 * - `mget`: keys grouped by shard, one MGET per shard, values put back in request order.
 * - `mset`: key/value pairs grouped by shard, one MSET per shard; OK when every shard said OK.
 * - `sum`: keys grouped by shard, one command per shard, the integer replies added (DEL, UNLINK, EXISTS, TOUCH).
 * - `eval`: EVAL/EVALSHA with at least one key: routed by the first key (all keys must share its shard).
 * - `blocking`: BLPOP-style commands whose keys must share one shard, sent on a connection of the client's
 *   own to that shard (kept for its later blocking commands), so the shared connection never stalls.
 * - `transaction`: MULTI/EXEC/DISCARD/WATCH/UNWATCH. Commands inside MULTI are checked and queued by the
 *   proxy; every key of the transaction (and of WATCH) must be on one shard; EXEC sends MULTI, the
 *   queued commands and EXEC on the client's own connection to that shard.
 * - `pubsub`: SUBSCRIBE/UNSUBSCRIBE route each channel like a key; PSUBSCRIBE/PUNSUBSCRIBE go to every shard
 *   (a pattern may match channels anywhere). Sent on the client's own subscriber connections; the proxy
 *   keeps the client's subscription count. PUBLISH is a simple command routed by its channel.
 * - `local`: answered by the proxy itself (PING, ECHO, AUTH, QUIT, HELLO, SELECT 0, INFO with the proxy's own short section).
 */
export type CommandKind = "simple" | "mget" | "mset" | "sum" | "eval" | "blocking" | "transaction" | "pubsub" | "local";

export interface CommandSpec {
  name: string;
  kind: CommandKind;
  /** Minimum argument count, command name included (Redis's arity for fixed-arity commands). */
  minArgs: number;
  /** A write (mirrored even with exclude_read_commands). */
  write: boolean;
}

const READS_SIMPLE =
  "bitcount bitpos dump exists expiretime get getbit getrange geodist geohash geopos georadius_ro georadiusbymember_ro hexists hget hgetall hkeys hlen hmget hrandfield hscan hstrlen hvals lindex llen lpos lrange pexpiretime pfcount pttl scard sismember smembers smismember srandmember sscan strlen substr ttl type xlen xpending xrange xrevrange zcard zcount zlexcount zmscore zrandmember zrange zrangebylex zrangebyscore zrank zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore";
const WRITES_SIMPLE =
  "append bitfield decr decrby expire expireat geoadd getdel getex getset hdel hincrby hincrbyfloat hmset hset hsetnx incr incrby incrbyfloat linsert lpop lpush lpushx lrem lset ltrim persist pexpire pexpireat pfadd psetex restore rpop rpush rpushx sadd set setbit setex setnx setrange spop srem xack xadd xclaim xautoclaim xdel xtrim zadd zincrby zpopmax zpopmin zrem zremrangebylex zremrangebyrank zremrangebyscore";

function build(): Map<string, CommandSpec> {
  const m = new Map<string, CommandSpec>();
  const add = (name: string, kind: CommandKind, minArgs: number, write: boolean) => m.set(name, { name, kind, minArgs, write });
  for (const n of READS_SIMPLE.split(" ")) add(n, "simple", 2, false);
  for (const n of WRITES_SIMPLE.split(" ")) add(n, "simple", 2, true);
  // `exists` is a multi-key sum, not a simple read.
  add("exists", "sum", 2, false);
  add("touch", "sum", 2, false);
  add("del", "sum", 2, true);
  add("unlink", "sum", 2, true);
  add("mget", "mget", 2, false);
  add("mset", "mset", 3, true);
  for (const n of ["blpop", "brpop", "bzpopmin", "bzpopmax"]) add(n, "blocking", 3, true);
  add("brpoplpush", "blocking", 4, true);
  add("blmove", "blocking", 6, true);
  for (const n of ["multi", "exec", "discard", "unwatch"]) add(n, "transaction", 1, false);
  add("watch", "transaction", 2, false);
  add("subscribe", "pubsub", 2, false);
  add("psubscribe", "pubsub", 2, false);
  add("unsubscribe", "pubsub", 1, false);
  add("punsubscribe", "pubsub", 1, false);
  add("publish", "simple", 3, true);
  add("eval", "eval", 4, true);
  add("evalsha", "eval", 4, true);
  for (const n of ["ping", "echo", "auth", "quit", "hello", "select", "info"]) add(n, "local", n === "echo" || n === "auth" || n === "select" ? 2 : 1, false);
  return m;
}

export const COMMANDS: ReadonlyMap<string, CommandSpec> = build();

/** Commands refused with a clear error, and why (listed in the matrix; anything else unknown is refused too). */
export const REJECTED: Readonly<Record<string, string>> = {
  "ssubscribe, sunsubscribe, spublish, pubsub": "sharded pub/sub and PUBSUB introspection (not built yet)",
  "blmpop, bzmpop, xread, xreadgroup": "blocking forms not built yet (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, BRPOPLPUSH and BLMOVE are)",
  "keys, scan, randomkey, dbsize, flushdb, flushall, config, client, cluster, debug, monitor, save, bgsave, shutdown, slowlog, time, lastsave, command, script, function, fcall, object, memory, wait, swapdb, move, migrate": "server-wide or admin commands have no single shard (Envoy refuses them too)",
  "rename, renamenx, copy, smove, lmove, rpoplpush, sdiff, sdiffstore, sinter, sinterstore, sunion, sunionstore, zunionstore, zinterstore, zdiffstore, zrangestore, pfmerge, bitop, georadius, georadiusbymember, geosearchstore, msetnx, sort": "commands over several keys that may live on different shards",
};

/** Lower-case name of the command in `arg` (ASCII only). */
export function commandName(arg: Uint8Array): string {
  let s = "";
  for (let i = 0; i < arg.length && i < 32; i++) {
    const c = arg[i]!;
    s += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
  }
  return s;
}

const HOW: Record<CommandKind, string> = {
  simple: "by its key",
  mget: "split by shard, values merged in request order",
  mset: "split by shard; OK when every shard says OK",
  sum: "split by shard, integer replies added",
  eval: "by its first key (needs at least one key)",
  blocking: "by its keys (all on one shard), on a connection of the client's own",
  transaction: "pinned to the shard of the transaction's keys, on a connection of the client's own",
  pubsub: "channels by name like keys, patterns to every shard, on subscriber connections of the client's own",
  local: "answered by the proxy",
};

/** docs/redis-commands.md, from the tables above. */
export function renderCommandMatrix(): string {
  const lines = [
    "# redis_proxy: supported commands",
    "",
    "Generated from tcp-tier/src/extensions/filters/network/redis_proxy/commands.ts (a test keeps this file equal to it).",
    "Names are case-insensitive. Any command not listed is answered `-ERR unsupported command '<name>'` and counted in",
    "`redis.<stat_prefix>.splitter.unsupported_command`; a command with too few arguments gets `-ERR invalid request`",
    "(`splitter.invalid_request`). See docs/tcp-tier.md (redis_proxy) for routing, stats and settings.",
    "",
    "## Supported",
    "",
    "| command | routed | write |",
    "| --- | --- | --- |",
  ];
  const sorted = [...COMMANDS.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const c of sorted) lines.push(`| ${c.name} | ${HOW[c.kind]} | ${c.write ? "yes" : "no"} |`);
  lines.push("", "## Rejected (answered with an error naming the command)", "", "| commands | why |", "| --- | --- |");
  for (const [names, why] of Object.entries(REJECTED)) lines.push(`| ${names} | ${why} |`);
  lines.push("");
  return lines.join("\n");
}
