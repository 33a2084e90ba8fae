/**
 * tcp_proxy with the shared cluster runtime: connect attempts across hosts, weighted clusters, circuit
 * breakers, priorities with outlier detection, source-IP hashing, access logs, connection limits, and
 * real clients (redis-cli, psql, socat) through the proxy. Real sockets on loopback throughout.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { loadBootstrap } from "../src/config/load.ts";
import { makePki, yamlString } from "./tls-helpers.ts";
import { closedPort, compileYaml, connectClient, echoServer, listenTcp, proxyPort, readAll, startYaml, stat, tagServer, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "legate-tcp-proxy-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface ClusterSpec {
  name: string;
  /** `host:port`, optionally `@priority` appended. */
  endpoints: string[];
  extra?: string;
  lbPolicy?: string;
  type?: string;
}

/** One listener with one tcp_proxy (`proxy` is its typed_config body, indented by the caller's lines). */
function config(proxy: string, clusters: ClusterSpec[]): string {
  const clusterYaml = clusters
    .map((c) => {
      const byPriority = new Map<number, string[]>();
      for (const e of c.endpoints) {
        const [hp, prio] = e.split("@");
        const i = hp!.lastIndexOf(":");
        const line = `        - endpoint: { address: { socket_address: { address: "${hp!.slice(0, i)}", port_value: ${hp!.slice(i + 1)} } } }`;
        const p = Number(prio ?? 0);
        byPriority.set(p, [...(byPriority.get(p) ?? []), line]);
      }
      const groups = [...byPriority].map(([p, lines]) => `      - priority: ${p}\n        lb_endpoints:\n${lines.join("\n")}`).join("\n");
      return `  - name: ${c.name}
    connect_timeout: 1s
    type: ${c.type ?? "STATIC"}
    lb_policy: ${c.lbPolicy ?? "ROUND_ROBIN"}
${c.extra ?? ""}    load_assignment:
      cluster_name: ${c.name}
      endpoints:
${groups}`;
    })
    .join("\n");
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_PROXY_TYPE}
          stat_prefix: tp
${proxy
  .trim()
  .split("\n")
  .map((l) => `          ${l}`)
  .join("\n")}
  clusters:
${clusterYaml}
`;
}

/** Connects through the proxy and returns everything the upstream sent before closing. */
async function fetchTag(port: number): Promise<string> {
  const c = await connectClient(port);
  c.end();
  return (await readAll(c)).toString();
}

/** Waits until the file exists and has `lines` lines; returns them. */
async function logLines(path: string, lines: number): Promise<string[]> {
  let out: string[] = [];
  await waitFor(() => {
    if (!existsSync(path)) return false;
    out = readFileSync(path, "utf8").split("\n").filter((l) => l !== "");
    return out.length >= lines;
  }, `${lines} access log lines in ${path}`);
  return out;
}

const FORMAT =
  "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %RESPONSE_CODE% %DURATION%\\n";

describe("tcp_proxy connect attempts", () => {
  it("retries a refused connect on the next host with max_connect_attempts", async () => {
    const dead = await closedPort();
    const tag = await tagServer("alive");
    const h = await startYaml(config("cluster: up\nmax_connect_attempts: 2", [{ name: "up", endpoints: [`127.0.0.1:${dead}`, `127.0.0.1:${tag.port}`] }]));
    try {
      // Round robin offers the dead host first to some connections; each then retries on the live one.
      for (let i = 0; i < 4; i++) expect(await fetchTag(proxyPort(h))).toBe("alive");
      const fails = stat(h, "cluster.up.upstream_cx_connect_fail");
      expect(fails).toBeGreaterThanOrEqual(1);
      expect(stat(h, "cluster.up.upstream_cx_total") - fails).toBe(4);
      expect(stat(h, "cluster.up.upstream_cx_connect_attempts_exceeded")).toBe(0);
    } finally {
      await h.close();
      await tag.close();
    }
  });

  it("closes the client after max_connect_attempts failures, trying each host once, and logs UF", async () => {
    const ports = [await closedPort(), await closedPort()];
    const log = join(tmp, "attempts.log");
    const h = await startYaml(
      config(
        `cluster: up
