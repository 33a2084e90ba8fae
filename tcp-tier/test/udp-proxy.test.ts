import { spawn } from "node:child_process";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { proxyPort, startYaml, stat, waitFor } from "./helpers.ts";

const UDP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";
const ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.Route";
const SOURCE_IP_INPUT = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.SourceIPInput";

/** A UDP server on loopback that answers each datagram with `<tag>:<datagram>` and remembers who sent what. */
async function udpEcho(tag: string, host = "127.0.0.1", reply?: (msg: Buffer) => Buffer) {
  const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  const seen: { from: string; data: string }[] = [];
  socket.on("message", (msg, rinfo) => {
    seen.push({ from: `${rinfo.address}:${rinfo.port}`, data: msg.toString() });
    socket.send(reply ? reply(msg) : Buffer.concat([Buffer.from(`${tag}:`), msg]), rinfo.port, rinfo.address);
  });
  socket.bind(0, host);
  await once(socket, "listening");
  return { port: socket.address().port, seen, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

/** A dgram client bound to `host`; `ask` sends one datagram and waits for one reply. */
async function udpClient(host = "127.0.0.1") {
  const socket: Socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  const inbox: Buffer[] = [];
  const waiters: ((b: Buffer) => void)[] = [];
  socket.on("message", (msg: Buffer, _r: RemoteInfo) => {
    const w = waiters.shift();
    if (w) w(msg);
    else inbox.push(msg);
  });
  socket.bind(0, host);
  await once(socket, "listening");
  const next = () => {
    const b = inbox.shift();
    if (b) return Promise.resolve(b);
    return new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no reply within 2 s")), 2000);
      waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  };
  return {
    port: socket.address().port,
    send: (data: string | Buffer, port: number, to = host) => socket.send(data, port, to),
    ask: async (data: string, port: number, to = host) => {
      socket.send(data, port, to);
      return (await next()).toString();
    },
    inbox,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

const TREE_PROXY = `        stat_prefix: m
        matcher:
          matcher_tree:
            input:
              name: envoy.matching.inputs.source_ip
              typed_config: { "@type": ${SOURCE_IP_INPUT} }
            exact_match_map:
              map:
                "127.0.0.1":
                  action:
                    name: route
                    typed_config: { "@type": ${ROUTE_TYPE}, cluster: a }
                "127.0.0.2":
                  action:
                    name: route
                    typed_config: { "@type": ${ROUTE_TYPE}, cluster: b }`;

function cluster(name: string, ports: number[], host = "127.0.0.1", lbPolicy = "ROUND_ROBIN"): string {
  return `
  - name: ${name}
    connect_timeout: 1s
    lb_policy: ${lbPolicy}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
${ports.map((p) => `        - endpoint: { address: { socket_address: { address: "${host}", port_value: ${p} } } }`).join("\n")}`;
}

function udpYaml(proxy: string, clusters: string, listener: { address?: string; extra?: string } = {}): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: "${listener.address ?? "127.0.0.1"}", port_value: 0, protocol: UDP } }
${listener.extra ?? ""}    listener_filters:
    - name: envoy.filters.udp_listener.udp_proxy
      typed_config:
        "@type": ${UDP_PROXY_TYPE}
${proxy}
  clusters:${clusters}
`;
}

describe("udp_proxy", () => {
  it("keeps one session and one upstream socket per downstream address, with Envoy's stats", async () => {
    const up = await udpEcho("A");
    const h = await startYaml(udpYaml("        stat_prefix: up\n        cluster: a", cluster("a", [up.port])));
    const c1 = await udpClient();
    const c2 = await udpClient();
    try {
      const port = proxyPort(h);
      expect(await c1.ask("one", port)).toBe("A:one");
      expect(await c1.ask("two", port)).toBe("A:two");
      expect(await c2.ask("three", port)).toBe("A:three");
      expect(await c1.ask("four", port)).toBe("A:four");
      // Each session has its own upstream socket: the upstream saw two source ports, c1's twice over.
      const from = up.seen.map((s) => s.from);
      expect(new Set(from).size).toBe(2);
      expect(from[0]).toBe(from[1]);
      expect(from[0]).toBe(from[3]);
      expect(from[2]).not.toBe(from[0]);
      await waitFor(() => stat(h, "udp.up.downstream_sess_tx_datagrams") === 4, "replies counted");
      expect(stat(h, "udp.up.downstream_sess_total")).toBe(2);
      expect(stat(h, "udp.up.downstream_sess_active")).toBe(2);
      expect(stat(h, "udp.up.downstream_sess_rx_datagrams")).toBe(4);
      expect(stat(h, "udp.up.downstream_sess_rx_bytes")).toBe(3 + 3 + 5 + 4);
      expect(stat(h, "udp.up.downstream_sess_tx_bytes")).toBe(5 + 5 + 7 + 6);
      expect(stat(h, "cluster.a.udp.sess_tx_datagrams")).toBe(4);
      expect(stat(h, "cluster.a.udp.sess_rx_datagrams")).toBe(4);
      expect(stat(h, "listener_manager.total_listeners_active")).toBe(1);
    } finally {
      await Promise.all([c1.close(), c2.close()]);
      await h.close();
      await up.close();
    }
  });

  it("ignores datagrams reaching a session's upstream socket from anything but its host", async () => {
    const up = await udpEcho("A");
    const h = await startYaml(udpYaml("        stat_prefix: st\n        cluster: a", cluster("a", [up.port])));
    const c = await udpClient();
    const stranger = await udpClient();
    try {
      const port = proxyPort(h);
      expect(await c.ask("hello", port)).toBe("A:hello");
      const sessionPort = Number(up.seen[0]!.from.split(":")[1]);
      stranger.send("spoofed", sessionPort);
      expect(await c.ask("again", port)).toBe("A:again");
      expect(c.inbox).toEqual([]);
      expect(stat(h, "cluster.a.udp.sess_rx_datagrams")).toBe(2);
    } finally {
      await Promise.all([c.close(), stranger.close()]);
      await h.close();
      await up.close();
    }
  });

  it("ends a session after idle_timeout without datagrams; the next datagram opens a new one", async () => {
    const up = await udpEcho("A");
    const h = await startYaml(udpYaml("        stat_prefix: up\n        cluster: a\n        idle_timeout: 0.1s", cluster("a", [up.port])));
    const c = await udpClient();
    try {
      const port = proxyPort(h);
      expect(await c.ask("x", port)).toBe("A:x");
      await waitFor(() => stat(h, "udp.up.idle_timeout") === 1, "the session to expire", 200, 10);
      expect(stat(h, "udp.up.downstream_sess_active")).toBe(0);
      expect(await c.ask("y", port)).toBe("A:y");
      expect(stat(h, "udp.up.downstream_sess_total")).toBe(2);
      expect(stat(h, "udp.up.downstream_sess_active")).toBe(1);
      // The new session has a new upstream socket.
      expect(up.seen[0]!.from).not.toBe(up.seen[1]!.from);
    } finally {
      await c.close();
      await h.close();
      await up.close();
    }
  });

  it("routes new sessions with a matcher tree on the source IP, and counts sessions with no route", async () => {
    const a = await udpEcho("A");
    const b = await udpEcho("B");
    const h = await startYaml(udpYaml(TREE_PROXY, cluster("a", [a.port]) + cluster("b", [b.port])));
    const c1 = await udpClient("127.0.0.1");
    const c2 = await udpClient("127.0.0.2");
    const c3 = await udpClient("127.0.0.3");
    try {
      const port = proxyPort(h);
      expect(await c1.ask("hi", port, "127.0.0.1")).toBe("A:hi");
      expect(await c2.ask("hi", port, "127.0.0.1")).toBe("B:hi");
      c3.send("lost", port, "127.0.0.1");
      await waitFor(() => stat(h, "udp.m.downstream_sess_no_route") === 1, "no route counted");
      expect(stat(h, "udp.m.downstream_sess_total")).toBe(2);
      expect(stat(h, "cluster.a.udp.sess_tx_datagrams")).toBe(1);
      expect(stat(h, "cluster.b.udp.sess_tx_datagrams")).toBe(1);
    } finally {
      await Promise.all([c1.close(), c2.close(), c3.close()]);
      await h.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("takes the longest matching key of a prefix_match_map", async () => {
    const a = await udpEcho("A");
    const b = await udpEcho("B");
    const proxy = TREE_PROXY.replace("exact_match_map", "prefix_match_map").replace('"127.0.0.1":', '"127.0.0.":');
    const h = await startYaml(udpYaml(proxy, cluster("a", [a.port]) + cluster("b", [b.port])));
    const c2 = await udpClient("127.0.0.2");
    const c3 = await udpClient("127.0.0.3");
    try {
      const port = proxyPort(h);
      expect(await c2.ask("x", port, "127.0.0.1")).toBe("B:x");
      expect(await c3.ask("y", port, "127.0.0.1")).toBe("A:y");
    } finally {
      await Promise.all([c2.close(), c3.close()]);
      await h.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("routes with a matcher list (IP ranges, a negated destination-port value match) and on_no_match", async () => {
    const a = await udpEcho("A");
    const b = await udpEcho("B");
    const c = await udpEcho("C");
    const proxy = `        stat_prefix: l
        matcher:
          matcher_list:
            matchers:
            - predicate:
                single_predicate:
                  input: { name: envoy.matching.inputs.source_ip, typed_config: { "@type": ${SOURCE_IP_INPUT} } }
                  custom_match:
                    name: envoy.matching.matchers.ip
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.matching.input_matchers.ip.v3.Ip
                      stat_prefix: ip
                      cidr_ranges: [{ address_prefix: 127.0.0.2, prefix_len: 32 }]
              on_match:
                action: { name: route, typed_config: { "@type": ${ROUTE_TYPE}, cluster: b } }
            - predicate:
                not_matcher:
                  single_predicate:
                    input: { name: envoy.matching.inputs.destination_port, typed_config: { "@type": type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput } }
                    value_match: { exact: "1" }
              on_match:
                action: { name: route, typed_config: { "@type": ${ROUTE_TYPE}, cluster: c } }
          on_no_match:
            action: { name: route, typed_config: { "@type": ${ROUTE_TYPE}, cluster: a } }`;
    const h = await startYaml(udpYaml(proxy, cluster("a", [a.port]) + cluster("b", [b.port]) + cluster("c", [c.port])));
    const c1 = await udpClient("127.0.0.1");
    const c2 = await udpClient("127.0.0.2");
    try {
      const port = proxyPort(h);
      expect(await c2.ask("x", port, "127.0.0.1")).toBe("B:x");
      // The destination port is never 1, so the negated predicate holds.
      expect(await c1.ask("y", port, "127.0.0.1")).toBe("C:y");
    } finally {
      await Promise.all([c1.close(), c2.close()]);
      await h.close();
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it("drops and counts datagrams larger than max_rx_datagram_size, downstream and upstream", async () => {
    const up = await udpEcho("A", "127.0.0.1", (msg) => (msg.toString() === "big-reply" ? Buffer.alloc(80, 1) : msg));
    const proxy = "        stat_prefix: s\n        cluster: a\n        upstream_socket_config: { max_rx_datagram_size: 64 }";
    const extra = "    udp_listener_config: { downstream_socket_config: { max_rx_datagram_size: 100 } }\n";
    const h = await startYaml(udpYaml(proxy, cluster("a", [up.port]), { extra }));
    const c = await udpClient();
    try {
      const port = proxyPort(h);
      c.send(Buffer.alloc(101, 7), port);
      await waitFor(() => stat(h, "listener.127.0.0.1_0.udp.downstream_rx_datagram_dropped") === 1, "the big datagram to be dropped");
      expect(stat(h, "udp.s.downstream_sess_total")).toBe(0);
      c.send("big-reply", port);
      await waitFor(() => stat(h, "cluster.a.udp.sess_rx_datagrams_dropped") === 1, "the big reply to be dropped");
      expect(await c.ask("ok", port)).toBe("ok");
      expect(c.inbox.length).toBe(0);
    } finally {
      await c.close();
      await h.close();
      await up.close();
    }
  });

  it("holds a max_connections circuit-breaker slot per session; overflow drops the datagram", async () => {
    const up = await udpEcho("A");
    const cb = cluster("a", [up.port]).replace("    lb_policy: ROUND_ROBIN\n", "    lb_policy: ROUND_ROBIN\n    circuit_breakers: { thresholds: [{ max_connections: 1 }] }\n");
    const h = await startYaml(udpYaml("        stat_prefix: cb\n        cluster: a\n        idle_timeout: 0.1s", cb));
    const c1 = await udpClient();
    const c2 = await udpClient();
    try {
      const port = proxyPort(h);
      expect(await c1.ask("first", port)).toBe("A:first");
      c2.send("second", port);
      await waitFor(() => stat(h, "cluster.a.upstream_cx_overflow") === 1, "the overflow to be counted");
      expect(stat(h, "udp.cb.downstream_sess_total")).toBe(1);
      // Once c1's session idles out its slot is free again.
      await waitFor(() => stat(h, "udp.cb.downstream_sess_active") === 0, "c1's session to expire", 200, 10);
      expect(await c2.ask("third", port)).toBe("A:third");
      expect(up.seen.map((x) => x.data)).toEqual(["first", "third"]);
    } finally {
      await Promise.all([c1.close(), c2.close()]);
      await h.close();
      await up.close();
    }
  });

  it("picks a host per datagram with use_per_packet_load_balancing, keeping one session", async () => {
    const a = await udpEcho("A");
    const b = await udpEcho("B");
    const h = await startYaml(udpYaml("        stat_prefix: pp\n        cluster: ab\n        use_per_packet_load_balancing: true", cluster("ab", [a.port, b.port])));
    const c = await udpClient();
    try {
      const port = proxyPort(h);
      const replies: string[] = [];
      for (const m of ["1", "2", "3", "4"]) replies.push(await c.ask(m, port));
      expect(replies.map((r) => r[0]).sort()).toEqual(["A", "A", "B", "B"]);
      expect(stat(h, "udp.pp.downstream_sess_total")).toBe(1);
    } finally {
      await c.close();
      await h.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("serves an IPv6 listener and IPv6 upstreams", async () => {
    const up = await udpEcho("six", "::1");
    const h = await startYaml(udpYaml("        stat_prefix: v6\n        cluster: a", cluster("a", [up.port], "::1"), { address: "::1" }));
    const c = await udpClient("::1");
    try {
      expect(h.listenerAddresses.get("proxy")?.address).toBe("::1");
      expect(await c.ask("hello", proxyPort(h), "::1")).toBe("six:hello");
    } finally {
      await c.close();
      await h.close();
      await up.close();
    }
  });

  it("sends every session to one host with a key hash policy on a RING_HASH cluster", async () => {
    const a = await udpEcho("A");
    const b = await udpEcho("B");
    const h = await startYaml(udpYaml("        stat_prefix: hp\n        cluster: ab\n        hash_policies: [{ key: tenant-1 }]", cluster("ab", [a.port, b.port], "127.0.0.1", "RING_HASH")));
    const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => udpClient()));
    try {
      const port = proxyPort(h);
      const replies = await Promise.all(clients.map((c) => c.ask("q", port)));
      expect(new Set(replies).size).toBe(1);
      expect(stat(h, "udp.hp.downstream_sess_total")).toBe(6);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await h.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("proxies datagrams from socat, a real UDP client", async () => {
    const up = await udpEcho("A");
    const h = await startYaml(udpYaml("        stat_prefix: so\n        cluster: a", cluster("a", [up.port])));
    try {
      const child = spawn("socat", ["-T1", "-", `UDP4:127.0.0.1:${proxyPort(h)}`], { stdio: ["pipe", "pipe", "ignore"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stdin.write("from-socat");
      await waitFor(() => out.length > 0, "socat to print the reply", 400, 5);
      child.kill();
      await once(child, "close");
      expect(out).toBe("A:from-socat");
    } finally {
      await h.close();
      await up.close();
    }
  });
});

describe("udp_proxy config", () => {
  const compile = (yaml: string) => {
    const parsed = parseConfigText(yaml);
    return compileBootstrap(parsed.value).issues.map((i) => `${i.kind} ${i.path}: ${i.message}`);
  };

  it("refuses use_original_src_ip, unsupported inputs, and unknown clusters", () => {
    const issues = compile(
      udpYaml(
        `        stat_prefix: x
        use_original_src_ip: true
        matcher:
          matcher_tree:
            input: { name: sni, typed_config: { "@type": type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.ServerNameInput } }
            exact_match_map:
              map:
                a: { action: { name: r, typed_config: { "@type": ${ROUTE_TYPE}, cluster: nope } } }`,
        cluster("a", [1]),
      ),
    );
    expect(issues.some((i) => i.startsWith("unsupported") && i.includes("use_original_src_ip"))).toBe(true);
    expect(issues.some((i) => i.startsWith("unsupported") && i.includes("ServerNameInput"))).toBe(true);
    expect(issues.some((i) => i.startsWith("invalid-reference") && i.includes('unknown cluster "nope"'))).toBe(true);
  });

  it("validates against Envoy's schema: accepts the supported fields, refuses QUIC and session filters", async () => {
    const good = await validateBootstrapValue(
      parseConfigText(udpYaml("        stat_prefix: g\n        cluster: a\n        idle_timeout: 5s\n        hash_policies: [{ source_ip: true }]", cluster("a", [1]), {
        extra: "    udp_listener_config: { downstream_socket_config: { max_rx_datagram_size: 9000 } }\n",
      })).value,
    );
    expect(good.ok ? [] : good.issues).toEqual([]);
    const tree = await validateBootstrapValue(parseConfigText(udpYaml(TREE_PROXY, cluster("a", [1]) + cluster("b", [2]))).value);
    expect(tree.ok ? [] : tree.issues).toEqual([]);
    const prefix = await validateBootstrapValue(parseConfigText(udpYaml(TREE_PROXY.replace("exact_match_map", "prefix_match_map"), cluster("a", [1]) + cluster("b", [2]))).value);
    expect(prefix.ok ? [] : prefix.issues).toEqual([]);
    const bad = await validateBootstrapValue(
      parseConfigText(udpYaml("        stat_prefix: g\n        cluster: a\n        session_filters: [{ name: f, typed_config: { \"@type\": type.googleapis.com/google.protobuf.Empty } }]", cluster("a", [1]), {
        extra: "    udp_listener_config: { quic_options: {} }\n",
      })).value,
    );
    const msgs = (bad.ok ? [] : bad.issues).map((i) => `${i.kind} ${i.path}`);
    expect(msgs.some((m) => m.startsWith("unsupported") && m.includes("quic_options"))).toBe(true);
    expect(msgs.some((m) => m.startsWith("unsupported") && m.includes("session_filters"))).toBe(true);
  });
});
