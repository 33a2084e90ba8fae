/**
 * Listener filters on real sockets: tls_inspector (openssl s_client and a captured ClientHello),
 * proxy_protocol (curl --haproxy-protocol and hand-written v1/v2 headers, at every 2-way split and byte by
 * byte), http_inspector (curl HTTP/1.0, HTTP/1.1, h2c), the listener filter timeout, and byte-exact replay.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { parseClientHello } from "../src/codec/tls-client-hello.ts";
import { TCP_PROXY_TYPE, listenTcp, proxyPort, readAll, startYaml, stat, waitFor } from "./helpers.ts";
import { type CertFiles, makePki, yamlString } from "./tls-helpers.ts";

const run = promisify(execFile);
const T = "type.googleapis.com/envoy.extensions.filters.listener";
const TLS_INSPECTOR = `    - name: envoy.filters.listener.tls_inspector\n      typed_config: { "@type": ${T}.tls_inspector.v3.TlsInspector }\n`;
const HTTP_INSPECTOR = `    - name: envoy.filters.listener.http_inspector\n      typed_config: { "@type": ${T}.http_inspector.v3.HttpInspector }\n`;
const proxyProtocol = (fields = "") => `    - name: envoy.filters.listener.proxy_protocol\n      typed_config: { "@type": ${T}.proxy_protocol.v3.ProxyProtocol${fields ? `, ${fields}` : ""} }\n`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An upstream that records each connection's bytes (until the peer's FIN) and answers with `tag`. */
async function captureUpstream(tag: string) {
  const received: Buffer[] = [];
  const state = { accepted: 0 };
  const srv = await listenTcp((s) => {
    state.accepted++;
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => {
      parts.push(d);
      if (parts.length === 1) s.write(tag);
    });
    s.on("end", () => {
      received.push(Buffer.concat(parts));
      s.end();
    });
  });
  cleanups.push(() => srv.close());
  return { port: srv.port, received, sockets: srv.sockets, state };
}

/** A listener with `listener_filters`, one chain per match (chain i proxies to cluster up<i>), and an optional default chain. */
async function start(opts: { filters: string; matches: (string | undefined)[]; withDefault?: boolean; extra?: string; accessLogPath?: string }) {
  const ups = await Promise.all(opts.matches.map((_, i) => captureUpstream(`chain${i}`)));
  const def = opts.withDefault ? await captureUpstream("default") : undefined;
  const chain = (i: number) => `      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_PROXY_TYPE}
          stat_prefix: tp${i}
          cluster: up${i}
${opts.accessLogPath ? `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${opts.accessLogPath}
              log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS% %REQUESTED_SERVER_NAME%\\n" } }
` : ""}`;
  const cluster = (name: string, port: number) => `  - name: ${name}
    connect_timeout: 2s
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]`;
  const yaml = `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${opts.extra ?? ""}    listener_filters:
${opts.filters}    filter_chains:
${opts.matches.map((m, i) => `    - name: c${i}\n${m ? `      filter_chain_match: ${m}\n` : ""}${chain(i)}`).join("\n")}
${def ? `    default_filter_chain:\n      name: default\n${chain(opts.matches.length)}` : ""}
  clusters:
${[...ups.map((u, i) => cluster(`up${i}`, u.port)), ...(def ? [cluster(`up${opts.matches.length}`, def.port)] : [])].join("\n")}
`;
  const handle: ServerHandle = await startYaml(yaml);
  cleanups.push(() => handle.close());
  return { handle, port: proxyPort(handle), ups, def };
}

/** Sends `chunks` (waiting `gapMs` between them), half-closes, and returns what came back. */
async function send(port: number, chunks: Uint8Array[], gapMs = 0): Promise<Buffer> {
  const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true, noDelay: true });
  s.on("error", () => {});
  cleanups.push(() => void s.destroy());
  await once(s, "connect");
  const back = readAll(s);
  for (const [i, c] of chunks.entries()) {
    if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    s.write(c);
  }
  s.end();
  return back;
}

