/**
 * Downstream TLS transport socket against real TLS clients on loopback: SNI certificate selection,
 * ALPN, protocol versions, client certificates (required, missing, untrusted), SAN matchers and pins,
 * with Envoy's `ssl.*` stats. The listener here is a plain net server that reads the first bytes
 * (as listener filters do) and hands the socket to `accept()` with them.
 */
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DownstreamTlsModel } from "../../shared/config/model.ts";
import { silentLogger } from "../../shared/log.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import type { ConnectionInfo } from "../src/network/filter.ts";
import { createDownstreamTransportSocket, type TlsHandshakeError } from "../src/tls/transport-socket.ts";
import { compileYaml } from "./helpers.ts";
import { certSha256, certSpki, makePki, type Pki, yamlString } from "./tls-helpers.ts";

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

/** Compiles a DownstreamTlsContext body (YAML lines under typed_config) through the real compiler. */
function downstreamModel(body: string): DownstreamTlsModel {
  const yaml = `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
${body.replace(/^/gm, "          ")}
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: t, cluster: c }
  clusters:
  - name: c
    load_assignment: { cluster_name: c, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } } ] } ] }
`;
  const ts = compileYaml(yaml).model.listeners[0]!.filterChains[0]!.transportSocket;
  if (!ts) throw new Error("no transport socket compiled");
  return ts;
}

function certs(...names: ("serverA" | "serverB")[]): string {
  return names
    .map((n) => `- certificate_chain: { inline_string: ${yamlString(pki[n].cert)} }\n  private_key: { inline_string: ${yamlString(pki[n].key)} }`)
    .join("\n")
    .replace(/^/gm, "    ");
}

interface Outcome {
  err?: TlsHandshakeError;
  info: ConnectionInfo;
}

interface TlsListener {
  port: number;
  outcomes: Outcome[];
  stats: StatsStore;
  counter(name: string): number;
  close(): Promise<void>;
}

/**
 * A listener that reads the first chunk (as a listener filter would), then hands the socket to the
 * transport socket; accepted connections echo. `offered` plays the TLS inspector's ALPN.
 */
