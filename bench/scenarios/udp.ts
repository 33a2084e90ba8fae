/**
 * udp (issue 7): datagrams per second and loss through Legate's udp_proxy (tcp tier) versus nginx's
 * stream module (`listen ... udp`), a socat relay (`UDP-LISTEN:...,fork`, a process per client) and
 * straight to the upstream ("direct"). The upstream echoes (bench/lib/udp-echo.ts); the load generator
 * (bench/lib/udp-load.ts) sends from 16 source ports, each keeping 8 datagrams of 64 bytes unanswered, and
 * counts the echoes. Figures: echoes per second, and the share of datagrams never answered; medians over
 * alternating runs (legate, nginx, socat, direct, legate, ...).
 *
 * The echo server and the load generator share the client core, each proxy gets the proxy core.
 *
 * Target (issue 7): ≥ 1.0× nginx.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { processCpuSeconds } from "../lib/cpus.ts";
import { freeUdpPort, startLegate, waitForUdpEcho } from "../lib/legate-tier.ts";
import { type Child, waitForOutput } from "../lib/processes.ts";
import { makeRow } from "../lib/rows.ts";
import { NGINX, SOCAT } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext } from "../lib/types.ts";

const NAME = "udp";
const ECHO_SCRIPT = fileURLToPath(new URL("../lib/udp-echo.ts", import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL("../lib/udp-load.ts", import.meta.url));
const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const PROXIES = ["legate", "nginx", "socat"] as const;
type Proxy = (typeof PROXIES)[number];
type Target = Proxy | "direct";
const ORDER: readonly Target[] = [...PROXIES, "direct"];
const SOCKETS = 16;
const WINDOW = 8;
const BYTES = 64;

export const udp: Scenario = {
  name: NAME,
  description: "UDP echo, 16 clients × 8 in flight, 64 B: Legate's udp_proxy vs nginx stream (udp), socat, direct (datagrams/s, loss)",
  requires: [NGINX, SOCAT],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const datagrams = ctx.quick ? 30_000 : 200_000;
    const rounds = ctx.quick ? 2 : 5;
    const pin = (core: "client" | "proxy"): { cpus?: string } => (ctx.cores ? { cpus: ctx.cores[core] } : {});
    const echo = ctx.processes.start("udp-echo", process.execPath, [ECHO_SCRIPT], { cwd: ctx.root, ...(ctx.cores ? { cpus: ctx.cores.origin } : {}) });
    const echoPort = Number((await waitForOutput(echo, /listening (\d+)/, 10_000))[1]);

    const ports = new Map<Target, number>([["direct", echoPort]]);
    const pids = new Map<Proxy, number>();
    const start = async (p: Proxy): Promise<void> => {
      const port = await freeUdpPort();
      let child: Child;
      if (p === "legate") child = startLegate(ctx, `legate-udp-${port}`, legateUdpYaml(port, echoPort));
      else if (p === "nginx") {
        const file = join(ctx.tmpDir, `nginx-udp-${port}.conf`);
        writeFileSync(file, nginxUdpConf(ctx.tmpDir, port, echoPort));
        child = ctx.processes.start("nginx", "nginx", ["-c", file, "-p", ctx.tmpDir, "-g", "daemon off;"], pin("proxy"));
      } else {
        child = ctx.processes.start("socat", "socat", [`UDP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UDP:127.0.0.1:${echoPort}`], pin("proxy"));
      }
      await waitForUdpEcho(port, child);
      ports.set(p, port);
      pids.set(p, child.pid);
    };
    for (const p of PROXIES) await start(p);

    const load = async (t: Target, n: number): Promise<{ pps: number; loss: number; cpuUs: number }> => {
      const pid = t === "direct" ? undefined : pids.get(t);
      const cpuBefore = pid === undefined ? 0 : treeCpuSeconds(pid);
      const out = await ctx.processes.run(
        `udp-load via ${t}`,
        process.execPath,
        [LOAD_SCRIPT, String(ports.get(t)), String(SOCKETS), String(n), String(WINDOW), String(BYTES)],
        300_000,
        { cwd: ctx.root, ...pin("client") },
      );
      const m = out.match(/result (\d+) (\d+) ([\d.]+)/);
      if (!m) throw new Error(`udp-load via ${t} printed no result:\n${out}`);
      const [sent, got, ms] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (got === 0) throw new Error(`udp-load via ${t}: no datagram came back`);
      const cpuUs = pid === undefined ? 0 : ((treeCpuSeconds(pid) - cpuBefore) * 1e6) / got;
      return { pps: got / (ms / 1000), loss: (100 * (sent - got)) / sent, cpuUs };
    };

    ctx.log(`${NAME}: warm-up`);
    for (const t of ORDER) await load(t, Math.min(datagrams, 20_000));
    const pps = new Map<Target, number[]>(ORDER.map((t) => [t, []]));
    const loss = new Map<Target, number[]>(ORDER.map((t) => [t, []]));
    const cpu = new Map<Target, number[]>(ORDER.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      for (const t of ORDER) {
        const r = await load(t, datagrams);
        pps.get(t)!.push(r.pps);
        loss.get(t)!.push(r.loss);
        cpu.get(t)!.push(r.cpuUs);
        ctx.log(`  round ${round + 1}/${rounds} ${t.padEnd(7)} ${Math.round(r.pps)} datagrams/s, loss ${r.loss.toFixed(2)} %${t === "direct" ? "" : `, proxy CPU ${r.cpuUs.toFixed(2)} µs/echo`}`);
      }
    }
    const what = `${SOCKETS} clients × ${WINDOW} in flight, ${BYTES} B`;
    const rows: ResultRow[] = [];
    for (const peer of ["nginx", "socat"] as const) {
      rows.push(
        makeRow({
          scenario: NAME,
          metric: `echoed datagrams/s, ${what}, vs ${peer}`,
          better: "higher",
          legate: pps.get("legate")!,
          peer: { name: peer, values: pps.get(peer)! },
          direct: pps.get("direct")!,
          ...(peer === "nginx" ? { target: { text: "≥ 1.0× nginx", met: (row: ResultRow) => (row.ratio_to_peer ?? 0) >= 1.0 } } : {}),
        }),
        makeRow({
          scenario: NAME,
          metric: `% of datagrams unanswered, ${what}, vs ${peer}`,
          better: "lower",
          legate: loss.get("legate")!,
          peer: { name: peer, values: loss.get(peer)! },
          direct: loss.get("direct")!,
        }),
        makeRow({
          scenario: NAME,
          metric: `proxy CPU µs per echoed datagram (both directions), ${what}, vs ${peer}`,
          better: "lower",
          legate: cpu.get("legate")!,
          peer: { name: peer, values: cpu.get(peer)! },
        }),
      );
    }
    return rows;
  },
};

/** CPU seconds of a process and its descendants (socat's per-client children), those alive now. */
function treeCpuSeconds(pid: number): number {
  let total = 0;
  try {
    total = processCpuSeconds(pid);
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean)) total += treeCpuSeconds(Number(child));
  } catch {
    // Exited meanwhile.
  }
  return total;
}

