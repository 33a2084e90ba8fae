import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../shared/log.ts";
import { startServer, type ServerHandle } from "../src/server.ts";
import { compileYaml, connectClient, echoServer, listenTcp, readAll, stat, TCP_PROXY_TYPE, TEST_VERSION, waitFor } from "./helpers.ts";

type Up = Awaited<ReturnType<typeof listenTcp>>;

function listenerYaml(name: string, port: number, prefix: string, cluster: string, ip = "127.0.0.1"): string {
  return `
  - name: ${name}
    address: { socket_address: { address: ${ip}, port_value: ${port} } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: ${prefix}, cluster: ${cluster} } }] }]`;
}

function clusterYaml(name: string, port: number): string {
  return `
  - name: ${name}
    connect_timeout: 1s
    load_assignment: { cluster_name: ${name}, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }] }`;
}

function config(listeners: string[], clusters: string[]): string {
  return `static_resources:\n  listeners:${listeners.join("")}\n  clusters:${clusters.join("")}\n`;
}

/** A client that keeps a request/echo exchange going on one connection until stopped; counts rounds and failures. */
function chatter(port: number): { rounds: () => number; stop: () => Promise<{ rounds: number; failed: boolean }> } {
  let rounds = 0;
  let failed = false;
  let stopped = false;
  let socket: Socket | undefined;
  const loop = (async () => {
    socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => (failed = true));
    socket.on("close", () => {
      if (!stopped) failed = true;
    });
    await once(socket, "connect");
    for (let i = 0; !stopped && !failed && i < 100_000; i++) {
      const msg = `ping-${i}`;
      socket.write(msg);
      let got = "";
      while (got.length < msg.length && !failed) {
        const [chunk] = (await Promise.race([once(socket, "data"), once(socket, "close")])) as [Buffer | boolean];
        if (!Buffer.isBuffer(chunk)) break;
        got += chunk.toString();
      }
      if (got !== msg) failed = true;
      else rounds++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return {
    rounds: () => rounds,
    stop: async () => {
      stopped = true;
      await loop;
      socket?.destroy();
      return { rounds, failed };
    },
  };
}

async function roundTrip(port: number, msg = "hi", host = "127.0.0.1"): Promise<string> {
  const c = connect({ host, port, allowHalfOpen: true });
  await once(c, "connect");
  const got = readAll(c);
  c.end(msg);
  return (await got).toString();
}

async function refused(port: number, host = "127.0.0.1"): Promise<boolean> {
  const s = connect({ host, port });
  const r = await Promise.race([once(s, "error").then(([e]) => (e as NodeJS.ErrnoException).code === "ECONNREFUSED"), once(s, "connect").then(() => false)]);
  s.destroy();
  return r;
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(yaml: string, drainTimeMs: number): Promise<ServerHandle> {
  const { model, canonical } = compileYaml(yaml);
  const h = await startServer({ model, canonical, logger: silentLogger, version: TEST_VERSION, drainTimeMs });
  cleanups.push(() => h.close());
  return h;
}

async function upstream(): Promise<Up> {
  const u = await echoServer();
  cleanups.push(() => u.close());
  return u;
}

describe("hot reload", () => {
  it("keeps unchanged listeners and their connections, adds, changes and removes others, under continuous traffic", async () => {
    const up = await upstream();
    const up2 = await upstream();
    const v1 = config([listenerYaml("proxy", 0, "tp", "up")], [clusterYaml("up", up.port)]);
    const h = await start(v1, 60_000);
    const proxy = h.listenerAddresses.get("proxy")!.port;
    const talkers = [chatter(proxy), chatter(proxy), chatter(proxy)];
    await waitFor(() => talkers.every((t) => t.rounds() > 3), "traffic on the proxy");

    // 1. A change elsewhere: a new listener. The proxy listener (port 0: keeps the kernel's earlier choice) is unchanged.
    const v2 = config([listenerYaml("proxy", 0, "tp", "up"), listenerYaml("extra", 0, "tx", "up", "127.0.0.2")], [clusterYaml("up", up.port)]);
    const o2 = await h.reload(compileYaml(v2));
    expect(o2).toMatchObject({ kept: ["proxy"], added: ["extra"], modified: [], removed: [] });
    const extra = h.listenerAddresses.get("extra")!.port;
    expect(await roundTrip(extra, "to extra", "127.0.0.2")).toBe("to extra");
    expect(h.listenerAddresses.get("proxy")!.port).toBe(proxy);
    const before = talkers.map((t) => t.rounds());
    await waitFor(() => talkers.every((t, i) => t.rounds() > before[i]! + 3), "traffic after the first reload");

    // 2. A config that cannot run (its new listener's port is taken): refused, the old one keeps serving.
    const taken = await listenTcp(() => {});
    cleanups.push(() => taken.close());
    const bad = config([listenerYaml("proxy", 0, "tp", "up"), listenerYaml("extra", 0, "tx", "up", "127.0.0.2"), listenerYaml("clash", taken.port, "tc", "up")], [clusterYaml("up", up.port)]);
    await expect(h.reload(compileYaml(bad))).rejects.toMatchObject({ code: "LEGATE_BIND_FAILED" });
    expect(stat(h, "server.config_reload.rejected")).toBe(1);
    expect([...h.listenerAddresses.keys()]).toEqual(["proxy", "extra"]);
    expect(await roundTrip(extra, "still", "127.0.0.2")).toBe("still");

    // 3. The proxy's chain changes (new stat prefix, new cluster; its port given explicitly now), the extra
    //    listener goes, a cluster is added.
    const v3 = config([listenerYaml("proxy", proxy, "tp2", "up2")], [clusterYaml("up", up.port), clusterYaml("up2", up2.port)]);
    const o3 = await h.reload(compileYaml(v3));
    expect(o3).toMatchObject({ kept: [], added: [], modified: ["proxy"], removed: ["extra"] });
    expect(await refused(extra, "127.0.0.2")).toBe(true);
    // New connections on the same port get the new chain (new prefix, new cluster), at once.
    expect(await roundTrip(proxy, "new chain")).toBe("new chain");
    expect(stat(h, "tcp.tp2.downstream_cx_total")).toBe(1);
    expect(stat(h, "cluster.up2.upstream_cx_total")).toBe(1);
    // The established connections drain on the old chain, still talking.
    const mid = talkers.map((t) => t.rounds());
    await waitFor(() => talkers.every((t, i) => t.rounds() > mid[i]! + 3), "traffic while draining");
    expect(stat(h, "listener_manager.total_listeners_draining")).toBe(1);

    for (const t of talkers) {
      const r = await t.stop();
      expect(r.failed).toBe(false);
      expect(r.rounds).toBeGreaterThan(10);
    }
    // The old proxy listener drained once its last connection went.
    await waitFor(() => stat(h, "listener_manager.total_listeners_draining") === 0, "the drain to finish");
    expect(stat(h, "server.config_reload.success")).toBe(2);
    expect(stat(h, "listener_manager.listener_added")).toBe(1);
    expect(stat(h, "listener_manager.listener_modified")).toBe(1);
    expect(stat(h, "listener_manager.listener_removed")).toBe(1);
  });

  it("refuses reloads that change UDP listeners, or clusters under them; TCP changes beside them apply", async () => {
    const up = await upstream();
    const udp = (prefix: string) => `
  - name: dns
    address: { socket_address: { address: 127.0.0.1, port_value: 0, protocol: UDP } }
    listener_filters:
    - name: envoy.filters.udp_listener.udp_proxy
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig, stat_prefix: ${prefix}, cluster: up }`;
    const h = await start(config([listenerYaml("proxy", 0, "tp", "up"), udp("u1")], [clusterYaml("up", up.port)]), 60_000);
    const udpPort = h.listenerAddresses.get("dns")!.port;
    await expect(h.reload(compileYaml(config([listenerYaml("proxy", 0, "tp", "up"), udp("u2")], [clusterYaml("up", up.port)])))).rejects.toThrow(/UDP listener changes take effect on restart/);
    await expect(h.reload(compileYaml(config([listenerYaml("proxy", 0, "tp", "up"), udp("u1")], [clusterYaml("up", up.port), clusterYaml("more", up.port)])))).rejects.toThrow(/clusters changed while UDP listeners run/);
    expect(stat(h, "server.config_reload.rejected")).toBe(2);
    const o = await h.reload(compileYaml(config([listenerYaml("proxy", 0, "tp9", "up"), udp("u1")], [clusterYaml("up", up.port)])));
    expect(o.modified).toEqual(["proxy"]);
    expect(h.listenerAddresses.get("dns")!.port).toBe(udpPort);
    expect(await roundTrip(h.listenerAddresses.get("proxy")!.port, "tcp ok")).toBe("tcp ok");
  });

  it("closes connections still open when the drain time is over", async () => {
    const up = await upstream();
    const h = await start(config([listenerYaml("proxy", 0, "tp", "up")], [clusterYaml("up", up.port)]), 150);
    const proxy = h.listenerAddresses.get("proxy")!.port;
    const c = await connectClient(proxy);
    c.write("x");
    await once(c, "data");
    const closed = once(c, "end");
    await h.reload(compileYaml(config([], [clusterYaml("up", up.port)])));
    expect(await refused(proxy)).toBe(true);
    await closed;
    expect(stat(h, "listener_manager.total_listeners_draining")).toBe(0);
  });

  it("drainAndClose stops accepting, waits for open connections, then stops", async () => {
    const up = await upstream();
    const h = await start(config([listenerYaml("proxy", 0, "tp", "up")], [clusterYaml("up", up.port)]), 60_000);
    const proxy = h.listenerAddresses.get("proxy")!.port;
    const c = await connectClient(proxy);
    c.write("x");
    await once(c, "data");
    let stopped = false;
    const draining = h.drainAndClose().then(() => (stopped = true));
    await waitFor(() => stat(h, "listener_manager.total_listeners_draining") === 1, "the drain to start");
    expect(await refused(proxy)).toBe(true);
    c.write("y");
    const [echo] = (await once(c, "data")) as [Buffer];
    expect(echo.toString()).toBe("y");
    expect(stopped).toBe(false);
    c.end();
    await draining;
    expect(stat(h, "server.live")).toBe(0);
  });
});
