/**
 * redis_proxy end to end: three real `redis-server` shards started by the test on free ports, the tcp tier
 * in front, and real clients (ioredis, redis-cli, redis-benchmark). Results are checked on the shards
 * themselves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText } from "../../shared/config/parse.ts";
import type { ServerHandle } from "../src/server.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { closedPort, compileYaml, proxyPort, startYaml, stat, waitFor } from "./helpers.ts";

const REDIS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy";

interface Shard {
  port: number;
  proc: ChildProcess;
  client: Redis;
}

async function startShard(password?: string): Promise<Shard> {
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort();
    const auth = password ? ["--requirepass", password] : [];
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...auth], { stdio: "ignore" });
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, password });
    client.on("error", () => {});
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      try {
        await client.connect();
        ok = (await client.ping()) === "PONG";
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    if (ok) return { port, proc, client };
    client.disconnect();
    proc.kill();
    if (attempt > 3) throw new Error("redis-server did not start");
  }
}

async function stopShard(s: Shard): Promise<void> {
  s.client.disconnect();
  if (s.proc.exitCode === null) {
    s.proc.kill("SIGKILL");
    await once(s.proc, "exit");
  }
}

function yaml(ports: number[], settings = "op_timeout: 5s", extra = "", lb = "RING_HASH"): string {
  const eps = ports.map((p) => `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join("\n");
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.redis_proxy
        typed_config:
          "@type": ${REDIS_TYPE}
          stat_prefix: rp
          settings: { ${settings} }
          prefix_routes:
            catch_all_route: { cluster: redis }
${extra}
  clusters:
  - name: redis
    connect_timeout: 1s
    lb_policy: ${lb}
    load_assignment:
      cluster_name: redis
      endpoints:
      - lb_endpoints:
${eps}
`;
}

function client(port: number): Redis {
  const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: true });
  c.on("error", () => {});
  return c;
}

/** Raw RESP exchange: writes `data`, reads until `until` matches what came back (or the connection closes). */
async function raw(port: number, data: string, until: (s: string) => boolean): Promise<{ text: string; closed: boolean }> {
  const s = connect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  await once(s, "connect");
  let text = "";
  let closed = false;
  s.on("data", (d: Buffer) => (text += d.toString("latin1")));
  s.on("close", () => (closed = true));
  s.write(data);
  await waitFor(() => closed || until(text), "redis reply", 1000, 5);
  s.destroy();
  return { text, closed };
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("close", (code) => resolve({ code, out }));
    p.stdin.end(input ?? "");
  });
}

