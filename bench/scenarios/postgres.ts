/**
 * postgres (issue 7): pgbench through Legate's [postgres_proxy, tcp_proxy] chain versus straight to the
 * machine's PostgreSQL ("direct", 127.0.0.1:5432, user postgres, trust authentication), and through
 * tcp_proxy alone (the peer, so the table shows what postgres_proxy's decoding costs on its own). Two
 * workloads: select-only (`-S`) and pgbench's TPC-B-like default, 8 clients, one pgbench thread, on a
 * scale-1 database `legate_bench` this scenario creates (`pgbench -i -s 1`) and drops. Figures in
 * transactions/s (pgbench's, without connection time), medians over alternating runs (legate,
 * tcp_proxy, direct, legate, ...).
 *
 * pgbench runs on the client core, Legate on the proxy core; PostgreSQL is the system's service and is
 * not pinned.
 *
 * Target (issue 7): ≥ 0.9× direct.
 */
import { startLegate } from "../lib/legate-tier.ts";
import { makeRow } from "../lib/rows.ts";
import { freePort, waitForPort } from "../lib/tcp-peers.ts";
import type { ResultRow, Scenario, ScenarioContext, ToolRequirement } from "../lib/types.ts";

const NAME = "postgres";
const PGBENCH: ToolRequirement = { command: "pgbench", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y postgresql-client" };
const PSQL: ToolRequirement = { command: "psql", versionArgs: ["--version"], install: "sudo apt-get update && sudo apt-get install -y postgresql-client" };
const PG_PORT = 5432;
const USER = "postgres";
const DATABASE = "legate_bench";
const CLIENTS = 8;
const TARGETS = ["legate", "tcp_proxy", "direct"] as const;
type Target = (typeof TARGETS)[number];
const WORKLOADS = [
  { name: "select-only (-S)", args: ["-S"] },
  { name: "TPC-B-like (default)", args: [] as string[] },
] as const;

export const postgres: Scenario = {
  name: NAME,
  description: "pgbench -S and TPC-B-like, 8 clients: Legate's [postgres_proxy, tcp_proxy] vs tcp_proxy alone vs direct (tps)",
  requires: [PGBENCH, PSQL],
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
    for (const t of ["legate", "tcp_proxy"] as const) {
      const port = await freePort();
      const child = startLegate(ctx, `legate-pg-${t}-${port}`, legatePgYaml(port, t === "legate"));
      await waitForPort(port, child);
      ports.set(t, port);
    }

    const pgbench = async (t: Target, args: readonly string[], secs: number): Promise<number> => {
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
      return Number(m[1]);
    };

    const rows: ResultRow[] = [];
    for (const w of WORKLOADS) {
      ctx.log(`${NAME}: ${w.name}: warm-up`);
      for (const t of TARGETS) await pgbench(t, w.args, 1);
      const samples = new Map<Target, number[]>(TARGETS.map((t) => [t, []]));
      for (let round = 0; round < rounds; round++) {
        for (const t of TARGETS) {
          const tps = await pgbench(t, w.args, seconds);
          samples.get(t)!.push(tps);
          ctx.log(`  round ${round + 1}/${rounds} ${w.name} ${t.padEnd(9)} ${Math.round(tps)} tps`);
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