async function tlsListener(model: DownstreamTlsModel, opts: { readHead?: boolean; offered?: string[] } = {}): Promise<TlsListener> {
  const stats = new StatsStore();
  const transport = createDownstreamTransportSocket(model, { stats: stats.scope("listener.127.0.0.1_0."), logger: silentLogger });
  const outcomes: Outcome[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.pause();
    const info: ConnectionInfo = {
      transportProtocol: opts.offered ? "tls" : "raw_buffer",
      applicationProtocols: opts.offered ?? [],
    };
    const go = (head: Uint8Array) =>
      transport.accept(socket, head, info, (err, tls?: TLSSocket) => {
        outcomes.push({ ...(err ? { err: err as TlsHandshakeError } : {}), info });
        if (!tls) return;
        tls.on("error", () => {});
        tls.on("data", (d: Buffer) => tls.write(d));
        tls.on("end", () => tls.end());
      });
    if (opts.readHead === false) {
      go(new Uint8Array(0));
      return;
    }
    socket.once("readable", () => go((socket.read() as Buffer | null) ?? new Uint8Array(0)));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  return {
    port,
    outcomes,
    stats,
    counter: (name) => stats.counter(`listener.127.0.0.1_0.${name}`).value,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

interface ClientResult {
  /** What came back for "ping" (empty when refused). */
  echoed: string;
  error?: Error;
  alpn: string | false;
  peerCn?: string;
  version?: string | null;
}

/** Connects a node:tls client, sends "ping", half-closes, and collects the echo until close. */
async function client(port: number, options: ConnectionOptions): Promise<ClientResult> {
  const socket = tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
  const result: ClientResult = { echoed: "", alpn: false };
  socket.on("data", (d: Buffer) => (result.echoed += d.toString()));
  socket.on("error", (e) => (result.error = e));
  socket.once("secureConnect", () => {
    result.alpn = socket.alpnProtocol ?? false;
    result.peerCn = socket.getPeerCertificate().subject?.CN as string | undefined;
    result.version = socket.getProtocol();
    socket.end("ping");
  });
  // events.once would reject on the error event; the error is part of the result here.
  await new Promise((resolve) => socket.once("close", resolve));
  return result;
}

async function waitOutcomes(l: TlsListener, n: number): Promise<void> {
  for (let i = 0; i < 400 && l.outcomes.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  expect(l.outcomes.length).toBe(n);
}

describe("downstream TLS: certificates and SNI", () => {
  it("serves the certificate whose SAN matches the SNI (exact, then wildcard), else the first, replaying the bytes read before", async () => {
    const l = await tlsListener(downstreamModel(`common_tls_context:\n  tls_certificates:\n${certs("serverA", "serverB")}`));
    try {
      const a = await client(l.port, { servername: "a.test" });
      const b = await client(l.port, { servername: "b.test" });
      const wild = await client(l.port, { servername: "x.b.test" });
      const other = await client(l.port, { servername: "nope.test" });
      expect([a.peerCn, b.peerCn, wild.peerCn, other.peerCn]).toEqual(["a.test", "b.test", "b.test", "a.test"]);
      expect(a.echoed).toBe("ping");
      await waitOutcomes(l, 4);
      expect(l.outcomes.map((o) => o.info.requestedServerName)).toEqual(["a.test", "b.test", "x.b.test", "nope.test"]);
      expect(l.outcomes[0]!.info.tls).toMatchObject({ version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" });
      expect(l.outcomes[0]!.info.tls!.peerCertificate).toBeUndefined();
      expect(l.counter("ssl.handshake")).toBe(4);
      expect(l.counter("ssl.versions.TLSv1.3")).toBe(4);
      expect(l.counter("ssl.no_certificate")).toBe(4);
    } finally {
      await l.close();
    }
  });

  it("works when no bytes were read before (no listener filter)", async () => {
    const l = await tlsListener(downstreamModel(`common_tls_context:\n  tls_certificates:\n${certs("serverB")}`), { readHead: false });
    try {
      const r = await client(l.port, { servername: "b.test" });
      expect(r.echoed).toBe("ping");
      expect(r.peerCn).toBe("b.test");
    } finally {
      await l.close();
    }
  });

  it("refuses a connection that is not TLS, counted as ssl.connection_error", async () => {
    const l = await tlsListener(downstreamModel(`common_tls_context:\n  tls_certificates:\n${certs("serverA")}`));
    try {
      const { connect } = await import("node:net");
      const s = connect(l.port, "127.0.0.1");
      s.on("error", () => {});
      s.end("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await once(s, "close");
      await waitOutcomes(l, 1);
      expect(l.outcomes[0]!.err?.stat).toBe("connection_error");
      expect(l.counter("ssl.connection_error")).toBe(1);
      expect(l.counter("ssl.handshake")).toBe(0);
    } finally {
      await l.close();
    }
  });
});

describe("downstream TLS: ALPN and versions", () => {
  it("negotiates ALPN in the server's order and reports it", async () => {
    const l = await tlsListener(downstreamModel(`common_tls_context:\n  alpn_protocols: [h2, http/1.1]\n  tls_certificates:\n${certs("serverA")}`));
    try {
      const r = await client(l.port, { servername: "a.test", ALPNProtocols: ["http/1.1", "h2"] });
      expect(r.alpn).toBe("h2");
      const r2 = await client(l.port, { servername: "a.test", ALPNProtocols: ["http/1.1"] });
      expect(r2.alpn).toBe("http/1.1");
      await waitOutcomes(l, 2);
      expect(l.outcomes.map((o) => o.info.tls?.alpn)).toEqual(["h2", "http/1.1"]);
    } finally {
      await l.close();
    }
  });

  it("goes on without ALPN when the inspected ClientHello shares no protocol with the server (as Envoy)", async () => {
    const l = await tlsListener(downstreamModel(`common_tls_context:\n  alpn_protocols: [h2]\n  tls_certificates:\n${certs("serverA")}`), { offered: ["imap"] });
    try {
      const r = await client(l.port, { servername: "a.test", ALPNProtocols: ["imap"] });
      expect(r.error).toBeUndefined();
      expect(r.alpn).toBe(false);
      expect(r.echoed).toBe("ping");
    } finally {
      await l.close();
    }
  });

  it("refuses a TLS 1.2-only client when the minimum is TLS 1.3, and honours a 1.2 maximum", async () => {
    const min13 = await tlsListener(downstreamModel(`common_tls_context:\n  tls_params: { tls_minimum_protocol_version: TLSv1_3 }\n  tls_certificates:\n${certs("serverA")}`));
    const max12 = await tlsListener(downstreamModel(`common_tls_context:\n  tls_params: { tls_maximum_protocol_version: TLSv1_2, cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"] }\n  tls_certificates:\n${certs("serverA")}`));
    try {
      const refused = await client(min13.port, { servername: "a.test", maxVersion: "TLSv1.2" });
      expect(refused.error).toBeDefined();
      expect(refused.echoed).toBe("");
      await waitOutcomes(min13, 1);
      expect(min13.outcomes[0]!.err?.stat).toBe("connection_error");
      expect(min13.counter("ssl.connection_error")).toBe(1);

      const ok = await client(max12.port, { servername: "a.test" });
      expect(ok.version).toBe("TLSv1.2");
      expect(ok.echoed).toBe("ping");
      await waitOutcomes(max12, 1);
      expect(max12.outcomes[0]!.info.tls).toMatchObject({ version: "TLSv1.2", cipher: "ECDHE-ECDSA-AES128-GCM-SHA256" });
      expect(max12.counter("ssl.ciphers.ECDHE-ECDSA-AES128-GCM-SHA256")).toBe(1);
      expect(max12.counter("ssl.versions.TLSv1.2")).toBe(1);
    } finally {
      await min13.close();
      await max12.close();
    }
  });
});

describe("downstream TLS: client certificates", () => {
  const mtls = (extra = "") =>
    downstreamModel(`require_client_certificate: true\ncommon_tls_context:\n  tls_certificates:\n${certs("serverA")}\n  validation_context:\n    trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} }\n${extra.replace(/^/gm, "    ")}`);

  it("accepts a certificate from the trusted CA and exposes it; refuses a missing or untrusted one", async () => {
    const l = await tlsListener(mtls());
    try {
      const good = await client(l.port, { servername: "a.test", cert: pki.client.cert, key: pki.client.key });
      expect(good.echoed).toBe("ping");
      const missing = await client(l.port, { servername: "a.test" });
      expect(missing.echoed).toBe("");
      // Refused inside the handshake, with TLS's certificate_required alert, as Envoy does.
      expect(missing.error?.message).toMatch(/certificate required/);
      const untrusted = await client(l.port, { servername: "a.test", cert: pki.untrustedClient.cert, key: pki.untrustedClient.key });
      expect(untrusted.echoed).toBe("");
      await waitOutcomes(l, 3);
      const peer = l.outcomes[0]!.info.tls!.peerCertificate!;
      expect(peer.subject).toBe("CN=client,O=Legate");
      expect(peer.issuer).toBe("CN=Legate Test CA");
      expect(peer.sans).toEqual({ dns: ["client.test"], uri: ["spiffe://legate/client"], email: [], ip: [] });
      expect(peer.sha256).toBe(certSha256(pki.client.cert));
      expect(peer.pem).toContain("-----BEGIN CERTIFICATE-----");
      expect(l.outcomes.slice(1).map((o) => o.err?.stat)).toEqual(["fail_verify_no_cert", "fail_verify_error"]);
      expect(l.counter("ssl.handshake")).toBe(1);
      expect(l.counter("ssl.fail_verify_no_cert")).toBe(1);
      expect(l.counter("ssl.fail_verify_error")).toBe(1);
      expect(l.counter("ssl.connection_error")).toBe(0);
    } finally {
      await l.close();
    }
  });

  it("checks match_typed_subject_alt_names", async () => {
    const l = await tlsListener(mtls(`match_typed_subject_alt_names:\n- san_type: URI\n  matcher: { exact: "spiffe://legate/client" }\n- san_type: DNS\n  matcher: { suffix: ".example" }`));
    try {
      expect((await client(l.port, { cert: pki.client.cert, key: pki.client.key })).echoed).toBe("ping");
      expect((await client(l.port, { cert: pki.client2.cert, key: pki.client2.key })).echoed).toBe("");
      await waitOutcomes(l, 2);
      expect(l.outcomes[1]!.err?.stat).toBe("fail_verify_san");
      expect(l.counter("ssl.fail_verify_san")).toBe(1);
    } finally {
      await l.close();
    }
  });

  it("checks certificate hash and SPKI pins (any one match passes)", async () => {
    const hashPinned = await tlsListener(mtls(`verify_certificate_hash: ["${certSha256(pki.client.cert).toUpperCase().replace(/(..)(?!$)/g, "$1:")}"]`));
    const spkiPinned = await tlsListener(mtls(`verify_certificate_spki: ["${certSpki(pki.client2.cert)}"]\nverify_certificate_hash: ["${"0".repeat(64)}"]`));
    try {
      expect((await client(hashPinned.port, { cert: pki.client.cert, key: pki.client.key })).echoed).toBe("ping");
      expect((await client(hashPinned.port, { cert: pki.client2.cert, key: pki.client2.key })).echoed).toBe("");
      expect((await client(spkiPinned.port, { cert: pki.client2.cert, key: pki.client2.key })).echoed).toBe("ping");
      expect((await client(spkiPinned.port, { cert: pki.client.cert, key: pki.client.key })).echoed).toBe("");
      await waitOutcomes(hashPinned, 2);
      await waitOutcomes(spkiPinned, 2);
      expect(hashPinned.counter("ssl.fail_verify_cert_hash")).toBe(1);
      expect(spkiPinned.counter("ssl.fail_verify_cert_hash")).toBe(1);
      expect(spkiPinned.counter("ssl.handshake")).toBe(1);
    } finally {
      await hashPinned.close();
      await spkiPinned.close();
    }
  });

  it("refuses a certificate revoked by the crl", async () => {
    const l = await tlsListener(mtls(`crl: { inline_string: ${yamlString(pki.crl)} }`));
    try {
      expect((await client(l.port, { cert: pki.client.cert, key: pki.client.key })).echoed).toBe("ping");
      expect((await client(l.port, { cert: pki.client2.cert, key: pki.client2.key })).echoed).toBe("");
      await waitOutcomes(l, 2);
      expect(l.outcomes[1]!.err?.message).toContain("CERT_REVOKED");
      expect(l.counter("ssl.fail_verify_error")).toBe(1);
    } finally {
      await l.close();
    }
  });

  it("without require_client_certificate, a client without a certificate is let in and counted", async () => {
    const model = downstreamModel(`common_tls_context:\n  tls_certificates:\n${certs("serverA")}\n  validation_context:\n    trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} }`);
    const l = await tlsListener(model);
    try {
      expect((await client(l.port, {})).echoed).toBe("ping");
      expect((await client(l.port, { cert: pki.untrustedClient.cert, key: pki.untrustedClient.key })).echoed).toBe("");
      await waitOutcomes(l, 2);
      expect(l.counter("ssl.no_certificate")).toBe(1);
      expect(l.counter("ssl.fail_verify_error")).toBe(1);
    } finally {
      await l.close();
    }
  });
});