describe("redis_proxy over three shards", () => {
  let shards: Shard[] = [];
  let h: ServerHandle;
  let port: number;

  beforeAll(async () => {
    shards = await Promise.all([startShard(), startShard(), startShard()]);
    h = await startYaml(yaml(shards.map((s) => s.port), "op_timeout: 5s, enable_command_stats: true, enable_hashtagging: true"));
    port = proxyPort(h);
  });

  afterAll(async () => {
    await h?.close();
    await Promise.all(shards.map(stopShard));
  });

  it("shards keys: each lands on exactly one shard, every shard gets some, reads find them", async () => {
    const c = client(port);
    try {
      const p = c.pipeline();
      for (let i = 0; i < 150; i++) p.set(`k:${i}`, `v${i}`);
      const res = await p.exec();
      expect(res!.every(([err, v]) => err === null && v === "OK")).toBe(true);
      const owners = await Promise.all(
        Array.from({ length: 150 }, async (_x, i) => {
          const found = await Promise.all(shards.map((s) => s.client.get(`k:${i}`)));
          return found.flatMap((v, si) => (v === `v${i}` ? [si] : []));
        }),
      );
      expect(owners.every((o) => o.length === 1)).toBe(true);
      for (let si = 0; si < 3; si++) expect(owners.filter((o) => o[0] === si).length).toBeGreaterThan(10);
      expect(await c.get("k:42")).toBe("v42");
      expect(stat(h, "redis.rp.command.set.total")).toBeGreaterThanOrEqual(150);
      expect(stat(h, "redis.rp.command.set.success")).toBeGreaterThanOrEqual(150);
    } finally {
      c.disconnect();
    }
  });

  it("hash tags keep {tag} keys on one shard", async () => {
    const c = client(port);
    try {
      for (let i = 0; i < 20; i++) await c.set(`{user7}:f${i}`, "x");
      const counts = await Promise.all(shards.map(async (s) => (await s.client.keys("{user7}:*")).length));
      expect(counts.sort()).toEqual([0, 0, 20]);
    } finally {
      c.disconnect();
    }
  });

  it("splits and merges MGET, MSET, DEL, UNLINK, EXISTS, TOUCH across shards", async () => {
    const c = client(port);
    try {
      const keys = Array.from({ length: 30 }, (_x, i) => `m:${i}`);
      expect(await c.mset(...keys.flatMap((k) => [k, `val-${k}`]))).toBe("OK");
      const holders = await Promise.all(shards.map(async (s) => (await s.client.keys("m:*")).length));
      expect(holders.filter((n) => n > 0).length).toBeGreaterThan(1);
      expect(holders.reduce((a, b) => a + b, 0)).toBe(30);
      expect(await c.mget(...keys, "m:missing")).toEqual([...keys.map((k) => `val-${k}`), null]);
      expect(await c.exists(...keys.slice(0, 10), "m:missing")).toBe(10);
      expect(await c.touch(...keys.slice(0, 5))).toBe(5);
      expect(await c.del(...keys.slice(0, 10))).toBe(10);
      expect(await c.unlink(...keys.slice(10, 20), "m:missing")).toBe(10);
      const left = await Promise.all(shards.map(async (s) => (await s.client.keys("m:*")).length));
      expect(left.reduce((a, b) => a + b, 0)).toBe(10);
    } finally {
      c.disconnect();
    }
  });

  it("keeps pipeline order when shards answer out of order", async () => {
    const c = client(port);
    try {
      // Find two keys on different shards, then stall the first key's shard.
      await c.set("o:a", "A");
      const owner = (await Promise.all(shards.map((s) => s.client.get("o:a")))).findIndex((v) => v === "A");
      let other = "";
      for (let i = 0; !other && i < 200; i++) {
        await c.set(`o:b${i}`, `B${i}`);
        const idx = (await Promise.all(shards.map((s) => s.client.get(`o:b${i}`)))).findIndex((v) => v === `B${i}`);
        if (idx !== owner) other = `o:b${i}`;
      }
      await shards[owner]!.client.call("CLIENT", "PAUSE", "300", "ALL");
      const p = c.pipeline();
      p.get("o:a");
      p.get(other);
      p.echo("local");
      p.get("o:a");
      const started = Date.now();
      const res = await p.exec();
      expect(res!.map(([, v]) => v)).toEqual(["A", `B${other.slice(3)}`, "local", "A"]);
      // The slow shard really was slow: the replies waited for it.
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    } finally {
      c.disconnect();
    }
  });

  it("multiplexes every client onto one connection per shard", async () => {
    const before = stat(h, "cluster.redis.upstream_cx_total");
    const clients = Array.from({ length: 8 }, () => client(port));
    try {
      await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: 20 }, (_x, j) => c.incr(`ctr:${(i + j) % 10}`)))));
      const total = (await Promise.all(Array.from({ length: 10 }, (_x, i) => clients[0]!.get(`ctr:${i}`)))).reduce((a, v) => a + Number(v), 0);
      expect(total).toBe(160);
      expect(stat(h, "cluster.redis.upstream_cx_total")).toBe(before);
      expect(stat(h, "cluster.redis.upstream_cx_active")).toBe(3);
      expect(stat(h, "redis.rp.downstream_cx_active")).toBeGreaterThanOrEqual(8);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it("answers PING, ECHO, QUIT locally and refuses unsupported and malformed commands", async () => {
    const c = client(port);
    try {
      expect(await c.ping()).toBe("PONG");
      expect(await c.echo("hi")).toBe("hi");
      await expect(c.call("KEYS", "*")).rejects.toThrow("unsupported command 'keys'");
      await expect(c.call("PUBSUB", "CHANNELS")).rejects.toThrow("unsupported command 'pubsub'");
      await expect(c.call("GET")).rejects.toThrow("invalid request");
      await expect(c.call("MSET", "a", "1", "b")).rejects.toThrow("invalid request");
      expect(stat(h, "redis.rp.splitter.unsupported_command")).toBeGreaterThanOrEqual(2);
      expect(stat(h, "redis.rp.splitter.invalid_request")).toBeGreaterThanOrEqual(2);
    } finally {
      c.disconnect();
    }
    // A client that half-closes after a pipeline still gets every reply, then the proxy closes.
    const piped = await run("socat", ["-t2", "-", `TCP4:127.0.0.1:${port}`], "SET hc:1 a\r\nGET hc:1\r\nPING\r\n");
    expect(piped.out).toBe("+OK\r\n$1\r\na\r\n+PONG\r\n");
    const quit = await raw(port, "PING\r\nQUIT\r\nPING\r\n", () => false);
    expect(quit).toEqual({ text: "+PONG\r\n+OK\r\n", closed: true });
    const before = stat(h, "redis.rp.downstream_cx_protocol_error");
    const bad = await raw(port, "*1\r\n:1\r\n", () => false);
    expect(bad.closed).toBe(true);
    expect(stat(h, "redis.rp.downstream_cx_protocol_error")).toBe(before + 1);
    // HELLO 3 is refused (shard connections are shared RESP2), so clients stay on RESP2.
    const hello = await raw(port, "HELLO 3\r\nHELLO 2\r\n", (t) => t.includes("proto"));
    expect(hello.text.startsWith("-NOPROTO")).toBe(true);
  });

  it("routes EVAL by its keys and refuses scripts whose keys span shards", async () => {
    const c = client(port);
    try {
      await c.set("{s}:a", "1");
      expect(await c.eval("return redis.call('incr', KEYS[1]) + redis.call('incr', KEYS[2])", 2, "{s}:a", "{s}:b")).toBe(3);
      const owners = await Promise.all(shards.map((s) => s.client.get("{s}:b")));
      expect(owners.filter((v) => v === "1").length).toBe(1);
      // Without a shared tag, some pair of keys is on different shards.
      let refused = 0;
      for (let i = 0; i < 10; i++) {
        try {
          await c.eval("return 1", 2, `e:${i}`, `e:${i + 100}`);
        } catch (err) {
          expect(String(err)).toContain("different shards");
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
    } finally {
      c.disconnect();
    }
  });

  it("runs MULTI/EXEC and WATCH pinned to the shard of their keys", async () => {
    const c = client(port);
    const d = client(port);
    try {
      const res = await c.multi().set("{acct}:a", "10").incrby("{acct}:a", 5).get("{acct}:a").ping().exec();
      expect(res).toEqual([[null, "OK"], [null, 15], [null, "15"], [null, "PONG"]]);
      const holders = await Promise.all(shards.map((s) => s.client.get("{acct}:a")));
      expect(holders.filter((v) => v === "15").length).toBe(1);
      // WATCH: a write by another client between WATCH and EXEC makes EXEC return nil.
      await c.watch("{acct}:a");
      await d.set("{acct}:a", "99");
      expect(await c.multi().set("{acct}:a", "1").exec()).toBeNull();
      expect(await c.get("{acct}:a")).toBe("99");
      // Without interference it commits.
      await c.watch("{acct}:a");
      expect(await c.multi().set("{acct}:a", "2").exec()).toEqual([[null, "OK"]]);
      expect(await c.get("{acct}:a")).toBe("2");
      // Keys on two shards abort the transaction at EXEC, as a queue-time error does in Redis.
      const raw1 = await raw(port, "MULTI\r\n" + Array.from({ length: 12 }, (_x, i) => `SET t:${i} 1\r\n`).join("") + "EXEC\r\nDISCARD\r\n", (t) => t.includes("DISCARD without MULTI"));
      expect(raw1.text).toContain("different shards");
      expect(raw1.text).toContain("-EXECABORT");
      expect(await Promise.all(shards.map((s) => s.client.exists("t:0")))).toEqual([0, 0, 0]);
      await expect(c.call("EXEC")).rejects.toThrow("EXEC without MULTI");
    } finally {
      c.disconnect();
      d.disconnect();
    }
  });

  it("pub/sub: channels on their shard, patterns on every shard, counts and order kept per client", async () => {
    const sub = client(port);
    const pub = client(port);
    const got: string[] = [];
    sub.on("message", (ch: string, msg: string) => got.push(`${ch}=${msg}`));
    sub.on("pmessage", (pat: string, ch: string, msg: string) => got.push(`${pat}:${ch}=${msg}`));
    try {
      const channels = Array.from({ length: 8 }, (_x, i) => `chan${i}`);
      expect(await sub.subscribe(...channels)).toBe(8);
      expect(await sub.psubscribe("al*")).toBe(9);
      // Each channel is subscribed on exactly one shard, and not all on the same one.
      const perShard = await Promise.all(shards.map(async (s) => ((await s.client.call("PUBSUB", "CHANNELS", "chan*")) as string[]).sort()));
      expect(perShard.flat().sort()).toEqual(channels);
      expect(perShard.filter((l) => l.length > 0).length).toBeGreaterThan(1);
      // The pattern is on every shard.
      for (const s of shards) expect(await s.client.call("PUBSUB", "NUMPAT")).toBe(1);
      for (const ch of channels) expect(await pub.publish(ch, `m-${ch}`)).toBe(1);
      expect(await pub.publish("alpha", "a1")).toBe(1);
      await waitFor(() => got.length === 9, "messages", 400, 5);
      expect(got.sort()).toEqual([...channels.map((c) => `${c}=m-${c}`), "al*:alpha=a1"].sort());
      expect(await sub.unsubscribe("chan0")).toBe(8);
      expect(await pub.publish("chan0", "lost")).toBe(0);
    } finally {
      sub.disconnect();
      pub.disconnect();
    }
    // Raw: confirmations come before the replies of later commands; other commands are refused in subscribed mode.
    const r = await raw(port, "SUBSCRIBE c1 c2\r\nGET x\r\nPING\r\nUNSUBSCRIBE\r\nGET x\r\n", (t) => t.endsWith("$-1\r\n"));
    expect(r.text.split("\r\n")).toEqual([
      "*3", "$9", "subscribe", "$2", "c1", ":1",
      "*3", "$9", "subscribe", "$2", "c2", ":2",
      "-ERR Can't execute 'get': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT are allowed in this context",
      "*2", "$4", "pong", "$0", "",
      ...r.text.split("\r\n").slice(18, 30),
      "$-1", "",
    ]);
    expect(r.text).toContain("$11\r\nunsubscribe\r\n$2\r\nc1\r\n");
    expect(r.text).toContain(":0\r\n$-1\r\n");
  });

  it("serves redis-cli and redis-benchmark", async () => {
    const set = await run("redis-cli", ["-p", String(port), "SET", "cli:key", "from-cli"]);
    expect(set.out.trim()).toBe("OK");
    const owners = await Promise.all(shards.map((s) => s.client.get("cli:key")));
    expect(owners.filter((v) => v === "from-cli").length).toBe(1);
    const piped = await run("redis-cli", ["-p", String(port)], "GET cli:key\nPING\n");
    expect(piped.out.split("\n").filter(Boolean)).toEqual(["from-cli", "PONG"]);
    await Promise.all(shards.map((s) => s.client.flushdb()));
    const bench = await run("redis-benchmark", ["-p", String(port), "-t", "set,get", "-n", "2000", "-c", "10", "-r", "1000", "-q"]);
    expect(bench.code).toBe(0);
    expect(bench.out).toMatch(/SET: .*requests per second/);
    expect(bench.out).toMatch(/GET: .*requests per second/);
    const sizes = await Promise.all(shards.map((s) => s.client.dbsize()));
    expect(sizes.every((n) => n > 0)).toBe(true);
  });
});

