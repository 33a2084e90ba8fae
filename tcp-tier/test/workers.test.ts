/**
 * `--concurrency 2` in a real `legate` process: a primary and two worker processes sharing a tcp_proxy
 * listener with exact_balance (and a UDP listener, run by worker 0 alone). Checks the spread over the
 * workers (Envoy's per-worker `listener.<address>.worker_<i>.downstream_cx_total`), the process-wide sums
 * on the admin port, a SIGKILLed worker being restarted without the other's connection dropping, a hot
 * reload of a changed listener under traffic (and a bad config refused), and SIGTERM draining to exit 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LEGATE_BIN } from "../../test/cli/helpers.ts";
import { echoServer, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const UDP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";

function yaml(upPort: number, udpUpPort: number, statPrefix: string, extraListener = ""): string {
  return `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    connection_balance_config: { exact_balance: {} }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: ${statPrefix}, cluster: up } }] }]${extraListener}
  - name: dns
    address: { socket_address: { address: 127.0.0.1, port_value: 0, protocol: UDP } }
    listener_filters:
    - name: envoy.filters.udp_listener.udp_proxy
      typed_config: { "@type": ${UDP_PROXY_TYPE}, stat_prefix: dns, cluster: uup }
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } } }] }] }
  - name: uup
    connect_timeout: 1s
    load_assignment: { cluster_name: uup, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${udpUpPort} } } } }] }] }
`;
}

const dir = mkdtempSync(join(tmpdir(), "legate-workers-"));
let child: ChildProcess | undefined;
const workerPids = new Set<number>();
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  // Workers exit when their primary's IPC channel closes; make sure of it.
  for (const pid of workerPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One proxied round trip on a fresh connection, then close. */
async function roundTrip(port: number, text: string): Promise<string> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await once(s, "connect");
  s.write(text);
  const [d] = (await once(s, "data")) as [Buffer];
  s.destroy();
  return d.toString();
}

/** A connection that echoes through the proxy, counting its round trips. */
async function steadyConnection(port: number): Promise<{ sock: Socket; rounds: () => number; closed: () => boolean; stop(): void }> {
  const sock = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  sock.on("error", () => {});
  await once(sock, "connect");
  let rounds = 0;
  let closed = false;
  sock.on("close", () => (closed = true));
  sock.on("data", (d: Buffer) => (rounds += d.toString().split("!").length - 1));
  const pump = setInterval(() => !closed && sock.write("!"), 5);
  return { sock, rounds: () => rounds, closed: () => closed, stop: () => clearInterval(pump) };
}

