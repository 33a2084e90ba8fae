/**
 * redis (issue 7): redis-benchmark SET, GET, INCR, LPUSH and MGET (10 keys), random keys, 50 clients,
 * pipelines of 1 and 16, through Legate's redis_proxy versus twemproxy (nutcracker), each sharding over
 * 1 and over 3 redis-servers this scenario starts, and straight to one redis-server ("direct"). Figures
 * in requests/s, medians over alternating runs (legate ×1, twemproxy ×1, legate ×3, twemproxy ×3,
 * direct, legate ×1, ...).
 *
 * Legate: one redis_proxy (op_timeout 5 s, default flushing) over a RING_HASH cluster of the shards.
 * twemproxy: `hash: fnv1a_64`, `distribution: ketama`, `auto_eject_hosts: false`, the same shards.
 * Both proxies are single-threaded on the proxy core; the redis-servers and redis-benchmark share the
 * client core (on 2 cores). Also each proxy's CPU time per request (user + system, from /proc;
 * bench/lib/cpu-time.ts), over the four simple tests and over MGET: steadier than requests/s when the
 * machine is shared.
 *
 * Targets (issue 7): ≥ 1.0× twemproxy at -P 1, ≥ 2.0× at -P 16.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startLegate } from "../lib/legate-tier.ts";
import type { Child } from "../lib/processes.ts";
import { groupCpuSeconds } from "../lib/cpu-time.ts";
import { makeRow } from "../lib/rows.ts";
import { freePort, waitForPort } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext, ToolRequirement } from "../lib/types.ts";

const NAME = "redis";
const REDIS_BENCHMARK: ToolRequirement = { command: "redis-benchmark", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-tools" };
const REDIS_SERVER: ToolRequirement = { command: "redis-server", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-server" };
const REDIS_CLI: ToolRequirement = { command: "redis-cli", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-tools" };
const NUTCRACKER: ToolRequirement = { command: "nutcracker", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y nutcracker" };
const SHARD_COUNTS = [1, 3] as const;
const PROXIES = ["legate", "twemproxy"] as const;
type Proxy = (typeof PROXIES)[number];
type Target = `${Proxy}/${1 | 3}` | "direct";
const ORDER: readonly Target[] = [...SHARD_COUNTS.flatMap((n) => PROXIES.map((p): Target => `${p}/${n}`)), "direct"];
const TESTS = ["SET", "GET", "INCR", "LPUSH", "MGET"] as const;
const CLIENTS = 50;
const KEYSPACE = 100_000;
const MGET_KEYS = 10;
/** Sample keys of the proxy's CPU µs per request (alongside the tests' requests/s). */
const CPU_SIMPLE = "cpu:simple";
const CPU_MGET = "cpu:mget";