/** One UDP listener whose udp_proxy sends every session to the echo server. */
function legateUdpYaml(port: number, upstreamPort: number): string {
  return `static_resources:
  listeners:
  - name: bench-udp
    address: { socket_address: { address: 127.0.0.1, port_value: ${port}, protocol: UDP } }
    listener_filters:
    - name: envoy.filters.udp_listener.udp_proxy
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig
        stat_prefix: bench
        matcher:
          on_no_match:
            action:
              name: route
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route
                cluster: echo
  clusters:
  - name: echo
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: echo
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } }
`;
}

/**
 * nginx's stream module on UDP, one worker: `proxy_responses 1` (one reply per datagram, the echo's
 * pattern), sessions kept per client address for the run.
 */
function nginxUdpConf(dir: string, port: number, upstreamPort: number): string {
  return [
    `load_module ${NGINX_STREAM_MODULE};`,
    "worker_processes 1;",
    `pid ${join(dir, `nginx-udp-${port}.pid`)};`,
    `error_log ${join(dir, `nginx-udp-${port}.err`)} warn;`,
    "events { worker_connections 4096; }",
    "stream {",
    `  server { listen 127.0.0.1:${port} udp; proxy_pass 127.0.0.1:${upstreamPort}; proxy_responses 1; proxy_timeout 60s; }`,
    "}",
    "",
  ].join("\n");
}