describe("redis_proxy settings", () => {
  it("op_timeout fails a stalled command with an error and counts upstream_rq_timeout", async () => {
    const shard = await startShard();
    const h = await startYaml(yaml([shard.port], "op_timeout: 0.2s"));
    const c = client(proxyPort(h));
    try {
      expect(await c.set("t", "1")).toBe("OK");
      await shard.client.call("CLIENT", "PAUSE", "1500", "WRITE");
      await expect(c.set("t", "2")).rejects.toThrow("upstream failure");
      expect(stat(h, "cluster.redis.upstream_rq_timeout")).toBe(1);
      expect(stat(h, "redis.rp.command.set.total")).toBe(2);
      await shard.client.call("CLIENT", "UNPAUSE");
      // A new shard connection serves the next command.
      expect(await c.get("t")).toMatch(/^[12]$/);
    } finally {
      c.disconnect();
      await h.close();
      await stopShard(shard);
    }
  });

  it("downstream auth, prefix routes with remove_prefix, and an unreachable shard", async () => {
    const a = await startShard();
    const b = await startShard();
    const dead = await closedPort();
    const extra = `            routes:
            - { prefix: "b:", remove_prefix: true, cluster: b }
            - { prefix: "dead:", cluster: dead }
            case_insensitive: true
          downstream_auth_passwords: [{ inline_string: s3cret }]`;
    const cfg = yaml([a.port], "op_timeout: 2s", extra)
      .replace("  clusters:\n", `  clusters:\n${single("b", b.port)}${single("dead", dead)}`);
    const h = await startYaml(cfg);
    const port = proxyPort(h);
    try {
      const noauth = await raw(port, "GET x\r\nAUTH wrong\r\nAUTH s3cret\r\nSET B:k routed\r\nSET other 1\r\nGET dead:x\r\n", (t) => t.split("\r\n").length > 6);
      expect(noauth.text.split("\r\n").slice(0, 6)).toEqual([
        "-NOAUTH Authentication required.",
        "-ERR invalid password",
        "+OK",
        "+OK",
        "+OK",
        "-ERR upstream failure",
      ]);
      // "B:" matched "b:" case-insensitively and the prefix was removed on the way to shard b.
      expect(await b.client.get("k")).toBe("routed");
      expect(await a.client.get("other")).toBe("1");
      expect(await a.client.get("B:k")).toBeNull();
      expect(stat(h, "redis.rp.downstream_auth_failure")).toBe(1);
    } finally {
      await h.close();
      await stopShard(a);
      await stopShard(b);
    }
  });

  it("mirrors writes (exclude_read_commands) to another cluster and holds writes for buffer_flush_timeout", async () => {
    const main = await startShard();
    const mirror = await startShard();
    const extra = `            routes:
            - cluster: redis
              prefix: "w:"
              request_mirror_policy: [{ cluster: mirror, exclude_read_commands: true }]`;
    const cfg = yaml([main.port], "op_timeout: 2s, max_buffer_size_before_flush: 1048576, buffer_flush_timeout: 0.1s", extra)
      .replace("  clusters:\n", `  clusters:\n${single("mirror", mirror.port)}`);
    const h = await startYaml(cfg);
    const c = client(proxyPort(h));
    try {
      // The first command goes out when the shard connection opens; later ones wait for the buffer rules.
      expect(await c.set("w:0", "warm")).toBe("OK");
      const started = performance.now();
      expect(await c.set("w:1", "x")).toBe("OK");
      // The buffer never reached 1 MiB: the command waited for the flush timer.
      expect(performance.now() - started).toBeGreaterThanOrEqual(80);
      expect(await c.get("w:1")).toBe("x");
      // The mirror's copy travels on its own connection: poll until it is there.
      const poll = async (cond: () => Promise<boolean>) => {
        for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
      };
      await poll(async () => (await mirror.client.get("w:1")) === "x");
      expect(await mirror.client.get("w:1")).toBe("x");
      await mirror.client.call("CONFIG", "RESETSTAT");
      expect(await c.get("w:1")).toBe("x");
      expect(await c.set("w:2", "y")).toBe("OK");
      await poll(async () => (await mirror.client.exists("w:2")) === 1);
      // Reads are not mirrored: the mirror saw the SET and this test's own EXISTS calls, never a GET.
      const stats = (await mirror.client.info("commandstats")) as string;
      expect(stats).toContain("cmdstat_set:calls=1,");
      expect(stats).not.toContain("cmdstat_get:");
    } finally {
      c.disconnect();
      await h.close();
      await stopShard(main);
      await stopShard(mirror);
    }
  });

  it("runs blocking commands on the client's own shard connection, past op_timeout, without stalling others", async () => {
    const shard = await startShard();
    const other = await startShard();
    const h = await startYaml(yaml([shard.port, other.port], "op_timeout: 0.2s, enable_hashtagging: true"));
    const a = client(proxyPort(h));
    const b = client(proxyPort(h));
    const blocked = async (n: number) => {
      const count = async () => {
        const infos = await Promise.all([shard, other].map((s) => s.client.info("clients") as Promise<string>));
        return infos.reduce((sum, t) => sum + Number(/blocked_clients:(\d+)/.exec(t)?.[1] ?? 0), 0);
      };
      for (let i = 0; i < 200 && (await count()) !== n; i++) await new Promise((r) => setTimeout(r, 10));
      return count();
    };
    try {
      const popped = a.blpop("{q}:1", "{q}:2", 5);
      expect(await blocked(1)).toBe(1);
      // Longer than op_timeout: a blocking command is bounded by its own timeout, not op_timeout.
      await new Promise((r) => setTimeout(r, 300));
      expect(await b.set("{q}:other", "fine")).toBe("OK");
      expect(await b.rpush("{q}:2", "x")).toBe(1);
      expect(await popped).toEqual(["{q}:2", "x"]);
      expect(stat(h, "cluster.redis.upstream_rq_timeout")).toBe(0);
      // Keys on different shards are refused.
      let refused = 0;
      for (let i = 0; i < 10; i++) {
        try {
          await b.blpop(`l:${i}`, `l:${i + 50}`, 0.01);
        } catch (err) {
          expect(String(err)).toContain("different shards");
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(0);
      // A client that goes away while blocked takes its own shard connection with it.
      const c = client(proxyPort(h));
      void c.brpop("{z}:q", 10).catch(() => {});
      expect(await blocked(1)).toBe(1);
      c.disconnect();
      expect(await blocked(0)).toBe(0);
    } finally {
      a.disconnect();
      b.disconnect();
      await h.close();
      await stopShard(shard);
      await stopShard(other);
    }
  });

  it("authenticates to the shards with the cluster's RedisProtocolOptions", async () => {
    const shard = await startShard("upw");
    const opts = (pw: string) => `    typed_extension_protocol_options:
      envoy.filters.network.redis_proxy:
        "@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProtocolOptions
        auth_password: { inline_string: ${pw} }
`;
    const good = await startYaml(yaml([shard.port]).replace("    lb_policy: RING_HASH\n", `    lb_policy: RING_HASH\n${opts("upw")}`));
    const bad = await startYaml(yaml([shard.port]).replace("    lb_policy: RING_HASH\n", `    lb_policy: RING_HASH\n${opts("nope")}`));
    const noAuth = await startYaml(yaml([shard.port]));
    const c = client(proxyPort(good));
    const c2 = client(proxyPort(bad));
    const c3 = client(proxyPort(noAuth));
    try {
      expect(await c.set("ua", "1")).toBe("OK");
      expect(await shard.client.get("ua")).toBe("1");
      // Blocking commands and subscribers use connections of their own: they authenticate too.
      expect(await c.blpop("nothing", 0.05)).toBeNull();
      await expect(c2.get("ua")).rejects.toThrow("upstream authentication failed");
      await expect(c3.get("ua")).rejects.toThrow("NOAUTH");
    } finally {
      c.disconnect();
      c2.disconnect();
      c3.disconnect();
      await good.close();
      await bad.close();
      await noAuth.close();
      await stopShard(shard);
    }
    // Other protocol options (upstream HTTP) stay refused.
    const http = yaml([1]).replace("    lb_policy: RING_HASH\n", `    lb_policy: RING_HASH
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
`);
    const r = await validateBootstrapValue(parseConfigText(http).value);
    expect(r.ok ? [] : r.issues.map((i) => i.kind)).toContain("unsupported");
    const ok = await validateBootstrapValue(parseConfigText(yaml([1]).replace("    lb_policy: RING_HASH\n", `    lb_policy: RING_HASH\n${opts("x")}`)).value);
    expect(ok.ok ? [] : ok.issues).toEqual([]);
  });

  it("keeps the shared shard connections across a reload that keeps the clusters", async () => {
    const shard = await startShard();
    const h = await startYaml(yaml([shard.port]));
    try {
      const c = client(proxyPort(h));
      expect(await c.set("r", "1")).toBe("OK");
      c.disconnect();
      expect(stat(h, "cluster.redis.upstream_cx_total")).toBe(1);
      await h.reload(compileYaml(yaml([shard.port]).replace("stat_prefix: rp", "stat_prefix: rp2")));
      const c2 = client(proxyPort(h));
      expect(await c2.get("r")).toBe("1");
      c2.disconnect();
      // The new filter config found the old connection: none was opened, none left behind.
      expect(stat(h, "cluster.redis.upstream_cx_total")).toBe(1);
      expect(stat(h, "redis.rp2.command.get.total")).toBe(1);
    } finally {
      await h.close();
      await stopShard(shard);
    }
  });

  it("refuses what it does not implement, by name", async () => {
    const check = async (cfg: string) => {
      const r = await validateBootstrapValue(parseConfigText(cfg).value);
      return r.ok ? [] : r.issues.map((i) => `${i.kind} ${i.path}`);
    };
    const base = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
    expect(await check(yaml([1, 2]))).toEqual([]);
    expect(await check(yaml([1], "op_timeout: 1s, enable_redirection: true"))).toEqual([`unsupported ${base}.settings.enable_redirection`]);
    expect(await check(yaml([1], "op_timeout: 1s", "          faults: [{ fault_enabled: { default_value: { numerator: 1 } } }]"))).toEqual([`unsupported ${base}.faults`]);
    const rr = await check(yaml([1, 2], "op_timeout: 1s", "", "ROUND_ROBIN"));
    expect(rr).toEqual([`unsupported ${base}.prefix_routes.catch_all_route.cluster`]);
    expect(await check(yaml([1], ""))).toContain(`not-envoy ${base}.settings.op_timeout`);
  });
});

function single(name: string, port: number): string {
  return `  - name: ${name}
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
}

