/**
 * postgres_proxy `terminate_ssl` and `upstream_ssl` over `envoy.transport_sockets.starttls`, with real
 * clients (node-postgres, psql) and real servers: the machine's PostgreSQL on 127.0.0.1:5432 (SSL off)
 * and a throwaway PostgreSQL with SSL on that this file starts (initdb into a temp dir as the
 * `postgres` OS user, a certificate from the test PKI) and removes in afterAll.
 */
import { execFile, execFileSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { encode, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from "../src/extensions/filters/network/postgres_proxy/codec.ts";
import type { ServerHandle } from "../src/server.ts";
import { closedPort, proxyPort, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";
import { makePki, type Pki, yamlString } from "./tls-helpers.ts";

const run = promisify(execFile);
const PG_TYPE = "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy";
const STARTTLS = "type.googleapis.com/envoy.extensions.transport_sockets.starttls.v3.StartTlsConfig";
const UPSTREAM_STARTTLS = "type.googleapis.com/envoy.extensions.transport_sockets.starttls.v3.UpstreamStartTlsConfig";
const PG_BIN = "/usr/lib/postgresql/15/bin";

let pki: Pki;
/** The throwaway SSL server. */
let sslPg: { dir: string; port: number };

function pgCtl(...args: string[]): void {
  execFileSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, ...args], { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

beforeAll(async () => {
  pki = makePki();
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  const dir = mkdtempSync(join(tmpdir(), "legate-pgtls-"));
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  const port = await closedPort();
  sslPg = { dir, port };
  execFileSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/initdb`, "-D", join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"], {
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 60_000,
  });
  // The server's certificate: CN localhost, SAN IP:127.0.0.1, signed by the test CA.
  copyFileSync(pki.upstream.certPath, join(dir, "server.crt"));
  copyFileSync(pki.upstream.keyPath, join(dir, "server.key"));
  for (const f of ["server.crt", "server.key"]) chownSync(join(dir, f), uid, gid);
  chmodSync(join(dir, "server.key"), 0o600);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=${dir}/server.crt -c ssl_key_file=${dir}/server.key -c fsync=off`;
  pgCtl("-D", join(dir, "data"), "-w", "-t", "30", "-o", opts, "-l", join(dir, "log"), "start");
}, 90_000);

afterAll(() => {
  try {
    if (sslPg) pgCtl("-D", join(sslPg.dir, "data"), "-m", "immediate", "-w", "stop");
  } finally {
    if (sslPg) rmSync(sslPg.dir, { recursive: true, force: true });
    pki?.remove();
  }
}, 60_000);

/** A starttls chain transport socket with the proxy's certificate (CN localhost, SAN IP:127.0.0.1). */
function downstreamStartTls(): string {
  return `      transport_socket:
        name: envoy.transport_sockets.starttls
        typed_config:
          "@type": ${STARTTLS}
          cleartext_socket_config: {}
          tls_socket_config:
            common_tls_context:
              tls_certificates:
              - certificate_chain: { inline_string: ${yamlString(pki.upstream.cert)} }
                private_key: { inline_string: ${yamlString(pki.upstream.key)} }
`;
}

/** A starttls cluster transport socket that trusts the test CA. */
function upstreamStartTls(): string {
  return `    transport_socket:
      name: envoy.transport_sockets.starttls
      typed_config:
        "@type": ${UPSTREAM_STARTTLS}
        tls_socket_config:
          common_tls_context:
            validation_context: { trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} } }
`;
}

function yaml(opts: { pg: string; chainTls?: string; clusterPort: number; clusterTls?: string }): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.postgres_proxy
        typed_config:
          "@type": ${PG_TYPE}
          stat_prefix: db
${opts.pg.replace(/^/gm, "          ")}
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: postgres }
${opts.chainTls ?? ""}  clusters:
  - name: postgres
    connect_timeout: 2s
${opts.clusterTls ?? ""}    load_assignment:
      cluster_name: postgres
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${opts.clusterPort} } } }
`;
}

const c = (h: ServerHandle, name: string) => stat(h, `postgres.db.${name}`);

/** A stat of the proxy listener (its stat prefix carries the configured address and port). */
function listenerStat(h: ServerHandle, name: string): number {
  return stat(h, `listener.127.0.0.1_0.${name}`);
}

/** The listener's `ssl.*` counter. */
const listenerSsl = (h: ServerHandle, name: string) => listenerStat(h, `ssl.${name}`);

/** Whether the server sees this session's connection (from the proxy) as TLS. */
async function serverSideSsl(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  return r.rows[0]!.ssl;
}

/** The socket node-postgres reads and writes (replaced by a TLSSocket after its SSLRequest). */
function clientStream(client: pg.Client): unknown {
  return (client as unknown as { connection: { stream: unknown } }).connection.stream;
}

const childEnv = { ...process.env, PGGSSENCMODE: "disable", PGCONNECT_TIMEOUT: "5" };

describe("postgres_proxy terminate_ssl (starttls on the filter chain)", () => {
  it("answers the client's SSLRequest, terminates TLS and sniffs the decrypted session sent in clear to the server", async () => {
    const h = await startYaml(yaml({ pg: "terminate_ssl: true", chainTls: downstreamStartTls(), clusterPort: 5432 }));
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test", ssl: { ca: pki.ca.cert } });
    try {
      await client.connect();
      const stream = clientStream(client);
      expect(stream).toBeInstanceOf(TLSSocket);
      expect((stream as TLSSocket).authorized).toBe(true);
      expect((stream as TLSSocket).getProtocol()).toMatch(/^TLSv1\.[23]$/);
      // The proxy→server leg is clear text (the machine's server has SSL off anyway).
      expect(await serverSideSsl(client)).toBe(false);
      const r = await client.query("SELECT $1::int + 1 AS n", [41]);
      expect(r.rows).toEqual([{ n: 42 }]);
      // Sniffed after decryption: the session and both SELECTs are counted; the SSLRequest was the proxy's to answer.
      expect(c(h, "sessions_terminated_ssl")).toBe(1);
      expect(c(h, "sessions")).toBe(1);
      expect(c(h, "sessions_unencrypted")).toBe(1);
      expect(c(h, "sessions_encrypted")).toBe(0);
      expect(c(h, "statements_select")).toBe(2);
      expect(c(h, "statements_parsed")).toBe(2);
      expect(c(h, "decoding_error")).toBe(0);
      expect(listenerSsl(h, "handshake")).toBe(1);
    } finally {
      await client.end().catch(() => {});
      await h.close();
    }
  });

  it("psql with sslmode=verify-full gets a TLS session; a client without SSL is served in clear on the same chain", async () => {
    const h = await startYaml(yaml({ pg: "terminate_ssl: true", chainTls: downstreamStartTls(), clusterPort: 5432 }));
    try {
      const env = { ...childEnv, PGSSLMODE: "verify-full", PGSSLROOTCERT: pki.ca.certPath };
      const { stdout } = await run("psql", ["-h", "127.0.0.1", "-p", String(proxyPort(h)), "-U", "postgres", "-d", "test", "-X", "-c", "\\conninfo", "-c", "SELECT 7 AS seven"], {
        env,
        timeout: 20_000,
      });
      expect(stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
      expect(stdout).toMatch(/seven\s*\n-+\n\s*7/);
      await waitFor(() => c(h, "sessions_terminated_ssl") === 1, "psql's TLS session counted");

      // sslmode=disable: no SSLRequest, the starttls socket stays clear text.
      const plain = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test", ssl: false });
      await plain.connect();
      try {
        expect(clientStream(plain)).not.toBeInstanceOf(TLSSocket);
        expect((await plain.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
      } finally {
        await plain.end();
      }
      expect(c(h, "sessions_terminated_ssl")).toBe(1);
      await waitFor(() => c(h, "sessions") === 2, "two sessions");
      expect(listenerSsl(h, "handshake")).toBe(1);
    } finally {
      await h.close();
    }
  });

  it("a bad TLS handshake after the S closes only that connection and is counted", async () => {
    const h = await startYaml(yaml({ pg: "terminate_ssl: true", chainTls: downstreamStartTls(), clusterPort: 5432 }));
    try {
      const s = connect(proxyPort(h), "127.0.0.1");
      s.on("error", () => {});
      await once(s, "connect");
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      s.write(encode.untyped(SSL_REQUEST_CODE));
      await waitFor(() => got.length > 0, "the proxy's answer");
      expect(Buffer.concat(got).toString()).toBe("S");
      // Not a ClientHello.
      s.write("this is not TLS at all\r\n\r\n");
      await once(s, "close");
      await waitFor(() => listenerSsl(h, "connection_error") === 1, "ssl.connection_error");
      expect(c(h, "sessions_terminated_ssl")).toBe(0);
      // The proxy is still serving.
      const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "test", ssl: { ca: pki.ca.cert } });
      await client.connect();
      try {
        expect((await client.query("SELECT 2 AS two")).rows).toEqual([{ two: 2 }]);
      } finally {
        await client.end();
      }
      expect(c(h, "sessions_terminated_ssl")).toBe(1);
      // A client that closes right after the S, before any handshake byte.
      const quitter = connect(proxyPort(h), "127.0.0.1");
      quitter.on("error", () => {});
      await once(quitter, "connect");
      quitter.write(encode.untyped(SSL_REQUEST_CODE));
      await once(quitter, "data");
      quitter.end();
      await once(quitter, "close");
      await waitFor(() => listenerSsl(h, "connection_error") === 2, "the second ssl.connection_error");
      await waitFor(() => listenerStat(h, "downstream_cx_active") === 0, "every downstream connection closed");
    } finally {
      await h.close();
    }
  });
});

describe("postgres_proxy upstream_ssl (starttls on the cluster)", () => {
  it("REQUIRE: asks the server for TLS before the startup message; the server sees a TLS session", async () => {
    const h = await startYaml(yaml({ pg: "upstream_ssl: REQUIRE", clusterPort: sslPg.port, clusterTls: upstreamStartTls() }));
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "postgres", ssl: false });
    try {
      await client.connect();
      expect(clientStream(client)).not.toBeInstanceOf(TLSSocket);
      expect(await serverSideSsl(client)).toBe(true);
      expect(c(h, "sessions_upstream_ssl_success")).toBe(1);
      expect(c(h, "sessions_upstream_ssl_failed")).toBe(0);
      // The session is sniffed in clear between the client and the proxy.
      expect(c(h, "sessions")).toBe(1);
      expect(c(h, "statements_select")).toBe(1);
      expect(stat(h, "cluster.postgres.ssl.handshake")).toBe(1);
    } finally {
      await client.end().catch(() => {});
      await h.close();
    }
  });

  it("REQUIRE closes the session when the server answers N; ALLOW goes on in clear text", async () => {
    // The machine's server has SSL off: it answers N.
    const req = await startYaml(yaml({ pg: "upstream_ssl: REQUIRE", clusterPort: 5432, clusterTls: upstreamStartTls() }));
    try {
      const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(req), user: "postgres", database: "test", ssl: false });
      client.on("error", () => {});
      await expect(client.connect()).rejects.toThrow();
      expect(c(req, "sessions_upstream_ssl_failed")).toBe(1);
      expect(c(req, "sessions_upstream_ssl_success")).toBe(0);
      expect(c(req, "sessions")).toBe(0);
    } finally {
      await req.close();
    }
    const allow = await startYaml(yaml({ pg: "upstream_ssl: ALLOW", clusterPort: 5432, clusterTls: upstreamStartTls() }));
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(allow), user: "postgres", database: "test", ssl: false });
    try {
      await client.connect();
      expect(await serverSideSsl(client)).toBe(false);
      expect(c(allow, "sessions_upstream_ssl_failed")).toBe(1);
      expect(c(allow, "sessions_upstream_ssl_success")).toBe(0);
      expect(c(allow, "sessions")).toBe(1);
    } finally {
      await client.end().catch(() => {});
      await allow.close();
    }
  });

  it("ALLOW against a server with SSL on switches to TLS; a server certificate the CA does not trust fails the session", async () => {
    const allow = await startYaml(yaml({ pg: "upstream_ssl: ALLOW", clusterPort: sslPg.port, clusterTls: upstreamStartTls() }));
    const client = new pg.Client({ host: "127.0.0.1", port: proxyPort(allow), user: "postgres", database: "postgres", ssl: false });
    try {
      await client.connect();
      expect(await serverSideSsl(client)).toBe(true);
      expect(c(allow, "sessions_upstream_ssl_success")).toBe(1);
    } finally {
      await client.end().catch(() => {});
      await allow.close();
    }
    // Trusting another CA: the handshake fails, counted on the cluster and by the filter.
    const untrusting = upstreamStartTls().replace(yamlString(pki.ca.cert), yamlString(pki.otherCa.cert));
    const h = await startYaml(yaml({ pg: "upstream_ssl: REQUIRE", clusterPort: sslPg.port, clusterTls: untrusting }));
    try {
      const bad = new pg.Client({ host: "127.0.0.1", port: proxyPort(h), user: "postgres", database: "postgres", ssl: false });
      bad.on("error", () => {});
      await expect(bad.connect()).rejects.toThrow();
      await waitFor(() => c(h, "sessions_upstream_ssl_failed") === 1, "sessions_upstream_ssl_failed");
      expect(c(h, "sessions_upstream_ssl_success")).toBe(0);
      expect(stat(h, "cluster.postgres.ssl.fail_verify_error")).toBe(1);
    } finally {
      await h.close();
    }
  });

  it("a client's GSSENCRequest goes to the server as it is; once the server accepts it the proxy stays out", async () => {
    const h = await startYaml(yaml({ pg: "upstream_ssl: REQUIRE", clusterPort: sslPg.port, clusterTls: upstreamStartTls() }));
    const s = connect(proxyPort(h), "127.0.0.1");
    try {
      s.on("error", () => {});
      await once(s, "connect");
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      // PostgreSQL built with GSSAPI answers G over TCP: GSS encryption follows, end to end.
      s.write(encode.untyped(GSSENC_REQUEST_CODE));
      await waitFor(() => got.length > 0, "the server's answer to GSSENCRequest");
      expect(Buffer.concat(got).toString()).toBe("G");
      await waitFor(() => c(h, "sessions_encrypted") === 1, "sessions_encrypted");
      // What follows is the client's GSS token, not a StartupMessage: no SSLRequest of the proxy's.
      // (A bogus one: the server gives up and closes.)
      const closed = once(s, "close");
      s.write(Buffer.from([0, 0, 0, 4, 1, 2, 3, 4]));
      await closed;
      expect(c(h, "sessions_upstream_ssl_success")).toBe(0);
      expect(c(h, "sessions_upstream_ssl_failed")).toBe(0);
      expect(stat(h, "cluster.postgres.ssl.handshake")).toBe(0);
      expect(c(h, "decoding_error")).toBe(0);
    } finally {
      s.destroy();
      await h.close();
    }
  });

  it("both: psql with sslmode=require is TLS to the proxy and the proxy is TLS to the server", async () => {
    const h = await startYaml(
      yaml({ pg: "terminate_ssl: true\nupstream_ssl: REQUIRE", chainTls: downstreamStartTls(), clusterPort: sslPg.port, clusterTls: upstreamStartTls() }),
    );
    try {
      const env = { ...childEnv, PGSSLMODE: "require" };
      const { stdout } = await run(
        "psql",
        ["-h", "127.0.0.1", "-p", String(proxyPort(h)), "-U", "postgres", "-d", "postgres", "-X", "-A", "-t", "-c", "\\conninfo", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
        { env, timeout: 20_000 },
      );
      expect(stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
      expect(stdout.trim().split("\n").at(-1)).toBe("t");
      await waitFor(() => c(h, "sessions_upstream_ssl_success") === 1, "the upstream switch counted");
      expect(c(h, "sessions_terminated_ssl")).toBe(1);
      expect(c(h, "sessions")).toBe(1);
      expect(c(h, "statements_select")).toBe(1);
    } finally {
      await h.close();
    }
  });
});

describe("postgres_proxy TLS config", () => {
  const issues = async (text: string) => {
    const v = await validateBootstrapValue(parseConfigText(text).value);
    return v.ok ? [] : v.issues.map((i) => `${i.kind} ${i.path}: ${i.message}`);
  };
  const fp = "static_resources.listeners[0].filter_chains[0]";

  it("accepts the starttls sockets and refuses terminate_ssl or upstream_ssl without them, naming the path", async () => {
    expect(await issues(yaml({ pg: "terminate_ssl: true\nupstream_ssl: ALLOW", chainTls: downstreamStartTls(), clusterPort: 5432, clusterTls: upstreamStartTls() }))).toEqual([]);
    // A plain TLS transport socket terminates before any Postgres byte: not what terminate_ssl needs.
    const tlsChain = downstreamStartTls()
      .replace("envoy.transport_sockets.starttls", "envoy.transport_sockets.tls")
      .replace(STARTTLS, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")
      .replace("          cleartext_socket_config: {}\n          tls_socket_config:\n", "")
      .replace(/^ {12}/gm, "          ");
    const refused = await issues(yaml({ pg: "terminate_ssl: true", chainTls: tlsChain, clusterPort: 5432 }));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(new RegExp(`^invalid-reference ${fp.replace(/[[\].]/g, "\\$&")}\\.filters\\[0\\]\\.typed_config\\.terminate_ssl: terminate_ssl needs .*envoy\\.transport_sockets\\.starttls`));
    const noSocket = await issues(yaml({ pg: "terminate_ssl: true", clusterPort: 5432 }));
    expect(noSocket).toEqual([expect.stringMatching(/terminate_ssl: .*has no transport_socket \(static_resources\.listeners\[0\]\.filter_chains\[0\]\.transport_socket\)/)]);
    const noCluster = await issues(yaml({ pg: "upstream_ssl: REQUIRE", clusterPort: 5432 }));
    expect(noCluster).toEqual([expect.stringMatching(/^invalid-reference .*\.typed_config\.upstream_ssl: upstream_ssl REQUIRE needs cluster "postgres"/)]);
    // StartTlsConfig requires tls_socket_config (Envoy's rule).
    const empty = await issues(yaml({ pg: "", chainTls: `      transport_socket:\n        name: envoy.transport_sockets.starttls\n        typed_config: { "@type": ${STARTTLS} }\n`, clusterPort: 5432 }));
    expect(empty.length).toBeGreaterThan(0);
    expect(empty.join("\n")).toMatch(/tls_socket_config/);
    // Envoy's downstream_ssl is not built: refused with its path.
    const downstream = await issues(yaml({ pg: "downstream_ssl: REQUIRE", clusterPort: 5432 }));
    expect(downstream).toEqual([expect.stringMatching(/^unsupported .*filters\[0\]\.typed_config\.downstream_ssl: /)]);
  });
});
