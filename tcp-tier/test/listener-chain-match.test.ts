/** filter_chain_match: compile-time checks (overlaps, wildcards, CIDRs), the validator's support rows, and Envoy's selection order. */
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { compileFilterChainSelector, type ConnectionMatchInfo } from "../src/listener/filter-chain.ts";
import { TCP_PROXY_TYPE, compileYaml } from "./helpers.ts";

/** A listener whose chains are given as `filter_chain_match` YAML flow maps (chain i is named c<i>). */
function listenerYaml(matches: (string | undefined)[], extra = ""): string {
  const chains = matches
    .map(
      (m, i) => `    - name: c${i}
${m ? `      filter_chain_match: ${m}\n` : ""}      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }`,
    )
    .join("\n");
  return `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
${extra}    filter_chains:
${chains}
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
`;
}

function compileIssues(yaml: string) {
  const parsed = parseConfigText(yaml);
  return compileBootstrap(parsed.value).issues;
}

function selector(matches: (string | undefined)[], withDefault = false) {
  const { model } = compileYaml(listenerYaml(matches));
  const chains = model.listeners[0]!.filterChains.map((m) => ({ model: m, factories: [] }));
  const def = withDefault ? { model: { ...chains[0]!.model, name: "default" }, factories: [] } : undefined;
  const s = compileFilterChainSelector(chains, def);
  return (info: Partial<ConnectionMatchInfo>) =>
    s.select({
      destinationPort: 10000,
      localAddress: "10.0.0.1",
      remoteAddress: "192.0.2.10",
      remotePort: 40000,
      directRemoteAddress: "192.0.2.10",
      transportProtocol: "raw_buffer",
      applicationProtocols: [],
      ...info,
    })?.model.name;
}

