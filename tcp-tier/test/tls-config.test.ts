/**
 * TLS transport sockets through the real validator and compiler: file data sources inlined, defaults,
 * the fields Legate refuses (by name), and what the edge cannot do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigIssue } from "../../shared/config/issues.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { makePki, type Pki } from "./tls-helpers.ts";

type Json = Record<string, unknown>;

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

const DOWN = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UP = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

const cluster = (name: string, transportSocket?: Json): Json => ({
  name,
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] },
  ...(transportSocket ? { transport_socket: transportSocket } : {}),
});

const certFiles = () => ({ certificate_chain: { filename: pki.serverA.certPath }, private_key: { filename: pki.serverA.keyPath } });

function tcpConfig(downstream: Json | undefined, upstream?: Json): Json {
  return {
    static_resources: {
      listeners: [{
        name: "tls",
        address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
        filter_chains: [{
          ...(downstream ? { transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": DOWN, ...downstream } } } : {}),
          filters: [{ name: "tp", typed_config: { "@type": TCP, stat_prefix: "tp", cluster: "up" } }],
        }],
      }],
      clusters: [cluster("up", upstream ? { name: "envoy.transport_sockets.tls", typed_config: { "@type": UP, ...upstream } } : undefined)],
    },
  };
}

async function refused(config: Json): Promise<Pick<ConfigIssue, "kind" | "path">[]> {
  const r = await validateBootstrapValue(config);
  if (r.ok) throw new Error("expected the config to be refused");
  return r.issues.map(({ kind, path }) => ({ kind, path }));
}

describe("TLS config", () => {
  it("inlines certificate files and applies Envoy's defaults", async () => {
    const r = await validateBootstrapValue(tcpConfig(
      { common_tls_context: { tls_certificates: [certFiles()], validation_context: { trusted_ca: { filename: pki.ca.certPath }, verify_certificate_hash: ["AB:".repeat(31) + "AB"] } }, require_client_certificate: true },
      { sni: "up.test", common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.certPath } } } },
    ));
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const down = r.model.listeners[0]!.filterChains[0]!.transportSocket!;
    expect(down.certificates[0]!.certificateChainPem).toBe(pki.serverA.cert);
    expect(down.certificates[0]!.privateKeyPem).toBe(pki.serverA.key);
    expect(down).toMatchObject({ minVersion: "TLSv1.2", maxVersion: "TLSv1.3", requireClientCertificate: true, alpnProtocols: [] });
    expect(down.validation).toMatchObject({ trustedCaPem: pki.ca.cert, certificateHashes: ["ab".repeat(32)], acceptUntrusted: false });
    const up = r.model.clusters.get("up")!.transportSocket!;
    expect(up).toMatchObject({ sni: "up.test", minVersion: "TLSv1.2", maxVersion: "TLSv1.2", certificates: [] });
    // The canonical config (what `legate push` stores) carries the PEM, not the path.
    expect(JSON.stringify(r.canonical)).not.toContain(pki.serverA.certPath);
  });

  it("refuses the unsupported TLS fields by name", async () => {
    const issues = await refused(tcpConfig({
      require_sni: true,
      session_timeout: "10s",
      common_tls_context: {
        tls_certificates: [{ ...certFiles(), ocsp_staple: { inline_string: "x" } }],
        tls_params: { signature_algorithms: ["ecdsa_secp256r1_sha256"] },
        key_log: { path: "/tmp/k" },
        validation_context: {
          trusted_ca: { filename: pki.ca.certPath },
          match_typed_subject_alt_names: [{ san_type: "OTHER_NAME", oid: "1.2.3", matcher: { exact: "x" } }],
          allow_expired_certificate: true,
        },
      },
    }, { allow_renegotiation: true }));
    const p = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config";
    expect(issues).toEqual(expect.arrayContaining([
      { kind: "unsupported", path: `${p}.require_sni` },
      { kind: "unsupported", path: `${p}.session_timeout` },
      { kind: "unsupported", path: `${p}.common_tls_context.tls_certificates[0].ocsp_staple` },
      { kind: "unsupported", path: `${p}.common_tls_context.tls_params.signature_algorithms` },
      { kind: "unsupported", path: `${p}.common_tls_context.key_log` },
      { kind: "unsupported", path: `${p}.common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type` },
      { kind: "unsupported", path: `${p}.common_tls_context.validation_context.allow_expired_certificate` },
      { kind: "unsupported", path: "static_resources.clusters[0].transport_socket.typed_config.allow_renegotiation" },
    ]));
  });

  it("refuses inconsistent TLS settings", async () => {
    const noCert = await refused(tcpConfig({ common_tls_context: {} }));
    expect(noCert).toContainEqual({ kind: "not-envoy", path: "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context" });
    const wrongType = await refused({
      static_resources: {
        listeners: (tcpConfig(undefined).static_resources as Json).listeners,
        clusters: [cluster("up", { name: "envoy.transport_sockets.tls", typed_config: { "@type": DOWN, common_tls_context: { tls_certificates: [certFiles()] } } })],
      },
    });
    expect(wrongType).toContainEqual({ kind: "not-envoy", path: 'static_resources.clusters[0].transport_socket.typed_config["@type"]' });
    const badPin = await refused(tcpConfig({ common_tls_context: { tls_certificates: [certFiles()], validation_context: { verify_certificate_hash: ["abc"] } } }));
    expect(badPin).toContainEqual({ kind: "not-envoy", path: "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.validation_context.verify_certificate_hash[0]" });
    const versions = await refused(tcpConfig({ common_tls_context: { tls_certificates: [certFiles()], tls_params: { tls_minimum_protocol_version: "TLSv1_3", tls_maximum_protocol_version: "TLSv1_2" } } }));
    expect(versions).toContainEqual({ kind: "not-envoy", path: "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_params" });
    const notPem = await refused(tcpConfig({ common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "nope" }, private_key: { filename: pki.serverA.keyPath } }] } }));
    expect(notPem).toContainEqual({ kind: "not-envoy", path: "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].certificate_chain" });
  });

  it("refuses TLS where the edge would need it: on the edge listener and on clusters it routes to", async () => {
    const edge = (transportSocket: Json | undefined, clusterTls: boolean, route: Json): Json => ({
      static_resources: {
        listeners: [{
          name: "edge",
          address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
          metadata: { filter_metadata: { legate: { edge: true } } },
          filter_chains: [{
            ...(transportSocket ? { transport_socket: transportSocket } : {}),
            filters: [{ name: "hcm", typed_config: {
              "@type": HCM,
              stat_prefix: "in",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            } }],
          }],
        }],
        clusters: [
          cluster("web"),
          cluster("secure", clusterTls ? { name: "envoy.transport_sockets.tls", typed_config: { "@type": UP, sni: "x" } } : undefined),
        ],
      },
    });
    const down = await refused(edge({ name: "envoy.transport_sockets.tls", typed_config: { "@type": DOWN, common_tls_context: { tls_certificates: [certFiles()] } } }, false, { cluster: "web" }));
    expect(down).toContainEqual({ kind: "unsupported", path: "static_resources.listeners[0].filter_chains[0].transport_socket" });
    const routed = await refused(edge(undefined, true, { cluster: "secure" }));
    expect(routed).toEqual([{ kind: "unsupported", path: "static_resources.clusters[1].transport_socket" }]);
    const byHeader = await refused(edge(undefined, true, { cluster_header: "x-cluster" }));
    expect(byHeader).toEqual([{ kind: "unsupported", path: "static_resources.clusters[1].transport_socket" }]);
    // A TLS cluster the edge never routes to is fine (the tcp tier uses it).
    const ok = await validateBootstrapValue(edge(undefined, true, { cluster: "web" }));
    expect(ok.ok ? [] : ok.issues).toEqual([]);
  });
});