max_connect_attempts: 2
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format: "${FORMAT}" }`,
        [{ name: "up", endpoints: ports.map((p) => `127.0.0.1:${p}`) }],
      ),
    );
    try {
      const c = await connectClient(proxyPort(h));
      expect((await readAll(c)).length).toBe(0);
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(2);
      expect(stat(h, "cluster.up.upstream_cx_connect_attempts_exceeded")).toBe(1);
      const [line] = await logLines(log, 1);
      const fields = line!.split(" ");
      // The second attempt went to the host not tried yet.
      expect(ports.map((p) => `127.0.0.1:${p}`)).toContain(fields[1]);
      expect(fields.slice(2, 7)).toEqual(["up", "0", "0", "UF", "0"]);
    } finally {
      await h.close();
    }
  });
});

describe("tcp_proxy weighted_clusters", () => {
  it("splits connections in proportion to the weights", async () => {
    const a = await tagServer("a");
    const b = await tagServer("b");
    const h = await startYaml(
      config(
        `weighted_clusters:
  clusters:
  - { name: ca, weight: 1 }
  - { name: cb, weight: 3 }`,
        [
          { name: "ca", endpoints: [`127.0.0.1:${a.port}`] },
          { name: "cb", endpoints: [`127.0.0.1:${b.port}`] },
        ],
      ),
    );
    try {
      const counts = { a: 0, b: 0 } as Record<string, number>;
      for (let batch = 0; batch < 10; batch++) {
        const tags = await Promise.all(Array.from({ length: 20 }, () => fetchTag(proxyPort(h))));
        for (const t of tags) counts[t] = (counts[t] ?? 0) + 1;
      }
      expect(counts.a! + counts.b!).toBe(200);
      // Expected 50 / 150; the bounds are over 4 standard deviations wide.
      expect(counts.a).toBeGreaterThan(25);
      expect(counts.a).toBeLessThan(80);
      expect(stat(h, "cluster.ca.upstream_cx_total") + stat(h, "cluster.cb.upstream_cx_total")).toBe(200);
    } finally {
      await h.close();
      await a.close();
      await b.close();
    }
  });

  it("refuses weighted clusters that name an unknown cluster or weigh 0", () => {
    expect(() =>
      compileYaml(
        config(
          `weighted_clusters:
  clusters:
  - { name: nowhere, weight: 1 }
  - { name: up, weight: 0 }`,
          [{ name: "up", endpoints: ["127.0.0.1:1"] }],
        ),
      ),
    ).toThrow(/unknown cluster "nowhere"[\s\S]*weight must be at least 1/);
  });
});

describe("tcp_proxy circuit breakers", () => {
  it("max_connections: a connection over the limit waits (upstream_cx_overflow) until one to its host closes", async () => {
    const echo = await echoServer();
    const h = await startYaml(
      config("cluster: up", [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`], extra: "    circuit_breakers: { thresholds: [{ max_connections: 1 }] }\n" }]),
    );
    try {
      const first = await connectClient(proxyPort(h));
      first.write("x");
      await once(first, "data");
      expect(stat(h, "cluster.up.circuit_breakers.default.cx_open")).toBe(1);
      const second = await connectClient(proxyPort(h));
      const secondData = readAll(second);
      second.end("queued");
      await waitFor(() => stat(h, "cluster.up.upstream_cx_overflow") === 1, "the overflow");
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(1);
      expect(stat(h, "cluster.up.circuit_breakers.default.rq_pending_open")).toBe(0);
      expect(second.readyState).toBe("readOnly");
      first.end();
      await readAll(first);
      // The slot is free: the waiting connection connects and gets its early bytes through.
      expect((await secondData).toString()).toBe("queued");
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(2);
      expect(stat(h, "cluster.up.upstream_rq_pending_overflow")).toBe(0);
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("a client that leaves while waiting for a connection slot gives its pending slot back", async () => {
    const echo = await echoServer();
    const h = await startYaml(
      config("cluster: up", [
        { name: "up", endpoints: [`127.0.0.1:${echo.port}`], extra: "    circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] }\n" },
      ]),
    );
    try {
      const first = await connectClient(proxyPort(h));
      first.write("x");
      await once(first, "data");
      const waiting = await connectClient(proxyPort(h));
      await waitFor(() => stat(h, "cluster.up.circuit_breakers.default.rq_pending_open") === 1, "the waiting attempt to hold the pending slot");
      // A reset (a FIN would only half-close: the client could still read the upstream's answer).
      waiting.resetAndDestroy();
      await waitFor(() => stat(h, "cluster.up.circuit_breakers.default.rq_pending_open") === 0, "the pending slot to be released");
      // The freed pending slot admits the next client, which connects once the first leaves.
      const next = await connectClient(proxyPort(h));
      const data = readAll(next);
      next.end("next");
      await waitFor(() => stat(h, "cluster.up.circuit_breakers.default.rq_pending_open") === 1, "the next attempt to wait");
      first.end();
      expect((await data).toString()).toBe("next");
      expect(stat(h, "cluster.up.upstream_rq_pending_overflow")).toBe(0);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(2);
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("max_connections: a host without any connection still gets one, as Envoy guarantees", async () => {
    const a = await listenTcp((s) => s.write("a"));
    const b = await listenTcp((s) => s.write("b"));
    const h = await startYaml(
      config("cluster: up", [
        { name: "up", endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], extra: "    circuit_breakers: { thresholds: [{ max_connections: 1 }] }\n" },
      ]),
    );
    try {
      // Round robin sends one connection to each host; both stay open. The second is over the limit
      // (counted) but its host has no connection, so it connects anyway.
      const tags: string[] = [];
      const clients = [];
      for (let i = 0; i < 2; i++) {
        const c = await connectClient(proxyPort(h));
        clients.push(c);
        const [d] = (await once(c, "data")) as [Buffer];
        tags.push(d.toString());
      }
      expect(tags.sort()).toEqual(["a", "b"]);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(2);
      expect(stat(h, "cluster.up.upstream_cx_overflow")).toBe(1);
      for (const c of clients) c.destroy();
    } finally {
      await h.close();
      await a.close();
      await b.close();
    }
  });

  it("max_pending_requests: refuses connects beyond the limit (upstream_rq_pending_overflow, UO)", async () => {
    const echo = await echoServer();
    const log = join(tmp, "overflow.log");
    const h = await startYaml(
      config(
        `cluster: up
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format: "%RESPONSE_FLAGS%\\n" }`,
        [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`], extra: "    circuit_breakers: { thresholds: [{ max_pending_requests: 0 }] }\n" }],
      ),
    );
    try {
      const c = await connectClient(proxyPort(h));
      expect((await readAll(c)).length).toBe(0);
      expect((await logLines(log, 1))[0]).toBe("UO");
      expect(stat(h, "cluster.up.upstream_rq_pending_overflow")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_overflow")).toBe(0);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(0);
    } finally {
      await h.close();
      await echo.close();
    }
  });
});

describe("tcp_proxy cluster load balancing", () => {
  it("spills to priority 1 once outlier detection ejects the failing priority-0 host", async () => {
    const dead = await closedPort();
    const b = await tagServer("p1");
    const h = await startYaml(
      config("cluster: up", [
        {
          name: "up",
          endpoints: [`127.0.0.1:${dead}@0`, `127.0.0.1:${b.port}@1`],
          extra: "    outlier_detection: { consecutive_5xx: 1, max_ejection_percent: 100 }\n",
        },
      ]),
    );
    try {
      // The first connection goes to priority 0, fails, and the host is ejected.
      expect(await fetchTag(proxyPort(h))).toBe("");
      expect(stat(h, "cluster.up.outlier_detection.ejections_enforced_consecutive_5xx")).toBe(1);
      for (let i = 0; i < 3; i++) expect(await fetchTag(proxyPort(h))).toBe("p1");
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(1);
      expect(stat(h, "cluster.up.membership_healthy")).toBe(1);
    } finally {
      await h.close();
      await b.close();
    }
  });

  it("hash_policy source_ip with RING_HASH sends one client address to one host", async () => {
    const servers = await Promise.all(["h0", "h1", "h2", "h3"].map((t) => tagServer(t)));
    const h = await startYaml(
      config("cluster: up\nhash_policy: [{ source_ip: {} }]", [{ name: "up", lbPolicy: "RING_HASH", endpoints: servers.map((s) => `127.0.0.1:${s.port}`) }]),
    );
    try {
      const tags = new Set<string>();
      for (let i = 0; i < 8; i++) tags.add(await fetchTag(proxyPort(h)));
      expect(tags.size).toBe(1);
      expect([...tags][0]).toMatch(/^h[0-3]$/);
    } finally {
      await h.close();
      for (const s of servers) await s.close();
    }
  });

  it("refuses filter_state hash policies", () => {
    expect(() => compileYaml(config("cluster: up\nhash_policy: [{ filter_state: { key: k } }]", [{ name: "up", endpoints: ["127.0.0.1:1"] }]))).toThrow(
      /filter_state/,
    );
  });
});

describe("tcp_proxy timeouts and access logs", () => {
  it("writes one access log line per connection with TCP operators", async () => {
    const echo = await echoServer();
    const log = join(tmp, "access.log");
    const h = await startYaml(
      config(
        `cluster: up
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format: "${FORMAT}" }`,
        [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`] }],
      ),
    );
    try {
      const c = await connectClient(proxyPort(h));
      c.end("hello world");
      expect((await readAll(c)).toString()).toBe("hello world");
      const [line] = await logLines(log, 1);
      const f = line!.split(" ");
      expect(f.slice(0, 7)).toEqual(["127.0.0.1", `127.0.0.1:${echo.port}`, "up", "11", "11", "-", "0"]);
      expect(Number(f[7])).toBeGreaterThanOrEqual(0);
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("closes connections older than max_downstream_connection_duration (DT)", async () => {
    const echo = await echoServer();
    const log = join(tmp, "duration.log");
    const h = await startYaml(
      config(
        `cluster: up
max_downstream_connection_duration: 0.2s
access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${log}
    log_format: { text_format: "%RESPONSE_FLAGS%\\n" }`,
        [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`] }],
      ),
    );
    try {
      const c = await connectClient(proxyPort(h));
      c.write("ping");
      await once(c, "data");
      await readAll(c);
      expect(stat(h, "tcp.tp.max_downstream_connection_duration")).toBe(1);
      expect((await logLines(log, 1))[0]).toBe("DT");
      await waitFor(() => stat(h, "cluster.up.upstream_cx_active") === 0, "the upstream to close");
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("closes idle connections after idle_timeout", async () => {
    const echo = await echoServer();
    const h = await startYaml(config("cluster: up\nidle_timeout: 0.15s", [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`] }]));
    try {
      const c = await connectClient(proxyPort(h));
      await readAll(c);
      expect(stat(h, "tcp.tp.idle_timeout")).toBe(1);
    } finally {
      await h.close();
      await echo.close();
    }
  });

  it("makes one attempt by default (max_connect_attempts 1) without counting attempts_exceeded", async () => {
    const dead = await closedPort();
    const h = await startYaml(config("cluster: up", [{ name: "up", endpoints: [`127.0.0.1:${dead}`] }]));
    try {
      const c = await connectClient(proxyPort(h));
      await readAll(c);
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_connect_attempts_exceeded")).toBe(0);
    } finally {
      await h.close();
    }
  });
});

