/**
 * Network RBAC through the tcp tier: real clients on loopback (node sockets, Node's TLS client for SNI,
 * redis-cli once, a client of the machine's own), a tcp_proxy behind the filter and an upstream that
 * records what reached it.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { makePki, yamlString } from "./tls-helpers.ts";
import { listenTcp, proxyPort, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const LF = "type.googleapis.com/envoy.extensions.filters.listener";

/** An upstream that echoes and records every byte it receives. */
async function recordingEcho() {
  const received: string[] = [];
  const server = await listenTcp((s) => {
    s.on("data", (d: Buffer) => {
      received.push(d.toString("latin1"));
      s.write(d);
    });
    s.on("end", () => s.end());
  });
  return { ...server, received };
}

function rbacYaml(upPort: number, rbac: string, listenerFilters = ""): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${listenerFilters ? `    listener_filters:\n${listenerFilters}` : ""}    filter_chains:
    - filters:
      - name: envoy.filters.network.rbac
        typed_config:
          "@type": ${RBAC_TYPE}
${rbac}
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } }
`;
}

/** Connects from `localAddress`, sends `data`, and resolves with what came back before the close. */
async function exchange(port: number, data: string, localAddress = "127.0.0.1", expected = data): Promise<{ reply: string; closedByPeer: boolean }> {
  const s: Socket = connect({ host: "127.0.0.1", port, localAddress });
  s.on("error", () => {});
  await once(s, "connect");
  let reply = "";
  s.on("data", (d: Buffer) => {
    reply += d.toString("latin1");
    if (reply.length >= expected.length) s.end();
  });
  s.write(data);
  await once(s, "close");
  return { reply, closedByPeer: reply.length === 0 };
}

describe("network rbac", () => {
  it("ALLOW: only connections matching a policy pass; the others are closed before a byte goes upstream", async () => {
    const up = await recordingEcho();
    const rbac = `          stat_prefix: tcp.
          rules:
            action: ALLOW
            policies:
              local-one:
                permissions: [{ any: true }]
                principals: [{ remote_ip: { address_prefix: 127.0.0.1, prefix_len: 32 } }]`;
    const h = await startYaml(rbacYaml(up.port, rbac));
    try {
      const port = proxyPort(h);
      expect((await exchange(port, "allowed")).reply).toBe("allowed");
      const denied = await exchange(port, "denied", "127.0.0.2");
      expect(denied.closedByPeer).toBe(true);
      expect(up.received.join("")).toBe("allowed");
      expect(stat(h, "tcp.rbac.allowed")).toBe(1);
      expect(stat(h, "tcp.rbac.denied")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("DENY with and_rules / or_ids / not_id / port ranges; a prefix without a dot gets one", async () => {
    const up = await recordingEcho();
    const h0 = await startYaml(rbacYaml(up.port, "          stat_prefix: probe\n"));
    const listenPort = proxyPort(h0);
    await h0.close();
    // The same port again (released just now), so destination_port rules can name it.
    const rbac = `          stat_prefix: net
          rules:
            action: DENY
            policies:
              block-two:
                permissions:
                - and_rules:
                    rules:
                    - destination_port: ${listenPort}
                    - destination_port_range: { start: ${listenPort}, end: ${listenPort + 1} }
                    - not_rule: { destination_ip: { address_prefix: 10.0.0.0, prefix_len: 8 } }
                principals:
                - or_ids:
                    ids:
                    - direct_remote_ip: { address_prefix: 127.0.0.2, prefix_len: 32 }
                    - and_ids: { ids: [{ any: true }, { not_id: { source_ip: { address_prefix: 127.0.0.0, prefix_len: 8 } } }] }`;
    const h = await startYaml(rbacYaml(up.port, rbac).replace("port_value: 0 } }\n    filter_chains", `port_value: ${listenPort} } }\n    filter_chains`));
    try {
      expect(proxyPort(h)).toBe(listenPort);
      expect((await exchange(listenPort, "one")).reply).toBe("one");
      expect((await exchange(listenPort, "two", "127.0.0.2")).closedByPeer).toBe(true);
      expect((await exchange(listenPort, "three", "127.0.0.3")).reply).toBe("three");
      expect(stat(h, "net.rbac.allowed")).toBe(2);
      expect(stat(h, "net.rbac.denied")).toBe(1);
      expect(up.received.join("")).toBe("onethree");
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("shadow rules are counted but never enforced, under shadow_rules_stat_prefix", async () => {
    const up = await recordingEcho();
    const rbac = `          stat_prefix: s.
          shadow_rules_stat_prefix: trial_
          shadow_rules:
            action: ALLOW
            policies:
              only-two:
                permissions: [{ any: true }]
                principals: [{ remote_ip: { address_prefix: 127.0.0.2, prefix_len: 32 } }]`;
    const h = await startYaml(rbacYaml(up.port, rbac));
    try {
      const port = proxyPort(h);
      expect((await exchange(port, "a")).reply).toBe("a");
      expect((await exchange(port, "b", "127.0.0.2")).reply).toBe("b");
      expect(stat(h, "s.rbac.trial_shadow_denied")).toBe(1);
      expect(stat(h, "s.rbac.trial_shadow_allowed")).toBe(1);
      expect(stat(h, "s.rbac.allowed")).toBe(0);
      expect(stat(h, "s.rbac.denied")).toBe(0);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("decides once per connection by default, on every read with CONTINUOUS", async () => {
    const up = await recordingEcho();
    const rules = `
          rules:
            action: ALLOW
            policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } }`;
    // CONTINUOUS decides on every onData: three reads, then the FIN (end of stream, no bytes), as in Envoy.
    for (const [type, expected] of [["ONE_TIME_ON_FIRST_BYTE", 1], ["CONTINUOUS", 4]] as const) {
      const h = await startYaml(rbacYaml(up.port, `          stat_prefix: e.\n          enforcement_type: ${type}${rules}`));
      try {
        const s = connect({ host: "127.0.0.1", port: proxyPort(h) });
        await once(s, "connect");
        let got = "";
        s.on("data", (d: Buffer) => (got += d.toString()));
        for (const chunk of ["x", "y", "z"]) {
          s.write(chunk);
          const want = got.length + 1;
          await waitFor(() => got.length === want, `echo of ${chunk}`);
        }
        s.end();
        await once(s, "close");
        expect(stat(h, "e.rbac.allowed")).toBe(expected);
      } finally {
        await h.close();
      }
    }
    await up.close();
  });

  it("remote_ip sees the PROXY protocol source; direct_remote_ip sees the socket's peer", async () => {
    const up = await recordingEcho();
    const rbac = `          stat_prefix: pp.
          rules:
            action: ALLOW
            policies:
              via-lb:
                permissions: [{ any: true }]
                principals:
                - and_ids:
                    ids:
                    - remote_ip: { address_prefix: 192.0.2.0, prefix_len: 24 }
                    - direct_remote_ip: { address_prefix: 127.0.0.1, prefix_len: 32 }`;
    const pp = `    - name: envoy.filters.listener.proxy_protocol\n      typed_config: { "@type": ${LF}.proxy_protocol.v3.ProxyProtocol }\n`;
    const h = await startYaml(rbacYaml(up.port, rbac, pp));
    try {
      const port = proxyPort(h);
      expect((await exchange(port, "PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nok", "127.0.0.1", "ok")).reply).toBe("ok");
      expect((await exchange(port, "PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\nno")).closedByPeer).toBe(true);
      expect((await exchange(port, "PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\nno", "127.0.0.2")).closedByPeer).toBe(true);
      expect(stat(h, "pp.rbac.allowed")).toBe(1);
      expect(stat(h, "pp.rbac.denied")).toBe(2);
      expect(up.received.join("")).toBe("ok");
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("requested_server_name reads the SNI the TLS inspector found (Node's TLS client)", async () => {
    const up = await recordingEcho();
    const rbac = `          stat_prefix: sni.
          rules:
            action: DENY
            policies:
              blocked:
                permissions: [{ requested_server_name: { suffix: .blocked.example } }]
                principals: [{ any: true }]`;
    const ti = `    - name: envoy.filters.listener.tls_inspector\n      typed_config: { "@type": ${LF}.tls_inspector.v3.TlsInspector }\n`;
    const h = await startYaml(rbacYaml(up.port, rbac, ti));
    const hello = async (servername: string) => {
      // The upstream echoes the ClientHello back, so the handshake fails; what matters is whether it arrived.
      const before = up.received.length;
      const s = tlsConnect({ host: "127.0.0.1", port: proxyPort(h), servername, rejectUnauthorized: false });
      await new Promise<void>((resolve) => {
        s.on("error", () => {});
        s.on("close", () => resolve());
      });
      return up.received.length > before;
    };
    try {
      expect(await hello("a.blocked.example")).toBe(false);
      expect(await hello("fine.example")).toBe(true);
      expect(stat(h, "sni.rbac.denied")).toBe(1);
      expect(stat(h, "sni.rbac.allowed")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("authenticated.principal_name matches the client certificate's URI SAN over downstream TLS", async () => {
    const pki = makePki();
    const up = await recordingEcho();
    const rbac = `          stat_prefix: mtls.
          rules:
            action: ALLOW
            policies:
              client-only:
                permissions: [{ any: true }]
                principals: [{ authenticated: { principal_name: { exact: "spiffe://legate/client" } } }]`;
    const tls = `      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates:
            - certificate_chain: { inline_string: ${yamlString(pki.serverA.cert)} }
              private_key: { inline_string: ${yamlString(pki.serverA.key)} }
            validation_context:
              trusted_ca: { inline_string: ${yamlString(pki.ca.cert)} }
