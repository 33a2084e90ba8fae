/**
 * tcp-bulk (issue 7): one connection carries 2 GiB through a TCP proxy to a sink, and the sink times
 * it from first byte to FIN: Legate's tcp_proxy versus HAProxy (mode tcp), nginx's stream module and
 * socat, and straight to the sink ("direct"). Figures in MB/s (10^6 bytes), medians over alternating
 * runs (legate, haproxy, nginx, socat, direct, legate, ...).
 *
 * The sender is `head -c N /dev/zero | socat -u -b 256 KiB STDIN TCP:...`, the sink a Node process
 * (bench/lib/bulk-sink.ts); both share the client core, each proxy gets the proxy core to itself.
 *
 * Also the proxy's CPU time per GiB (user + system, from /proc; bench/lib/cpu-time.ts), steadier than
 * MB/s when the machine is shared.
 *
 * Target (issue 7): ≥ 1.0× HAProxy.
 */
import { fileURLToPath } from "node:url";
import { type Child, waitForOutput } from "../lib/processes.ts";
import { groupCpuSeconds } from "../lib/cpu-time.ts";
import { makeRow } from "../lib/rows.ts";
import { HAPROXY, NGINX, type RunningProxy, SOCAT, startTcpProxy, type TcpProxyName } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext } from "../lib/types.ts";

const NAME = "tcp-bulk";
const SINK_SCRIPT = fileURLToPath(new URL("../lib/bulk-sink.ts", import.meta.url));
const PROXIES: readonly TcpProxyName[] = ["legate", "haproxy", "nginx", "socat"];
type Target = TcpProxyName | "direct";
const ORDER: readonly Target[] = [...PROXIES, "direct"];

export const tcpBulk: Scenario = {
  name: NAME,
  description: "2 GiB over one connection: Legate's tcp_proxy vs HAProxy, nginx stream, socat, direct (MB/s)",
  requires: [HAPROXY, NGINX, SOCAT],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const bytes = ctx.quick ? 256 * 2 ** 20 : 2 * 2 ** 30;
    const rounds = ctx.quick ? 2 : 5;
    const clientCpus = ctx.cores ? { cpus: ctx.cores.client } : {};
    const sink = ctx.processes.start("bulk-sink", process.execPath, [SINK_SCRIPT], { cwd: ctx.root, ...(ctx.cores ? { cpus: ctx.cores.origin } : {}) });
    const sinkPort = Number((await waitForOutput(sink, /listening (\d+)/, 10_000))[1]);
    const proxies = new Map<TcpProxyName, RunningProxy>();
    for (const p of PROXIES) proxies.set(p, await startTcpProxy(ctx, p, sinkPort));
    const portOf = (t: Target): number => (t === "direct" ? sinkPort : proxies.get(t)!.port);

    let seen = 0;
    /** The proxy's CPU seconds per GiB of the last transfer through it. */
    const cpu = new Map<TcpProxyName, number[]>(PROXIES.map((p) => [p, []]));
    const transfer = async (t: Target, n: number, record = false): Promise<number> => {
      const proxy = t === "direct" ? undefined : proxies.get(t)!;
      const cpuBefore = proxy ? groupCpuSeconds(proxy.child.pid) : NaN;
      const cmd = `head -c ${n} /dev/zero | socat -u -b 262144 STDIN TCP:127.0.0.1:${portOf(t)}`;
      await ctx.processes.run(`send via ${t}`, "sh", ["-c", cmd], 300_000, clientCpus);
      const [got, ms] = await nthDone(sink, ++seen, 60_000);
      if (got !== n) throw new Error(`${t}: the sink received ${got} bytes, expected ${n}`);
      if (proxy && record) cpu.get(proxy.name)!.push((groupCpuSeconds(proxy.child.pid) - cpuBefore) / (n / 2 ** 30));
      return n / 1e6 / (ms / 1000);
    };

    ctx.log(`${NAME}: warm-up`);
    for (const t of ORDER) await transfer(t, 64 * 2 ** 20);
    const samples = new Map<Target, number[]>(ORDER.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      for (const t of ORDER) {
        const mbs = await transfer(t, bytes, true);
        samples.get(t)!.push(mbs);
        ctx.log(`  round ${round + 1}/${rounds} ${t.padEnd(7)} ${Math.round(mbs)} MB/s`);
      }
    }
    const label = `MB/s, ${bytes / 2 ** 20} MiB over one connection`;
    return PROXIES.filter((p) => p !== "legate").map((peer) =>
      makeRow({
        scenario: NAME,
        metric: `${label}, vs ${peer}`,
        better: "higher",
        legate: samples.get("legate")!,
        peer: { name: peer, values: samples.get(peer)! },
        direct: samples.get("direct")!,
        ...(peer === "haproxy" ? { target: { text: "≥ 1.0× HAProxy", met: (row: ResultRow) => (row.ratio_to_peer ?? 0) >= 1.0 } } : {}),
      }),
    ).concat(
      cpu.get("legate")!.every(Number.isFinite)
        ? PROXIES.filter((p) => p !== "legate").map((peer) =>
            makeRow({
              scenario: NAME,
              metric: `proxy CPU s (user+sys) per GiB, vs ${peer}`,
              better: "lower",
              legate: cpu.get("legate")!,
              peer: { name: peer, values: cpu.get(peer)! },
            }),
          )
        : [],
    );
  },
};

/** Waits for the sink's n-th `done <bytes> <ms>` line. */
async function nthDone(sink: Child, n: number, timeoutMs: number): Promise<[number, number]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = [...sink.stdout().matchAll(/done (\d+) ([\d.]+)/g)];
    if (lines.length >= n) return [Number(lines[n - 1]![1]), Number(lines[n - 1]![2])];
    if (!sink.running || Date.now() > deadline) throw new Error(`the sink did not report transfer ${n}:\n${sink.tail()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