describe("filter_chain_match at compile time", () => {
  it("compiles every criterion, normalising CIDR ranges and lower-casing server names", () => {
    const { model } = compileYaml(
      listenerYaml([
        `{ destination_port: 443, prefix_ranges: [{ address_prefix: 10.1.2.3, prefix_len: 16 }], server_names: [API.Example.com, "*.example.com"], transport_protocol: tls, application_protocols: [h2], direct_source_prefix_ranges: [{ address_prefix: "2001:db8::1", prefix_len: 32 }], source_type: EXTERNAL, source_prefix_ranges: [{ address_prefix: 192.0.2.0, prefix_len: 24 }], source_ports: [1000, 2000] }`,
      ]),
    );
    expect(model.listeners[0]!.filterChains[0]!.match).toEqual({
      destinationPort: 443,
      prefixRanges: [{ address: "10.1.0.0", prefixLen: 16, family: 4 }],
      serverNames: ["api.example.com", "*.example.com"],
      transportProtocol: "tls",
      applicationProtocols: ["h2"],
      directSourcePrefixRanges: [{ address: "2001:db8::", prefixLen: 32, family: 6 }],
      sourceType: "EXTERNAL",
      sourcePrefixRanges: [{ address: "192.0.2.0", prefixLen: 24, family: 4 }],
      sourcePorts: [1000, 2000],
    });
  });

  it("refuses chains that can match the same connection, naming both", () => {
    const dup = compileIssues(listenerYaml([`{ server_names: [a.example] }`, `{ server_names: [b.example, A.example] }`]));
    expect(dup).toEqual([
      expect.objectContaining({ path: "static_resources.listeners[0].filter_chains[1].filter_chain_match", message: expect.stringContaining('"c1" has matching rules that overlap those of "c0"') }),
    ]);
    // Two chains without any match, and ranges equal after masking, overlap too.
    expect(compileIssues(listenerYaml([undefined, undefined]))).toHaveLength(1);
    expect(compileIssues(listenerYaml([`{ prefix_ranges: [{ address_prefix: 10.0.0.1, prefix_len: 8 }] }`, `{ prefix_ranges: [{ address_prefix: 10.9.9.9, prefix_len: 8 }] }`]))).toHaveLength(1);
    // Different on any one criterion: no overlap.
    expect(compileIssues(listenerYaml([`{ source_ports: [1] }`, `{ source_ports: [2] }`, undefined]))).toEqual([]);
  });

  it("refuses partial wildcards and bad CIDR ranges, as Envoy", () => {
    const issues = compileIssues(listenerYaml([`{ server_names: ["*example.com", "www.*.com", "*"] }`, `{ prefix_ranges: [{ address_prefix: not-an-ip }], source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 33 }] }`]));
    expect(issues.map((i) => i.path)).toEqual([
      "static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[0]",
      "static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[1]",
      "static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[2]",
      "static_resources.listeners[0].filter_chains[1].filter_chain_match.prefix_ranges[0].address_prefix",
      "static_resources.listeners[0].filter_chains[1].filter_chain_match.source_prefix_ranges[0].prefix_len",
    ]);
  });

  it("refuses listener filters on the edge listener and unknown ones on a TCP listener", () => {
    const filters = `    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    - name: envoy.filters.listener.original_dst
`;
    const issues = compileIssues(listenerYaml([undefined], filters));
    expect(issues).toEqual([expect.objectContaining({ kind: "unsupported", path: "static_resources.listeners[0].listener_filters[1]" })]);
    const edgeYaml = listenerYaml([undefined], `    metadata: { filter_metadata: { legate: { edge: true } } }\n${filters}`);
    const edgeIssues = compileIssues(edgeYaml).filter((i) => i.path.includes("listener_filters"));
    expect(edgeIssues.map((i) => i.path)).toEqual(["static_resources.listeners[0].listener_filters[0]", "static_resources.listeners[0].listener_filters[1]"]);
  });

  it("the validator accepts the implemented fields and refuses the rest", async () => {
    const ok = await validateBootstrapValue(
      parseConfigText(
        listenerYaml(
          [`{ source_type: SAME_IP_OR_LOOPBACK, source_ports: [5], direct_source_prefix_ranges: [{ address_prefix: 127.0.0.1 }] }`],
          `    listener_filters_timeout: 2s
    continue_on_listener_filters_timeout: true
    listener_filters:
    - name: envoy.filters.listener.proxy_protocol
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol, allow_requests_without_proxy_protocol: true, disallowed_versions: [V1], stat_prefix: pp }
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    - name: envoy.filters.listener.http_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector }
`,
        ),
      ).value,
    );
    expect(ok.ok ? [] : ok.issues).toEqual([]);
    if (!ok.ok) return;
    const l = ok.model.listeners[0]!;
    expect(l.tcpListenerFilters).toEqual([
      { kind: "proxy_protocol", name: "envoy.filters.listener.proxy_protocol", allowRequestsWithoutProxyProtocol: true, disallowedVersions: [1], statPrefix: "pp" },
      { kind: "tls_inspector", name: "envoy.filters.listener.tls_inspector", maxClientHelloSize: 65536 },
      { kind: "http_inspector", name: "envoy.filters.listener.http_inspector" },
    ]);
    expect(l.listenerFiltersTimeoutMs).toBe(2000);
    expect(l.continueOnListenerFiltersTimeout).toBe(true);

    const refused = await validateBootstrapValue(
      parseConfigText(
        listenerYaml(
          [`{ address_suffix: "1" }`],
          `    listener_filters:
    - name: envoy.filters.listener.proxy_protocol
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol, rules: [{ tlv_type: 2, on_tlv_present: { key: k } }] }
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector, enable_ja3_fingerprinting: true }
    - name: envoy.filters.listener.original_dst
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst }
`,
        ),
      ).value,
    );
    expect(refused.ok).toBe(false);
    const paths = refused.ok ? [] : refused.issues.filter((i) => i.kind === "unsupported").map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "static_resources.listeners[0].listener_filters[0].typed_config.rules",
        "static_resources.listeners[0].listener_filters[1].typed_config.enable_ja3_fingerprinting",
        "static_resources.listeners[0].filter_chains[0].filter_chain_match.address_suffix",
      ]),
    );
    expect(paths.some((p) => p.startsWith("static_resources.listeners[0].listener_filters[2]"))).toBe(true);
  });
});

