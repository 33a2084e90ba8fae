/**
 * Upstream TLS through the tcp tier: a plaintext tcp_proxy listener whose cluster has an
 * UpstreamTlsContext, in front of a real node:tls server; SNI, trusted_ca validation, SAN matchers,
 * client certificates and ALPN, with the cluster's `ssl.*` and connect-failure stats.
 */
import { once } from "node:events";
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectClient, readAll, stat, startYaml, TCP_PROXY_TYPE, proxyPort } from "./helpers.ts";
import { makePki, type Pki, yamlString } from "./tls-helpers.ts";

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

interface Seen {
  servername: string | false;
  alpn: string | false | null;
  peerCn?: string;
}

/** A TLS echo server with the `upstream` certificate; records what each client presented. */
async function tlsUpstream(extra: TlsOptions = {}) {
  const seen: Seen[] = [];
  const sockets = new Set<TLSSocket>();
  const server = createTlsServer({ cert: pki.upstream.cert, key: pki.upstream.key, allowHalfOpen: true, ...extra }, (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    const cert = s.getPeerCertificate();
    seen.push({ servername: (s as TLSSocket & { servername: string | false }).servername, alpn: s.alpnProtocol, peerCn: cert?.subject?.CN as string | undefined });
    s.on("error", () => {});
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
  });
  server.on("tlsClientError", () => {});
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

function config(upstreamPort: number, tlsContext: string): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }
  clusters:
  - name: up
    connect_timeout: 2s
    load_assignment: { cluster_name: up, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } } } ] } ] }
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
${tlsContext.replace(/^/gm, "        ")}
`;
}

/** Sends "hello" through the proxy and returns what came back before the close. */
async function roundTrip(port: number): Promise<string> {
  const c = await connectClient(port);
  const all = readAll(c);
  c.end("hello");
  return (await all).toString();
}

const ca = (pem: string) => `validation_context:\n    trusted_ca: { inline_string: ${yamlString(pem)} }`;

describe("upstream TLS", () => {
  it("connects with SNI and checks the server's chain against trusted_ca", async () => {
    const up = await tlsUpstream();
    const h = await startYaml(config(up.port, `sni: upstream.test\ncommon_tls_context:\n  ${ca(pki.ca.cert)}`));
    try {
      expect(await roundTrip(proxyPort(h))).toBe("hello");
      expect(up.seen).toEqual([{ servername: "upstream.test", alpn: false, peerCn: undefined }]);
      expect(stat(h, "cluster.up.ssl.handshake")).toBe(1);
      expect(stat(h, "cluster.up.ssl.versions.TLSv1.2")).toBe(1);
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(0);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("fails the connect when the server's chain is not from trusted_ca", async () => {
    const up = await tlsUpstream();
    const h = await startYaml(config(up.port, `sni: upstream.test\ncommon_tls_context:\n  ${ca(pki.otherCa.cert)}`));
    try {
      expect(await roundTrip(proxyPort(h))).toBe("");
      expect(stat(h, "cluster.up.ssl.fail_verify_error")).toBe(1);
      expect(stat(h, "cluster.up.ssl.handshake")).toBe(0);
      expect(stat(h, "cluster.up.upstream_cx_connect_fail")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("fails the connect when no SAN matches match_typed_subject_alt_names (the name mismatches)", async () => {
    const up = await tlsUpstream();
    const san = (name: string) => `sni: upstream.test\ncommon_tls_context:\n  ${ca(pki.ca.cert)}\n    match_typed_subject_alt_names: [ { san_type: DNS, matcher: { exact: "${name}" } } ]`;
    const wrong = await startYaml(config(up.port, san("other.test")));
    const right = await startYaml(config(up.port, san("upstream.test")));
    try {
      expect(await roundTrip(proxyPort(wrong))).toBe("");
      expect(stat(wrong, "cluster.up.ssl.fail_verify_san")).toBe(1);
      expect(stat(wrong, "cluster.up.upstream_cx_connect_fail")).toBe(1);
      expect(await roundTrip(proxyPort(right))).toBe("hello");
      expect(stat(right, "cluster.up.ssl.handshake")).toBe(1);
    } finally {
      await wrong.close();
      await right.close();
      await up.close();
    }
  });

  it("lets an exact DNS matcher accept a wildcard SAN covering the name, one label deep (as Envoy)", async () => {
    const up = await tlsUpstream({ cert: pki.serverB.cert, key: pki.serverB.key });
    const san = (name: string) => `common_tls_context:\n  ${ca(pki.ca.cert)}\n    match_typed_subject_alt_names: [ { san_type: DNS, matcher: { exact: "${name}" } } ]`;
    const covered = await startYaml(config(up.port, san("api.b.test")));
    const tooDeep = await startYaml(config(up.port, san("x.api.b.test")));
    try {
      expect(await roundTrip(proxyPort(covered))).toBe("hello");
      expect(await roundTrip(proxyPort(tooDeep))).toBe("");
      expect(stat(tooDeep, "cluster.up.ssl.fail_verify_san")).toBe(1);
    } finally {
      await covered.close();
      await tooDeep.close();
      await up.close();
    }
  });

  it("presents the client certificate and offers ALPN", async () => {
    const up = await tlsUpstream({ requestCert: true, rejectUnauthorized: true, ca: pki.ca.cert, ALPNProtocols: ["h2", "legate-test"] });
    const ctx = `common_tls_context:
  alpn_protocols: [legate-test]
  tls_certificates:
  - certificate_chain: { inline_string: ${yamlString(pki.client.cert)} }
    private_key: { inline_string: ${yamlString(pki.client.key)} }
  tls_params: { tls_maximum_protocol_version: TLSv1_3 }
  ${ca(pki.ca.cert)}`;
    const h = await startYaml(config(up.port, ctx));
    try {
      expect(await roundTrip(proxyPort(h))).toBe("hello");
      expect(up.seen).toEqual([{ servername: false, alpn: "legate-test", peerCn: "client" }]);
      expect(stat(h, "cluster.up.ssl.versions.TLSv1.3")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });
});
