import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { compileYaml, connectClient, echoServer, listenTcp, proxyPort, readAll, startYaml, stat, TCP_PROXY_TYPE, TEST_VERSION } from "./helpers.ts";
import { startServer } from "../src/server.ts";
import { type LogLevel, silentLogger } from "../../shared/log.ts";

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
    load_assignment: { cluster_name: up, endpoints: [{ locality: { region: eu-west, zone: a }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } }, load_balancing_weight: 3 }] }] }
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

  it("/stats?filter= is RE2: partial match, RE2 syntax, JavaScript-only syntax refused", async () => {
    const exact = await get("/stats?filter=" + encodeURIComponent("\\Qtcp.tp.downstream_cx_total\\E$"));
    expect(exact).toMatchObject({ status: 200, body: "tcp.tp.downstream_cx_total: 1\n" });
    // Lookahead is JavaScript, not RE2.
    const look = await get("/stats?filter=" + encodeURIComponent("tcp(?=\\.)"));
    expect(look.status).toBe(400);
    expect(look.body).toMatch(/^Invalid re2 regex/);
  });

  it("/stats/prometheus applies filter and usedonly", async () => {
    const r = await get("/stats/prometheus?usedonly&filter=" + encodeURIComponent("^tcp\\.tp\\.downstream_cx_"));
    expect(r.status).toBe(200);
    const samples = r.body.trimEnd().split("\n").filter((l) => !l.startsWith("#"));
    expect(samples).toContain('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="tp"} 1');
    expect(samples).toContain('envoy_tcp_downstream_cx_rx_bytes_total{envoy_tcp_prefix="tp"} 5');
    for (const l of samples) expect(l).toMatch(/^envoy_tcp_downstream_cx_/);
    // usedonly: the zero-valued downstream_cx_no_route is left out.
    expect(r.body).not.toContain("downstream_cx_no_route");
    expect((await get("/stats/prometheus?filter=" + encodeURIComponent("("))).status).toBe(400);
  });

  it("/config_dump?resource= and ?mask=", async () => {
    const r = JSON.parse((await get("/config_dump?resource=static_clusters")).body);
    expect(r.configs.map((c: { "@type": string; cluster: { name: string } }) => [c["@type"], c.cluster.name])).toEqual([
      ["type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster", "up"],
      ["type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster", "dns"],
    ]);
    const masked = JSON.parse((await get("/config_dump?resource=static_clusters&mask=cluster.name,cluster.type")).body);
    expect(masked.configs[1]).toEqual({ "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster", cluster: { name: "dns", type: "STRICT_DNS" } });
    const top = JSON.parse((await get("/config_dump?mask=static_listeners")).body);
    expect(top.configs[2]["@type"]).toBe("type.googleapis.com/envoy.admin.v3.ListenersConfigDump");
    expect(Object.keys(top.configs[2])).toEqual(["@type", "static_listeners"]);
    expect(Object.keys(top.configs[0])).toEqual(["@type"]);
    expect((await get("/config_dump?resource=nope")).status).toBe(404);
    expect((await get("/config_dump?resource=bootstrap")).status).toBe(400);
  });

  it("/runtime shows Envoy's default layers; POST /runtime_modify sets and removes admin-layer keys", async () => {
    expect(JSON.parse((await get("/runtime")).body)).toEqual({ layers: ["base", "admin"], entries: {} });
    expect(await get("/runtime_modify?upstream.use_http2=false&my.key=7", "POST")).toMatchObject({ status: 200, body: "OK\n" });
    const rt = JSON.parse((await get("/runtime")).body);
    expect(rt.entries["my.key"]).toEqual({ layer_values: ["", "7"], final_value: "7" });
    expect(rt.entries["upstream.use_http2"].final_value).toBe("false");
    await get("/runtime_modify?my.key=", "POST");
    expect(JSON.parse((await get("/runtime")).body).entries["my.key"]).toBeUndefined();
    expect((await get("/runtime_modify", "POST")).status).toBe(400);
  });

  it("/memory reports the heap as Envoy's Memory message", async () => {
    const m = JSON.parse((await get("/memory")).body);
    expect(Object.keys(m).sort()).toEqual(["allocated", "heap_size", "pageheap_free", "pageheap_unmapped", "total_physical_bytes", "total_thread_cache"]);
    expect(Number(m.allocated)).toBeGreaterThan(0);
    expect(Number(m.total_physical_bytes)).toBeGreaterThan(0);
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
    // Envoy's circuit-breaker lines, with its defaults, for both priorities, before added_via_api.
    expect(lines).toContain("up::default_priority::max_connections::1024");
    expect(lines).toContain("up::default_priority::max_pending_requests::1024");
    expect(lines).toContain("up::default_priority::max_requests::1024");
    expect(lines).toContain("up::default_priority::max_retries::3");
    expect(lines).toContain("up::high_priority::max_retries::3");
    expect(lines.indexOf("up::high_priority::max_retries::3")).toBeLessThan(lines.indexOf("up::added_via_api::false"));
    expect(lines).toContain("up::added_via_api::false");
    expect(lines).toContain(`${host}::cx_total::1`);
    expect(lines).toContain(`${host}::cx_active::0`);
    expect(lines).toContain(`${host}::cx_connect_fail::0`);
    expect(lines).toContain(`${host}::health_flags::healthy`);
    expect(lines).toContain(`${host}::weight::3`);
    expect(lines).toContain(`${host}::hostname::`);
    expect(lines).toContain(`${host}::region::eu-west`);
    expect(lines).toContain(`${host}::zone::a`);
    expect(lines).toContain(`${host}::sub_zone::`);
    expect(lines).toContain(`${host}::priority::0`);
    expect(lines).toContain(`dns::127.0.0.1:${up.port}::hostname::localhost`);

    const j = await get("/clusters?format=json");
    const statuses = JSON.parse(j.body).cluster_statuses as { name: string; host_statuses: { address: { socket_address: { address: string; port_value: number } }; stats: { name: string; value: string }[]; weight: number; health_status: { eds_health_status: string } }[] }[];
    expect(statuses.map((s) => s.name)).toEqual(["up", "dns"]);
    const hs = statuses[0]!.host_statuses[0]!;
    expect(hs.address.socket_address).toEqual({ address: "127.0.0.1", port_value: up.port });
    expect(hs.stats.find((s) => s.name === "cx_total")?.value).toBe("1");
    expect(hs.weight).toBe(3);
    expect(hs.health_status.eds_health_status).toBe("HEALTHY");
    expect((hs as unknown as { locality: unknown }).locality).toEqual({ region: "eu-west", zone: "a" });
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
    for (const p of [
      "/clusters",
      "/config_dump",
      "/drain_listeners",
      "/healthcheck/fail",
      "/healthcheck/ok",
      "/listeners",
      "/logging",
      "/memory",
      "/quitquitquit",
      "/ready",
      "/reset_counters",
      "/runtime",
      "/runtime_modify",
      "/server_info",
      "/stats",
      "/stats/prometheus",
    ]) {
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
    for (const p of ["/healthcheck/fail", "/healthcheck/ok", "/quitquitquit", "/reset_counters", "/drain_listeners", "/runtime_modify?a=b", "/logging"]) {
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

describe("admin state-changing endpoints", () => {
  let upstream: Upstream;
  let s: ServerHandle;
  let adminBase: string;
  let d: string;
  const logger = { level: "info" as LogLevel, debug() {}, info() {}, warn() {}, error() {} };

  beforeAll(async () => {
    upstream = await echoServer();
    d = mkdtempSync(join(tmpdir(), "legate-admin-"));
    const { model, canonical } = compileYaml(adminYaml(upstream.port, join(d, "a.log")));
    s = await startServer({ model, canonical, logger, version: TEST_VERSION, adminToken: "s3cret" });
    adminBase = `http://127.0.0.1:${s.adminAddress!.port}`;
  });

  afterAll(async () => {
    await s?.close();
    await upstream?.close();
    rmSync(d, { recursive: true, force: true });
  });

  const call = async (path: string, method = "GET", token: string | null = "s3cret") => {
    const res = await fetch(adminBase + path, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.text(), auth: res.headers.get("www-authenticate") };
  };

  it("with a token, requests without the right bearer token get 401", async () => {
    expect(await call("/ready", "GET", null)).toMatchObject({ status: 401, auth: 'Bearer realm="legate-admin"' });
    expect((await call("/ready", "GET", "wrong")).status).toBe(401);
    expect((await call("/quitquitquit", "POST", "s3cre")).status).toBe(401);
    expect(await call("/ready")).toMatchObject({ status: 200, body: "LIVE\n" });
  });

  it("POST /logging lists the logger; ?level= and ?paths= change it; a bad level is a 404 with usage", async () => {
    expect(await call("/logging", "POST")).toMatchObject({ status: 200, body: "active loggers:\n  main: info\n" });
    expect(await call("/logging?level=debug", "POST")).toMatchObject({ status: 200, body: "active loggers:\n  main: debug\n" });
    expect(logger.level).toBe("debug");
    expect((await call("/logging?paths=main:warning", "POST")).body).toBe("active loggers:\n  main: warning\n");
    expect((await call("/logging?main=error", "POST")).body).toBe("active loggers:\n  main: error\n");
    const bad = await call("/logging?level=loud", "POST");
    expect(bad.status).toBe(404);
    expect(bad.body).toMatch(/^usage: /);
    expect(logger.level).toBe("error");
    expect((await call("/logging?paths=nope:info", "POST")).status).toBe(404);
  });

  it("POST /reset_counters zeroes counters, not gauges", async () => {
    const c = await connectClient(proxyPort(s));
    const got = readAll(c);
    c.end("abc");
    expect((await got).toString()).toBe("abc");
    expect(stat(s, "tcp.tp.downstream_cx_total")).toBe(1);
    expect(await call("/reset_counters", "POST")).toMatchObject({ status: 200, body: "OK\n" });
    expect(stat(s, "tcp.tp.downstream_cx_total")).toBe(0);
    expect(stat(s, "listener_manager.total_listeners_active")).toBe(1);
    expect(stat(s, "server.live")).toBe(1);
  });

  it("POST /drain_listeners stops accepting; open connections carry on", async () => {
    const port = proxyPort(s);
    const open = await connectClient(port);
    open.write("x");
    await once(open, "data");
    expect(await call("/drain_listeners?inboundonly", "POST")).toMatchObject({ status: 200 });
    // No listener is INBOUND (traffic_direction is unset): nothing stops.
    expect((await call("/listeners")).body).toBe(`proxy::127.0.0.1:${port}\n`);
    expect(await call("/drain_listeners", "POST")).toMatchObject({ status: 200, body: "OK\n" });
    expect((await call("/listeners")).body).toBe("");
    const probe = connect({ host: "127.0.0.1", port });
    const [err] = (await once(probe, "error")) as [NodeJS.ErrnoException];
    expect(err.code).toBe("ECONNREFUSED");
    // The established connection still echoes.
    open.write("still here");
    const [echo] = (await once(open, "data")) as [Buffer];
    expect(echo.toString()).toBe("still here");
    expect(stat(s, "listener_manager.listener_stopped")).toBe(1);
    expect(stat(s, "listener_manager.total_listeners_draining")).toBe(1);
    open.destroy();
  });
});
