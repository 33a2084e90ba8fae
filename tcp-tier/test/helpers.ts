/** Test helpers: real servers and clients on loopback, configs compiled by the real compiler. */
import { once } from "node:events";
import { createServer, connect, type Server, type Socket } from "node:net";
import { compileBootstrap } from "../../shared/config/compile.ts";
import type { BootstrapModel } from "../../shared/config/model.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { silentLogger } from "../../shared/log.ts";
import { startServer, type ServerHandle } from "../src/server.ts";

export const TEST_VERSION = "d693d4000000000000000000000000000000000a/0.1.0/Clean/RELEASE/OpenSSL";

export const TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** Parses and compiles Envoy YAML; fails the test on any issue. */
export function compileYaml(yaml: string): { model: BootstrapModel; canonical: Record<string, unknown> } {
  const parsed = parseConfigText(yaml);
  if (parsed.issues.length) throw new Error(parsed.issues.map((i) => i.message).join("\n"));
  const { model, issues } = compileBootstrap(parsed.value);
  if (!model) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  return { model, canonical: parsed.value as Record<string, unknown> };
}

/** Starts the tcp tier on a YAML config (silent logger, an Envoy-shaped version string as the CLI passes). */
export async function startYaml(yaml: string, extra: { commandLineOptions?: Record<string, unknown>; concurrency?: number } = {}): Promise<ServerHandle> {
  const { model, canonical } = compileYaml(yaml);
  return startServer({ model, canonical, logger: silentLogger, version: TEST_VERSION, ...extra });
}

/** A one-cluster, one-listener tcp_proxy config; `endpoints` are `host:port` strings. */
export function tcpProxyYaml(opts: {
  endpoints: string[];
  clusterType?: "STATIC" | "STRICT_DNS" | "LOGICAL_DNS";
  lbPolicy?: string;
  connectTimeout?: string;
  listenerBufferLimit?: number;
  clusterBufferLimit?: number;
  extraCluster?: string;
  admin?: boolean;
  dnsLookupFamily?: string;
  dnsRefreshRate?: string;
}): string {
  const eps = opts.endpoints
    .map((e) => {
      const i = e.lastIndexOf(":");
      return `        - endpoint: { address: { socket_address: { address: "${e.slice(0, i)}", port_value: ${e.slice(i + 1)} } } }`;
    })
    .join("\n");
  return `
${opts.admin ? "admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n" : ""}static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${opts.listenerBufferLimit !== undefined ? `    per_connection_buffer_limit_bytes: ${opts.listenerBufferLimit}\n` : ""}    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_PROXY_TYPE}
          stat_prefix: tp
          cluster: up
  clusters:
  - name: up
    connect_timeout: ${opts.connectTimeout ?? "2s"}
    type: ${opts.clusterType ?? "STATIC"}
    lb_policy: ${opts.lbPolicy ?? "ROUND_ROBIN"}
${opts.clusterBufferLimit !== undefined ? `    per_connection_buffer_limit_bytes: ${opts.clusterBufferLimit}\n` : ""}${opts.dnsLookupFamily ? `    dns_lookup_family: ${opts.dnsLookupFamily}\n` : ""}${opts.dnsRefreshRate ? `    dns_refresh_rate: ${opts.dnsRefreshRate}\n` : ""}    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
${eps}
${opts.extraCluster ?? ""}`;
}

/** Starts a TCP server on 127.0.0.1:0 with half-open sockets allowed. */
export async function listenTcp(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onSocket(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An echo server. */
export function echoServer() {
  return listenTcp((s) => {
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
  });
}

/** A server that writes `tag` then closes its side. */
export function tagServer(tag: string) {
  return listenTcp((s) => {
    s.resume();
    s.end(tag);
  });
}

/** Connects a half-open-capable client to 127.0.0.1:port. */
export async function connectClient(port: number): Promise<Socket> {
  const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  s.on("error", () => {});
  await once(s, "connect");
  return s;
}

/** Collects everything until the peer's FIN (or close). */
export function readAll(s: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    const done = () => resolve(Buffer.concat(parts));
    s.once("end", done);
    s.once("close", done);
  });
}

/** Polls `cond` on the event loop until true; fails after `maxTries` polls of `stepMs`. */
export async function waitFor(cond: () => boolean, what: string, maxTries = 400, stepMs = 5): Promise<void> {
  for (let i = 0; i < maxTries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A stat's current value (counter or gauge), 0 when it does not exist. */
export function stat(handle: ServerHandle, name: string): number {
  return handle.stats.values().get(name) ?? 0;
}

/** The proxy listener's port. */
export function proxyPort(handle: ServerHandle, name = "proxy"): number {
  const a = handle.listenerAddresses.get(name);
  if (!a) throw new Error(`listener ${name} not bound`);
  return a.port;
}

/** A port that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Opens a connection to the proxy, sends `msg`, and resolves with the echo, or "" when the proxy closed it first (rate limited, denied). */
export async function tryEcho(port: number, msg: string): Promise<string> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => {});
  await once(s, "connect");
  let got = "";
  s.on("data", (d: Buffer) => {
    got += d.toString();
    if (got.length >= msg.length) s.end();
  });
  s.write(msg);
  await new Promise<void>((resolve) => s.on("close", () => resolve()));
  return got;
}
