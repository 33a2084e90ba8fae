/**
 * Active health checking in the tcp tier, against real upstreams on loopback: HTTP servers told to
 * answer 200, 503 or 503 with x-envoy-immediate-health-check-fail, TCP servers for send/receive, a
 * closed port. Asserts host state (/clusters flags, membership gauges), counters, the event log and where
 * tcp_proxy traffic goes; intervals are short, nothing asserts on timing.
 */
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { closedPort, compileYaml, connectClient, listenTcp, proxyPort, readAll, stat, startYaml, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

type Mode = "ok" | "fail" | "immediate";

interface Upstream {
  id: string;
  port: number;
  mode: Mode;
  /** Answers used (first to last) before `mode`, one per health check. */
  script: Mode[];
  /** Health-check requests received (User-Agent Envoy/HC), with their headers. */
  checks: IncomingHttpHeaders[];
  server: Server;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function httpUpstream(id: string): Promise<Upstream> {
  const up: Upstream = { id, port: 0, mode: "ok", script: [], checks: [], server: undefined as unknown as Server };
  up.server = createServer((req, res) => {
    if (req.headers["user-agent"] === "Envoy/HC") {
      up.checks.push(req.headers);
      const mode = up.script.shift() ?? up.mode;
      if (mode === "ok") res.writeHead(200, { "x-envoy-upstream-healthchecked-cluster": "svc-a" }).end();
      else if (mode === "fail") res.writeHead(503).end();
      else res.writeHead(503, { "x-envoy-immediate-health-check-fail": "true" }).end();
      return;
    }
    res.writeHead(200, { connection: "close", "content-length": String(id.length) }).end(id);
  });
  up.server.listen(0, "127.0.0.1");
  await once(up.server, "listening");
  up.port = (up.server.address() as { port: number }).port;
  cleanups.push(() => {
    up.server.closeAllConnections();
    return new Promise<void>((r) => up.server.close(() => r()));
  });
  return up;
}

function yaml(ports: number[], healthCheck: string): string {
  const eps = ports.map((p) => `        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join("\n");
  return `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
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
          cluster: up
  clusters:
  - name: up
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
${eps}
${healthCheck ? `    health_checks:\n${healthCheck}` : ""}
`;
}

async function start(ports: number[], healthCheck: string): Promise<ServerHandle> {
  const h = await startYaml(yaml(ports, healthCheck));
  cleanups.push(() => h.close());
  return h;
}

async function adminGet(h: ServerHandle, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${h.adminAddress!.port}${path}`);
  return res.text();
}

/** `health_flags` of each host in /clusters, by port. */
async function flags(h: ServerHandle): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const line of (await adminGet(h, "/clusters")).split("\n")) {
    const m = /^up::127\.0\.0\.1:(\d+)::health_flags::(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!);
  }
  return out;
}

