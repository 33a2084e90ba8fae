import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { compileYaml, connectClient, echoServer, listenTcp, proxyPort, readAll, startYaml, stat, TCP_PROXY_TYPE, TEST_VERSION } from "./helpers.ts";
import { startServer } from "../src/server.ts";
import { silentLogger } from "../../shared/log.ts";

type Upstream = Awaited<ReturnType<typeof echoServer>>;

function adminYaml(upPort: number, accessLog: string, adminPort = 0): string {
  return `
node: { id: node-1, cluster: edge-cluster }
admin:
  access_log:
  - name: envoy.access_loggers.file
    typed_config: { "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog, path: ${accessLog} }
  address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } }
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up } }] }]
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } }, load_balancing_weight: 3 }] }] }
  - name: dns
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    load_assignment: { cluster_name: dns, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: localhost, port_value: ${upPort} } } } }] }] }
`;
}

let up: Upstream;
let h: ServerHandle;
let base: string;
let dir: string;
let accessLog: string;
const commandLineOptions = { concurrency: 1, log_level: "info" };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "legate-admin-"));
  accessLog = join(dir, "admin.log");
  up = await echoServer();
  h = await startYaml(adminYaml(up.port, accessLog), { commandLineOptions });
  base = `http://127.0.0.1:${h.adminAddress!.port}`;
  // Traffic, so the stats have values: 5 bytes each way through tcp_proxy.
  const c = await connectClient(proxyPort(h));
  const got = readAll(c);
  c.end("hello");
  expect((await got).toString()).toBe("hello");
  for (let i = 0; i < 200 && stat(h, "cluster.up.upstream_cx_active") !== 0; i++) await new Promise((r) => setTimeout(r, 5));
});

