/**
 * The Node config pipeline (tcp-tier/src/config/load.ts): options, canonical output, DataSource inlining,
 * and Envoy's --config-yaml merge semantics.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { mergeCanonical, validateAgainstSchema } from "../../shared/config/validate.ts";
import { loadEnvoySchema } from "../../tcp-tier/src/config/envoy-schema.ts";
import { type LoadResult, loadBootstrap, validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";

const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");
const tmp = mkdtempSync(join(tmpdir(), "legate-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

function okResult(r: LoadResult) {
  if (!r.ok) throw new Error(`expected the config to load:\n${JSON.stringify(r.issues, null, 2)}`);
  return r;
}

type Obj = Record<string, unknown>;
const at = (o: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);

const TCP_LISTENER = `
static_resources:
  listeners:
  - name: tcp
    address:
      socket_address: { address: 127.0.0.1, port_value: 10001 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: a
  clusters:
  - name: a
    connect_timeout: 1s
    load_assignment:
      cluster_name: a
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
node: { id: from-file, cluster: c1 }
`;

describe("loadBootstrap options", () => {
  it("needs a path or --config-yaml", async () => {
    expect(await loadBootstrap({})).toEqual({
      ok: false,
      issues: [{ kind: "not-envoy", path: "", message: "at least one of a config path or --config-yaml is required" }],
    });
  });

  it("names an unreadable file and the OS error", async () => {
    const missing = join(tmp, "nope.yaml");
    expect(await loadBootstrap({ path: missing })).toEqual({
      ok: false,
      issues: [{ kind: "not-envoy", path: "", message: `cannot read the config file ${JSON.stringify(missing)}: ENOENT: no such file or directory, open '${missing}'` }],
    });
  });

  it("reports YAML syntax errors", async () => {
    const r = await loadBootstrap({ configYaml: "static_resources: [" });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0]!.kind).toBe("not-envoy");
      expect(r.issues[0]!.message).toMatch(/^cannot parse as YAML or JSON at line \d+, column \d+: .*\(in --config-yaml\)$/);
    }
  });

  it("takes --config-yaml alone as the whole config, and JSON files", async () => {
    const fromYaml = okResult(await loadBootstrap({ configYaml: TCP_LISTENER }));
    const json = write("bootstrap.json", JSON.stringify(fromYaml.canonical));
    const fromJson = okResult(await loadBootstrap({ path: json }));
    expect(fromJson.canonical).toEqual(fromYaml.canonical);
    expect(fromJson.model.listeners[0]!.name).toBe("tcp");
  });

  it("refuses binary and text proto bootstraps", async () => {
    const r = await loadBootstrap({ path: "/etc/envoy/envoy.pb" });
    expect(r).toEqual({
      ok: false,
      issues: [{ kind: "unsupported", path: "", message: "/etc/envoy/envoy.pb: binary and text protobuf bootstraps are not supported by Legate; use YAML or JSON" }],
    });
  });

  it("marks the edge listener from the edgeListener option", async () => {
    const r = okResult(await loadBootstrap({ path: join(fixtures, "valid-minimal.yaml") }));
    expect(r.model.listeners.map((l) => [l.name, l.edge])).toEqual([["http", true], ["db", false]]);
    const tier = await loadBootstrap({ path: join(fixtures, "tier-rule.yaml"), edgeListener: "http" });
    expect(okResult(tier).model.listeners[0]!.edge).toBe(true);
    const undefinedEdge = await loadBootstrap({ path: join(fixtures, "valid-minimal.yaml"), edgeListener: "nope" });
    expect(undefinedEdge.ok).toBe(false);
    if (!undefinedEdge.ok) {
      expect(undefinedEdge.issues).toContainEqual({
        kind: "invalid-reference",
        path: "static_resources.listeners",
        message: 'the edge listener "nope" (LEGATE_EDGE_LISTENER) is not defined',
      });
    }
  });
});

describe("listener addresses", () => {
  const twoListeners = (port1: number, port2: number): string =>
    TCP_LISTENER.replace("port_value: 10001 }", `port_value: ${port1} }`).replace(
      "  clusters:",
      `  - name: tcp2
    address:
      socket_address: { address: 127.0.0.1, port_value: ${port2} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp2
          cluster: a
  clusters:`,
    );

  it("refuses two listeners on one address, but not two on port 0 (each gets its own port)", async () => {
    const same = await loadBootstrap({ path: write("same-address.yaml", twoListeners(10001, 10001)) });
    expect(same.ok).toBe(false);
    if (!same.ok) expect(same.issues.map((i) => i.message)).toContain('listener "tcp2" uses the same address as "tcp" (127.0.0.1:10001/TCP)');
    okResult(await loadBootstrap({ path: write("port-zero.yaml", twoListeners(0, 0)) }));
  });
});

describe("canonical output", () => {
  it("uses proto names, enum names, bare wrappers, and keeps @type", async () => {
    const r = okResult(await loadBootstrap({ path: join(fixtures, "camel-case.yaml") }));
    const l = at(r.canonical, "static_resources", "listeners", 0) as Obj;
    expect(l.per_connection_buffer_limit_bytes).toBe(32768);
    expect(at(l, "filter_chains", 0, "filter_chain_match")).toEqual({ destination_port: 15432, server_names: ["db.example.com"] });
    expect(at(l, "filter_chains", 0, "filters", 0, "typed_config")).toEqual({
      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
      stat_prefix: "db",
      cluster: "postgres",
    });
    const c = at(r.canonical, "static_resources", "clusters", 0) as Obj;
    expect(c).toMatchObject({ connect_timeout: "2s", lb_policy: "RANDOM", dns_lookup_family: "V4_PREFERRED" });
    expect(at(c, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "load_balancing_weight")).toBe(2);
    expect(r.model.clusters.get("postgres")).toMatchObject({ lbPolicy: "RANDOM", connectTimeoutMs: 2000, endpoints: [{ address: "127.0.0.1", port: 5432, weight: 2 }] });
    expect(r.model.runtime.get("a.b")).toBe(1);
  });

  it("normalises enum case and numbers, and a single value given for a list", async () => {
    const r = okResult(await validateBootstrapValue({
      static_resources: {
        clusters: {
          name: "a",
          type: "strict_dns",
          dns_lookup_family: 1,
          load_assignment: { cluster_name: "a", endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: "a.example", port_value: "80" } } } } } },
        },
      },
    }));
    const c = at(r.canonical, "static_resources", "clusters", 0) as Obj;
    expect(c.type).toBe("STRICT_DNS");
    expect(c.dns_lookup_family).toBe("V4_ONLY");
    expect(at(c, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address", "socket_address", "port_value")).toBe(80);
  });

  it("turns a TypedStruct into a plain Any of its type", async () => {
    const r = okResult(await loadBootstrap({ path: join(fixtures, "typed-struct.yaml") }));
    expect(at(r.canonical, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config")).toEqual({
      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
      stat_prefix: "tcp",
      cluster: "web",
    });
  });

  it("removes a skipped optional filter and returns its warning", async () => {
    const r = okResult(await loadBootstrap({ path: join(fixtures, "optional-skipped.yaml") }));
    const filters = at(r.canonical, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "http_filters") as Obj[];
    expect(filters.map((f) => f.name)).toEqual(["envoy.filters.http.router"]);
    expect(r.warnings.map((w) => w.kind)).toEqual(["skipped-optional"]);
    const hcm = r.model.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(hcm.kind === "http_connection_manager" && hcm.httpFilters.map((f) => f.name)).toEqual(["envoy.filters.http.router"]);
  });

  it("inlines DataSource files relative to the base directory", async () => {
    writeFileSync(join(tmp, "body.txt"), "maintenance\n");
    writeFileSync(join(tmp, "body.bin"), Uint8Array.from([0xff, 0x00, 0x80]));
    const route = (filename: string, prefix: string) => ({ match: { prefix }, direct_response: { status: 503, body: { filename } } });
    const config = {
      static_resources: {
        listeners: [{
          name: "http",
          metadata: { filter_metadata: { legate: { edge: true } } },
          address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
          filter_chains: [{
            filters: [{
              name: "envoy.filters.network.http_connection_manager",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                stat_prefix: "in",
                route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [route("body.txt", "/a"), route(join(tmp, "body.bin"), "/b")] }] },
                http_filters: [{ name: "envoy.filters.http.router" }],
              },
            }],
          }],
        }],
      },
    };
    const r = okResult(await validateBootstrapValue(config, { baseDir: tmp }));
    const routes = at(r.canonical, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config", "route_config", "virtual_hosts", 0, "routes") as Obj[];
    expect(at(routes[0], "direct_response", "body")).toEqual({ inline_string: "maintenance\n" });
    expect(at(routes[1], "direct_response", "body")).toEqual({ inline_bytes: "/wCA" });
    const hcm = r.model.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(hcm.kind === "http_connection_manager" && hcm.routeConfig.virtualHosts[0]!.routes[0]!.action).toEqual({ kind: "direct_response", status: 503, body: "maintenance\n" });
  });

  it("never throws on values that are not configs", async () => {
    for (const v of [null, 42, "text", [1, 2], { static_resources: { listeners: [null, 7, "x"] } }]) {
      const r = await validateBootstrapValue(v);
      expect(r.ok).toBe(false);
      if (!r.ok) for (const i of r.issues) expect(i.message.length).toBeGreaterThan(0);
    }
  });
});

describe("--config-yaml merge (protobuf MergeFrom)", () => {
  const file = write("base.yaml", TCP_LISTENER);

  it("replaces scalars, appends lists and merges sub-messages", async () => {
    const r = okResult(await loadBootstrap({
      path: file,
      configYaml: `
node: { id: from-flag }
admin: { address: { socket_address: { port_value: 9902 } } }
static_resources:
  clusters:
  - name: b
    connectTimeout: 2s
`,
    }));
    expect(r.model.node).toEqual({ id: "from-flag", cluster: "c1" });
    expect(r.model.admin?.address).toEqual({ address: "127.0.0.1", port: 9902, protocol: "TCP" });
    expect([...r.model.clusters.keys()]).toEqual(["a", "b"]);
    expect(r.model.clusters.get("b")?.connectTimeoutMs).toBe(2000);
    expect(r.model.listeners).toHaveLength(1);
  });

  it("clears the other members of a oneof it sets", async () => {
    const r = await loadBootstrap({ path: file, configYaml: "admin: { address: { socket_address: { named_port: admin } } }" });
    expect(r).toEqual({
      ok: false,
      issues: [{
        kind: "unsupported",
        path: "admin.address.socket_address.named_port",
        message: "`named_port` (named ports) of envoy.config.core.v3.SocketAddress is not supported by Legate",
      }],
    });
  });

  it("reports errors in either part, marking those of --config-yaml", async () => {
    const r = await loadBootstrap({ path: file, configYaml: "node: { idd: x }" });
    expect(r).toEqual({
      ok: false,
      issues: [{ kind: "not-envoy", path: "node.idd", message: "unknown field `idd` in envoy.config.core.v3.Node; did you mean `id`? (in --config-yaml)" }],
    });
  });

  it("follows MergeFrom for maps, defaults, durations and oneofs", async () => {
    const { root } = await loadEnvoySchema();
    const canon = (typeName: string, v: unknown) => {
      const r = validateAgainstSchema(root, v, { typeName, mode: "syntax" });
      expect(r.issues).toEqual([]);
      return r.canonical;
    };
    const meta = "envoy.config.core.v3.Metadata";
    expect(mergeCanonical(root, canon(meta, { filter_metadata: { a: { x: 1 }, b: { y: 1 } } }), canon(meta, { filterMetadata: { a: { z: 2 } } }), meta))
      .toEqual({ filter_metadata: { a: { z: 2 }, b: { y: 1 } } });
    const cluster = "envoy.config.cluster.v3.Cluster";
    expect(mergeCanonical(root, canon(cluster, { respect_dns_ttl: true, connect_timeout: "1.5s", lb_policy: "RANDOM" }), canon(cluster, { respect_dns_ttl: false, connect_timeout: "2s", lb_policy: "ROUND_ROBIN" }), cluster))
      .toEqual({ respect_dns_ttl: true, connect_timeout: "2.5s", lb_policy: "RANDOM" });
    const match = "envoy.config.route.v3.RouteMatch";
    expect(mergeCanonical(root, canon(match, { prefix: "/", case_sensitive: false }), canon(match, { path: "/x" }), match))
      .toEqual({ path: "/x", case_sensitive: false });
  });
});

describe("schema loading", () => {
  it("loads once per process", async () => {
    const a = loadEnvoySchema();
    const b = loadEnvoySchema();
    expect(a).toBe(b);
    const s = await a;
    expect(s.files).toBeGreaterThan(300);
    expect(s.root.lookup("envoy.config.bootstrap.v3.Bootstrap")).not.toBeNull();
  });
});
