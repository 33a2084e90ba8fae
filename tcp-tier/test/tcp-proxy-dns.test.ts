/**
 * DNS clusters with a resolver the test controls: a small UDP DNS server on loopback answers A queries
 * from a table the test changes, and the cluster's `dns_resolvers` points at it. Hosts come and go at
 * each `dns_refresh_rate` (or at the TTL with `respect_dns_ttl`) while established connections stay up.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { compileYaml, connectClient, proxyPort, readAll, startYaml, stat, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

/** A DNS server answering A queries from `records` (name → addresses), NXDOMAIN for unknown names. */
async function dnsServer(ttl: number): Promise<{ port: number; records: Map<string, string[]>; queries: number; close(): Promise<void> }> {
  const records = new Map<string, string[]>();
  const sock: UdpSocket = createSocket("udp4");
  const state = { port: 0, records, queries: 0, close: () => new Promise<void>((r) => sock.close(() => r())) };
  sock.on("message", (msg, rinfo) => {
    if (msg.length < 12) return;
    state.queries++;
    let off = 12;
    const labels: string[] = [];
    while (off < msg.length && msg[off] !== 0) {
      labels.push(msg.subarray(off + 1, off + 1 + msg[off]!).toString("ascii"));
      off += msg[off]! + 1;
    }
    const qtype = msg.readUInt16BE(off + 1);
    const question = msg.subarray(12, off + 5);
    const addresses = records.get(labels.join(".").toLowerCase());
    const answers = qtype === 1 && addresses ? addresses : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(addresses ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const rrs = answers.map((a) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(ttl, 6);
      rr.writeUInt16BE(4, 10);
      a.split(".").forEach((o, i) => (rr[12 + i] = Number(o)));
      return rr;
    });
    sock.send(Buffer.concat([header, question, ...rrs]), rinfo.port, rinfo.address);
  });
  sock.bind(0, "127.0.0.1");
  await once(sock, "listening");
  state.port = sock.address().port;
  return state;
}

/** A TCP server on `host:port` that writes `tag` on connect and then echoes. */
async function tagEcho(host: string, port: number, tag: string): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    s.write(tag);
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
  });
  server.listen(port, host);
  await once(server, "listening");
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function yaml(dnsPort: number, port: number, extra: string): string {
  return `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_PROXY_TYPE}
          stat_prefix: tp
          cluster: svc
  clusters:
  - name: svc
    type: STRICT_DNS
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY
    dns_resolvers: [{ socket_address: { address: 127.0.0.1, port_value: ${dnsPort} } }]
${extra}    load_assignment:
      cluster_name: svc
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: svc.legate.test, port_value: ${port} } } }
`;
}

/** The first bytes the upstream sends through the proxy (its tag). */
async function tagVia(port: number): Promise<string> {
  const c = await connectClient(port);
  c.end();
  return (await readAll(c)).toString();
}

describe("STRICT_DNS with dns_resolvers", () => {
  it("adds and removes hosts at each refresh without breaking established connections", async () => {
    const dns = await dnsServer(300);
    const a = await tagEcho("127.0.0.1", 0, "A");
    const b = await tagEcho("127.0.0.2", a.port, "B");
    dns.records.set("svc.legate.test", ["127.0.0.1"]);
    const h = await startYaml(yaml(dns.port, a.port, "    dns_refresh_rate: 0.05s\n"));
    try {
      expect(stat(h, "cluster.svc.membership_total")).toBe(1);
      expect(await tagVia(proxyPort(h))).toBe("A");
      // A connection to A that stays open across the changes.
      const held = await connectClient(proxyPort(h));
      await once(held, "data");

      dns.records.set("svc.legate.test", ["127.0.0.1", "127.0.0.2"]);
      await waitFor(() => stat(h, "cluster.svc.membership_total") === 2, "two hosts");
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add(await tagVia(proxyPort(h)));
      expect(seen).toEqual(new Set(["A", "B"]));

      dns.records.set("svc.legate.test", ["127.0.0.2"]);
      await waitFor(() => stat(h, "cluster.svc.membership_total") === 1, "one host");
      for (let i = 0; i < 3; i++) expect(await tagVia(proxyPort(h))).toBe("B");
      expect(stat(h, "cluster.svc.membership_change")).toBe(3);

      // The connection to the removed host still works.
      held.write("still here");
      const [echo] = (await once(held, "data")) as [Buffer];
      expect(echo.toString()).toBe("still here");
      held.end();
      await readAll(held);

      // A failed resolution keeps the hosts.
      dns.records.delete("svc.legate.test");
      const failures = stat(h, "cluster.svc.update_failure");
      await waitFor(() => stat(h, "cluster.svc.update_failure") > failures, "a failed refresh");
      expect(stat(h, "cluster.svc.membership_total")).toBe(1);
      expect(await tagVia(proxyPort(h))).toBe("B");
    } finally {
      await h.close();
      await a.close();
      await b.close();
      await dns.close();
    }
  });

  it("respect_dns_ttl refreshes at the record's TTL rather than dns_refresh_rate", async () => {
    const dns = await dnsServer(1);
    const a = await tagEcho("127.0.0.1", 0, "A");
    dns.records.set("svc.legate.test", ["127.0.0.1"]);
    const h = await startYaml(yaml(dns.port, a.port, "    dns_refresh_rate: 60s\n    respect_dns_ttl: true\n"));
    try {
      expect(stat(h, "cluster.svc.update_attempt")).toBe(1);
      // A refresh completes after the 1 s TTL, long before dns_refresh_rate (60 s).
      await waitFor(() => stat(h, "cluster.svc.update_success") >= 2, "a refresh after the 1 s TTL", 100, 30);
      expect(stat(h, "cluster.svc.update_no_rebuild")).toBeGreaterThanOrEqual(1);
      expect(dns.queries).toBeGreaterThanOrEqual(2);
    } finally {
      await h.close();
      await a.close();
      await dns.close();
    }
  });

  it("refuses respect_dns_ttl without dns_resolvers, and a resolver that is not an IP", () => {
    const base = yaml(53, 80, "    respect_dns_ttl: true\n");
    expect(() => compileYaml(base.replace(/    dns_resolvers: .*\n/, ""))).toThrow(/respect_dns_ttl needs dns_resolvers/);
    expect(() => compileYaml(yaml(53, 80, "").replace("address: 127.0.0.1, port_value: 53", "address: dns.example, port_value: 53"))).toThrow(
      /a DNS resolver must be an IP address/,
    );
  });
});
