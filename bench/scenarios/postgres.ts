/**
 * postgres (issue 7): pgbench through Legate's [postgres_proxy, tcp_proxy] chain versus straight to the
 * machine's PostgreSQL ("direct", 127.0.0.1:5432, user postgres, trust authentication), through
 * Legate's tcp_proxy alone (a peer, so the table shows what postgres_proxy's decoding costs on its own)
 * and through HAProxy in mode tcp (a peer: what any proxy's extra hop costs on this machine;
 * bench/lib/tcp-peers.ts, `nbthread 1`). Two workloads: select-only (`-S`) and pgbench's TPC-B-like
 * default, 8 clients, one pgbench thread, on a scale-1 database `legate_bench` this scenario creates
 * (`pgbench -i -s 1`) and drops. Figures in transactions/s (pgbench's, without connection time),
 * medians over alternating runs (legate, tcp_proxy, haproxy, direct, legate, ...); rows per peer.
 *
 * Also each proxy's CPU time per transaction (user + system, from /proc; bench/lib/cpu-time.ts), steadier
 * than tps when the machine is shared.
 *
 * pgbench runs on the client core, each proxy on the proxy core; PostgreSQL is the system's service and
 * is not pinned.
 *
 * Target (issue 7): ≥ 0.9× direct.
 */
import { groupCpuSeconds } from "../lib/cpu-time.ts";
import { startLegate } from "../lib/legate-tier.ts";
import type { Child } from "../lib/processes.ts";
import { makeRow } from "../lib/rows.ts";
import { freePort, HAPROXY, startTcpProxy, waitForPort } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext, ToolRequirement } from "../lib/types.ts";

