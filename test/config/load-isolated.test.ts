/**
 * tcp-tier/src/config/load-isolated.ts: a serving tier validates in a short-lived child process and
 * compiles the child's canonical config itself. The answer must be exactly what the in-process pipeline
 * (load.ts) gives: the same canonical config, warnings and issues.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadBootstrap, validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { loadBootstrapIsolated, validateValueIsolated } from "../../tcp-tier/src/config/load-isolated.ts";

const tmp = mkdtempSync(join(tmpdir(), "legate-isolated-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CONFIG = `
static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 10001 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: a
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: cert.pem }
              private_key: { filename: key.pem }
  clusters:
  - name: a
    connect_timeout: 1s
    load_assignment:
      cluster_name: a
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
`;

describe("loading in a child process", () => {
  it("answers a good config with the in-process pipeline's canonical config (files inlined from baseDir) and a compiled model", async () => {
    const path = join(tmp, "good.yaml");
    writeFileSync(path, CONFIG);
    // One self-signed certificate, read from files relative to baseDir (tmp) and inlined.
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=isolated.test", "-days", "1"], { cwd: tmp, stdio: "ignore" });
    const here = await loadBootstrap({ path, baseDir: tmp });
    const there = await loadBootstrapIsolated({ path, baseDir: tmp });
    expect(here.ok ? [] : here.issues).toEqual([]);
    expect(there.ok).toBe(true);
    if (!here.ok || !there.ok) return;
    expect(there.canonical).toEqual(here.canonical);
    expect(JSON.stringify(there.canonical)).toContain("BEGIN CERTIFICATE");
    expect(JSON.stringify(there.canonical)).not.toContain("cert.pem");
    expect(there.warnings).toEqual(here.warnings);
    expect(there.model.listeners.map((l) => l.name)).toEqual(["tcp"]);
    expect([...there.model.clusters.keys()]).toEqual(["a"]);
  }, 30_000);

  it("answers a bad config with the same issues, and --config-yaml merges as in process", async () => {
    const path = join(tmp, "bad.yaml");
    writeFileSync(path, CONFIG.replace("cluster: a\n      transport_socket", "cluster: nowhere\n      transport_socket").replace("filename: cert.pem", "filename: missing.pem"));
    const opts = { path, baseDir: tmp, configYaml: "node: { id: merged }" };
    const here = await loadBootstrap(opts);
    const there = await loadBootstrapIsolated(opts);
    expect(here.ok).toBe(false);
    expect(there).toEqual(here);
    if (there.ok) return;
    expect(there.issues.map((i) => i.message).join("\n")).toMatch(/nowhere/);
    expect(there.issues.map((i) => i.message).join("\n")).toMatch(/missing\.pem/);
  }, 30_000);

  it("validates an already parsed value (a config from KV)", async () => {
    const value = { static_resources: { clusters: [{ name: "a", connect_timeout: "1s", type: "STATIC", load_assignment: { cluster_name: "a", endpoints: [] } }] }, node: { id: "kv" } };
    const here = await validateBootstrapValue(value, { baseDir: tmp });
    const there = await validateValueIsolated(value, { baseDir: tmp });
    expect(there.ok && here.ok).toBe(true);
    if (!here.ok || !there.ok) return;
    expect(there.canonical).toEqual(here.canonical);
    expect(there.model.node.id).toBe("kv");
    const bad = await validateValueIsolated({ static_resources: { clusters: [{ name: "a", lb_policy: "NOPE" }] } }, { baseDir: tmp });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.some((i) => i.path.includes("lb_policy"))).toBe(true);
  }, 30_000);
});
