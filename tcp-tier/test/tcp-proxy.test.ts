import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import {
  closedPort,
  compileYaml,
  connectClient,
  echoServer,
  listenTcp,
  proxyPort,
  readAll,
  startYaml,
  stat,
  tagServer,
  TCP_PROXY_TYPE,
  tcpProxyYaml,
  waitFor,
} from "./helpers.ts";
import { startServer } from "../src/server.ts";
import { silentLogger } from "../../shared/log.ts";

const L = "listener.127.0.0.1_0.";
const MIB = 1024 * 1024;

/** Byte i of the test pattern (period 251, so misordered or lost chunks show). */
function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = i % 251;
  return b;
}

/** Checks streamed bytes against the pattern without keeping them. */
function patternChecker() {
  let offset = 0;
  let ok = true;
  return {
    push(d: Buffer) {
      for (let i = 0; i < d.length; i++) if (d[i] !== (offset + i) % 251) ok = false;
      offset += d.length;
    },
    get received() {
      return offset;
    },
    get ok() {
      return ok;
    },
  };
}

/** Waits until `value()` stops changing for `stable` consecutive polls: the pipeline has stalled. */
async function waitStalled(value: () => number, what: string): Promise<void> {
  let last = -1;
  let same = 0;
  await waitFor(() => {
    const v = value();
    same = v === last ? same + 1 : 0;
    last = v;
    return same >= 10;
  }, what, 1000, 5);
}

