/**
 * postgres_proxy through the tcp tier ([postgres_proxy, tcp_proxy]) against the machine's PostgreSQL on
 * 127.0.0.1:5432 (trust auth, database `test`), with real clients: node-postgres (`pg`), `psql` and
 * `pgbench`. Each test uses its own table (or database) and drops it.
 */
import { execFile } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { promisify } from "node:util";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { POSTGRES_COUNTERS, type PostgresCounter } from "../src/extensions/filters/network/postgres_proxy/config.ts";
import type { ServerHandle } from "../src/server.ts";
import { proxyPort, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const run = promisify(execFile);
const PG_TYPE = "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy";

function pgYaml(pgOptions = "", filters?: string): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
${filters ?? `      - name: envoy.filters.network.postgres_proxy
        typed_config:
          "@type": ${PG_TYPE}
          stat_prefix: db
${pgOptions}
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: postgres }`}
  clusters:
  - name: postgres
    connect_timeout: 2s
    load_assignment:
      cluster_name: postgres
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 5432 } } }
`;
}

/** Every postgres_proxy counter of `h` (prefix `db`). */
function counters(h: ServerHandle): Record<PostgresCounter, number> {
  return Object.fromEntries(POSTGRES_COUNTERS.map((n) => [n, stat(h, `postgres.db.${n}`)])) as Record<PostgresCounter, number>;
}

/** Counter changes between two snapshots, only the ones that changed. */
function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(b).filter((k) => b[k] !== a[k]).map((k) => [k, b[k]! - (a[k] ?? 0)]));
}

const unique = (prefix: string) => `${prefix}_${process.pid}_${Date.now().toString(36)}`;

/** Child processes see only the proxy; GSS encryption off so libpq's first packet is deterministic. */
const childEnv = { ...process.env, PGGSSENCMODE: "disable", PGCONNECT_TIMEOUT: "5" };

describe("postgres_proxy with node-postgres", () => {
  it("counts sessions, statements by kind, transactions, errors, notices and messages exactly", async () => {
    const h = await startYaml(pgYaml());
    const table = unique("pgp_t");
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test" });
    try {
      await client.connect();
      expect(counters(h)).toMatchObject({ sessions: 1, sessions_unencrypted: 1, sessions_encrypted: 0, statements: 0 });
      const notices: string[] = [];
      client.on("notice", (n) => notices.push(`${n.severity}:${n.message}`));

      // Simple query protocol (no parameters): one Query message each.
      await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v text)`);
      await client.query(`INSERT INTO ${table} VALUES (1, 'a')`);
      // Extended protocol (parameters): Parse, Bind, Describe, Execute, Sync each.
      await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, [2, "b"]);
      const sel = await client.query(`SELECT id, v FROM ${table} WHERE id >= $1 ORDER BY id`, [1]);
      expect(sel.rows).toEqual([{ id: 1, v: "a" }, { id: 2, v: "b" }]);
      await client.query(`UPDATE ${table} SET v = 'z' WHERE id = 1`);
      await client.query(`DELETE FROM ${table} WHERE id = 2`);
      // An explicit transaction committed, and one rolled back.
      await client.query("BEGIN");
      await client.query(`INSERT INTO ${table} VALUES (3, 'c')`);
      await client.query("COMMIT");
      await client.query("BEGIN");
      await client.query(`UPDATE ${table} SET v = 'lost'`);
      await client.query("ROLLBACK");
      // Bad SQL: the server's ERROR, and the tokenizer's parse error (unterminated literal).
      await expect(client.query("SELECT 'never closed")).rejects.toThrow(/unterminated quoted string/);
      // A notice and a warning raised by the server.
      await client.query("DO $$ BEGIN RAISE NOTICE 'hello'; RAISE WARNING 'careful'; END $$");
      const after = await client.query(`SELECT v FROM ${table} ORDER BY id`);
      expect(after.rows).toEqual([{ v: "z" }, { v: "c" }]);
      await client.query(`DROP TABLE ${table}`);
      expect(notices).toEqual(["NOTICE:hello", "WARNING:careful"]);

      const c = counters(h);
      // Query messages: 13 that worked + 1 that failed; Parse messages: 2 (one per parameterized query).
      expect(c).toMatchObject({
        sessions: 1,
        sessions_unencrypted: 1,
        sessions_encrypted: 0,
        // CREATE, INSERT x3, SELECT x2, UPDATE x2, DELETE, BEGIN x2, COMMIT, ROLLBACK, DO, DROP.
        statements: 15,
        statements_insert: 3,
        statements_select: 2,
        statements_update: 2,
        statements_delete: 1,
        statements_other: 7,
        statements_parsed: 15,
        statements_parse_error: 1,
        transactions_rollback: 1,
        errors: 1,
        errors_error: 1,
        errors_fatal: 0,
        errors_panic: 0,
        errors_unknown: 0,
        notices: 2,
        notices_notice: 1,
        notices_warning: 1,
        notices_unknown: 0,
        messages_unknown: 0,
        decoding_error: 0,
      });
      // Outside a transaction block each statement is its own committed transaction: CREATE, INSERT x2,
      // SELECT x2, UPDATE, DELETE, DO, DROP (9), plus the explicit COMMIT; two BEGINs open two more.
      expect(c.transactions).toBe(11);
      expect(c.transactions_commit).toBe(10);
      // Frontend: StartupMessage, 14 Query, 2 x (Parse, Bind, Describe, Execute, Sync).
      expect(c.messages_frontend).toBe(1 + 14 + 10);
      expect(c.messages).toBe(c.messages_frontend + c.messages_backend);

      await client.end();
      // Terminate reaches the filter on its way out.
      await waitFor(() => stat(h, "postgres.db.messages_frontend") === 26, "Terminate");
    } finally {
      await client.end().catch(() => {});
      await h.close();
    }
  });

  it("with enable_sql_parsing false, counts statements but parses nothing", async () => {
    const h = await startYaml(pgYaml("          enable_sql_parsing: false"));
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test" });
    try {
      await client.connect();
      const r = await client.query("SELECT $1::int AS n", [7]);
      expect(r.rows).toEqual([{ n: 7 }]);
      await client.query("SELECT 1");
      expect(counters(h)).toMatchObject({ statements: 2, statements_select: 2, statements_parsed: 0, statements_parse_error: 0 });
    } finally {
      await client.end();
      await h.close();
    }
  });
});

