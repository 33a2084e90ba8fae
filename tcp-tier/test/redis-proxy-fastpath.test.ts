/**
 * redis_proxy's forwarding fast path end to end, against real `redis-server`s started by the test: one-key
 * commands copied as the client sent them, an MGET whose keys are all on one shard forwarded whole and
 * its reply passed back, the split MGET merge, and the same replies and stats as the general path
 * (success/error per command, errors for a shard that is gone), in pipeline order.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { closedPort, proxyPort, startYaml, stat, waitFor } from "./helpers.ts";

const REDIS_TYPE = "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy";

interface Shard {
  port: number;
  proc: ChildProcess;
}

async function startShard(): Promise<Shard> {
  for (let attempt = 0; ; attempt++) {
    const port = await closedPort();
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      const r = await exchange(port, "PING\r\n", (t) => t.length > 0, 200).catch(() => undefined);
      if (r?.text === "+PONG\r\n") return { port, proc };
      await new Promise((res) => setTimeout(res, 20));
    }
    proc.kill("SIGKILL");
    if (attempt > 3) throw new Error("redis-server did not start");
  }
}

async function stopShard(s: Shard): Promise<void> {
  if (s.proc.exitCode === null) {
    s.proc.kill("SIGKILL");
    await once(s.proc, "exit");
  }
}

/** Writes `data` (in pieces when given several), reads until `until` matches or the connection closes. */
async function exchange(port: number, data: string | string[], until: (s: string) => boolean, tries = 1000): Promise<{ text: string; closed: boolean }> {
  const s = connect({ port, host: "127.0.0.1" });
  s.on("error", () => {});
  await once(s, "connect");
  let text = "";
  let closed = false;
  s.on("data", (d: Buffer) => (text += d.toString("latin1")));
  s.on("close", () => (closed = true));
  for (const piece of typeof data === "string" ? [data] : data) {
    s.write(piece);
    await new Promise((r) => setTimeout(r, 2));
  }
  await waitFor(() => closed || until(text), "redis reply", tries, 5);
  s.destroy();
  return { text, closed };
}

const cmd = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
const bulk = (v: string | null) => (v === null ? "$-1\r\n" : `$${Buffer.byteLength(v)}\r\n${v}\r\n`);