describe("real clients through tcp_proxy", () => {
  it("redis-cli talks to a redis-server the test starts", async () => {
    const port = await closedPort();
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    try {
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        up = await run("redis-cli", ["-p", String(port), "ping"]).then((r) => r.stdout.trim() === "PONG", () => false);
        if (!up) await new Promise((r) => setTimeout(r, 20));
      }
      expect(up).toBe(true);
      const h = await startYaml(config("cluster: up", [{ name: "up", endpoints: [`127.0.0.1:${port}`] }]));
      try {
        const p = String(proxyPort(h));
        expect((await run("redis-cli", ["-p", p, "set", "legate", "tcp"])).stdout.trim()).toBe("OK");
        expect((await run("redis-cli", ["-p", p, "get", "legate"])).stdout.trim()).toBe("tcp");
        expect(stat(h, "cluster.up.upstream_cx_total")).toBe(2);
      } finally {
        await h.close();
      }
    } finally {
      redis.kill();
      await once(redis, "exit");
    }
  });

  it("psql queries PostgreSQL on 127.0.0.1:5432", async () => {
    const h = await startYaml(config("cluster: pg", [{ name: "pg", endpoints: ["127.0.0.1:5432"] }]));
    try {
      const { stdout } = await run("psql", ["-h", "127.0.0.1", "-p", String(proxyPort(h)), "-U", "postgres", "-d", "test", "-tAc", "select 40 + 2"]);
      expect(stdout.trim()).toBe("42");
      expect(stat(h, "tcp.tp.downstream_cx_total")).toBe(1);
    } finally {
      await h.close();
    }
  });

  it("socat sends a file's bytes through and gets the echo back", async () => {
    const echo = await echoServer();
    const h = await startYaml(config("cluster: up", [{ name: "up", endpoints: [`127.0.0.1:${echo.port}`] }]));
    try {
      const child = spawn("socat", ["-t", "2", "-", `TCP:127.0.0.1:${proxyPort(h)}`], { stdio: ["pipe", "pipe", "ignore"] });
      const out: Buffer[] = [];
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stdin.end("line one\nline two\n");
      await once(child, "exit");
      expect(Buffer.concat(out).toString()).toBe("line one\nline two\n");
    } finally {
      await h.close();
      await echo.close();
    }
  });
});

