/**
 * The gRPC and Redis health checkers against real servers on loopback: an HTTP/2 server answering
 * grpc.health.v1.Health/Check (hand-written gRPC framing over node:http2), and a redis-server started by
 * the test (PING, then EXISTS key for maintenance mode).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import http2 from "node:http2";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { closedPort, stat, startYaml, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function yaml(port: number, healthCheck: string): string {
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
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
    health_checks:
    - timeout: 1s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: 2
      healthy_threshold: 1
${healthCheck}`;
}

async function start(port: number, healthCheck: string): Promise<ServerHandle> {
  const h = await startYaml(yaml(port, healthCheck));
  cleanups.push(() => h.close());
  return h;
}

async function hostFlags(h: ServerHandle, port: number): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${h.adminAddress!.port}/clusters`)).text();
  return new RegExp(`^up::127\\.0\\.0\\.1:${port}::health_flags::(.*)$`, "m").exec(text)?.[1];
}

async function waitHost(h: ServerHandle, port: number, want: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await hostFlags(h, port)) === want) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`host ${port} never became ${want} (now ${await hostFlags(h, port)})`);
}

describe("gRPC health checks", () => {
  it("SERVING is healthy; NOT_SERVING ejects at once; service_name and authority are sent", async () => {
    let serving = 1;
    const seen: { authority: string; service: string }[] = [];
    const server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.on("end", () => {
        const body = Buffer.concat(chunks);
        // HealthCheckRequest { string service = 1 } behind the 5-byte gRPC prefix.
        const msg = body.subarray(5);
        seen.push({ authority: String(headers[":authority"]), service: msg.length ? msg.subarray(2, 2 + msg[1]!).toString() : "" });
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, serving]));
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on("session", (s) => {
      sessions.add(s);
      s.on("close", () => sessions.delete(s));
    });
    cleanups.push(() => {
      for (const s of sessions) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    });

    const h = await start(port, `      grpc_health_check: { service_name: pkg.Svc, authority: grpc.example }\n`);
    expect(await hostFlags(h, port)).toBe("healthy");
    expect(seen[0]).toEqual({ authority: "grpc.example", service: "pkg.Svc" });

    serving = 2; // NOT_SERVING
    await waitHost(h, port, "/failed_active_hc");
    expect(stat(h, "cluster.up.health_check.network_failure")).toBe(0);
    serving = 1;
    await waitHost(h, port, "healthy");
    // reuse_connection: one HTTP/2 connection carried every check.
    expect(sessions.size).toBe(1);
  });
});

/** Sends one RESP command to 127.0.0.1:port and returns the first reply line. */
async function redis(port: number, ...args: string[]): Promise<string> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await once(s, "connect");
  s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  const [data] = (await once(s, "data")) as [Buffer];
  s.destroy();
  return data.toString().split("\r\n")[0]!;
}

async function startRedis(): Promise<{ port: number; child: ChildProcess }> {
  const port = await closedPort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const exited = once(child, "exit");
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
  });
  for (let i = 0; ; i++) {
    try {
      if ((await redis(port, "PING")) === "+PONG") break;
    } catch {
      if (i > 200) throw new Error("redis-server did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { port, child };
}

describe("Redis health checks (envoy.health_checkers.redis)", () => {
  it("PING: healthy while redis answers; a stopped redis-server is ejected after unhealthy_threshold network failures", async () => {
    const r = await startRedis();
    const h = await start(r.port, `      custom_health_check:
        name: envoy.health_checkers.redis
        typed_config: { "@type": type.googleapis.com/envoy.extensions.health_checkers.redis.v3.Redis }
`);
    expect(await hostFlags(h, r.port)).toBe("healthy");
    r.child.kill("SIGTERM");
    await once(r.child, "exit");
    await waitHost(h, r.port, "/failed_active_hc");
    expect(stat(h, "cluster.up.health_check.network_failure")).toBeGreaterThanOrEqual(2);
  });

  it("EXISTS key: setting the key puts the host in maintenance (unhealthy at once), deleting it brings it back", async () => {
    const r = await startRedis();
    const h = await start(r.port, `      custom_health_check:
        name: envoy.health_checkers.redis
        typed_config: { "@type": type.googleapis.com/envoy.extensions.health_checkers.redis.v3.Redis, key: maint }
`);
    expect(await hostFlags(h, r.port)).toBe("healthy");
    expect(await redis(r.port, "SET", "maint", "1")).toBe("+OK");
    await waitHost(h, r.port, "/failed_active_hc");
    expect(stat(h, "cluster.up.health_check.network_failure")).toBe(0);
    expect(stat(h, "cluster.up.membership_healthy")).toBe(0);
    expect(await redis(r.port, "DEL", "maint")).toBe(":1");
    await waitHost(h, r.port, "healthy");
    await waitFor(() => stat(h, "cluster.up.membership_healthy") === 1, "membership_healthy back to 1");
  });
});