describe("postgres_proxy severities and broken bytes", () => {
  it("counts notices by severity and a FATAL error", async () => {
    const h = await startYaml(pgYaml());
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test" });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.query("SET client_min_messages = debug1");
      await client.query("DO $$ BEGIN RAISE DEBUG 'd'; RAISE INFO 'i'; RAISE LOG 'l'; RAISE NOTICE 'n'; RAISE WARNING 'w'; END $$");
      expect(counters(h)).toMatchObject({ notices: 5, notices_debug: 1, notices_info: 1, notices_log: 1, notices_notice: 1, notices_warning: 1, notices_unknown: 0 });
      // The server ends this very session: a FATAL ErrorResponse, then the close.
      await expect(client.query("SELECT pg_terminate_backend(pg_backend_pid())")).rejects.toThrow(/terminating connection/);
      await waitFor(() => stat(h, "postgres.db.errors") === 1, "the FATAL error");
      expect(counters(h)).toMatchObject({ errors: 1, errors_fatal: 1, errors_error: 0, decoding_error: 0 });
    } finally {
      await client.end().catch(() => {});
      await h.close();
    }
  });

  it("stops sniffing on bytes that break the protocol, and the bytes still pass both ways", async () => {
    const h = await startYaml(pgYaml());
    try {
      // A startup packet for protocol 2.0: the decoder gives up; Postgres answers with its own error.
      const s = connect({ host: "127.0.0.1", port: proxyPort(h) });
      await once(s, "connect");
      const packet = Buffer.alloc(8);
      packet.writeUInt32BE(8, 0);
      packet.writeUInt32BE(0x00020000, 4);
      s.write(packet);
      const chunks: Buffer[] = [];
      s.on("data", (d: Buffer) => chunks.push(d));
      await once(s, "close");
      const reply = Buffer.concat(chunks).toString("latin1");
      expect(reply[0]).toBe("E");
      expect(reply).toMatch(/unsupported frontend protocol 2\.0/);
      expect(stat(h, "postgres.db.decoding_error")).toBe(1);
      // Nothing after the error is decoded: the server's ErrorResponse is not counted.
      expect(stat(h, "postgres.db.errors")).toBe(0);
      expect(stat(h, "postgres.db.messages")).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe("postgres_proxy with psql and pgbench", () => {
  it("psql through the proxy; an SSLRequest is passed through and answered N by the server", async () => {
    const h = await startYaml(pgYaml());
    const port = String(proxyPort(h));
    try {
      // psql's default sslmode=prefer sends an SSLRequest first; this server has SSL off and says N.
      const { stdout } = await run("psql", ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "test", "-tA", "-c", "SELECT 40 + 2"], { env: childEnv });
      expect(stdout.trim()).toBe("42");
      await waitFor(() => stat(h, "postgres.db.messages_frontend") >= 4, "psql's Terminate");
      expect(counters(h)).toMatchObject({ sessions: 1, sessions_unencrypted: 1, sessions_encrypted: 0, statements_select: 1, statements_parsed: 1 });

      // sslmode=require: the server's N reaches psql, which gives up.
      const err = await run("psql", [`host=127.0.0.1 port=${port} user=postgres dbname=test sslmode=require`, "-c", "SELECT 1"], { env: childEnv }).then(
        () => "",
        (e: { stderr: string }) => e.stderr,
      );
      expect(err).toMatch(/server does not support SSL, but SSL was required/);

      // The same by hand: an SSLRequest answered with exactly one byte, N.
      const s = connect({ host: "127.0.0.1", port: Number(port) });
      await once(s, "connect");
      const ssl = Buffer.alloc(8);
      ssl.writeUInt32BE(8, 0);
      ssl.writeUInt32BE(80877103, 4);
      s.write(ssl);
      const [answer] = (await once(s, "data")) as [Buffer];
      expect(answer.toString("latin1")).toBe("N");
      s.destroy();
      expect(stat(h, "postgres.db.sessions_encrypted")).toBe(0);
      expect(stat(h, "postgres.db.decoding_error")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("pgbench -i and a short pgbench run through the proxy, counted", async () => {
    const h = await startYaml(pgYaml());
    const port = String(proxyPort(h));
    const db = unique("pgp_bench");
    const admin = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${db}`);
      const base = ["-h", "127.0.0.1", "-p", port, "-U", "postgres"];
      await run("pgbench", [...base, "-i", "-q", "-s", "1", db], { env: childEnv });
      const before = counters(h);
      // -n: no vacuum before the run; 2 clients x 20 TPC-B-like transactions.
      const { stdout } = await run("pgbench", [...base, "-n", "-c", "2", "-t", "20", db], { env: childEnv });
      expect(stdout).toMatch(/number of transactions actually processed: 40\/40/);
      await waitFor(() => counters(h).messages_frontend > before.messages_frontend, "pgbench's traffic");
      const d = diff(before, counters(h));
      // Each transaction: BEGIN; UPDATE x3; SELECT; INSERT; END (tag COMMIT).
      expect(d.statements_update).toBe(120);
      expect(d.statements_insert).toBe(40);
      expect(d.statements_select).toBeGreaterThanOrEqual(40);
      expect(d.transactions_commit).toBeGreaterThanOrEqual(40);
      expect(d.sessions).toBeGreaterThanOrEqual(2);
      expect(d.errors ?? 0).toBe(0);
      expect(d.decoding_error ?? 0).toBe(0);
      expect(d.statements_parse_error ?? 0).toBe(0);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      await admin.end();
      await h.close();
    }
  });
});

describe("postgres_proxy config", () => {
  it("refuses terminate_ssl and upstream_ssl without starttls transport sockets, and postgres_proxy as the last filter", async () => {
    const issues = async (yaml: string) => {
      const v = await validateBootstrapValue(parseConfigText(yaml).value);
      return v.ok ? [] : v.issues.map((i) => `${i.kind} ${i.path}`);
    };
    const fp = "static_resources.listeners[0].filter_chains[0].filters[0]";
    // Built (postgres-proxy-tls.test.ts), but only over envoy.transport_sockets.starttls.
    expect(await issues(pgYaml("          terminate_ssl: true"))).toEqual([`invalid-reference ${fp}.typed_config.terminate_ssl`]);
    expect(await issues(pgYaml("          upstream_ssl: REQUIRE"))).toEqual([`invalid-reference ${fp}.typed_config.upstream_ssl`]);
    expect(await issues(pgYaml("          upstream_ssl: ALLOW"))).toEqual([`invalid-reference ${fp}.typed_config.upstream_ssl`]);
    expect(await issues(pgYaml("          upstream_ssl: DISABLE\n          terminate_ssl: false\n          enable_sql_parsing: true"))).toEqual([]);
    const alone = `      - name: envoy.filters.network.postgres_proxy
        typed_config: { "@type": ${PG_TYPE}, stat_prefix: db }`;
    const last = await validateBootstrapValue(parseConfigText(pgYaml("", alone)).value);
    expect(last.ok).toBe(false);
    expect(last.ok ? "" : last.issues.map((i) => i.message).join("\n")).toMatch(/not a terminal filter/);
    const emptyPrefix = await issues(pgYaml().replace("stat_prefix: db", 'stat_prefix: ""'));
    // Envoy's rule (min_len 1), from the proto Legate carries for this contrib extension.
    expect(emptyPrefix).toEqual([`not-envoy ${fp}.typed_config.stat_prefix`]);
  });
});