describe("legate --concurrency 2", () => {
  it("balances over two workers, sums stats, restarts a killed worker, reloads, drains on SIGTERM", async () => {
    const up = await echoServer();
    const udpUp = createSocket("udp4");
    udpUp.on("message", (m, r) => udpUp.send(m, r.port, r.address));
    udpUp.bind(0, "127.0.0.1");
    await once(udpUp, "listening");
    const clients = [createSocket("udp4"), createSocket("udp4")];
    const steady: Awaited<ReturnType<typeof steadyConnection>>[] = [];
    try {
      const path = join(dir, "envoy.yaml");
      writeConfig(path, yaml(up.port, udpUp.address().port, "proxy"));
      const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--concurrency", "2", "--drain-time-s", "30", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
      const serving = () => [...stderr.matchAll(/\]\[(\d+)\]\[info\]\[main\] worker (\d) serving/g)].map((m) => ({ pid: Number(m[1]), index: Number(m[2]) }));

      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const first = serving();
      expect(first.map((w) => w.index).sort()).toEqual([0, 1]);
      for (const w of first) workerPids.add(w.pid);
      expect(first.every((w) => !stderr.includes(`(mode serve, pid ${w.pid})`))).toBe(true);

      const admin = async (p: string, method = "GET") => (await fetch(`http://127.0.0.1:${adminPort}${p}`, { method })).text();
      const stat = async (name: string) => Number(/: (\d+)\n$/.exec(await admin(`/stats?filter=${encodeURIComponent(`^${name.replace(/\./g, "\\.")}$`)}`))?.[1] ?? 0);
      const listeners = async () => new Map((await admin("/listeners")).trim().split("\n").filter(Boolean).map((l) => l.split("::") as [string, string]));
      const ports = await listeners();
      const proxyPort = Number(ports.get("proxy")!.split(":")[1]);
      const udpPort = Number(ports.get("dns")!.split(":")[1]);

      // exact_balance: connections one after another alternate between the workers.
      for (let i = 0; i < 20; i++) expect(await roundTrip(proxyPort, `r${i}`)).toBe(`r${i}`);
      expect(await stat("server.concurrency")).toBe(2);
      expect(await stat("listener.127.0.0.1_0.downstream_cx_total")).toBe(20);
      expect(await stat("tcp.proxy.downstream_cx_total")).toBe(20);
      const w0 = await stat("listener.127.0.0.1_0.worker_0.downstream_cx_total");
      const w1 = await stat("listener.127.0.0.1_0.worker_1.downstream_cx_total");
      expect(w0 + w1).toBe(20);
      expect(Math.abs(w0 - w1)).toBeLessThanOrEqual(2);
      expect(await admin("/clusters")).toContain(`up::127.0.0.1:${up.port}::cx_total::20\n`);
      expect(await admin("/stats/prometheus")).toMatch(/\nenvoy_tcp_downstream_cx_total\{envoy_tcp_prefix="proxy"\} 20\n/);

      // UDP runs in worker 0 alone: each client's datagrams stay in one session.
      for (const c of clients) c.bind(0, "127.0.0.1");
      await Promise.all(clients.map((c) => once(c, "listening")));
      const replies = clients.map(() => [] as string[]);
      clients.forEach((c, i) => c.on("message", (m) => replies[i]!.push(m.toString())));
      for (let k = 0; k < 3; k++) clients.forEach((c, i) => c.send(`c${i}d${k}`, udpPort, "127.0.0.1"));
      await waitFor(() => replies.every((r) => r.length === 3), "the UDP replies", 200, 10);
      expect(await stat("udp.dns.downstream_sess_total")).toBe(2);

      // Two long connections, one per worker (they alternate); SIGKILL worker 1.
      steady.push(await steadyConnection(proxyPort), await steadyConnection(proxyPort));
      await waitFor(() => steady.every((s) => s.rounds() > 5), "traffic on both steady connections", 400, 10);
      expect(await stat("listener.127.0.0.1_0.worker_0.downstream_cx_active")).toBe(1);
      expect(await stat("listener.127.0.0.1_0.worker_1.downstream_cx_active")).toBe(1);
      const victim = first.find((w) => w.index === 1)!;
      process.kill(victim.pid, "SIGKILL");
      await waitFor(() => /worker 1 restarted/.test(stderr), "worker 1 restarted", 300, 20);
      const restarted = serving().find((w) => w.index === 1 && w.pid !== victim.pid)!;
      workerPids.add(restarted.pid);
      expect(await stat("legate.workers.restarts")).toBe(1);
      expect(await stat("legate.workers.active")).toBe(2);
      // The killed worker's connection died with it; worker 0's carries on.
      const survivors = steady.filter((s) => !s.closed());
      expect(survivors).toHaveLength(1);
      const r = survivors[0]!.rounds();
      await waitFor(() => survivors[0]!.rounds() > r + 5, "traffic on the surviving connection", 400, 10);
      // Counters stay process-wide: what the dead worker counted is kept.
      for (let i = 0; i < 4; i++) expect(await roundTrip(proxyPort, `k${i}`)).toBe(`k${i}`);
      expect(await stat("listener.127.0.0.1_0.downstream_cx_total")).toBe(26);
      expect(await stat("listener.127.0.0.1_0.worker_1.downstream_cx_total")).toBeGreaterThan(w1);

      // A changed listener (new stat_prefix) under traffic: the steady connection keeps going on the old one.
      writeConfig(path, yaml(up.port, udpUp.address().port, "proxy_v2"));
      // The primary logs and counts the reload once every worker has applied it (workers log their own line first).
      const primaryPid = /\(mode serve, pid (\d+)\)/.exec(stderr)![1];
      const primaryLine = new RegExp(`\\]\\[${primaryPid}\\]\\[info\\]\\[main\\] config reloaded: listeners added \\[\\], modified \\[proxy\\]`);
      await waitFor(() => primaryLine.test(stderr), "the reload", 300, 20);
      expect(await stat("server.config_reload.success")).toBe(1);
      const r2 = survivors[0]!.rounds();
      await waitFor(() => survivors[0]!.rounds() > r2 + 5, "traffic after the reload", 400, 10);
      for (let i = 0; i < 4; i++) expect(await roundTrip(proxyPort, `n${i}`)).toBe(`n${i}`);
      expect(await stat("tcp.proxy_v2.downstream_cx_total")).toBe(4);
      // A bad config never reaches the workers: refused, and the running one keeps serving.
      writeConfig(path, yaml(up.port, udpUp.address().port, "proxy_v3").replace("exact_balance: {}", "extend_balance: { name: x }"));
      await waitFor(() => /config reload rejected/.test(stderr), "the refused reload", 300, 20);
      expect(await stat("server.config_reload.rejected")).toBe(1);
      expect(await roundTrip(proxyPort, "still")).toBe("still");
      expect(await stat("tcp.proxy_v2.downstream_cx_total")).toBe(5);

      // SIGTERM: both workers stop accepting; the open connection may finish; then everything exits 0.
      const workersNow = serving().filter((w) => alive(w.pid)).map((w) => w.pid);
      expect(workersNow).toHaveLength(2);
      proc.kill("SIGTERM");
      await waitFor(() => /draining: every worker stops accepting/.test(stderr), "the drain", 300, 10);
      const r3 = survivors[0]!.rounds();
      await waitFor(() => survivors[0]!.rounds() > r3 + 5 || survivors[0]!.closed(), "traffic while draining", 400, 10);
      expect(survivors[0]!.closed()).toBe(false);
      // New connections are refused once every worker has stopped accepting (the primary closes the socket).
      await waitFor(() => (stderr.match(/draining: listeners stop accepting/g) ?? []).length === 2, "both workers draining", 300, 10);
      await expect(roundTrip(proxyPort, "late")).rejects.toThrow();
      survivors[0]!.stop();
      survivors[0]!.sock.end();
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/caught SIGTERM/);
      await waitFor(() => workersNow.every((pid) => !alive(pid)), "the workers to exit", 200, 10);
    } finally {
      for (const s of steady) {
        s.stop();
        s.sock.destroy();
      }
      for (const c of clients) c.close();
      udpUp.close();
      await up.close();
    }
  }, 60_000);

  it("forwards /logging and /drain_listeners to every worker, flushes summed stats to statsd; /quitquitquit stops them all", async () => {
    const up = await echoServer();
    const statsd = createSocket("udp4");
    const statsdLines: string[] = [];
    statsd.on("message", (m) => statsdLines.push(m.toString()));
    statsd.bind(0, "127.0.0.1");
    await once(statsd, "listening");
    try {
      const path = join(dir, "admin.yaml");
      writeConfig(
        path,
        `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
stats_flush_interval: 0.2s
stats_sinks:
- name: envoy.stat_sinks.statsd
  typed_config:
    "@type": type.googleapis.com/envoy.config.metrics.v3.StatsdSink
    address: { socket_address: { address: 127.0.0.1, port_value: ${statsd.address().port} } }
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: proxy, cluster: up } }] }]
  - name: nomatch
    address: { socket_address: { address: 127.0.0.2, port_value: 0 } }
    filter_chains: [{ filter_chain_match: { destination_port: 1 }, filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: nm, cluster: up } }] }]
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } } }] }] }
`,
      );
      const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--concurrency", "2", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const workers = [...stderr.matchAll(/\]\[(\d+)\]\[info\]\[main\] worker \d serving/g)].map((m) => Number(m[1]));
      expect(workers).toHaveLength(2);
      for (const pid of workers) workerPids.add(pid);
      const admin = async (p: string, method = "GET") => (await fetch(`http://127.0.0.1:${adminPort}${p}`, { method })).text();
      const listeners = async () => new Map((await admin("/listeners")).trim().split("\n").filter(Boolean).map((l) => l.split("::") as [string, string]));
      const ports = await listeners();
      const proxyPort = Number(ports.get("proxy")!.split(":")[1]);
      const nomatchPort = Number(ports.get("nomatch")!.split(":")[1]);
      const refusedByChain = async () => {
        const s = connect({ host: "127.0.0.2", port: nomatchPort });
        s.on("error", () => {});
        s.resume();
        await once(s, "close");
      };
      const noChainLines = () => [...stderr.matchAll(/\]\[(\d+)\]\[debug\]\[main\] listener "nomatch": no filter chain matches/g)].map((m) => Number(m[1]));

      await refusedByChain();
      expect(noChainLines()).toEqual([]);
      // /logging reaches both workers: their debug lines appear (one connection each, round-robin).
      expect(await admin("/logging?level=debug", "POST")).toContain("main: debug");
      await refusedByChain();
      await refusedByChain();
      await waitFor(() => noChainLines().length === 2, "the workers' debug lines", 200, 10);
      expect(new Set(noChainLines())).toEqual(new Set(workers));
      expect(await admin("/stats?filter=no_filter_chain_match")).toMatch(/listener\.127\.0\.0\.2_0\.no_filter_chain_match: 3\n/);
      // The primary's statsd sink sends the process-wide increases (the deltas add up to 3) and gauges.
      const sentCount = () =>
        statsdLines.map((l) => /^envoy\.listener\.127\.0\.0\.2_0\.no_filter_chain_match:(\d+)\|c$/.exec(l)).reduce((a, m) => a + (m ? Number(m[1]) : 0), 0);
      await waitFor(() => sentCount() === 3, "no_filter_chain_match at statsd", 300, 10);
      expect(statsdLines).toContain("envoy.server.concurrency:2|g");

      // /drain_listeners: every worker stops accepting, so the shared socket closes.
      expect(await roundTrip(proxyPort, "before")).toBe("before");
      expect(await admin("/drain_listeners", "POST")).toBe("OK\n");
      await waitFor(() => (stderr.match(/listener_stopped|draining listeners/g) ?? []).length >= 1, "the drain", 200, 10);
      for (let i = 0; i < 100 && (await listeners()).size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await listeners()).size).toBe(0);
      await expect(roundTrip(proxyPort, "after")).rejects.toThrow();

      expect(await admin("/quitquitquit", "POST")).toBe("OK\n");
      expect(await exited).toBe(0);
      await waitFor(() => workers.every((pid) => !alive(pid)), "the workers to exit", 200, 10);
      expect(sentCount()).toBe(3);
    } finally {
      statsd.close();
      await up.close();
    }
  }, 60_000);
});
