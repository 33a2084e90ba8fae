/**
 * `type: EDS` clusters in the tcp tier (issue 6): endpoints from KV (`legate/endpoints/<service>`), over
 * the local state `wrangler dev` reads (miniflare, as `legate endpoints --local` writes it), with real
 * loopback upstreams and a tcp_proxy listener. Hosts are added, drained (DRAINING: no new connections,
 * open ones keep working) and removed without a restart; a bad document is rejected and counted and the
 * old hosts keep serving; a hot reload's new cluster starts from the last known assignment; startup waits
 * for the first assignment up to initial_fetch_timeout; EDS without LEGATE_KV fails at startup; with
 * `--concurrency 2` both workers follow.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { endpointsKey } from "../../shared/kv/endpoints.ts";
import { silentLogger } from "../../shared/log.ts";
import { localKvTarget } from "../src/cli/kv/local.ts";
import type { KvTarget } from "../src/cli/kv/target.ts";
import { EdsSource, KvEndpointsPoller } from "../src/kv/endpoints-poller.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import type { Cluster } from "../src/upstream/cluster.ts";
import { LEGATE_BIN, removeTempDirs, runLegate, tempDir } from "../../test/cli/helpers.ts";
import { closedPort, compileYaml, listenTcp, proxyPort, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
const SERVICE = "backend";

const children = new Set<ChildProcess>();
const workerPids = new Set<number>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of workerPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  removeTempDirs();
});

function yaml(opts: { timeout?: string; connectTimeout?: string; admin?: boolean; second?: boolean; checked?: boolean } = {}): string {
  return `
${opts.admin ? "admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }" : ""}
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: eds }
${opts.second ? `  - name: proxy2
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp2, cluster: eds2 }` : ""}
  clusters:
  - name: eds
    type: EDS
    connect_timeout: ${opts.connectTimeout ?? "1s"}
    eds_cluster_config:
      service_name: ${SERVICE}
      eds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: ${opts.timeout ?? "0s"} }
${opts.checked ? `    health_checks:
    - timeout: 1s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: 1
      healthy_threshold: 1
      tcp_health_check: {}` : ""}
${opts.second ? `  - name: eds2
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: { service_name: ${SERVICE}2, eds_config: { ads: {}, initial_fetch_timeout: 0s } }` : ""}
`;
}

/** An upstream that answers every chunk with `<tag>:<chunk>`, so a client sees which host it reached. */
function taggedEcho(tag: string) {
  return listenTcp((s) => {
    s.on("data", (d: Buffer) => s.write(`${tag}:${d.toString()}`));
    s.on("end", () => s.end());
    s.on("error", () => {});
  });
}

type Endpoint = { port: number; status?: string };

/** Writes `legate/endpoints/<service>` as `legate endpoints set` does: a versioned ClusterLoadAssignment. */
async function writeDoc(kv: KvTarget, version: number, endpoints: Endpoint[], service = SERVICE): Promise<void> {
  const lbEndpoints = endpoints.map((e) => ({
    endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: e.port } } },
    ...(e.status ? { health_status: e.status } : {}),
  }));
  const doc = { version, updated_at: new Date().toISOString(), cluster_load_assignment: { cluster_name: service, endpoints: [{ lb_endpoints: lbEndpoints }] } };
  await kv.put(endpointsKey(service), JSON.stringify(doc));
}

/** One connection through the proxy: sends `msg`; resolves with the reply, or "" when the proxy closed it first. */
async function ask(port: number, msg: string): Promise<string> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await once(s, "connect");
  let got = "";
  const timer = setTimeout(() => s.destroy(), 3000);
  s.on("data", (d: Buffer) => {
    got += d.toString();
    if (got.endsWith(msg)) s.end();
  });
  s.write(msg);
  await new Promise<void>((resolve) => s.on("close", () => resolve()));
  clearTimeout(timer);
  return got;
}

/** The tags `n` connections reached. */
async function tags(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await ask(port, `m${i}`)).split(":")[0]!);
  return out;
}

/** A connection kept open; `say` sends and waits for the reply. */
async function openConn(port: number): Promise<{ socket: Socket; say(msg: string): Promise<string> }> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.on("error", () => {});
  await once(socket, "connect");
  let buf = "";
  let waiter: (() => void) | undefined;
  socket.on("data", (d: Buffer) => {
    buf += d.toString();
    waiter?.();
  });
  return {
    socket,
    async say(msg: string) {
      buf = "";
      socket.write(msg);
      for (let i = 0; i < 100 && !buf.endsWith(msg); i++) {
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 20);
        });
      }
      return buf;
    },
  };
}