describe("tcp_proxy", () => {
  it("moves bytes both ways and counts them with Envoy's stat names", async () => {
    const up = await echoServer();
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      const got = readAll(c);
      c.write("hello ");
      c.end("world");
      expect((await got).toString()).toBe("hello world");
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0 && stat(h, "cluster.up.upstream_cx_active") === 0, "both sides closed");
      expect(stat(h, `${L}downstream_cx_total`)).toBe(1);
      expect(stat(h, `${L}downstream_cx_destroy`)).toBe(1);
      expect(stat(h, "tcp.tp.downstream_cx_total")).toBe(1);
      expect(stat(h, "tcp.tp.downstream_cx_rx_bytes_total")).toBe(11);
      expect(stat(h, "tcp.tp.downstream_cx_tx_bytes_total")).toBe(11);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_destroy")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_tx_bytes_total")).toBe(11);
      expect(stat(h, "cluster.up.upstream_cx_rx_bytes_total")).toBe(11);
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(0);
      expect(stat(h, "server.total_connections")).toBe(0);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("half-closes: the client's FIN reaches the upstream, which can still answer", async () => {
    const seen: string[] = [];
    const up = await listenTcp((s) => {
      let data = "";
      s.on("data", (d) => (data += d));
      s.on("end", () => {
        seen.push(`upstream got FIN after "${data}"`);
        s.write("answer after your FIN");
        s.end();
      });
    });
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      const got = readAll(c);
      c.write("request");
      c.end();
      expect((await got).toString()).toBe("answer after your FIN");
      expect(seen).toEqual(['upstream got FIN after "request"']);
      if (!c.closed) await once(c, "close");
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0 && stat(h, "cluster.up.upstream_cx_active") === 0, "both closed");
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("half-closes: the upstream's FIN reaches the client, which can still send", async () => {
    let upstreamGot!: Promise<string>;
    const up = await listenTcp((s) => {
      upstreamGot = new Promise((resolve) => {
        let data = "";
        s.on("data", (d) => (data += d));
        s.on("end", () => {
          resolve(data);
          s.end();
        });
      });
      s.end("greeting then FIN");
    });
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      expect((await readAll(c)).toString()).toBe("greeting then FIN");
      expect(c.destroyed).toBe(false);
      c.write("sent after the upstream's FIN");
      c.end();
      expect(await upstreamGot).toBe("sent after the upstream's FIN");
      if (!c.closed) await once(c, "close");
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0, "downstream closed");
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("closes the client (with a FIN, as Envoy's FlushWrite close) when the upstream resets", async () => {
    const up = await listenTcp((s) => {
      s.once("data", () => s.resetAndDestroy());
    });
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      const got = readAll(c);
      c.write("x");
      expect((await got).length).toBe(0);
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0, "the proxy to close the downstream");
      expect(stat(h, "cluster.up.upstream_cx_destroy_remote")).toBe(1);
      c.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("applies backpressure upstream when the client reads slowly (32 MiB)", async () => {
    const SIZE = 32 * MIB;
    let upSocket: Socket | undefined;
    const up = await listenTcp((s) => {
      upSocket = s;
      s.resume();
      s.end(pattern(SIZE));
    });
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    const limit = 1 * MIB; // the listener's default per_connection_buffer_limit_bytes
    let maxBuffered = 0;
    const sample = () => (maxBuffered = Math.max(maxBuffered, stat(h, "tcp.tp.downstream_cx_tx_bytes_buffered")));
    try {
      const c = await connectClient(proxyPort(h));
      c.pause();
      await waitFor(() => (sample(), stat(h, "cluster.up.upstream_flow_control_paused_reading_total") >= 1), "the proxy to stop reading the upstream");
      // Nobody reads: once nothing moves, the upstream server must still hold unsent bytes (the proxy
      // stopped reading it) while the proxy holds no more than its limit plus one read.
      await waitStalled(() => (sample(), upSocket!.writableLength), "the transfer to stall");
      expect(upSocket!.writableLength).toBeGreaterThan(0);
      expect(maxBuffered).toBeGreaterThan(limit);
      expect(maxBuffered).toBeLessThanOrEqual(limit + 128 * 1024);

      const check = patternChecker();
      let sinceBreak = 0;
      const ended = new Promise<void>((resolve) => c.once("end", () => resolve()));
      c.on("data", (d: Buffer) => {
        check.push(d);
        sample();
        sinceBreak += d.length;
        if (sinceBreak >= MIB) {
          sinceBreak = 0;
          c.pause();
          setTimeout(() => c.resume(), 1);
        }
      });
      c.resume();
      await ended;
      c.end();
      expect(check.received).toBe(SIZE);
      expect(check.ok).toBe(true);
      expect(maxBuffered).toBeLessThanOrEqual(limit + 128 * 1024);
      expect(stat(h, "cluster.up.upstream_flow_control_resumed_reading_total")).toBeGreaterThanOrEqual(1);
      expect(stat(h, "tcp.tp.downstream_cx_tx_bytes_total")).toBe(SIZE);
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0, "closed");
      expect(stat(h, "tcp.tp.downstream_cx_tx_bytes_buffered")).toBe(0);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("applies backpressure to the client when the upstream reads slowly (32 MiB)", async () => {
    const SIZE = 32 * MIB;
    let upSocket: Socket | undefined;
    const check = patternChecker();
    let upstreamDone!: () => void;
    const upstreamEnded = new Promise<void>((r) => (upstreamDone = r));
    const up = await listenTcp((s) => {
      upSocket = s;
      s.pause();
      s.on("data", (d: Buffer) => check.push(d));
      s.on("end", () => {
        upstreamDone();
        s.end();
      });
    });
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`], clusterBufferLimit: 512 * 1024 }));
    const limit = 512 * 1024;
    let maxBuffered = 0;
    const sample = () => (maxBuffered = Math.max(maxBuffered, stat(h, "cluster.up.upstream_cx_tx_bytes_buffered")));
    try {
      const c = await connectClient(proxyPort(h));
      c.resume();
      c.end(pattern(SIZE));
      await waitFor(() => (sample(), stat(h, "tcp.tp.downstream_flow_control_paused_reading_total") >= 1), "the proxy to stop reading the client");
      await waitStalled(() => (sample(), c.writableLength), "the upload to stall");
      expect(c.writableLength).toBeGreaterThan(0);
      expect(maxBuffered).toBeLessThanOrEqual(limit + 128 * 1024);
      expect(stat(h, "cluster.up.upstream_flow_control_backed_up_total")).toBeGreaterThanOrEqual(1);

      upSocket!.on("data", sample);
      upSocket!.resume();
      await upstreamEnded;
      expect(check.received).toBe(SIZE);
      expect(check.ok).toBe(true);
      expect(maxBuffered).toBeLessThanOrEqual(limit + 128 * 1024);
      expect(stat(h, "tcp.tp.downstream_flow_control_resumed_reading_total")).toBeGreaterThanOrEqual(1);
      expect(stat(h, "cluster.up.upstream_flow_control_drained_total")).toBeGreaterThanOrEqual(1);
      if (!c.closed) await once(c, "close");
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("closes the client and counts upstream_cx_connect_fail when the upstream refuses", async () => {
    const port = await closedPort();
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      c.write("anyone there?");
      const got = await readAll(c);
      expect(got.length).toBe(0);
      await waitFor(() => stat(h, `${L}downstream_cx_active`) === 0, "downstream closed");
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_connect_timeout")).toBe(0);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_active")).toBe(0);
      expect(stat(h, "tcp.tp.downstream_cx_rx_bytes_buffered")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("gives up after connect_timeout and counts upstream_cx_connect_timeout", async () => {
    // An upstream whose accept queue is full: a child process listens with backlog 1 and then blocks
    // its event loop, so it accepts nothing; once two handshakes fill the queue the kernel drops SYNs.
    const script = `
      const net = require("node:net");
      const s = net.createServer();
      s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
        process.stdout.write(s.address().port + "\\n");
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
        process.exit(0);
      });`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "ignore"] });
    const fillers: Socket[] = [];
    try {
      const [line] = (await once(child.stdout, "data")) as [Buffer];
      const port = Number(line.toString().trim());
      for (let i = 0; i < 2; i++) {
        const f = connect({ host: "127.0.0.1", port });
        f.on("error", () => {});
        fillers.push(f);
        await once(f, "connect");
      }
      const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${port}`], connectTimeout: "0.2s" }));
      try {
        const c = await connectClient(proxyPort(h));
        await readAll(c);
        expect(stat(h, "cluster.up.upstream_cx_connect_timeout")).toBe(1);
        expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(1);
        expect(stat(h, "cluster.up.upstream_cx_active")).toBe(0);
      } finally {
        await h.close();
      }
    } finally {
      for (const f of fillers) f.destroy();
      child.kill();
    }
  });

  it("buffers what the client sends before the upstream connects, up to the buffer limit, then flushes it in order", async () => {
    // An upstream that cannot accept yet: a worker thread listens with backlog 1 and blocks until told
    // to go on; two handshakes fill its accept queue, so the proxy's SYN is dropped and retried (~1 s).
    const sab = new SharedArrayBuffer(4);
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads");
      const net = require("node:net");
      const s = net.createServer({ allowHalfOpen: true }, (c) => {
        c.on("error", () => {});
        c.on("data", (d) => c.write(d));
        c.on("end", () => c.end());
      });
      s.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
        parentPort.postMessage(s.address().port);
        Atomics.wait(new Int32Array(workerData.sab), 0, 0);
      });`,
      { eval: true, workerData: { sab } },
    );
    const fillers: Socket[] = [];
    try {
      const [port] = (await once(worker, "message")) as [number];
      for (let i = 0; i < 2; i++) {
        const f = connect({ host: "127.0.0.1", port });
        f.on("error", () => {});
        fillers.push(f);
        await once(f, "connect");
      }
      const limit = 64 * 1024;
      const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${port}`], connectTimeout: "10s", listenerBufferLimit: limit }));
      try {
        // More than the kernel's socket buffers hold, so the client is left holding bytes while the proxy waits.
        const SIZE = 16 * MIB;
        const c = await connectClient(proxyPort(h));
        const check = patternChecker();
        c.on("data", (d: Buffer) => check.push(d));
        c.write(pattern(SIZE));
        let maxEarly = 0;
        const sample = () => (maxEarly = Math.max(maxEarly, stat(h, "tcp.tp.downstream_cx_rx_bytes_buffered")));
        await waitStalled(() => (sample(), c.writableLength), "the early bytes to stall");
        expect(stat(h, "cluster.up.upstream_cx_active")).toBe(1);
        expect(c.writableLength).toBeGreaterThan(0);
        expect(maxEarly).toBeGreaterThan(limit);
        expect(maxEarly).toBeLessThanOrEqual(limit + 128 * 1024);
        Atomics.store(new Int32Array(sab), 0, 1);
        Atomics.notify(new Int32Array(sab), 0);
        await waitFor(() => check.received === SIZE, "the echo of everything", 1000, 5);
        expect(check.ok).toBe(true);
        expect(stat(h, "tcp.tp.downstream_cx_rx_bytes_buffered")).toBe(0);
        c.end();
      } finally {
        await h.close();
      }
    } finally {
      for (const f of fillers) f.destroy();
      Atomics.store(new Int32Array(sab), 0, 1);
      Atomics.notify(new Int32Array(sab), 0);
      await worker.terminate();
    }
  });

  it("close() ends open proxied connections and resolves done", async () => {
    const up = await echoServer();
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${up.port}`] }));
    try {
      const c = await connectClient(proxyPort(h));
      c.write("ping");
      await once(c, "data");
      const ended = readAll(c);
      await h.close();
      await h.done;
      await ended;
      await waitFor(() => up.sockets.size === 0, "the upstream connection to close");
      expect(stat(h, "server.live")).toBe(0);
      c.destroy();
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("counts upstream_cx_none_healthy when a DNS cluster has no hosts", async () => {
    // An IPv4 literal under V6_ONLY resolves to nothing, without asking a DNS server.
    const h = await startYaml(tcpProxyYaml({ endpoints: ["127.0.0.1:1"], clusterType: "STRICT_DNS", dnsLookupFamily: "V6_ONLY" }));
    try {
      expect(stat(h, "cluster.up.membership_total")).toBe(0);
      expect(stat(h, "cluster.up.update_failure")).toBe(1);
      const c = await connectClient(proxyPort(h));
      await readAll(c);
      expect(stat(h, "cluster.up.upstream_cx_none_healthy")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("round-robins across two upstreams", async () => {
    const a = await tagServer("A");
    const b = await tagServer("B");
    const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] }));
    try {
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await connectClient(proxyPort(h));
        seen.push((await readAll(c)).toString());
        c.end();
      }
      expect(seen).toEqual(["A", "B", "A", "B"]);
      expect(stat(h, "cluster.up.membership_total")).toBe(2);
      expect(stat(h, "cluster.up.membership_healthy")).toBe(2);
    } finally {
      await h.close();
      await a.close();
      await b.close();
    }
  });

  it("resolves a STRICT_DNS cluster (localhost) and keeps re-resolving it", async () => {
    const up = await tagServer("via-dns");
    const h = await startYaml(
      tcpProxyYaml({ endpoints: [`localhost:${up.port}`], clusterType: "STRICT_DNS", dnsLookupFamily: "V4_ONLY", dnsRefreshRate: "0.02s" }),
    );
    try {
      expect(stat(h, "cluster.up.membership_total")).toBe(1);
      const c = await connectClient(proxyPort(h));
      expect((await readAll(c)).toString()).toBe("via-dns");
      c.end();
      await waitFor(() => stat(h, "cluster.up.update_no_rebuild") >= 2, "two more resolutions");
      expect(stat(h, "cluster.up.update_success")).toBeGreaterThanOrEqual(3);
      expect(stat(h, "cluster.up.membership_change")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("resolves a LOGICAL_DNS cluster", async () => {
    const up = await tagServer("logical");
    const h = await startYaml(tcpProxyYaml({ endpoints: [`localhost:${up.port}`], clusterType: "LOGICAL_DNS", dnsLookupFamily: "V4_ONLY" }));
    try {
      const c = await connectClient(proxyPort(h));
      expect((await readAll(c)).toString()).toBe("logical");
      c.end();
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("uses LEAST_REQUEST and RANDOM clusters", async () => {
    const a = await tagServer("A");
    for (const policy of ["LEAST_REQUEST", "RANDOM"]) {
      const h = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${a.port}`], lbPolicy: policy }));
      try {
        const c = await connectClient(proxyPort(h));
        expect((await readAll(c)).toString()).toBe("A");
        c.end();
      } finally {
        await h.close();
      }
    }
    await a.close();
  });
});

