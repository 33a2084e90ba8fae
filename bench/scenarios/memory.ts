/**
 * memory (issue 7): resident memory (VmRSS) of the process that serves the connections — Legate's tcp
 * tier (one process, `--concurrency 1`), HAProxy (`nbthread 1`) and nginx's stream worker (one worker;
 * the master is not counted) — idle after start, at its peak under a request/response load
 * (redis-benchmark PING/SET/GET, 50 clients, -P 16, to a redis-server), at its peak under a bulk
 * transfer (one connection, socat into a discarding sink), and idle again after both. Each proxy has
 * two tcp_proxy-style listeners, one per upstream, and is started afresh each round; rounds alternate
 * legate, haproxy, nginx. Figures in MiB (2^20 bytes), sampled every 50 ms from /proc/<pid>/status.
 *
 * Target (issue 7): ≤ 64 MiB idle per worker process.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLegate } from "../lib/legate-tier.ts";
import { type Child, waitForOutput } from "../lib/processes.ts";
import { makeRow } from "../lib/rows.ts";
import { freePort, HAPROXY, NGINX, SOCAT, waitForPort } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext, ToolRequirement } from "../lib/types.ts";

const NAME = "memory";
const SINK_SCRIPT = fileURLToPath(new URL("../lib/bulk-sink.ts", import.meta.url));
const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const REDIS_BENCHMARK: ToolRequirement = { command: "redis-benchmark", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-tools" };
const REDIS_SERVER: ToolRequirement = { command: "redis-server", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y redis-server" };
const PROXIES = ["legate", "haproxy", "nginx"] as const;
type Proxy = (typeof PROXIES)[number];
const PHASES = ["idle", "rr", "bulk", "after"] as const;
type Phase = (typeof PHASES)[number];
const PHASE_TEXT: Record<Phase, string> = {
  idle: "idle after start",
  rr: "peak under redis-benchmark PING/SET/GET -c 50 -P 16",
  bulk: "peak under a bulk transfer",
  after: "idle after the loads",
};
const SAMPLE_MS = 50;
const IDLE_LIMIT_MIB = 64;

interface Running {
  child: Child;
  rrPort: number;
  bulkPort: number;
  /** The pid whose memory is measured (nginx: its worker). */
  pid: number;
}

export const memory: Scenario = {
  name: NAME,
  description: "resident memory (MiB) idle and under request/response and bulk load: Legate's tcp tier vs HAProxy, nginx stream worker",
  requires: [REDIS_BENCHMARK, REDIS_SERVER, HAPROXY, NGINX, SOCAT],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const rounds = ctx.quick ? 1 : 3;
    const requests = ctx.quick ? 50_000 : 300_000;
    const bulkBytes = ctx.quick ? 256 * 2 ** 20 : 1024 * 2 ** 20;
    const pin = (core: "client" | "origin" | "proxy"): { cpus?: string } => (ctx.cores ? { cpus: ctx.cores[core] } : {});

    const redisPort = await freePort();
    const redis = ctx.processes.start(
      "redis-server",
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
      pin("origin"),
    );
    await waitForPort(redisPort, redis);
    const sink = ctx.processes.start("bulk-sink", process.execPath, [SINK_SCRIPT], { cwd: ctx.root, ...pin("origin") });
    const sinkPort = Number((await waitForOutput(sink, /listening (\d+)/, 10_000))[1]);
    let transfers = 0;

    const start = async (p: Proxy): Promise<Running> => {
      const rrPort = await freePort();
      const bulkPort = await freePort();
      let child: Child;
      if (p === "legate") child = startLegate(ctx, `legate-memory-${rrPort}`, legateYaml(rrPort, redisPort, bulkPort, sinkPort));
      else if (p === "haproxy") {
        const file = join(ctx.tmpDir, `haproxy-memory-${rrPort}.cfg`);
        writeFileSync(file, haproxyCfg(rrPort, redisPort, bulkPort, sinkPort));
        child = ctx.processes.start("haproxy", "haproxy", ["-db", "-f", file], pin("proxy"));
      } else {
        const file = join(ctx.tmpDir, `nginx-memory-${rrPort}.conf`);
        writeFileSync(file, nginxConf(ctx.tmpDir, rrPort, redisPort, bulkPort, sinkPort));
        child = ctx.processes.start("nginx", "nginx", ["-c", file, "-p", ctx.tmpDir, "-g", "daemon off;"], pin("proxy"));
      }
      await waitForPort(rrPort, child);
      await waitForPort(bulkPort, child);
      return { child, rrPort, bulkPort, pid: p === "nginx" ? onlyChild(child.pid) : child.pid };
    };

    /** Runs `load` while sampling the RSS; returns the peak in MiB. */
    const peakDuring = async (pid: number, load: () => Promise<void>): Promise<number> => {
      let peak = rssMiB(pid);
      const timer = setInterval(() => void (peak = Math.max(peak, rssMiB(pid))), SAMPLE_MS);
      try {
        await load();
      } finally {
        clearInterval(timer);
      }
      return Math.max(peak, rssMiB(pid));
    };
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1000));

    const samples = new Map<string, number[]>();
    const push = (p: Proxy, phase: Phase, v: number): void => {
      const k = `${p} ${phase}`;
      if (!samples.has(k)) samples.set(k, []);
      samples.get(k)!.push(v);
    };
    for (let round = 0; round < rounds; round++) {
      for (const p of PROXIES) {
        const r = await start(p);
        await settle();
        const idle = rssMiB(r.pid);
        const rr = await peakDuring(r.pid, async () => {
          await ctx.processes.run(
            `redis-benchmark via ${p}`,
            "redis-benchmark",
            ["-h", "127.0.0.1", "-p", String(r.rrPort), "-c", "50", "-n", String(requests), "-P", "16", "-t", "ping,set,get", "-q"],
            300_000,
            pin("client"),
          );
        });
        const bulk = await peakDuring(r.pid, async () => {
          await ctx.processes.run(`send via ${p}`, "sh", ["-c", `head -c ${bulkBytes} /dev/zero | socat -u -b 262144 STDIN TCP:127.0.0.1:${r.bulkPort}`], 300_000, pin("client"));
          const got = await nthDone(sink, ++transfers, 60_000);
          if (got !== bulkBytes) throw new Error(`${p}: the sink received ${got} bytes, expected ${bulkBytes}`);
        });
        await settle();
        const after = rssMiB(r.pid);
        for (const [phase, v] of [["idle", idle], ["rr", rr], ["bulk", bulk], ["after", after]] as const) push(p, phase, v);
        ctx.log(`  round ${round + 1}/${rounds} ${p.padEnd(7)} idle ${idle.toFixed(1)} MiB, rr peak ${rr.toFixed(1)}, bulk peak ${bulk.toFixed(1)}, after ${after.toFixed(1)}`);
        await ctx.processes.stop(r.child);
      }
    }

    const rows: ResultRow[] = [];
    for (const phase of PHASES) {
      for (const peer of ["haproxy", "nginx"] as const) {
        rows.push(
          makeRow({
            scenario: NAME,
            metric: `MiB resident, ${PHASE_TEXT[phase]}, vs ${peer}`,
            better: "lower",
            legate: samples.get(`legate ${phase}`)!,
            peer: { name: peer, values: samples.get(`${peer} ${phase}`)! },
            ...(phase === "idle" && peer === "haproxy"
              ? { target: { text: `≤ ${IDLE_LIMIT_MIB} MiB idle per worker process`, met: (row: ResultRow) => row.legate <= IDLE_LIMIT_MIB } }
              : {}),
          }),
        );
      }
    }
    return rows;
  },
};