function edsCluster(h: ServerHandle): Cluster {
  return h.adminContext.clusters.all().find((c) => c.name === "eds") as unknown as Cluster;
}

function hostPorts(h: ServerHandle): string[] {
  return edsCluster(h).hosts.map((x) => `${x.port}${x.edsHealthStatus ? `/${x.edsHealthStatus}` : ""}`);
}

describe("tcp tier: EDS endpoints from KV", () => {
  it("follows the document: hosts added, drained and removed without restart; bad documents rejected; reload keeps the assignment", async () => {
    const dir = tempDir("legate-tcp-kv-eds-");
    const writer = localKvTarget({ persistTo: dir, namespaceId: NS });
    const reader = localKvTarget({ persistTo: dir, namespaceId: NS });
    const source = new EdsSource();
    const poller = new KvEndpointsPoller(reader, source, silentLogger, 100);
    const a = await taggedEcho("A");
    const b = await taggedEcho("B");
    let h: ServerHandle | undefined;
    try {
      await writeDoc(writer, 1, [{ port: a.port }]);
      await poller.start([SERVICE]);
      const { model, canonical } = compileYaml(yaml({ admin: true }));
      // initial_fetch_timeout 0 waits without limit: this resolves only because the first read found the document.
      h = await startServer({ model, canonical, logger: silentLogger, version: "test", eds: source });
      const server = h;
      const port = proxyPort(h);
      const admin = `http://127.0.0.1:${h.adminAddress!.port}`;
      expect(hostPorts(h)).toEqual([`${a.port}`]);
      expect(await tags(port, 3)).toEqual(["A", "A", "A"]);
      expect(stat(h, "cluster.eds.update_success")).toBe(1);
      expect(stat(h, "cluster.eds.membership_total")).toBe(1);

      // An added host gets connections without a restart (round robin over both).
      await writeDoc(writer, 2, [{ port: a.port }, { port: b.port }]);
      await waitFor(() => hostPorts(server).length === 2, "the second host", 100, 50);
      expect(new Set(await tags(port, 4))).toEqual(new Set(["A", "B"]));
      expect(stat(h, "cluster.eds.membership_total")).toBe(2);
      expect(stat(h, "cluster.eds.membership_change")).toBe(2);

      // An open connection through B, then B DRAINING: new connections all go to A, the open one keeps working.
      let toB: Awaited<ReturnType<typeof openConn>> | undefined;
      for (let i = 0; i < 6 && !toB; i++) {
        const c = await openConn(port);
        if ((await c.say("hello")).startsWith("B:")) toB = c;
        else c.socket.destroy();
      }
      expect(toB).toBeDefined();
      await writeDoc(writer, 3, [{ port: a.port }, { port: b.port, status: "DRAINING" }]);
      await waitFor(() => hostPorts(server).includes(`${b.port}/DRAINING`), "B draining", 100, 50);
      expect(await tags(port, 4)).toEqual(["A", "A", "A", "A"]);
      expect(await toB!.say("still")).toBe("B:still");
      // Same host objects: a status change is not a membership change.
      expect(stat(h, "cluster.eds.membership_change")).toBe(2);
      expect(stat(h, "cluster.eds.membership_healthy")).toBe(1);
      const text = await (await fetch(`${admin}/clusters`)).text();
      expect(text).toContain(`eds::127.0.0.1:${b.port}::health_flags::/failed_eds_health`);
      expect(text).toContain(`eds::127.0.0.1:${a.port}::health_flags::healthy`);
      const js = (await (await fetch(`${admin}/clusters?format=json`)).json()) as {
        cluster_statuses: { name: string; host_statuses: { address: { socket_address: { port_value: number } }; health_status: { eds_health_status: string } }[] }[];
      };
      const statuses = js.cluster_statuses.find((c) => c.name === "eds")!.host_statuses.map((x) => [x.address.socket_address.port_value, x.health_status.eds_health_status]);
      expect(statuses).toEqual([[a.port, "HEALTHY"], [b.port, "DRAINING"]]);
      toB!.socket.destroy();

      // A document that does not parse, then one for another service: rejected, counted, the old hosts serve.
      await writer.put(endpointsKey(SERVICE), "{ not json");
      await waitFor(() => stat(server, "cluster.eds.update_rejected") === 1, "the first rejection", 100, 50);
      await writer.put(endpointsKey(SERVICE), JSON.stringify({ version: 4, cluster_load_assignment: { cluster_name: "other", endpoints: [] } }));
      await waitFor(() => stat(server, "cluster.eds.update_rejected") === 2, "the second rejection", 100, 50);
      expect(hostPorts(h)).toEqual([`${a.port}`, `${b.port}/DRAINING`]);
      expect(await tags(port, 2)).toEqual(["A", "A"]);

      // A hot reload that changes the cluster builds a new one: it starts from the last known assignment
      // at once (initial_fetch_timeout 0 would otherwise wait for ever).
      const next = compileYaml(yaml({ admin: true, connectTimeout: "2s" }));
      expect(stat(h, "cluster.eds.update_success")).toBe(3);
      await h.reload(next);
      const reloaded = edsCluster(h);
      expect(reloaded.model.connectTimeoutMs).toBe(2000);
      expect(hostPorts(h)).toEqual([`${a.port}`, `${b.port}/DRAINING`]);
      expect(stat(h, "cluster.eds.update_success")).toBe(4);
      expect(await tags(port, 2)).toEqual(["A", "A"]);

      // B back to healthy and A removed: only B.
      await writeDoc(writer, 5, [{ port: b.port }]);
      await waitFor(() => hostPorts(server).join() === `${b.port}`, "only B", 100, 50);
      expect(await tags(port, 3)).toEqual(["B", "B", "B"]);
      // Counted once: the retired cluster (draining) no longer follows.
      expect(stat(h, "cluster.eds.update_success")).toBe(5);

      // The key removed: no hosts; a connection is closed without upstream (UH).
      await writer.delete(endpointsKey(SERVICE));
      await waitFor(() => hostPorts(server).length === 0, "no hosts", 100, 50);
      const noneBefore = stat(h, "cluster.eds.upstream_cx_none_healthy");
      expect(await ask(port, "x")).toBe("");
      expect(stat(h, "cluster.eds.upstream_cx_none_healthy")).toBe(noneBefore + 1);
      expect(stat(h, "cluster.eds.update_empty")).toBeGreaterThanOrEqual(1);
      expect(stat(h, "cluster.eds.membership_total")).toBe(0);
    } finally {
      await h?.close();
      await poller.close();
      await Promise.all([writer.close(), reader.close(), a.close(), b.close()]);
    }
  }, 60_000);

  it("startup waits for the first assignment, and goes on without hosts after initial_fetch_timeout", async () => {
    const dir = tempDir("legate-tcp-kv-eds-init-");
    const writer = localKvTarget({ persistTo: dir, namespaceId: NS });
    const reader = localKvTarget({ persistTo: dir, namespaceId: NS });
    const a = await taggedEcho("A");
    const handles: ServerHandle[] = [];
    const pollers: KvEndpointsPoller[] = [];
    try {
      // No document yet and a long timeout: the server is not up until the document is written.
      const source = new EdsSource();
      const poller = new KvEndpointsPoller(reader, source, silentLogger, 100);
      pollers.push(poller);
      await poller.start([SERVICE]);
      const { model, canonical } = compileYaml(yaml({ timeout: "30s" }));
      let started: ServerHandle | undefined;
      const starting = startServer({ model, canonical, logger: silentLogger, version: "test", eds: source }).then((x) => {
        handles.push(x);
        started = x;
        return x;
      });
      await new Promise((r) => setTimeout(r, 400));
      expect(started).toBeUndefined();
      await writeDoc(writer, 1, [{ port: a.port }]);
      const h = await starting;
      expect(await tags(proxyPort(h), 2)).toEqual(["A", "A"]);
      expect(stat(h, "cluster.eds.init_fetch_timeout")).toBe(0);

      // Another service that has no document, timeout 0.3 s: starts without hosts; connections get UH.
      await writer.delete(endpointsKey(SERVICE));
      const source2 = new EdsSource();
      const poller2 = new KvEndpointsPoller(reader, source2, silentLogger, 100);
      pollers.push(poller2);
      await poller2.start([SERVICE]);
      const m2 = compileYaml(yaml({ timeout: "0.3s" }));
      const h2 = await startServer({ ...m2, logger: silentLogger, version: "test", eds: source2 });
      handles.push(h2);
      expect(stat(h2, "cluster.eds.init_fetch_timeout")).toBe(1);
      expect(edsCluster(h2).hosts).toHaveLength(0);
      expect(await ask(proxyPort(h2), "x")).toBe("");
      expect(stat(h2, "cluster.eds.upstream_cx_none_healthy")).toBe(1);
      // A document written later still arrives.
      await writeDoc(writer, 2, [{ port: a.port }]);
      await waitFor(() => edsCluster(h2).hosts.length === 1, "the late assignment", 100, 50);
      expect(await tags(proxyPort(h2), 1)).toEqual(["A"]);
    } finally {
      for (const h of handles) await h.close();
      for (const p of pollers) await p.close();
      await Promise.all([writer.close(), reader.close(), a.close()]);
    }
  }, 60_000);

  it("active health checks follow the EDS membership; new hosts start failed_active_hc", async () => {
    const dir = tempDir("legate-tcp-kv-eds-hc-");
    const kv = localKvTarget({ persistTo: dir, namespaceId: NS });
    const source = new EdsSource();
    const poller = new KvEndpointsPoller(kv, source, silentLogger, 100);
    const a = await taggedEcho("A");
    const b = await taggedEcho("B");
    const down = await closedPort();
    let h: ServerHandle | undefined;
    try {
      await writeDoc(kv, 1, [{ port: a.port }, { port: down }]);
      await poller.start([SERVICE]);
      const { model, canonical } = compileYaml(yaml({ checked: true }));
      h = await startServer({ model, canonical, logger: silentLogger, version: "test", eds: source });
      const server = h;
      const failed = () => Object.fromEntries(edsCluster(server).hosts.map((x) => [x.port, x.failedActiveHc]));
      // Initialization waited for the first round of checks.
      expect(failed()).toEqual({ [a.port]: false, [down]: true });
      expect(await tags(proxyPort(h), 3)).toEqual(["A", "A", "A"]);

      // B joins failed_active_hc and is healthy once the checker has checked it; the down host leaves.
      let bAtJoin: boolean | undefined;
      source.onUpdate(() => {
        bAtJoin ??= edsCluster(server).hosts.find((x) => x.port === b.port)?.failedActiveHc;
      });
      await writeDoc(kv, 2, [{ port: a.port }, { port: b.port }]);
      await waitFor(() => failed()[b.port] === false, "B checked healthy", 100, 50);
      expect(bAtJoin).toBe(true);
      expect(failed()).toEqual({ [a.port]: false, [b.port]: false });
      expect(new Set(await tags(proxyPort(h), 4))).toEqual(new Set(["A", "B"]));
      // No session for the removed host: its failure count stops growing.
      const failures = stat(h, "cluster.eds.health_check.failure");
      await new Promise((r) => setTimeout(r, 300));
      expect(stat(h, "cluster.eds.health_check.failure")).toBe(failures);
    } finally {
      await h?.close();
      await poller.close();
      await Promise.all([kv.close(), a.close(), b.close()]);
    }
  }, 30_000);

  it("EDS without LEGATE_KV fails at startup, naming the cluster", async () => {
    const { model, canonical } = compileYaml(yaml());
    await expect(startServer({ model, canonical, logger: silentLogger, version: "test" })).rejects.toThrow(/cluster 'eds' is type: EDS, and EDS needs LEGATE_KV/);
    const dir = tempDir("legate-tcp-eds-nokv-");
    const path = `${dir}/envoy.yaml`;
    writeFileSync(path, yaml());
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LEGATE_KV;
    const r = await runLegate(["-c", path, "--concurrency", "1"], { env, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cluster 'eds' is type: EDS, and EDS needs LEGATE_KV/);

    // A running tier without LEGATE_KV refuses a reload to a config with an EDS cluster.
    const up = await taggedEcho("S");
    const staticYaml = yaml({ admin: true }).replace(/type: EDS[\s\S]*$/, `load_assignment:
      cluster_name: eds
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } }
`);
    writeFileSync(path, staticYaml);
    const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--concurrency", "1", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"], env });
    children.add(proc);
    let stderr = "";
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      await waitFor(() => /admin listening on/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      expect(proc.exitCode).toBeNull();
      writeFileSync(path, yaml({ admin: true }));
      await waitFor(() => /config reload rejected/.test(stderr), "the reload", 200, 50);
      expect(stderr).toMatch(/config reload rejected, the running config keeps serving: cluster 'eds' is type: EDS, and EDS needs LEGATE_KV/);
      const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      await up.close();
    }
  }, 30_000);

  it("--concurrency 2: the primary polls and both workers follow", async () => {
    const dir = tempDir("legate-workers-eds-");
    const kv = localKvTarget({ persistTo: dir, namespaceId: NS });
    const a = await taggedEcho("A");
    const b = await taggedEcho("B");
    try {
      await writeDoc(kv, 1, [{ port: a.port }]);
      const path = `${dir}/envoy.yaml`;
      writeFileSync(path, yaml({ admin: true, timeout: "10s" }));
      const env: NodeJS.ProcessEnv = { ...process.env, LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: dir, LEGATE_KV_NAMESPACE_ID: NS, LEGATE_KV_POLL_MS: "100" };
      const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--concurrency", "2", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"], env });
      children.add(proc);
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      for (const m of stderr.matchAll(/\]\[(\d+)\]\[info\]\[main\] worker \d serving/g)) workerPids.add(Number(m[1]));
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const admin = async (p: string) => (await fetch(`http://127.0.0.1:${adminPort}${p}`)).text();
      const ports = new Map((await admin("/listeners")).trim().split("\n").filter(Boolean).map((l) => l.split("::") as [string, string]));
      const port = Number(ports.get("proxy")!.split(":")[1]);
      const perWorker = async (): Promise<[number, number]> => {
        const t = await admin("/stats");
        const get = (i: number) => Number(new RegExp(`^listener\\.127\\.0\\.0\\.1_\\d+\\.worker_${i}\\.downstream_cx_total: (\\d+)$`, "m").exec(t)?.[1] ?? 0);
        return [get(0), get(1)];
      };
      const burst = async (n: number) => {
        const before = await perWorker();
        const got = await tags(port, n);
        const after = await perWorker();
        return { got, w0: after[0] - before[0], w1: after[1] - before[1] };
      };
      // Each worker counts the assignments its clusters applied (summed by the primary): 2 per version.
      const applied = async (n: number) => {
        let v = 0;
        for (let i = 0; i < 100 && v < n; i++) {
          v = Number(/^cluster\.eds\.update_success: (\d+)$/m.exec(await admin("/stats"))?.[1] ?? 0);
          if (v < n) await new Promise((res) => setTimeout(res, 50));
        }
        expect(v).toBe(n);
      };
      await applied(2);
      let r = await burst(6);
      expect(r.got).toEqual(Array(6).fill("A"));
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);

      // Replace A by B, then A back with B DRAINING: every connection, whichever worker took it, follows.
      await writeDoc(kv, 2, [{ port: b.port }]);
      await applied(4);
      r = await burst(6);
      expect(r.got).toEqual(Array(6).fill("B"));
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);

      await writeDoc(kv, 3, [{ port: a.port }, { port: b.port, status: "DRAINING" }]);
      await applied(6);
      r = await burst(6);
      expect(r.got).toEqual(Array(6).fill("A"));
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);
      const text = await admin("/clusters");
      expect(text).toContain(`eds::127.0.0.1:${b.port}::health_flags::/failed_eds_health`);
      const js = JSON.parse(await admin("/clusters?format=json")) as { cluster_statuses: { host_statuses: { health_status: { eds_health_status: string } }[] }[] };
      expect(js.cluster_statuses[0]!.host_statuses.map((x) => x.health_status.eds_health_status)).toEqual(["HEALTHY", "DRAINING"]);

      // A hot reload adding an EDS cluster of another service (initial_fetch_timeout 0: no limit): its key
      // is read before the workers apply the config, so the reload completes with its endpoints, and it is
      // polled from then on.
      await writeDoc(kv, 1, [{ port: b.port }], `${SERVICE}2`);
      writeFileSync(path, yaml({ admin: true, timeout: "10s", second: true }));
      let port2 = 0;
      for (let i = 0; i < 100 && !port2; i++) {
        const line = (await admin("/listeners")).split("\n").find((l) => l.startsWith("proxy2::"));
        if (line) port2 = Number(line.split(":").pop());
        else await new Promise((res) => setTimeout(res, 50));
      }
      expect(port2).toBeGreaterThan(0);
      expect(await tags(port2, 4)).toEqual(["B", "B", "B", "B"]);
      await writeDoc(kv, 2, [{ port: a.port }], `${SERVICE}2`);
      await waitFor(() => /loaded endpoints of EDS service 'backend2' version 2/.test(stderr), "the poll of the new service", 100, 50);
      let got: string[] = [];
      for (let i = 0; i < 40 && got.join() !== "A,A,A,A"; i++) {
        got = await tags(port2, 4);
        if (got.join() !== "A,A,A,A") await new Promise((res) => setTimeout(res, 50));
      }
      expect(got).toEqual(["A", "A", "A", "A"]);

      const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      await Promise.all([kv.close(), a.close(), b.close()]);
    }
  }, 60_000);
});