describe("chain selection (Envoy's order, most specific wins at each step)", () => {
  it("destination port: exact beats catch-all, and no fallback once the port matched", () => {
    const pick = selector([`{ destination_port: 10000, server_names: [a.example] }`, `{ server_names: [b.example] }`]);
    expect(pick({ serverName: "a.example" })).toBe("c0");
    // Port 10000 has a branch, so c1 (any port) is not considered even though its SNI matches.
    expect(pick({ serverName: "b.example" })).toBeUndefined();
    expect(pick({ destinationPort: 9999, serverName: "b.example" })).toBe("c1");
  });

  it("destination IP: longest prefix wins, then the catch-all", () => {
    const pick = selector([
      `{ prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }`,
      `{ prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 24 }] }`,
      `{ prefix_ranges: [{ address_prefix: "::", prefix_len: 0 }] }`,
      undefined,
    ]);
    expect(pick({ localAddress: "10.0.0.7" })).toBe("c1");
    expect(pick({ localAddress: "10.9.0.7" })).toBe("c0");
    expect(pick({ localAddress: "::1" })).toBe("c2");
    expect(pick({ localAddress: "::ffff:10.0.0.9" })).toBe("c1");
    expect(pick({ localAddress: "172.16.0.1" })).toBe("c3");
  });

  it("server names: exact, then the longest wildcard, then chains without server_names", () => {
    const pick = selector([`{ server_names: [www.example.com] }`, `{ server_names: ["*.example.com"] }`, `{ server_names: ["*.b.example.com"] }`, `{ server_names: ["*.com"] }`, undefined]);
    expect(pick({ serverName: "www.example.com" })).toBe("c0");
    expect(pick({ serverName: "api.example.com" })).toBe("c1");
    expect(pick({ serverName: "a.b.example.com" })).toBe("c2");
    expect(pick({ serverName: "example.com" })).toBe("c3");
    expect(pick({ serverName: "example.org" })).toBe("c4");
    expect(pick({})).toBe("c4");
  });

  it("transport protocol and ALPN: exact value, else catch-all; the client's first known protocol wins", () => {
    const pick = selector([`{ transport_protocol: tls, application_protocols: [h2] }`, `{ transport_protocol: tls, application_protocols: [http/1.1] }`, `{ transport_protocol: tls }`, `{ application_protocols: [h2c] }`]);
    expect(pick({ transportProtocol: "tls", applicationProtocols: ["http/1.1", "h2"] })).toBe("c1");
    expect(pick({ transportProtocol: "tls", applicationProtocols: ["h2", "http/1.1"] })).toBe("c0");
    expect(pick({ transportProtocol: "tls", applicationProtocols: ["spdy/3"] })).toBe("c2");
    expect(pick({ applicationProtocols: ["h2c"] })).toBe("c3");
    expect(pick({ applicationProtocols: ["http/1.1"] })).toBeUndefined();
  });

  it("direct source, source type, source IP and source port, in that order", () => {
    const pick = selector([
      `{ direct_source_prefix_ranges: [{ address_prefix: 192.0.2.0, prefix_len: 24 }], source_ports: [1] }`,
      `{ source_type: SAME_IP_OR_LOOPBACK }`,
      `{ source_type: EXTERNAL, source_prefix_ranges: [{ address_prefix: 198.51.100.0, prefix_len: 24 }] }`,
      `{ source_ports: [7] }`,
    ]);
    expect(pick({ directRemoteAddress: "192.0.2.9", remotePort: 1 })).toBe("c0");
    // The direct source range matched, so the other chains are out even though c3 would take port 7.
    expect(pick({ directRemoteAddress: "192.0.2.9", remotePort: 7 })).toBeUndefined();
    expect(pick({ directRemoteAddress: "127.0.0.1", remoteAddress: "127.0.0.1" })).toBe("c1");
    expect(pick({ directRemoteAddress: "10.0.0.1", remoteAddress: "10.0.0.1", localAddress: "10.0.0.1" })).toBe("c1");
    expect(pick({ directRemoteAddress: "203.0.113.1", remoteAddress: "198.51.100.4" })).toBe("c2");
    // EXTERNAL has a branch, so ANY (c3) is not tried when the source IP fails there.
    expect(pick({ directRemoteAddress: "203.0.113.1", remoteAddress: "203.0.113.1", remotePort: 7 })).toBeUndefined();
  });

  it("falls back to default_filter_chain only when nothing matches", () => {
    const pick = selector([`{ server_names: [a.example] }`], true);
    expect(pick({ serverName: "a.example" })).toBe("c0");
    expect(pick({ serverName: "z.example" })).toBe("default");
  });
});