describe("listeners", () => {
  it("closes connections no filter chain matches and counts no_filter_chain_match", async () => {
    const h = await startYaml(`
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filter_chain_match: { destination_port: 1 }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`);
    try {
      const c = await connectClient(proxyPort(h));
      await readAll(c);
      expect(stat(h, `${L}no_filter_chain_match`)).toBe(1);
      expect(stat(h, `${L}downstream_cx_total`)).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("prefers the chain naming the destination port, then the default chain", async () => {
    const a = await tagServer("port-chain");
    const b = await tagServer("default-chain");
    const chain = (cluster: string, prefix: string) =>
      `[{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: ${prefix}, cluster: ${cluster} } }]`;
    const cluster = (name: string, port: number) => `
  - name: ${name}
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]`;
    // Bind on a known free port so the chain can name it.
    const port = await closedPort();
    const h = await startYaml(`
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filter_chain_match: { server_names: [example.com] }
      filters: ${chain("b", "sni")}
    - filter_chain_match: { destination_port: ${port} }
      filters: ${chain("a", "port")}
    default_filter_chain:
      filters: ${chain("b", "dflt")}
  - name: other
    address: { socket_address: { address: 127.0.0.2, port_value: 0 } }
    filter_chains:
    - filter_chain_match: { destination_port: 1 }
      filters: ${chain("a", "never")}
    default_filter_chain:
      filters: ${chain("b", "dflt2")}
  clusters:${cluster("a", a.port)}${cluster("b", b.port)}
`);
    try {
      const c1 = await connectClient(proxyPort(h));
      expect((await readAll(c1)).toString()).toBe("port-chain");
      c1.end();
      const c2 = connect({ host: "127.0.0.2", port: proxyPort(h, "other") });
      expect((await readAll(c2)).toString()).toBe("default-chain");
      c2.end();
    } finally {
      await h.close();
      await a.close();
      await b.close();
    }
  });

  it("skips edge listeners (the Worker serves them)", async () => {
    const hcm = `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          route_config: { virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] }
          http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]`;
    const h = await startYaml(`
static_resources:
  listeners:
  - name: web
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    metadata: { filter_metadata: { legate: { edge: true } } }
    filter_chains:
    - filters:${hcm}
`);
    try {
      expect(h.listenerAddresses.size).toBe(0);
      expect(stat(h, "listener_manager.total_listeners_active")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("fails with LEGATE_BIND_FAILED when a listener's address is taken, releasing what it bound", async () => {
    const taken = await echoServer();
    const { model, canonical } = compileYaml(`
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: ok
    address: { socket_address: { address: 127.0.0.2, port_value: 0 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: a, cluster: up } }] }]
  - name: clash
    address: { socket_address: { address: 127.0.0.1, port_value: ${taken.port} } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: b, cluster: up } }] }]
  clusters:
  - name: up
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
`);
    try {
      await expect(startServer({ model, canonical, logger: silentLogger, version: "0.1.0" })).rejects.toMatchObject({ code: "LEGATE_BIND_FAILED" });
    } finally {
      await taken.close();
    }
  });
});
