/**
 * tcp-rr (issue 7): request/response over TCP — redis-benchmark PING, SET and GET against a
 * redis-server this scenario starts, through Legate's tcp_proxy versus HAProxy (mode tcp) and nginx's
 * stream module, the naive Node proxy (`.pipe()` both ways, bench/lib/node-pipe-relay.ts), and direct;
 * 50 clients, pipelines of 1 and 16. Figures in requests/s, medians over
 * alternating runs (legate, haproxy, nginx, direct, legate, ...).
 *
 * redis-server runs on the origin core, redis-benchmark on the client core (the same core on a
 * 2-core machine), each proxy on the proxy core.
 *
 * Also the proxy's CPU time per request (user + system, from /proc; bench/lib/cpu-time.ts, over the
 * three tests of a run), steadier than requests/s when the machine is shared. The tests are named
 * exactly (`ping_inline`): redis-benchmark's `-t ping` also runs PING_MBULK, whose CPU time would then
 * be shared out over three tests' requests. Every run up to 2026-11-24T1732Z did that: its CPU figures
 * are 4/3 of the cost per request, and its ratios between proxies compare the same four tests.
 *
 * Target (issue 7): ≥ 0.9× HAProxy.
 */
import { freePort, HAPROXY, NGINX, type RunningProxy, startTcpProxy, type TcpProxyName, waitForPort } from "../lib/tcp-peers.ts";
import { groupCpuSeconds } from "../lib/cpu-time.ts";
import { makeRow } from "../lib/rows.ts";
import type { ResultRow, Scenario, ScenarioContext, ToolRequirement } from "../lib/types.ts";

const NAME = "tcp-rr";
const REDIS_BENCHMARK: ToolRequirement = { command: "redis-benchmark", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-tools" };
const REDIS_SERVER: ToolRequirement = { command: "redis-server", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-server" };
/** node-pipe: the naive Node proxy (bench/lib/node-pipe-relay.ts), a reference for Node's own cost. */
const PROXIES: readonly TcpProxyName[] = ["legate", "haproxy", "nginx", "node-pipe"];
type Target = TcpProxyName | "direct";
const ORDER: readonly Target[] = [...PROXIES, "direct"];
const TESTS = ["PING_INLINE", "SET", "GET"] as const;
const CLIENTS = 50;

export const tcpRr: Scenario = {
  name: NAME,
  description: "redis-benchmark PING/SET/GET, -P 1 and -P 16: Legate's tcp_proxy vs HAProxy, nginx stream, a naive Node proxy, direct",
  requires: [REDIS_BENCHMARK, REDIS_SERVER, HAPROXY, NGINX],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const requests = ctx.quick ? 20_000 : 200_000;
    const rounds = ctx.quick ? 2 : 5;
    const redisPort = await freePort();
    const redis = ctx.processes.start(
      "redis-server",
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
      ctx.cores ? { cpus: ctx.cores.origin } : {},
    );
    await waitForPort(redisPort, redis);
    const proxies = new Map<TcpProxyName, RunningProxy>();
    for (const p of PROXIES) proxies.set(p, await startTcpProxy(ctx, p, redisPort));
    const portOf = (t: Target): number => (t === "direct" ? redisPort : proxies.get(t)!.port);

    /** The proxy's CPU µs per request over the last run through it (three tests of n requests). */
    let lastCpuUs = NaN;
    const bench = async (t: Target, pipeline: number, n: number): Promise<Map<string, number>> => {
      const proxy = t === "direct" ? undefined : proxies.get(t)!;
      const cpuBefore = proxy ? groupCpuSeconds(proxy.child.pid) : NaN;
      const out = await ctx.processes.run(
        `redis-benchmark via ${t}`,
        "redis-benchmark",
        ["-h", "127.0.0.1", "-p", String(portOf(t)), "-c", String(CLIENTS), "-n", String(n), "-P", String(pipeline), "-t", "ping_inline,set,get", "--csv"],
        300_000,
        ctx.cores ? { cpus: ctx.cores.client } : {},
      );
      const rps = new Map<string, number>();
      for (const m of out.matchAll(/^"([A-Z_]+)","([\d.]+)"/gm)) rps.set(m[1]!, Number(m[2]));
      for (const test of TESTS) if (!rps.has(test)) throw new Error(`redis-benchmark via ${t} printed no ${test} figure:\n${out}`);
      if (rps.size !== TESTS.length) throw new Error(`redis-benchmark via ${t} ran tests other than ${TESTS.join(", ")}:\n${out}`);
      lastCpuUs = proxy ? ((groupCpuSeconds(proxy.child.pid) - cpuBefore) * 1e6) / (n * TESTS.length) : NaN;
      return rps;
    };

    const rows: ResultRow[] = [];
    for (const pipeline of [1, 16]) {
      ctx.log(`${NAME}: -P ${pipeline}: warm-up`);
      for (const t of ORDER) await bench(t, pipeline, Math.min(requests, 20_000));
      const samples = new Map<string, number[]>();
      const key = (t: Target, test: string): string => `${t}/${test}`;
      const cpu = new Map<TcpProxyName, number[]>(PROXIES.map((p) => [p, []]));
      for (let round = 0; round < rounds; round++) {
        for (const t of ORDER) {
          const rps = await bench(t, pipeline, requests * (pipeline === 16 ? 4 : 1));
          for (const [test, v] of rps) {
            if (!samples.has(key(t, test))) samples.set(key(t, test), []);
            samples.get(key(t, test))!.push(v);
          }
          if (t !== "direct") cpu.get(t)!.push(lastCpuUs);
          ctx.log(`  round ${round + 1}/${rounds} -P ${pipeline} ${t.padEnd(7)} ${TESTS.map((x) => `${x} ${Math.round(rps.get(x)!)}`).join(", ")}`);
        }
      }
      for (const test of TESTS) {
        for (const peer of PROXIES.filter((p) => p !== "legate")) {
          rows.push(
            makeRow({
              scenario: NAME,
              metric: `requests/s, redis-benchmark ${test}, -c ${CLIENTS} -P ${pipeline}, vs ${peer}`,
              better: "higher",
              legate: samples.get(key("legate", test))!,
              peer: { name: peer, values: samples.get(key(peer, test))! },
              direct: samples.get(key("direct", test))!,
              ...(peer === "haproxy" ? { target: { text: "≥ 0.9× HAProxy", met: (row: ResultRow) => (row.ratio_to_peer ?? 0) >= 0.9 } } : {}),
            }),
          );
        }
      }
      if (cpu.get("legate")!.every(Number.isFinite)) {
        for (const peer of PROXIES.filter((p) => p !== "legate")) {
          rows.push(
            makeRow({
              scenario: NAME,
              metric: `proxy CPU µs (user+sys) per request, PING_INLINE+SET+GET, -c ${CLIENTS} -P ${pipeline}, vs ${peer}`,
              better: "lower",
              legate: cpu.get("legate")!,
              peer: { name: peer, values: cpu.get(peer)! },
            }),
          );
        }
      }
    }
    return rows;
  },
};