`;
    const h = await startYaml(rbacYaml(up.port, rbac).replace("    - filters:\n", `    - ${tls.trimStart()}      filters:\n`));
    const talk = async (client: { cert: string; key: string }, msg: string) => {
      const s = tlsConnect({ host: "127.0.0.1", port: proxyPort(h), servername: "a.test", ca: pki.ca.cert, cert: client.cert, key: client.key });
      let got = "";
      s.on("data", (d: Buffer) => {
        got += d.toString();
        if (got.length >= msg.length) s.end();
      });
      s.on("secureConnect", () => s.write(msg));
      await new Promise<void>((resolve) => {
        s.on("error", () => {});
        s.on("close", () => resolve());
      });
      return got;
    };
    try {
      expect(await talk(pki.client, "trusted")).toBe("trusted");
      expect(await talk(pki.client2, "intruder")).toBe("");
      expect(stat(h, "mtls.rbac.allowed")).toBe(1);
      expect(stat(h, "mtls.rbac.denied")).toBe(1);
      expect(up.received.join("")).toBe("trusted");
    } finally {
      await h.close();
      await up.close();
      pki.remove();
    }
  });

  it("closes a denied client of the machine's own (redis-cli), before a byte goes upstream", { timeout: 30_000 }, async () => {
    const up = await recordingEcho();
    const rbac = `          stat_prefix: cli.
          rules:
            action: DENY
            policies: { everyone: { permissions: [{ any: true }], principals: [{ any: true }] } }`;
    const h = await startYaml(rbacYaml(up.port, rbac));
    try {
      const child = spawn("redis-cli", ["-h", "127.0.0.1", "-p", String(proxyPort(h)), "PING"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const [code] = (await once(child, "exit")) as [number | null];
      // The connection is closed under redis-cli: it reports the error and fails; nothing went upstream.
      expect(code).not.toBe(0);
      expect(out).not.toContain("PONG");
      expect(stat(h, "cli.rbac.denied")).toBe(1);
      expect(up.received).toEqual([]);
    } finally {
      await h.close();
      await up.close();
    }
  });
});

describe("network rbac config", () => {
  it("compiles policies in name order and refuses LOG, HTTP-only permissions and a chain ending in rbac", async () => {
    const yaml = rbacYaml(1, `          stat_prefix: c.
          rules:
            action: LOG
            policies:
              p: { permissions: [{ header: { name: x, present_match: true } }], principals: [{ any: true }] }`);
    const result = await validateBootstrapValue(parseConfigText(yaml).value);
    const issues = result.ok ? [] : result.issues.map((i) => `${i.kind} ${i.path}`);
    expect(issues.some((i) => i.startsWith("unsupported") && i.endsWith("rules.action"))).toBe(true);
    expect(issues.some((i) => i.startsWith("unsupported") && i.includes("permissions[0].header"))).toBe(true);

    const full = await validateBootstrapValue(parseConfigText(rbacYaml(1, `          stat_prefix: c.
          enforcement_type: CONTINUOUS
          shadow_rules_stat_prefix: s_
          shadow_rules: { action: DENY, policies: { x: { permissions: [{ any: true }], principals: [{ any: true }] } } }
          rules:
            action: ALLOW
            policies:
              p:
                permissions:
                - and_rules: { rules: [{ destination_port: 80 }, { destination_port_range: { start: 1, end: 90 } }] }
                - or_rules: { rules: [{ destination_ip: { address_prefix: "::1", prefix_len: 128 } }, { not_rule: { requested_server_name: { exact: a.example } } }] }
                principals:
                - authenticated: { principal_name: { prefix: "spiffe://" } }
                - or_ids: { ids: [{ direct_remote_ip: { address_prefix: 10.0.0.0, prefix_len: 8 } }, { remote_ip: { address_prefix: 10.0.0.0 } }] }
                - and_ids: { ids: [{ source_ip: { address_prefix: 10.0.0.0, prefix_len: 8 } }, { not_id: { any: true } }] }`)).value);
    expect(full.ok ? [] : full.issues).toEqual([]);

    const lastOnly = yaml.replace(/      - name: envoy.filters.network.tcp_proxy\n.*\n/, "");
    const compiled = compileBootstrap(parseConfigText(lastOnly).value);
    expect(compiled.issues.map((i) => i.message).some((m) => m.includes("not a terminal filter"))).toBe(true);

    const ok = compileBootstrap(parseConfigText(rbacYaml(1, `          stat_prefix: c.
          rules:
            policies:
              zeta: { permissions: [{ any: true }], principals: [{ any: true }] }
              alpha: { permissions: [{ destination_port: 80 }], principals: [{ authenticated: { principal_name: { exact: "spiffe://x" } } }] }`)).value);
    expect(ok.issues).toEqual([]);
    const f = ok.model!.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(f.kind === "rbac" && f.rules?.policies.map((p) => p.name)).toEqual(["alpha", "zeta"]);
  });
});
