/**
 * The TCP proxies the tcp-* scenarios compare, each started as its own process on a port chosen here,
 * forwarding every connection to one upstream on loopback:
 *
 * - Legate's tcp tier: `bin/legate.js -c <yaml> --concurrency 1` (one process: the default is a worker
 *   per CPU) with one listener whose only filter is tcp_proxy;
 * - HAProxy in `mode tcp` (`haproxy -db -f <cfg>`);
 * - nginx's stream module (`nginx -g 'daemon off;'`, one worker);
 * - socat (`TCP-LISTEN:...,fork TCP:...`, a process per connection);
 * - the naive Node proxy (bench/lib/node-pipe-relay.ts: `.pipe()` both ways), with the same Node as
 *   Legate's tier: a reference for what Node's own socket path costs.
 *
 * Every proxy runs single-threaded on the proxy core (Legate's tcp tier runs one event loop per
 * process; HAProxy gets `nbthread 1`, nginx `worker_processes 1`), so the comparison is per core.
 */
import { writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import type { Child } from "./processes.ts";
import type { ScenarioContext, ToolRequirement } from "./types.ts";

export const HAPROXY: ToolRequirement = { command: "haproxy", versionArgs: ["-v"], install: "sudo apt-get update && sudo apt-get install -y haproxy" };
export const NGINX: ToolRequirement = {
  command: "nginx",
  versionArgs: ["-v"],
  install: "sudo apt-get update && sudo apt-get install -y nginx-light libnginx-mod-stream",
};
export const SOCAT: ToolRequirement = { command: "socat", versionArgs: ["-V"], install: "sudo apt-get update && sudo apt-get install -y socat" };

/** Where Debian's nginx keeps the dynamic stream module. */
const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

export type TcpProxyName = "legate" | "haproxy" | "nginx" | "socat" | "node-pipe";

export interface RunningProxy {
  name: TcpProxyName;
  port: number;
  child: Child;
}

/** A port that was free a moment ago (the kernel's pick for port 0, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once something accepts connections on the port; rejects after `timeoutMs` or if the child exits. */
export async function waitForPort(port: number, child: Child, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running) throw new Error(`${child.name} exited before listening on ${port}:\n${child.tail()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not listen on ${port} within ${timeoutMs} ms:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts one proxy in front of `127.0.0.1:<upstreamPort>`, pinned to the proxy core. */
export async function startTcpProxy(ctx: ScenarioContext, name: TcpProxyName, upstreamPort: number): Promise<RunningProxy> {
  const port = await freePort();
  const cpus = ctx.cores ? { cpus: ctx.cores.proxy } : {};
  const dir = ctx.tmpDir;
  let child: Child;
  switch (name) {
    case "legate": {
      const file = join(dir, `legate-tcp-${port}.yaml`);
      writeFileSync(file, legateYaml(port, upstreamPort));
      // The tcp tier's own Node (node_modules/.bin/node, via bin/legate.js), as users run it, but in one
      // process (`--concurrency 1`; the default is one worker per CPU), so it is one core against
      // single-threaded HAProxy and nginx.
      child = ctx.processes.start("legate", process.execPath, [join(ctx.root, "bin", "legate.js"), "-c", file, "--concurrency", "1", "--log-level", "warning"], { cwd: ctx.root, ...cpus });
      break;
    }
    case "haproxy": {
      const file = join(dir, `haproxy-${port}.cfg`);
      writeFileSync(
        file,
        [
          "global",
          "  nbthread 1",
          "  maxconn 4096",
          "defaults",
          "  mode tcp",
          "  timeout connect 5s",
          "  timeout client 120s",
          "  timeout server 120s",
          "frontend in",
          `  bind 127.0.0.1:${port}`,
          "  default_backend out",
          "backend out",
          `  server s1 127.0.0.1:${upstreamPort}`,
          "",
        ].join("\n"),
      );
      child = ctx.processes.start("haproxy", "haproxy", ["-db", "-f", file], cpus);
      break;
    }
    case "nginx": {
      const file = join(dir, `nginx-${port}.conf`);
      writeFileSync(
        file,
        [
          `load_module ${NGINX_STREAM_MODULE};`,
          "worker_processes 1;",
          `pid ${join(dir, `nginx-${port}.pid`)};`,
          `error_log ${join(dir, `nginx-${port}.err`)} warn;`,
          "events { worker_connections 4096; }",
          "stream {",
          `  server { listen 127.0.0.1:${port}; proxy_pass 127.0.0.1:${upstreamPort}; }`,
          "}",
          "",
        ].join("\n"),
      );
      child = ctx.processes.start("nginx", "nginx", ["-c", file, "-p", dir, "-g", "daemon off;"], cpus);
      break;
    }
    case "node-pipe":
      child = ctx.processes.start("node-pipe", process.execPath, [join(ctx.root, "bench", "lib", "node-pipe-relay.ts"), String(port), String(upstreamPort)], { cwd: ctx.root, ...cpus });
      break;
    case "socat":
      child = ctx.processes.start("socat", "socat", [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${upstreamPort},nodelay`], cpus);
      break;
  }
  await waitForPort(port, child);
  return { name, port, child };
}

/** Legate's config for the comparison: one listener, tcp_proxy to one static host. */
function legateYaml(port: number, upstreamPort: number): string {
  return `static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench
          cluster: upstream
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } }
`;
}