afterAll(async () => {
  await h?.close();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string, method = "GET") {
  const res = await fetch(base + path, { method });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

describe("admin", () => {
  it("binds the configured address (port 0: the kernel's choice)", () => {
    expect(h.adminAddress).toMatchObject({ address: "127.0.0.1" });
    expect(h.adminAddress!.port).toBeGreaterThan(0);
  });

  it("/ready says LIVE", async () => {
    const r = await get("/ready");
    expect(r).toMatchObject({ status: 200, body: "LIVE\n" });
    expect(r.type).toMatch(/^text\/plain/);
  });

  it("/server_info has Envoy's ServerInfo fields", async () => {
    const r = await get("/server_info");
    expect(r.status).toBe(200);
    expect(r.type).toBe("application/json");
    const info = JSON.parse(r.body);
    expect(info).toMatchObject({ version: TEST_VERSION, state: "LIVE", hot_restart_version: "disabled", command_line_options: commandLineOptions });
    expect(info.node).toMatchObject({ id: "node-1", cluster: "edge-cluster" });
    expect(info.uptime_current_epoch).toMatch(/^\d+s$/);
    expect(info.uptime_all_epochs).toMatch(/^\d+s$/);
  });

  it("/config_dump has Envoy's shape", async () => {
    const r = await get("/config_dump");
    expect(r.status).toBe(200);
    const dump = JSON.parse(r.body);
    const types = dump.configs.map((c: { "@type": string }) => c["@type"]);
    expect(types).toEqual([
      "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
      "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
      "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
    ]);
    expect(dump.configs[0].bootstrap).toEqual(compileYaml(adminYaml(up.port, accessLog)).canonical);
    expect(dump.configs[0].last_updated).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(dump.configs[1].static_clusters.map((c: { cluster: { name: string } }) => c.cluster.name)).toEqual(["up", "dns"]);
    expect(dump.configs[1].static_clusters[0].cluster["@type"]).toBe("type.googleapis.com/envoy.config.cluster.v3.Cluster");
    expect(dump.configs[2].static_listeners[0].listener).toMatchObject({ "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", name: "proxy" });
  });

  it("/stats shows the tcp_proxy, cluster, listener and server stats in Envoy's text format", async () => {
    const r = await get("/stats");
    expect(r.status).toBe(200);
    const lines = r.body.trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(/^[^:\s]+: .+$/);
    const v = new Map(lines.filter((l) => !l.includes("(")).map((l) => l.split(": ") as [string, string]));
    expect(v.get("tcp.tp.downstream_cx_total")).toBe("1");
    expect(v.get("tcp.tp.downstream_cx_rx_bytes_total")).toBe("5");
    expect(v.get("tcp.tp.downstream_cx_tx_bytes_total")).toBe("5");
    expect(v.get("cluster.up.upstream_cx_total")).toBe("1");
    expect(v.get("cluster.up.upstream_cx_rx_bytes_total")).toBe("5");
    expect(v.get("cluster.up.upstream_cx_tx_bytes_total")).toBe("5");
    expect(v.get("cluster.up.membership_total")).toBe("1");
    expect(v.get("cluster.dns.membership_total")).toBe("1");
    expect(v.get("listener.127.0.0.1_0.downstream_cx_total")).toBe("1");
    expect(v.get("server.live")).toBe("1");
    expect(v.get("server.concurrency")).toBe("1");
    // Envoy: the first 6 hex digits of the revision, as an integer.
    expect(v.get("server.version")).toBe(String(0xd693d4));
    expect(Number(v.get("listener.admin.downstream_cx_total"))).toBeGreaterThanOrEqual(1);
    expect(r.body).toMatch(/^cluster\.up\.upstream_cx_connect_ms: P0\(/m);
  });

  it("/stats?filter= and ?usedonly", async () => {
    const f = await get("/stats?filter=" + encodeURIComponent("^tcp\\."));
    const names = f.body.trimEnd().split("\n").map((l) => l.split(":")[0]!);
    expect(names.length).toBeGreaterThan(3);
    for (const n of names) expect(n).toMatch(/^tcp\./);
    const used = await get("/stats?usedonly");
    expect(used.body).not.toMatch(/: 0$/m);
    expect(used.body).toContain("tcp.tp.downstream_cx_total: 1");
    expect((await get("/stats?filter=" + encodeURIComponent("("))).status).toBe(400);
  });

  it("/stats?format=json", async () => {
    const r = await get("/stats?format=json");
    expect(r.type).toBe("application/json");
    const body = JSON.parse(r.body) as { stats: Record<string, unknown>[] };
    const scalar = new Map(body.stats.filter((s) => "name" in s).map((s) => [s.name, s.value]));
    expect(scalar.get("tcp.tp.downstream_cx_total")).toBe(1);
    const hist = body.stats.find((s) => "histograms" in s)?.histograms as {
      supported_quantiles: number[];
      computed_quantiles: { name: string; values: { interval: number | null; cumulative: number | null }[] }[];
    };
    expect(hist.supported_quantiles).toEqual([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    const connectMs = hist.computed_quantiles.find((q) => q.name === "cluster.up.upstream_cx_connect_ms")!;
    expect(connectMs.values).toHaveLength(10);
    expect(typeof connectMs.values[0]!.cumulative).toBe("number");
  });

  it("/stats/prometheus parses as Prometheus text with Envoy's tag labels", async () => {
    for (const path of ["/stats/prometheus", "/stats?format=prometheus"]) {
      const r = await get(path);
      expect(r.status).toBe(200);
      const lines = r.body.trimEnd().split("\n");
      const types = new Map<string, string>();
      for (const line of lines) {
        const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
        if (t) {
          types.set(t[1]!, t[2]!);
          continue;
        }
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN|\+Inf)$/.exec(line);
        expect(m, line).not.toBeNull();
        const family = m![1]!.replace(/_(bucket|sum|count)$/, "");
        expect(types.has(m![1]!) || types.has(family), line).toBe(true);
      }
      expect(lines).toContain('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="tp"} 1');
      expect(lines).toContain('envoy_cluster_upstream_cx_total{envoy_cluster_name="up"} 1');
      expect(types.get("envoy_cluster_upstream_cx_connect_ms")).toBe("histogram");
    }
  });

  it("/clusters in Envoy's text format and as JSON", async () => {
    const r = await get("/clusters");
    const lines = r.body.trimEnd().split("\n");
    for (const line of lines) expect([3, 4], line).toContain(line.split("::").length);
    const host = `up::127.0.0.1:${up.port}`;
    expect(lines).toContain("up::observability_name::up");
    expect(lines).toContain("up::added_via_api::false");
    expect(lines).toContain(`${host}::cx_total::1`);
    expect(lines).toContain(`${host}::cx_active::0`);
    expect(lines).toContain(`${host}::cx_connect_fail::0`);
    expect(lines).toContain(`${host}::health_flags::healthy`);
    expect(lines).toContain(`${host}::weight::3`);
    expect(lines).toContain(`${host}::hostname::`);
    expect(lines).toContain(`dns::127.0.0.1:${up.port}::hostname::localhost`);

    const j = await get("/clusters?format=json");
    const statuses = JSON.parse(j.body).cluster_statuses as { name: string; host_statuses: { address: { socket_address: { address: string; port_value: number } }; stats: { name: string; value: string }[]; weight: number; health_status: { eds_health_status: string } }[] }[];
    expect(statuses.map((s) => s.name)).toEqual(["up", "dns"]);
    const hs = statuses[0]!.host_statuses[0]!;
    expect(hs.address.socket_address).toEqual({ address: "127.0.0.1", port_value: up.port });
    expect(hs.stats.find((s) => s.name === "cx_total")?.value).toBe("1");
    expect(hs.weight).toBe(3);
    expect(hs.health_status.eds_health_status).toBe("HEALTHY");
  });

  it("/listeners in text and JSON", async () => {
    const port = proxyPort(h);
    expect((await get("/listeners")).body).toBe(`proxy::127.0.0.1:${port}\n`);
    const j = JSON.parse((await get("/listeners?format=json")).body);
    expect(j).toEqual({ listener_statuses: [{ name: "proxy", local_address: { socket_address: { address: "127.0.0.1", port_value: port } } }] });
  });

  it("/help lists the endpoints; an unknown path is a 404 with the help text; / is HTML", async () => {
    const help = await get("/help");
    expect(help.body.startsWith("admin commands are:\n")).toBe(true);
    for (const p of ["/clusters", "/config_dump", "/healthcheck/fail", "/healthcheck/ok", "/listeners", "/quitquitquit", "/ready", "/server_info", "/stats", "/stats/prometheus"]) {
      expect(help.body).toContain(`\n  ${p}: `);
    }
    const missing = await get("/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toBe(`invalid path. ${help.body}`);
    const home = await get("/");
    expect(home.status).toBe(200);
    expect(home.type).toMatch(/^text\/html/);
  });

  it("mutating endpoints need POST (405 otherwise)", async () => {
    for (const p of ["/healthcheck/fail", "/healthcheck/ok", "/quitquitquit"]) {
      const r = await get(p);
      expect(r).toMatchObject({ status: 405, body: "Method GET not allowed, POST required." });
    }
    expect((await get("/ready")).status).toBe(200);
  });

  it("/healthcheck/fail and /healthcheck/ok flip the health-check flag (server state DRAINING, as Envoy)", async () => {
    expect(await get("/healthcheck/fail", "POST")).toMatchObject({ status: 200, body: "OK\n" });
    expect(await get("/ready")).toMatchObject({ status: 503, body: "DRAINING\n" });
    expect(JSON.parse((await get("/server_info")).body).state).toBe("DRAINING");
    expect((await get("/stats?filter=^server\\.state$")).body).toBe("server.state: 1\n");
    expect(await get("/healthcheck/ok", "POST")).toMatchObject({ status: 200, body: "OK\n" });
    expect(await get("/ready")).toMatchObject({ status: 200, body: "LIVE\n" });
  });

  it("writes an access-log line per request", async () => {
    await get("/ready");
    const log = readFileSync(accessLog, "utf8");
    expect(log).toMatch(/^\[\d{4}-[^\]]+\] "GET \/ready HTTP\/1\.1" 200 - 0 5 \d+ - "-" "[^"]*" "-" "127\.0\.0\.1:\d+" "-"$/m);
  });
});

describe("admin shutdown and binding", () => {
  it("POST /quitquitquit answers OK, then stops the server and resolves done", async () => {
    const upstream = await listenTcp(() => {});
    const d = mkdtempSync(join(tmpdir(), "legate-admin-"));
    try {
      const s = await startYaml(adminYaml(upstream.port, join(d, "a.log")));
      const port = proxyPort(s);
      const res = await fetch(`http://127.0.0.1:${s.adminAddress!.port}/quitquitquit`, { method: "POST" });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("OK\n");
      await s.done;
      expect(stat(s, "server.live")).toBe(0);
      const probe = connect({ host: "127.0.0.1", port });
      const [err] = (await once(probe, "error")) as [NodeJS.ErrnoException];
      expect(err.code).toBe("ECONNREFUSED");
      await s.close();
    } finally {
      await upstream.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("fails with LEGATE_BIND_FAILED when the admin address is taken", async () => {
    const taken = await listenTcp(() => {});
    const d = mkdtempSync(join(tmpdir(), "legate-admin-"));
    try {
      const { model, canonical } = compileYaml(adminYaml(taken.port, join(d, "a.log"), taken.port));
      await expect(startServer({ model, canonical, logger: silentLogger, version: "0.1.0" })).rejects.toMatchObject({ code: "LEGATE_BIND_FAILED" });
    } finally {
      await taken.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
