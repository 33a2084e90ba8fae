/**
 * Downstream TLS end to end: the tcp tier (startServer) with tls_inspector, two filter chains chosen
 * by SNI, each terminating TLS with its own certificate and proxying to its own cluster, and
 * `openssl s_client` as the client (with and without a client certificate).
 */
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenTcp, proxyPort, stat, startYaml, TCP_PROXY_TYPE } from "./helpers.ts";
import { makePki, type Pki, yamlString } from "./tls-helpers.ts";

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

/** An upstream that answers its first chunk with `<tag>:<chunk>` and closes. */
function answerOnce(tag: string) {
  return listenTcp((s) => {
    s.on("error", () => {});
    s.once("data", (d: Buffer) => s.end(`${tag}:${d.toString()}`));
  });
}

interface SClient {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `openssl s_client`, writes `input`, and collects its output until it exits (killed after 10 s). */
function sClient(port: number, args: string[], input: string): Promise<SClient> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-quiet", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.write(input);
  });
}

function chain(name: string, cert: { cert: string; key: string }, cluster: string, mtls: boolean): string {
  return `
    - filter_chain_match: { server_names: [${name}] }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          ${mtls ? "require_client_certificate: true" : ""}
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificates:
            - certificate_chain: { inline_string: ${yamlString(cert.cert)} }
              private_key: { inline_string: ${yamlString(cert.key)} }
            ${mtls ? `validation_context: { trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} } }` : ""}
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: ${cluster}, cluster: ${cluster} }`;
}

const cluster = (name: string, port: number) => `
  - name: ${name}
    load_assignment: { cluster_name: ${name}, endpoints: [ { lb_endpoints: [ { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } } ] } ] }`;

describe("downstream TLS through the tcp tier", () => {
  it("chooses the chain by SNI, terminates TLS with its certificate and proxies; client certificates where required", async () => {
    const upA = await answerOnce("A");
    const upB = await answerOnce("B");
    const h = await startYaml(`
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    filter_chains:${chain("a.test", pki.serverA, "ca", false)}${chain("b.test", pki.serverB, "cb", true)}
  clusters:${cluster("ca", upA.port)}${cluster("cb", upB.port)}
`);
    try {
      const port = proxyPort(h);
      const verify = ["-CAfile", pki.ca.certPath, "-verify_return_error"];
      const a = await sClient(port, ["-servername", "a.test", "-alpn", "http/1.1", ...verify], "hello");
      expect(a.stdout).toBe("A:hello");
      expect(a.stderr).toContain("CN = a.test");

      const b = await sClient(port, ["-servername", "b.test", ...verify, "-cert", pki.client.certPath, "-key", pki.client.keyPath], "hi");
      expect(b.stdout).toBe("B:hi");
      expect(b.stderr).toContain("CN = b.test");

      const noCert = await sClient(port, ["-servername", "b.test", ...verify], "hi");
      expect(noCert.stdout).toBe("");
      const untrusted = await sClient(port, ["-servername", "b.test", ...verify, "-cert", pki.untrustedClient.certPath, "-key", pki.untrustedClient.keyPath], "hi");
      expect(untrusted.stdout).toBe("");

      expect(stat(h, "listener.127.0.0.1_0.ssl.handshake")).toBe(2);
      expect(stat(h, "listener.127.0.0.1_0.ssl.fail_verify_no_cert")).toBe(1);
      expect(stat(h, "listener.127.0.0.1_0.ssl.fail_verify_error")).toBe(1);
      expect(stat(h, "cluster.ca.upstream_cx_total")).toBe(1);
      expect(stat(h, "cluster.cb.upstream_cx_total")).toBe(1);
    } finally {
      await h.close();
      await upA.close();
      await upB.close();
    }
  });
});