function yaml(ports: number[], extra = ""): string {
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
          stat_prefix: fp
          settings: { op_timeout: 2s, enable_command_stats: true }
          prefix_routes:
            catch_all_route: { cluster: redis }
${extra}
  clusters:
  - name: redis
    connect_timeout: 0.5s
    lb_policy: RING_HASH
    load_assignment:
      cluster_name: redis
      endpoints:
      - lb_endpoints:
${ports.map((p) => `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join("\n")}
`;
}

describe("redis_proxy fast path, one shard", () => {
  let shard: Shard;
  let h: ServerHandle;
  let port: number;

  beforeAll(async () => {
    shard = await startShard();
    h = await startYaml(yaml([shard.port]));
    port = proxyPort(h);
  });

  afterAll(async () => {
    await h?.close();
    if (shard) await stopShard(shard);
  });

  it("forwards one-key commands as sent, in pipeline order, with success and error counted", async () => {
    const big = "v".repeat(5000);
    const pipeline = [
      cmd("SET", "a", "1"),
      cmd("set", "b", big),
      cmd("GeT", "a"),
      cmd("INCR", "b"), // not an integer: an error reply, counted as error
      cmd("PING"), // answered by the proxy between forwarded commands
      cmd("GET", "b"),
      cmd("INCR", "a"),
      "GET a\r\n", // inline: the general path
      cmd("GET", "missing"),
    ].join("");
    const want = ["+OK\r\n", "+OK\r\n", bulk("1"), "-ERR value is not an integer or out of range\r\n", "+PONG\r\n", bulk(big), ":2\r\n", bulk("2"), bulk(null)].join("");
    const set0 = stat(h, "redis.fp.command.set.success");
    const incrErr0 = stat(h, "redis.fp.command.incr.error");
    // Whole and in pieces that cut commands anywhere.
    const pieces: string[] = [];
    for (let i = 0; i < pipeline.length; i += 7) pieces.push(pipeline.slice(i, i + 7));
    for (const data of [pipeline, pieces]) {
      const r = await exchange(port, data, (t) => t.length >= want.length);
      expect(r.text).toBe(want);
    }
    expect(stat(h, "redis.fp.command.set.success") - set0).toBe(4);
    expect(stat(h, "redis.fp.command.incr.error") - incrErr0).toBe(2);
    expect(stat(h, "redis.fp.command.incr.success")).toBeGreaterThanOrEqual(2);
  });

  it("copies a deep pipeline of many clients' commands into the shard's buffer and back", async () => {
    const n = 2000;
    const value = "x".repeat(150); // longer than the by-hand copy
    const data = Array.from({ length: n }, (_x, i) => cmd("SET", `p:${i}`, `${i}:${value}`) + cmd("GET", `p:${i}`)).join("");
    const want = Array.from({ length: n }, (_x, i) => `+OK\r\n${bulk(`${i}:${value}`)}`).join("");
    const results = await Promise.all([0, 1, 2].map(() => exchange(port, data, (t) => t.length >= want.length, 4000)));
    for (const r of results) expect(r.text).toBe(want);
  });

  it("forwards an MGET whose keys share the shard whole, and passes its array back", async () => {
    await exchange(port, cmd("SET", "m1", "one") + cmd("SET", "m3", "three"), (t) => t.length >= 10);
    const r = await exchange(port, cmd("MGET", "m1", "m2", "m3") + cmd("mget", "m3"), (t) => t.endsWith(bulk("three")) && t.split("$").length > 4);
    expect(r.text).toBe(`*3\r\n${bulk("one")}${bulk(null)}${bulk("three")}*1\r\n${bulk("three")}`);
  });
});

describe("redis_proxy fast path, three shards", () => {
  let shards: Shard[] = [];
  let h: ServerHandle;
  let port: number;

  beforeAll(async () => {
    shards = await Promise.all([startShard(), startShard(), startShard()]);
    h = await startYaml(yaml(shards.map((s) => s.port)));
    port = proxyPort(h);
  });

  afterAll(async () => {
    await h?.close();
    await Promise.all(shards.map(stopShard));
  });

  it("merges a split MGET in request order, values of every size and missing keys", async () => {
    const keys = Array.from({ length: 40 }, (_x, i) => `k:${i}`);
    const values = keys.map((k, i) => (i % 5 === 4 ? null : `${k}=${"z".repeat(i * 7)}`));
    const sets = keys.map((k, i) => (values[i] === null ? "" : cmd("SET", k, values[i]!))).join("");
    await exchange(port, sets, (t) => t.split("+OK").length - 1 === values.filter((v) => v !== null).length);
    // The keys really are on several shards.
    const held = await Promise.all(shards.map((s) => exchange(s.port, "DBSIZE\r\n", (t) => t.endsWith("\r\n"))));
    expect(held.filter((r) => r.text !== ":0\r\n").length).toBeGreaterThan(1);
    const want = `*${keys.length}\r\n${values.map(bulk).join("")}`;
    const r = await exchange(port, cmd("MGET", ...keys) + cmd("MGET", ...keys.slice().reverse()), (t) => t.length >= 2 * want.length - 10);
    expect(r.text).toBe(want + `*${keys.length}\r\n${values.slice().reverse().map(bulk).join("")}`);
  });
});

describe("redis_proxy fast path, a shard that is gone", () => {
  it("answers a one-key command and a one-shard MGET with errors in every position, counted as errors", async () => {
    const dead = await closedPort();
    const h = await startYaml(yaml([dead]));
    const port = proxyPort(h);
    try {
      const r = await exchange(port, cmd("GET", "x") + cmd("MGET", "a", "b"), (t) => t.split("\r\n").length > 4);
      expect(r.text).toBe("-ERR upstream failure\r\n*2\r\n-ERR upstream failure\r\n-ERR upstream failure\r\n");
      expect(stat(h, "redis.fp.command.get.error")).toBe(1);
      expect(stat(h, "redis.fp.command.mget.success")).toBe(1);
    } finally {
      await h.close();
    }
  });
});