const NAME = "postgres";
const PGBENCH: ToolRequirement = { command: "pgbench", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y postgresql-client" };
const PSQL: ToolRequirement = { command: "psql", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y postgresql-client" };
const PG_PORT = 5432;
const USER = "postgres";
const DATABASE = "legate_bench";
const CLIENTS = 8;
const TARGETS = ["legate", "tcp_proxy", "haproxy", "direct"] as const;
type Target = (typeof TARGETS)[number];
type Proxy = Exclude<Target, "direct">;
const PROXIES: readonly Proxy[] = ["legate", "tcp_proxy", "haproxy"];
/** What each proxy target is, in metric names. */
const LABEL: Record<Proxy, string> = { legate: "[postgres_proxy, tcp_proxy]", tcp_proxy: "tcp_proxy alone", haproxy: "haproxy" };
const WORKLOADS = [
  { name: "select-only (-S)", args: ["-S"] },
  { name: "TPC-B-like (default)", args: [] as string[] },
] as const;

export const postgres: Scenario = {
  name: NAME,
  description: "pgbench -S and TPC-B-like, 8 clients: Legate's [postgres_proxy, tcp_proxy] vs tcp_proxy alone vs HAProxy vs direct (tps)",
  requires: [PGBENCH, PSQL, HAPROXY],
  async run(ctx: ScenarioContext): Promise<ResultRow[]> {
    const seconds = ctx.quick ? 3 : 10;
    const rounds = ctx.quick ? 2 : 5;
    const client = ctx.cores ? { cpus: ctx.cores.client } : {};
    const psql = (sql: string): Promise<string> =>
      ctx.processes.run("psql", "psql", ["-h", "127.0.0.1", "-p", String(PG_PORT), "-U", USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", sql], 60_000);
    try {
      await psql("select 1");
    } catch (e) {
      throw new Error(`PostgreSQL is not reachable at 127.0.0.1:${PG_PORT} as ${USER} with trust authentication: ${(e as Error).message}`);
    }
    await psql(`DROP DATABASE IF EXISTS ${DATABASE}`);
    await psql(`CREATE DATABASE ${DATABASE}`);
    ctx.defer(async () => void (await psql(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`)));
    await ctx.processes.run("pgbench -i", "pgbench", ["-h", "127.0.0.1", "-p", String(PG_PORT), "-U", USER, "-i", "-s", "1", "-q", DATABASE], 120_000, client);

    const ports = new Map<Target, number>([["direct", PG_PORT]]);
    const children = new Map<Proxy, Child>();
    for (const t of ["legate", "tcp_proxy"] as const) {
      const port = await freePort();
      const child = startLegate(ctx, `legate-pg-${t}-${port}`, legatePgYaml(port, t === "legate"));
      await waitForPort(port, child);
      ports.set(t, port);
      children.set(t, child);
    }
    const haproxy = await startTcpProxy(ctx, "haproxy", PG_PORT);
    ports.set("haproxy", haproxy.port);
    children.set("haproxy", haproxy.child);

    /** The proxy's CPU µs per transaction over the last run through it (NaN for direct). */
    let lastCpuUs = NaN;
    const pgbench = async (t: Target, args: readonly string[], secs: number): Promise<number> => {
      const proxy = t === "direct" ? undefined : children.get(t)!;
      const cpuBefore = proxy ? groupCpuSeconds(proxy.pid) : NaN;
      const out = await ctx.processes.run(
        `pgbench via ${t}`,
        "pgbench",
        ["-h", "127.0.0.1", "-p", String(ports.get(t)), "-U", USER, "-n", "-c", String(CLIENTS), "-j", "1", "-T", String(secs), ...args, DATABASE],
        secs * 1000 + 60_000,
        client,
      );
      const m = out.match(/tps = ([\d.]+) \(without initial connection time\)/);
      if (!m) throw new Error(`pgbench via ${t} printed no tps:\n${out}`);
      const failed = out.match(/number of failed transactions: (\d+)/);
      if (failed && Number(failed[1]) > 0) throw new Error(`pgbench via ${t}: ${failed[1]} failed transactions:\n${out}`);
      const processed = out.match(/number of transactions actually processed: (\d+)/);
      lastCpuUs = proxy && processed ? ((groupCpuSeconds(proxy.pid) - cpuBefore) * 1e6) / Number(processed[1]) : NaN;
      return Number(m[1]);
    };

    const rows: ResultRow[] = [];
    for (const w of WORKLOADS) {
      ctx.log(`${NAME}: ${w.name}: warm-up`);
      for (const t of TARGETS) await pgbench(t, w.args, 1);
      const samples = new Map<Target, number[]>(TARGETS.map((t) => [t, []]));
      const cpu = new Map<Proxy, number[]>(PROXIES.map((p) => [p, []]));
      for (let round = 0; round < rounds; round++) {
        for (const t of TARGETS) {
          const tps = await pgbench(t, w.args, seconds);
          samples.get(t)!.push(tps);
          if (t !== "direct") cpu.get(t)!.push(lastCpuUs);
          const cpuNote = t === "direct" ? "" : `, proxy CPU ${lastCpuUs.toFixed(1)} µs/transaction`;
          ctx.log(`  round ${round + 1}/${rounds} ${w.name} ${t.padEnd(9)} ${Math.round(tps)} tps${cpuNote}`);
        }
      }
      rows.push(
        makeRow({
          scenario: NAME,
          metric: `transactions/s, pgbench ${w.name}, -c ${CLIENTS}, [postgres_proxy, tcp_proxy] vs tcp_proxy alone`,
          better: "higher",
          legate: samples.get("legate")!,
          peer: { name: "tcp_proxy", values: samples.get("tcp_proxy")! },
          direct: samples.get("direct")!,
          target: { text: "≥ 0.9× direct", met: (row: ResultRow) => (row.ratio_to_direct ?? 0) >= 0.9 },
        }),
      );
      // Against HAProxy: the chain, and tcp_proxy alone (what the same hop costs each proxy here).
      for (const subject of ["legate", "tcp_proxy"] as const) {
        rows.push(
          makeRow({
            scenario: NAME,
            metric: `transactions/s, pgbench ${w.name}, -c ${CLIENTS}, ${LABEL[subject]} vs haproxy`,
            better: "higher",
            legate: samples.get(subject)!,
            peer: { name: "haproxy", values: samples.get("haproxy")! },
            direct: samples.get("direct")!,
          }),
        );
      }
      if (PROXIES.every((p) => cpu.get(p)!.every(Number.isFinite))) {
        for (const [subject, peer] of [["legate", "tcp_proxy"], ["legate", "haproxy"], ["tcp_proxy", "haproxy"]] as const) {
          rows.push(
            makeRow({
              scenario: NAME,
              metric: `proxy CPU µs (user+sys) per transaction, pgbench ${w.name}, -c ${CLIENTS}, ${LABEL[subject]} vs ${LABEL[peer]}`,
              better: "lower",
              legate: cpu.get(subject)!,
              peer: { name: peer, values: cpu.get(peer)! },
            }),
          );
        }
      }
    }
    return rows;
  },
};

/** One listener in front of PostgreSQL: [postgres_proxy, tcp_proxy], or tcp_proxy alone. */
function legatePgYaml(port: number, withPostgresProxy: boolean): string {
  const pg = `      - name: envoy.filters.network.postgres_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy
          stat_prefix: bench
`;
  return `static_resources:
  listeners:
  - name: bench-pg
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
${withPostgresProxy ? pg : ""}      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench
          cluster: postgres
  clusters:
  - name: postgres
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: postgres
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${PG_PORT} } } }
`;
}