/** Which upstream answers a request sent through tcp_proxy. */
async function who(h: ServerHandle): Promise<string> {
  const c = await connectClient(proxyPort(h));
  c.write("GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const text = (await readAll(c)).toString();
  c.destroy();
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

/** Waits (bounded) until `cond` holds on the host flags from /clusters. */
async function waitFlags(h: ServerHandle, cond: (f: Map<number, string>) => boolean, what: string): Promise<Map<number, string>> {
  for (let i = 0; i < 200; i++) {
    const f = await flags(h);
    if (cond(f)) return f;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify([...(await flags(h))])}`);
}

const HTTP_HC = (extra = "", opts: { unhealthy?: number; healthy?: number; log?: string } = {}) => `    - timeout: 1s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: ${opts.unhealthy ?? 2}
      healthy_threshold: ${opts.healthy ?? 2}
${opts.log ? `      event_log_path: ${opts.log}\n` : ""}      http_health_check:
        path: /healthz
${extra}`;

describe("HTTP health checks", () => {
  it("eject on a bad status, recover after healthy_threshold, traffic moves away and back, events logged", async () => {
    const a = await httpUpstream("A");
    const b = await httpUpstream("B");
    const dir = mkdtempSync(join(tmpdir(), "legate-hc-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, "hc.log");
    const h = await start([a.port, b.port], HTTP_HC(`        request_headers_to_add:\n        - header: { key: x-probe, value: legate }\n`, { log }));

    // The cluster's initialization waited for the first round: both hosts passed their first check.
    expect(await flags(h)).toEqual(new Map([[a.port, "healthy"], [b.port, "healthy"]]));
    expect(stat(h, "cluster.up.membership_healthy")).toBe(2);
    expect(stat(h, "cluster.up.membership_total")).toBe(2);
    expect(stat(h, "cluster.up.health_check.healthy")).toBe(2);
    // Host defaults to the cluster name; the configured header is added.
    expect(a.checks[0]!.host).toBe("up");
    expect(a.checks[0]!["x-probe"]).toBe("legate");
    expect(new Set([await who(h), await who(h)])).toEqual(new Set(["A", "B"]));

    // A 503 (not retriable) marks the host unhealthy at once.
    a.mode = "fail";
    await waitFlags(h, (f) => f.get(a.port) === "/failed_active_hc", "A ejected");
    expect(stat(h, "cluster.up.membership_healthy")).toBe(1);
    expect(stat(h, "cluster.up.health_check.failure")).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 4; i++) expect(await who(h)).toBe("B");
    const json = JSON.parse(await adminGet(h, "/clusters?format=json"));
    const statuses = json.cluster_statuses[0].host_statuses;
    expect(statuses.find((s: { address: { socket_address: { port_value: number } } }) => s.address.socket_address.port_value === a.port).health_status.failed_active_health_check).toBe(true);

    // Back to 200: healthy again only after healthy_threshold (2) successes.
    const successesBefore = stat(h, "cluster.up.health_check.success");
    a.mode = "ok";
    await waitFlags(h, (f) => f.get(a.port) === "healthy", "A back");
    expect(stat(h, "cluster.up.health_check.success") - successesBefore).toBeGreaterThanOrEqual(2);
    expect(stat(h, "cluster.up.membership_healthy")).toBe(2);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await who(h));
    expect(seen).toEqual(new Set(["A", "B"]));

    const attempts = stat(h, "cluster.up.health_check.attempt");
    expect(attempts).toBeGreaterThanOrEqual(stat(h, "cluster.up.health_check.success") + stat(h, "cluster.up.health_check.failure"));
    expect(stat(h, "cluster.up.health_check.network_failure")).toBe(0);

    const forAOf = () =>
      readFileSync(log, "utf8").split("\n").filter((l) => l.endsWith("}")).map((l) => JSON.parse(l)).filter((e) => e.host.socket_address.port_value === a.port);
    await waitFor(() => forAOf().length >= 3, "three events for A in the log");
    const forA = forAOf();
    expect(forA.map((e) => Object.keys(e).find((k) => k.endsWith("_event")))).toEqual(["add_healthy_event", "eject_unhealthy_event", "add_healthy_event"]);
    expect(forA[0]).toMatchObject({ health_checker_type: "HTTP", cluster_name: "up", add_healthy_event: { first_check: true } });
    expect(forA[1].eject_unhealthy_event).toEqual({ failure_type: "ACTIVE" });
    expect(forA[2].add_healthy_event).toEqual({ first_check: false });
    expect(typeof forA[0].timestamp).toBe("string");
  });

  it("retriable statuses count towards unhealthy_threshold; x-envoy-immediate-health-check-fail ejects at once", async () => {
    const a = await httpUpstream("A");
    const b = await httpUpstream("B");
    const dir = mkdtempSync(join(tmpdir(), "legate-hc-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, "hc.log");
    const h = await start([a.port, b.port], HTTP_HC(`        retriable_statuses: [{ start: 503, end: 504 }]\n`, { unhealthy: 3, healthy: 1, log }));
    expect(await flags(h)).toEqual(new Map([[a.port, "healthy"], [b.port, "healthy"]]));
    const eventsForA = () =>
      readFileSync(log, "utf8").split("\n").filter((l) => l.endsWith("}")).map((l) => JSON.parse(l)).filter((e) => e.host.socket_address.port_value === a.port);

    // Two retriable 503s, then 200s: below unhealthy_threshold (3), the host is never ejected.
    const checks0 = a.checks.length;
    a.script = ["fail", "fail"];
    await waitFor(() => a.checks.length >= checks0 + 4, "two failures and two successes");
    expect(stat(h, "cluster.up.health_check.failure")).toBe(2);
    expect((await flags(h)).get(a.port)).toBe("healthy");

    // Retriable 503s on and on: ejected after the third.
    a.mode = "fail";
    await waitFlags(h, (f) => f.get(a.port) === "/failed_active_hc", "A ejected after 3 retriable failures");
    expect(stat(h, "cluster.up.health_check.failure")).toBeGreaterThanOrEqual(5);
    a.mode = "ok";
    await waitFlags(h, (f) => f.get(a.port) === "healthy", "A back");

    // One 503 with x-envoy-immediate-health-check-fail (retriable status or not) ejects at once.
    const ejections = eventsForA().filter((e) => e.eject_unhealthy_event).length;
    const failures = stat(h, "cluster.up.health_check.failure");
    a.script = ["immediate"];
    await waitFor(() => eventsForA().filter((e) => e.eject_unhealthy_event).length === ejections + 1, "a second ejection");
    expect(stat(h, "cluster.up.health_check.failure")).toBe(failures + 1);
    await waitFlags(h, (f) => f.get(a.port) === "healthy", "A back after the immediate failure");
  });

  it("service_name_matcher: the response's x-envoy-upstream-healthchecked-cluster must match", async () => {
    const a = await httpUpstream("A");
    const h = await start([a.port], HTTP_HC(`        service_name_matcher: { prefix: svc-b }\n`));
    // A answers svc-a: its first check fails, so it stays failed_active_hc.
    expect((await flags(h)).get(a.port)).toBe("/failed_active_hc");
    expect(stat(h, "cluster.up.health_check.verify_cluster")).toBeGreaterThanOrEqual(1);
    expect(stat(h, "cluster.up.membership_healthy")).toBe(0);
  });
});

describe("intervals", () => {
  it("no_traffic_interval applies until the cluster has had a connection, then interval", async () => {
    const a = await httpUpstream("A");
    const hc = `    - timeout: 1s
      interval: 0.02s
      no_traffic_interval: 0.4s
      unhealthy_threshold: 1
      healthy_threshold: 1
      http_health_check: { path: /healthz }
`;
    const h = await start([a.port], hc);
    expect(a.checks.length).toBe(1);
    // No traffic yet: the next check is no_traffic_interval (0.4 s) away, not interval (20 ms).
    await new Promise((r) => setTimeout(r, 150));
    expect(a.checks.length).toBe(1);
    // One connection through tcp_proxy: the check already scheduled keeps its no-traffic delay, the
    // ones after it run at interval.
    expect(await who(h)).toBe("A");
    expect(stat(h, "cluster.up.upstream_cx_total")).toBe(1);
    await waitFor(() => a.checks.length >= 10, "checks at interval after traffic");
  });
});

describe("TCP health checks", () => {
  it("send/receive hex payloads: healthy while the reply matches, network failures after a timeout eject", async () => {
    let reply = "PONG";
    const srv = await listenTcp((s) => s.on("data", (d) => {
      if (d.toString().includes("PING")) s.write(`+${reply}\r\n`);
    }));
    cleanups.push(() => srv.close());
    const hc = `    - timeout: 0.1s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: 2
      healthy_threshold: 1
      tcp_health_check:
        send: { text: "50494e470d0a" }
        receive: [{ text: "2b" }, { text: "504f4e47" }]
`;
    const h = await start([srv.port], hc);
    expect((await flags(h)).get(srv.port)).toBe("healthy");
    expect(stat(h, "cluster.up.health_check.success")).toBeGreaterThanOrEqual(1);
    // reuse_connection (default): the checks share one connection.
    await waitFor(() => stat(h, "cluster.up.health_check.success") >= 3, "three successes");
    expect(srv.sockets.size).toBe(1);

    reply = "NOPE";
    await waitFlags(h, (f) => f.get(srv.port) === "/failed_active_hc", "TCP host ejected");
    expect(stat(h, "cluster.up.health_check.network_failure")).toBeGreaterThanOrEqual(2);

    reply = "PONG";
    await waitFlags(h, (f) => f.get(srv.port) === "healthy", "TCP host back");
  });

  it("connect-only: a closed port stays failed_active_hc; the first failure is logged", async () => {
    const port = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), "legate-hc-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const log = join(dir, "hc.log");
    const hc = `    - timeout: 0.5s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: 1
      healthy_threshold: 1
      reuse_connection: false
      event_log_path: ${log}
      always_log_health_check_failures: true
      tcp_health_check: {}
`;
    const h = await start([port], hc);
    expect((await flags(h)).get(port)).toBe("/failed_active_hc");
    await waitFor(() => stat(h, "cluster.up.health_check.network_failure") >= 2, "two network failures");
    expect(stat(h, "cluster.up.health_check.success")).toBe(0);
    expect(stat(h, "cluster.up.health_check.healthy")).toBe(0);
    const lines = () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter((l) => l.endsWith("}")) : []);
    await waitFor(() => lines().length >= 2, "two events in the log");
    const events = lines().map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ health_checker_type: "TCP", health_check_failure_event: { failure_type: "NETWORK", first_check: true } });
    // always_log_health_check_failures: the later failures are logged too.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[1].health_check_failure_event).toEqual({ failure_type: "NETWORK", first_check: false });
  });
});

describe("checkers start and stop with the cluster", () => {
  it("close() and a reload that drops health_checks stop the old checkers", async () => {
    const a = await httpUpstream("A");
    const h = await start([a.port], HTTP_HC());
    await waitFor(() => a.checks.length >= 2, "checks arriving");

    // Reload to the same cluster without health checks: the old cluster manager (and its checker) closes
    // once its listener has drained (no connections, so at once).
    await h.reload(compileYaml(yaml([a.port], "")));
    await new Promise((r) => setTimeout(r, 100));
    const afterReload = a.checks.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(a.checks.length).toBe(afterReload);
    expect((await flags(h)).get(a.port)).toBe("healthy");
    expect(await who(h)).toBe("A");
  });

  it("a reload stops the old checkers at the swap, even while old connections drain", async () => {
    const a = await httpUpstream("A");
    const h = await start([a.port], HTTP_HC());
    await waitFor(() => a.checks.length >= 2, "checks arriving");
    // An idle connection through the proxy keeps the old listener (and its clusters) draining.
    const held = await connectClient(proxyPort(h));
    cleanups.push(() => void held.destroy());
    await waitFor(() => stat(h, "cluster.up.upstream_cx_active") === 1, "the held connection upstream");

    await h.reload(compileYaml(yaml([a.port], "")));
    await new Promise((r) => setTimeout(r, 100));
    const afterReload = a.checks.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(a.checks.length).toBe(afterReload);
    expect(held.destroyed).toBe(false);
  });
});