export const redis: Scenario = {
  name: NAME,
  description: "redis-benchmark SET/GET/INCR/LPUSH/MGET, -P 1 and -P 16, 1 and 3 shards: Legate's redis_proxy vs twemproxy, direct",
  requires: [REDIS_BENCHMARK, REDIS_CLI, REDIS_SERVER, NUTCRACKER],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const requests = ctx.quick ? 5_000 : 50_000;
    const rounds = ctx.quick ? 2 : 3;
    const pin = (core: "client" | "origin" | "proxy"): { cpus?: string } => (ctx.cores ? { cpus: ctx.cores[core] } : {});

    const shards: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const server = ctx.processes.start(
        `redis-server-${i}`,
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
        pin("origin"),
      );
      await waitForPort(port, server);
      shards.push(port);
    }

    const ports = new Map<Target, number>([["direct", shards[0]!]]);
    /** Each proxy's process, for its CPU time per request. */
    const children = new Map<Target, Child>();
    for (const n of SHARD_COUNTS) {
      const legatePort = await freePort();
      const legate = startLegate(ctx, `legate-redis-${n}`, legateRedisYaml(legatePort, shards.slice(0, n)));
      await waitForPort(legatePort, legate);
      ports.set(`legate/${n}`, legatePort);
      children.set(`legate/${n}`, legate);
      const twemPort = await freePort();
      const twem = startTwemproxy(ctx, twemPort, await freePort(), shards.slice(0, n));
      await waitForPort(twemPort, twem);
      ports.set(`twemproxy/${n}`, twemPort);
      children.set(`twemproxy/${n}`, twem);
    }

    const benchmark = async (t: Target, pipeline: number, n: number, command: readonly string[]): Promise<string> =>
      ctx.processes.run(
        `redis-benchmark via ${t}`,
        "redis-benchmark",
        ["-h", "127.0.0.1", "-p", String(ports.get(t)), "-c", String(CLIENTS), "-n", String(n), "-P", String(pipeline), "-r", String(KEYSPACE), "--csv", ...command],
        300_000,
        pin("client"),
      );
    /** The proxy's CPU seconds so far (NaN for direct). */
    const cpuOf = (t: Target): number => {
      const child = children.get(t);
      return child ? groupCpuSeconds(child.pid) : NaN;
    };
    /**
     * One run: requests/s per test, and the proxy's CPU µs per request (user + system, from /proc)
     * over the four simple tests (`CPU_SIMPLE`) and over MGET (`CPU_MGET`); NaN for direct.
     */
    const bench = async (t: Target, pipeline: number, n: number): Promise<Map<string, number>> => {
      const rps = new Map<string, number>();
      const c0 = cpuOf(t);
      const simple = await benchmark(t, pipeline, n, ["-t", "set,get,incr,lpush"]);
      const c1 = cpuOf(t);
      for (const m of simple.matchAll(/^"([A-Z_]+)","([\d.]+)"/gm)) rps.set(m[1]!, Number(m[2]));
      const mget = await benchmark(t, pipeline, n, ["MGET", ...Array.from({ length: MGET_KEYS }, () => "key:__rand_int__")]);
      const c2 = cpuOf(t);
      const m = mget.match(/^"MGET[^"]*","([\d.]+)"/m);
      if (m) rps.set("MGET", Number(m[1]));
      for (const test of TESTS) if (!rps.has(test)) throw new Error(`redis-benchmark via ${t} printed no ${test} figure:\n${simple}\n${mget}`);
      rps.set(CPU_SIMPLE, ((c1 - c0) * 1e6) / (4 * n));
      rps.set(CPU_MGET, ((c2 - c1) * 1e6) / n);
      return rps;
    };

    const rows: ResultRow[] = [];
    for (const pipeline of [1, 16]) {
      const n = requests * (pipeline === 16 ? 8 : 1);
      ctx.log(`${NAME}: -P ${pipeline}: warm-up`);
      for (const t of ORDER) await bench(t, pipeline, Math.min(n, 10_000));
      const samples = new Map<string, number[]>();
      const key = (t: Target, test: string): string => `${t} ${test}`;
      for (let round = 0; round < rounds; round++) {
        for (const t of ORDER) {
          const rps = await bench(t, pipeline, n);
          for (const [test, v] of rps) {
            if (!samples.has(key(t, test))) samples.set(key(t, test), []);
            samples.get(key(t, test))!.push(v);
          }
          const cpu = t === "direct" ? "" : `; proxy CPU ${rps.get(CPU_SIMPLE)!.toFixed(1)} / ${rps.get(CPU_MGET)!.toFixed(1)} µs/request (simple / MGET)`;
          ctx.log(`  round ${round + 1}/${rounds} -P ${pipeline} ${t.padEnd(11)} ${TESTS.map((x) => `${x} ${Math.round(rps.get(x)!)}`).join(", ")}${cpu}`);
        }
      }
      // The 3-shard runs must really have spread keys: shards 1 and 2 are reached only through the proxies.
      for (const port of shards.slice(1)) {
        const keys = Number((await ctx.processes.run("redis-cli dbsize", "redis-cli", ["-h", "127.0.0.1", "-p", String(port), "dbsize"], 30_000)).trim());
        if (!(keys > 0)) throw new Error(`shard on port ${port} holds no keys after the 3-shard runs`);
      }
      const factor = pipeline === 1 ? 1.0 : 2.0;
      for (const shardsN of SHARD_COUNTS) {
        for (const [cpuKey, what] of [[CPU_SIMPLE, "SET+GET+INCR+LPUSH"], [CPU_MGET, `MGET of ${MGET_KEYS} keys`]] as const) {
          rows.push(
            makeRow({
              scenario: NAME,
              metric: `proxy CPU µs (user+sys) per request, ${what}, ${shardsN} shard${shardsN > 1 ? "s" : ""}, -c ${CLIENTS} -P ${pipeline}, vs twemproxy`,
              better: "lower",
              legate: samples.get(key(`legate/${shardsN}`, cpuKey))!,
              peer: { name: "twemproxy", values: samples.get(key(`twemproxy/${shardsN}`, cpuKey))! },
            }),
          );
        }
        for (const test of TESTS) {
          rows.push(
            makeRow({
              scenario: NAME,
              metric: `requests/s, ${test === "MGET" ? `MGET of ${MGET_KEYS} keys` : test}, ${shardsN} shard${shardsN > 1 ? "s" : ""}, -c ${CLIENTS} -P ${pipeline}, vs twemproxy`,
              better: "higher",
              legate: samples.get(key(`legate/${shardsN}`, test))!,
              peer: { name: "twemproxy", values: samples.get(key(`twemproxy/${shardsN}`, test))! },
              direct: samples.get(key("direct", test))!,
              target: { text: `≥ ${factor.toFixed(1)}× twemproxy`, met: (row: ResultRow) => (row.ratio_to_peer ?? 0) >= factor },
            }),
          );
        }
      }
    }
    return rows;
  },
};

/** One listener whose redis_proxy shards every key over `shards` (RING_HASH, as Legate requires). */
function legateRedisYaml(port: number, shards: readonly number[]): string {
  return `static_resources:
  listeners:
  - name: bench-redis
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.redis_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy
          stat_prefix: bench
          settings: { op_timeout: 5s }
          prefix_routes:
            catch_all_route: { cluster: redis }
  clusters:
  - name: redis
    type: STATIC
    connect_timeout: 5s
    lb_policy: RING_HASH
    load_assignment:
      cluster_name: redis
      endpoints:
      - lb_endpoints:
${shards.map((p) => `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join("\n")}
`;
}

/** nutcracker on `port` over `shards` (its stats port moved off the default 22222, so several can run). */
function startTwemproxy(ctx: ScenarioContext, port: number, statsPort: number, shards: readonly number[]): Child {
  const file = join(ctx.tmpDir, `twemproxy-${port}.yml`);
  writeFileSync(
    file,
    [
      "bench:",
      `  listen: 127.0.0.1:${port}`,
      "  hash: fnv1a_64",
      "  distribution: ketama",
      "  redis: true",
      "  auto_eject_hosts: false",
      "  timeout: 5000",
      "  servers:",
      ...shards.map((p, i) => `   - 127.0.0.1:${p}:1 shard${i}`),
      "",
    ].join("\n"),
  );
  return ctx.processes.start(
    "twemproxy",
    "nutcracker",
    ["-c", file, "-s", String(statsPort), "-a", "127.0.0.1", "-o", join(ctx.tmpDir, `twemproxy-${port}.log`), "-p", join(ctx.tmpDir, `twemproxy-${port}.pid`)],
    ctx.cores ? { cpus: ctx.cores.proxy } : {},
  );
}