/** VmRSS of a process, MiB. */
function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** The single child of `pid` (nginx's worker), waited for (bounded). */
function onlyChild(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  if (children.length !== 1) throw new Error(`expected one nginx worker under ${pid}, found ${children.length}`);
  return children[0]!;
}

/** Waits for the sink's n-th `done <bytes> <ms>` line; returns its byte count. */
async function nthDone(sink: Child, n: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = [...sink.stdout().matchAll(/done (\d+) /g)];
    if (lines.length >= n) return Number(lines[n - 1]![1]);
    if (!sink.running || Date.now() > deadline) throw new Error(`the sink did not report transfer ${n}:\n${sink.tail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function legateYaml(rrPort: number, redisPort: number, bulkPort: number, sinkPort: number): string {
  const listener = (name: string, port: number): string => `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${name}
          cluster: ${name}
`;
  const cluster = (name: string, port: number): string => `  - name: ${name}
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
  return `static_resources:\n  listeners:\n${listener("rr", rrPort)}${listener("bulk", bulkPort)}  clusters:\n${cluster("rr", redisPort)}${cluster("bulk", sinkPort)}`;
}

function haproxyCfg(rrPort: number, redisPort: number, bulkPort: number, sinkPort: number): string {
  return [
    "global",
    "  nbthread 1",
    "  maxconn 4096",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 120s",
    "  timeout server 120s",
    "listen rr",
    `  bind 127.0.0.1:${rrPort}`,
    `  server s1 127.0.0.1:${redisPort}`,
    "listen bulk",
    `  bind 127.0.0.1:${bulkPort}`,
    `  server s1 127.0.0.1:${sinkPort}`,
    "",
  ].join("\n");
}

function nginxConf(dir: string, rrPort: number, redisPort: number, bulkPort: number, sinkPort: number): string {
  return [
    `load_module ${NGINX_STREAM_MODULE};`,
    "worker_processes 1;",
    `pid ${join(dir, `nginx-memory-${rrPort}.pid`)};`,
    `error_log ${join(dir, `nginx-memory-${rrPort}.err`)} warn;`,
    "events { worker_connections 4096; }",
    "stream {",
    `  server { listen 127.0.0.1:${rrPort}; proxy_pass 127.0.0.1:${redisPort}; }`,
    `  server { listen 127.0.0.1:${bulkPort}; proxy_pass 127.0.0.1:${sinkPort}; }`,
    "}",
    "",
  ].join("\n");
}