const enc = (s: string) => Buffer.from(s, "latin1");
const v2sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** A PROXY v2 header (PROXY, TCP over IPv4) with an authority TLV. */
function v2Header(src: [number, number, number, number], srcPort: number): Buffer {
  const tlv = [0x02, 0x00, 0x04, ...enc("host")];
  const body = [...src, 127, 0, 0, 1, srcPort >> 8, srcPort & 0xff, 0x1f, 0x90, ...tlv];
  return Buffer.from([...v2sig, 0x21, 0x11, body.length >> 8, body.length & 0xff, ...body]);
}

/** A ClientHello from Node's TLS client, as bytes (captured by a raw server). */
async function captureClientHello(servername: string, alpn: string[]): Promise<Buffer> {
  const got: Buffer[] = [];
  const srv = await listenTcp((s) => s.on("data", (d: Buffer) => got.push(d)));
  try {
    const c = tlsConnect({ host: "127.0.0.1", port: srv.port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    c.on("error", () => {});
    await waitFor(() => parseClientHello(Buffer.concat(got), 65536).kind === "hello", "ClientHello");
    c.destroy();
    return Buffer.concat(got);
  } finally {
    await srv.close();
  }
}

/** Runs `openssl s_client` with SNI and ALPN until it has sent its ClientHello and the proxy answered. */
async function opensslHello(port: number, servername: string, alpn: string): Promise<void> {
  const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", servername, "-alpn", alpn, "-quiet"], { stdio: ["pipe", "pipe", "pipe"] });
  cleanups.push(() => void child.kill());
  child.stdout.resume();
  child.stderr.resume();
  // The upstream is no TLS server: it answers "chainN" and the handshake fails; openssl then exits.
  const exit = once(child, "exit");
  await Promise.race([exit, new Promise((r) => setTimeout(r, 5000))]);
}

describe("tls_inspector", () => {
  it("routes openssl s_client by SNI and ALPN, and the upstream gets the ClientHello untouched", async () => {
    const { handle, port, ups } = await start({
      filters: TLS_INSPECTOR,
      matches: [`{ server_names: [api.example.com], application_protocols: [h2] }`, `{ server_names: ["*.example.com"] }`, `{ transport_protocol: raw_buffer }`],
    });
    await opensslHello(port, "api.example.com", "h2,http/1.1");
    await waitFor(() => ups[0]!.received.length === 1, "chain 0 upstream");
    expect(parseClientHello(ups[0]!.received[0]!, 65536)).toMatchObject({ kind: "hello", serverName: "api.example.com", alpn: ["h2", "http/1.1"] });
    await opensslHello(port, "www.example.com", "http/1.1");
    await waitFor(() => ups[1]!.received.length === 1, "chain 1 upstream");
    expect(parseClientHello(ups[1]!.received[0]!, 65536)).toMatchObject({ kind: "hello", serverName: "www.example.com" });
    // Plain bytes are raw_buffer.
    expect((await send(port, [enc("plain text")])).toString()).toBe("chain2");
    expect(ups[2]!.received).toEqual([enc("plain text")]);
    expect(stat(handle, "tls_inspector.tls_found")).toBe(2);
    expect(stat(handle, "tls_inspector.sni_found")).toBe(2);
    expect(stat(handle, "tls_inspector.alpn_found")).toBe(2);
    expect(stat(handle, "tls_inspector.tls_not_found")).toBe(1);
  });

  it("replays a ClientHello byte-exact at every 2-way split, and when it arrives byte by byte", async () => {
    const { handle, port, ups } = await start({ filters: TLS_INSPECTOR, matches: [`{ server_names: [split.example] }`] });
    const hello = await captureClientHello("split.example", ["h2"]);
    const payload = Buffer.concat([hello, enc("after-hello")]);
    const step = Math.max(1, Math.floor(payload.length / 12));
    const splits: number[] = [];
    for (let i = 1; i < payload.length; i += step) splits.push(i);
    for (const i of splits) expect((await send(port, [payload.subarray(0, i), payload.subarray(i)], 2)).toString()).toBe("chain0");
    expect((await send(port, [...payload.subarray(0, 60)].map((b) => Buffer.from([b])).concat([payload.subarray(60)]), 1)).toString()).toBe("chain0");
    await waitFor(() => ups[0]!.received.length === splits.length + 1, "all upstream connections");
    for (const r of ups[0]!.received) expect(r.equals(payload)).toBe(true);
    expect(stat(handle, "tls_inspector.tls_found")).toBe(splits.length + 1);
  });

  it("closes on a ClientHello over 64 KiB and counts it", async () => {
    const { handle, port, ups } = await start({ filters: TLS_INSPECTOR, matches: [undefined] });
    const header = Buffer.from([0x16, 3, 1, 0x40, 0x00, 1, 0x01, 0x00, 0x00]);
    expect((await send(port, [header])).length).toBe(0);
    expect(stat(handle, "tls_inspector.client_hello_too_large")).toBe(1);
    expect(ups[0]!.received).toEqual([]);
  });
});

describe("proxy_protocol", () => {
  it("curl --haproxy-protocol: the header is consumed and the HTTP request reaches the upstream byte-exact", async () => {
    const { handle, port, ups } = await start({ filters: proxyProtocol(), matches: [`{ source_prefix_ranges: [{ address_prefix: 127.0.0.1, prefix_len: 32 }] }`] });
    // The capture upstream answers "chain0" (not HTTP): curl reports an error, which is fine here.
    await run("curl", ["-s", "--haproxy-protocol", "--max-time", "5", "-H", "X-Test: 1", `http://127.0.0.1:${port}/path`]).catch(() => undefined);
    await waitFor(() => ups[0]!.received.length === 1, "upstream bytes");
    expect(stat(handle, "proxy_proto.versions.v1.found")).toBe(1);
    const req = ups[0]!.received[0]!.toString("latin1");
    expect(req.startsWith("GET /path HTTP/1.1\r\n")).toBe(true);
    expect(req).toContain("X-Test: 1\r\n");
    expect(req).not.toContain("PROXY");
  });

  it("the header's source picks the chain (source_prefix_ranges, EXTERNAL); direct_source_prefix_ranges sees the socket", async () => {
    const { handle, port, ups } = await start({
      filters: proxyProtocol(),
      matches: [
        `{ source_type: EXTERNAL, source_prefix_ranges: [{ address_prefix: 203.0.113.0, prefix_len: 24 }] }`,
        `{ source_type: EXTERNAL, source_prefix_ranges: [{ address_prefix: 198.51.100.0, prefix_len: 24 }], source_ports: [5555] }`,
        `{ source_type: SAME_IP_OR_LOOPBACK }`,
      ],
    });
    const body = enc("payload-bytes");
    expect((await send(port, [enc("PROXY TCP4 203.0.113.9 127.0.0.1 1234 443\r\n"), body])).toString()).toBe("chain0");
    expect((await send(port, [Buffer.concat([v2Header([198, 51, 100, 1], 5555), body])])).toString()).toBe("chain1");
    expect((await send(port, [Buffer.concat([v2Header([198, 51, 100, 1], 5556), body])])).toString()).toBe("");
    expect((await send(port, [enc("PROXY TCP4 127.0.0.5 127.0.0.1 1 2\r\n"), body])).toString()).toBe("chain2");
    // LOCAL (v2) and UNKNOWN (v1) keep the socket's own (loopback) addresses.
    expect((await send(port, [Buffer.from([...v2sig, 0x20, 0x00, 0, 0]), body])).toString()).toBe("chain2");
    expect((await send(port, [enc("PROXY UNKNOWN\r\n"), body])).toString()).toBe("chain2");
    await waitFor(() => ups.reduce((n, u) => n + u.received.length, 0) === 5, "upstream bytes");
    for (const u of ups) for (const r of u.received) expect(r.equals(body)).toBe(true);
    expect(stat(handle, "listener.127.0.0.1_0.no_filter_chain_match")).toBe(1);
    expect(stat(handle, "proxy_proto.versions.v1.found")).toBe(3);
    expect(stat(handle, "proxy_proto.versions.v2.found")).toBe(3);
  });

  it("consumes a v2 header with TLVs at every 2-way split and byte by byte; the rest is replayed byte-exact", async () => {
    const { port, ups } = await start({ filters: proxyProtocol(), matches: [`{ source_prefix_ranges: [{ address_prefix: 192.0.2.0, prefix_len: 24 }] }`] });
    const header = v2Header([192, 0, 2, 44], 40000);
    const body = Buffer.from([0, 1, 2, 0x0d, 0x0a, 255, 0x50, 0x52]);
    const all = Buffer.concat([header, body]);
    for (let i = 1; i < all.length; i++) expect((await send(port, [all.subarray(0, i), all.subarray(i)], 2)).toString()).toBe("chain0");
    expect((await send(port, [...all].map((b) => Buffer.from([b])), 1)).toString()).toBe("chain0");
    await waitFor(() => ups[0]!.received.length === all.length, "upstream bytes");
    for (const r of ups[0]!.received) expect(r.equals(body)).toBe(true);
  });

  it("closes and counts malformed, missing and disallowed headers; allow_requests_without_proxy_protocol passes plain bytes", async () => {
    const strict = await start({ filters: proxyProtocol("disallowed_versions: [V2], stat_prefix: edge"), matches: [undefined] });
    expect((await send(strict.port, [enc("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\nrest")])).length).toBe(0);
    expect((await send(strict.port, [enc("GET / HTTP/1.1\r\n\r\n")])).length).toBe(0);
    expect((await send(strict.port, [Buffer.concat([v2Header([192, 0, 2, 1], 1), enc("x")])])).length).toBe(0);
    // A peer that closes inside the header.
    expect((await send(strict.port, [enc("PROXY TCP4 1.2")])).length).toBe(0);
    expect(stat(strict.handle, "proxy_proto.edge.versions.v1.error")).toBe(1);
    expect(stat(strict.handle, "proxy_proto.edge.not_found_disallowed")).toBe(1);
    expect(stat(strict.handle, "proxy_proto.edge.versions.v2.disallowed")).toBe(1);
    await waitFor(() => stat(strict.handle, "listener.127.0.0.1_0.downstream_listener_filter_remote_close") === 1, "remote close counted");
    expect(stat(strict.handle, "listener.127.0.0.1_0.downstream_pre_cx_active")).toBe(0);
    expect(strict.ups[0]!.received).toEqual([]);

    const lax = await start({ filters: proxyProtocol("allow_requests_without_proxy_protocol: true"), matches: [undefined] });
    expect((await send(lax.port, [enc("PRO"), enc("TOCOL-LIKE but not a header")], 2)).toString()).toBe("chain0");
    await waitFor(() => lax.ups[0]!.received.length === 1, "upstream bytes");
    expect(lax.ups[0]!.received[0]!.toString()).toBe("PROTOCOL-LIKE but not a header");
    expect(stat(lax.handle, "proxy_proto.not_found_allowed")).toBe(1);
  });
});

describe("what listener filters learn reaches the connection", () => {
  it("PROXY source/destination and SNI become the connection's addresses; direct_source_prefix_ranges sees the socket's peer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "legate-b1-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const logPath = join(dir, "access.log");
    const { port, ups } = await start({
      filters: proxyProtocol() + TLS_INSPECTOR,
      matches: [`{ direct_source_prefix_ranges: [{ address_prefix: 127.0.0.2, prefix_len: 32 }] }`, undefined],
      accessLogPath: logPath,
    });
    const hello = await captureClientHello("log.example", []);
    const viaSecondLoopback = async (header: string, from: string) => {
      const s = connect({ host: "127.0.0.1", port, localAddress: from, allowHalfOpen: true });
      s.on("error", () => {});
      cleanups.push(() => void s.destroy());
      await once(s, "connect");
      const back = readAll(s);
      s.end(Buffer.concat([enc(header), hello]));
      return (await back).toString();
    };
    expect(await viaSecondLoopback("PROXY TCP4 203.0.113.7 10.1.2.3 5555 8443\r\n", "127.0.0.2")).toBe("chain0");
    // The header claims 127.0.0.2, but the socket's own peer is 127.0.0.1: not chain 0.
    expect(await viaSecondLoopback("PROXY TCP4 127.0.0.2 10.1.2.3 5556 8443\r\n", "127.0.0.1")).toBe("chain1");
    await waitFor(() => ups[0]!.received.length === 1 && ups[1]!.received.length === 1, "upstream bytes");
    expect(ups[0]!.received[0]!.equals(hello)).toBe(true);
    let lines: string[] = [];
    await waitFor(() => {
      lines = existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").filter(Boolean) : [];
      return lines.length === 2;
    }, "access log lines");
    expect(lines.sort()).toEqual(["127.0.0.2:5556 127.0.0.1 10.1.2.3:8443 log.example", "203.0.113.7:5555 127.0.0.2 10.1.2.3:8443 log.example"]);
  });
});

describe("TLS termination after chain selection", () => {
  it("tls_inspector picks the chain by SNI; that chain's transport socket gets the ClientHello and the upstream gets plaintext", async () => {
    const pki = makePki();
    cleanups.push(() => pki.remove());
    const tls = (c: CertFiles) => `      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { inline_string: ${yamlString(c.cert)} }
              private_key: { inline_string: ${yamlString(c.key)} }
`;
    const { handle, port, ups } = await start({
      filters: TLS_INSPECTOR,
      matches: [`{ server_names: [a.test] }\n${tls(pki.serverA)}`, `{ server_names: ["*.b.test"] }\n${tls(pki.serverB)}`],
    });
    const hello = async (servername: string) => {
      const c = tlsConnect({ host: "127.0.0.1", port, servername, ca: pki.ca.cert, checkServerIdentity: () => undefined });
      c.on("error", () => {});
      cleanups.push(() => void c.destroy());
      await once(c, "secureConnect");
      const cn = c.getPeerCertificate().subject?.CN;
      const back = new Promise<string>((resolve) => {
        let got = "";
        c.on("data", (d: Buffer) => (got += d.toString()));
        c.on("end", () => resolve(got));
        c.on("close", () => resolve(got));
      });
      c.end(`plaintext for ${servername}`);
      return { cn, back: await back };
    };
    expect(await hello("a.test")).toEqual({ cn: "a.test", back: "chain0" });
    expect(await hello("x.b.test")).toEqual({ cn: "b.test", back: "chain1" });
    await waitFor(() => ups[0]!.received.length === 1 && ups[1]!.received.length === 1, "upstream bytes");
    expect(ups[0]!.received[0]!.toString()).toBe("plaintext for a.test");
    expect(ups[1]!.received[0]!.toString()).toBe("plaintext for x.b.test");
    expect(stat(handle, "tls_inspector.sni_found")).toBe(2);
  });
});

describe("http_inspector", () => {
  it("routes curl by HTTP version (http/1.0, http/1.1, h2c) and other bytes to the default chain", async () => {
    const { handle, port, ups, def } = await start({
      filters: HTTP_INSPECTOR,
      matches: [`{ application_protocols: [http/1.1] }`, `{ application_protocols: [http/1.0] }`, `{ application_protocols: [h2c] }`],
      withDefault: true,
    });
    for (const [arg, i] of [["--http1.1", 0], ["--http1.0", 1], ["--http2-prior-knowledge", 2]] as const) {
      // The upstream's answer is no HTTP: curl fails (or, for h2c, waits), so it is stopped once routed.
      const child = spawn("curl", ["-s", "--max-time", "5", arg, `http://127.0.0.1:${port}/x`], { stdio: "ignore" });
      const exited = once(child, "exit");
      await waitFor(() => ups[i]!.state.accepted === 1, `chain ${i} upstream`);
      child.kill();
      await exited;
    }
    expect((await send(port, [enc("\x00\x01binary")])).toString()).toBe("default");
    await waitFor(() => def!.received.length === 1, "default upstream bytes");
    expect(def!.received[0]!.toString("latin1")).toBe("\x00\x01binary");
    expect(stat(handle, "http_inspector.http11_found")).toBe(1);
    expect(stat(handle, "http_inspector.http10_found")).toBe(1);
    expect(stat(handle, "http_inspector.http2_found")).toBe(1);
    expect(stat(handle, "http_inspector.http_not_found")).toBe(1);
  });

  it("after tls_inspector found TLS, http_inspector leaves the connection alone", async () => {
    const { handle, port, ups } = await start({ filters: TLS_INSPECTOR + HTTP_INSPECTOR, matches: [`{ transport_protocol: tls }`, `{ application_protocols: [http/1.1] }`] });
    const hello = await captureClientHello("x.example", []);
    expect((await send(port, [hello])).toString()).toBe("chain0");
    expect((await send(port, [enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n")])).toString()).toBe("chain1");
    await waitFor(() => ups[0]!.received.length === 1 && ups[1]!.received.length === 1, "upstream bytes");
    expect(ups[0]!.received[0]!.equals(hello)).toBe(true);
    expect(stat(handle, "http_inspector.http11_found")).toBe(1);
    expect(stat(handle, "http_inspector.http_not_found")).toBe(0);
  });
});

describe("listener_filters_timeout", () => {
  it("closes a silent socket after the timeout, counting downstream_pre_cx_timeout", async () => {
    const { handle, port } = await start({ filters: TLS_INSPECTOR, matches: [undefined], extra: "    listener_filters_timeout: 0.1s\n" });
    const s: Socket = connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    cleanups.push(() => void s.destroy());
    await once(s, "connect");
    await waitFor(() => stat(handle, "listener.127.0.0.1_0.downstream_pre_cx_active") === 1, "pre-connection active");
    await once(s, "close");
    expect(stat(handle, "listener.127.0.0.1_0.downstream_pre_cx_timeout")).toBe(1);
    expect(stat(handle, "listener.127.0.0.1_0.downstream_pre_cx_active")).toBe(0);
    expect(stat(handle, "listener.127.0.0.1_0.downstream_cx_total")).toBe(0);
  });

  it("with continue_on_listener_filters_timeout, goes on as raw_buffer and delivers the later bytes", async () => {
    const { handle, port, ups } = await start({
      filters: TLS_INSPECTOR,
      matches: [`{ transport_protocol: tls }`, `{ transport_protocol: raw_buffer }`],
      extra: "    listener_filters_timeout: 0.1s\n    continue_on_listener_filters_timeout: true\n",
    });
    // One byte that could start a TLS record, then silence: the inspector is still waiting at the timeout.
    const s = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    s.on("error", () => {});
    cleanups.push(() => void s.destroy());
    await once(s, "connect");
    const back = readAll(s);
    s.write(Buffer.from([0x16]));
    await waitFor(() => stat(handle, "listener.127.0.0.1_0.downstream_pre_cx_timeout") === 1, "timeout");
    s.end(enc("rest"));
    expect((await back).toString()).toBe("chain1");
    await waitFor(() => ups[1]!.received.length === 1, "upstream bytes");
    expect(ups[1]!.received[0]!.equals(Buffer.concat([Buffer.from([0x16]), enc("rest")]))).toBe(true);
  });
});