describe("tcp_proxy config", () => {
  it("applies Envoy's defaults and reads every supported field", () => {
    const plain = compileYaml(config("cluster: up", [{ name: "up", endpoints: ["127.0.0.1:1"] }])).model.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(plain).toEqual({ kind: "tcp_proxy", name: "envoy.filters.network.tcp_proxy", statPrefix: "tp", cluster: "up", maxConnectAttempts: 1, idleTimeoutMs: 3_600_000 });
    const full = compileYaml(
      config("cluster: up\nmax_connect_attempts: 3\nidle_timeout: 0s\nmax_downstream_connection_duration: 1.5s\nhash_policy: [{ source_ip: {} }]", [
        { name: "up", endpoints: ["127.0.0.1:1"] },
      ]),
    ).model.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(full).toMatchObject({ maxConnectAttempts: 3, idleTimeoutMs: 0, maxDownstreamConnectionDurationMs: 1500, hashPolicy: [{ kind: "source_ip" }] });
    expect(() => compileYaml(config("cluster: up\nmax_connect_attempts: 0", [{ name: "up", endpoints: ["127.0.0.1:1"] }]))).toThrow(/at least 1/);
  });

  it("passes the validator with weighted clusters, hash policy, access log, breakers, priorities and DNS resolvers", async () => {
    const path = join(tmp, "full.yaml");
    writeFileSync(
      path,
      config(
        `weighted_clusters:
  clusters:
  - { name: a, weight: 1 }
  - { name: b, weight: 2 }
max_connect_attempts: 3
idle_timeout: 10s
max_downstream_connection_duration: 60s
hash_policy: [{ source_ip: {} }]
access_log:
- name: envoy.access_loggers.stdout
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
        [
          {
            name: "a",
            type: "STRICT_DNS",
            lbPolicy: "RING_HASH",
            endpoints: ["localhost:9000"],
            extra:
              "    dns_resolvers: [{ socket_address: { address: 127.0.0.1, port_value: 5353 } }]\n    respect_dns_ttl: true\n    circuit_breakers: { thresholds: [{ max_connections: 10, max_pending_requests: 5 }] }\n",
          },
          { name: "b", endpoints: ["127.0.0.1:9001@0", "127.0.0.1:9002@1"], extra: "    outlier_detection: { consecutive_5xx: 2 }\n" },
        ],
      ),
    );
    const got = await loadBootstrap({ path });
    expect(got.ok ? [] : got.issues).toEqual([]);
  });

  it("the validator refuses what tcp_proxy does not implement", async () => {
    const path = join(tmp, "refused.yaml");
    writeFileSync(path, config("cluster: up\naccess_log_options: { flush_access_log_on_connected: true }", [{ name: "up", endpoints: ["127.0.0.1:1"] }]));
    const got = await loadBootstrap({ path });
    expect(got.ok).toBe(false);
    expect(got.ok ? [] : got.issues.map((i) => [i.kind, i.path])).toEqual([["unsupported", "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log_options"]]);
  });
});

describe("tcp_proxy access log over TLS", () => {
  it("logs the client certificate's subject and the SNI", async () => {
    const pki = makePki();
    const echo = await echoServer();
    const log = join(tmp, "tls.log");
    const h = await startYaml(`
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates:
            - certificate_chain: { inline_string: ${yamlString(pki.serverA.cert)} }
              private_key: { inline_string: ${yamlString(pki.serverA.key)} }
            validation_context: { trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} } }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_PROXY_TYPE}
          stat_prefix: tp
          cluster: up
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${log}
              log_format: { text_format: "%DOWNSTREAM_PEER_SUBJECT%|%REQUESTED_SERVER_NAME%|%BYTES_RECEIVED%\\n" }
  clusters:
  - name: up
    load_assignment: { cluster_name: up, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${echo.port} } } } } ] } ] }
`);
    try {
      const c = tlsConnect({ host: "127.0.0.1", port: proxyPort(h), servername: "a.test", ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key });
      await once(c, "secureConnect");
      c.end("over tls");
      const parts: Buffer[] = [];
      c.on("data", (d: Buffer) => parts.push(d));
      await once(c, "close");
      expect(Buffer.concat(parts).toString()).toBe("over tls");
      const [line] = await logLines(log, 1);
      const [subject, sni, bytes] = line!.split("|");
      expect(subject).toContain("CN=client");
      expect(subject).toContain("O=Legate");
      expect(sni).toBe("a.test");
      // As in Envoy, the bytes tcp_proxy received: the plaintext, not the TLS records.
      expect(bytes).toBe("8");
    } finally {
      await h.close();
      await echo.close();
      pki.remove();
    }
  });
});
