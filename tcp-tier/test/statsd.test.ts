import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { silentLogger } from "../../shared/log.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import type { ServerHandle } from "../src/server.ts";
import { StatsdSinks } from "../src/stats/statsd.ts";
import { compileYaml, connectClient, echoServer, proxyPort, readAll, startYaml, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

/** A real statsd-style UDP server on loopback, keeping every line it receives. */
async function statsdServer(): Promise<{ socket: Socket; port: number; lines: string[]; datagrams: number; close(): void }> {
  const socket = createSocket("udp4");
  const out = { socket, port: 0, lines: [] as string[], datagrams: 0, close: () => socket.close() };
  socket.on("message", (msg: Buffer) => {
    out.datagrams++;
    out.lines.push(...msg.toString().split("\n"));
  });
  socket.bind(0, "127.0.0.1");
  await once(socket, "listening");
  out.port = socket.address().port;
  return out;
}

function sinkYaml(upPort: number, statsdPort: number, sinkExtra = "", top = ""): string {
  return `
${top}stats_flush_interval: 0.05s
stats_sinks:
- name: envoy.stat_sinks.statsd
  typed_config:
    "@type": type.googleapis.com/envoy.config.metrics.v3.StatsdSink
    address: { socket_address: { address: 127.0.0.1, port_value: ${statsdPort} } }
${sinkExtra}
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up } }] }]
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } } }] }] }
`;
}

function issuesOf(yaml: string): string[] {
  const parsed = parseConfigText(yaml);
  if (parsed.issues.length) return parsed.issues.map((i) => `${i.kind} ${i.path}: ${i.message}`);
  return compileBootstrap(parsed.value).issues.map((i) => `${i.kind} ${i.path}: ${i.message}`);
}

describe("statsd sink", () => {
  let up: Awaited<ReturnType<typeof echoServer>>;
  let statsd: Awaited<ReturnType<typeof statsdServer>>;
  let h: ServerHandle;

  beforeAll(async () => {
    up = await echoServer();
    statsd = await statsdServer();
    h = await startYaml(sinkYaml(up.port, statsd.port, "    prefix: legate_test"));
  });

  afterAll(async () => {
    await h?.close();
    await up?.close();
    statsd?.close();
  });

  const roundTrip = async () => {
    const c = await connectClient(proxyPort(h));
    const got = readAll(c);
    c.end("hello");
    expect((await got).toString()).toBe("hello");
  };

  it("flushes counters as deltas (|c), gauges (|g) and histogram samples as timers (|ms), with the prefix", async () => {
    await roundTrip();
    // A flush may fall mid-connection (the byte counter then comes a flush later), and a flush's datagrams
    // arrive over a few turns of the loop: wait for all of them.
    const expected = [
      "legate_test.tcp.tp.downstream_cx_total:1|c",
      "legate_test.tcp.tp.downstream_cx_rx_bytes_total:5|c",
      "legate_test.server.live:1|g",
      "legate_test.listener_manager.total_listeners_active:1|g",
    ];
    const timer = /^legate_test\.cluster\.up\.upstream_cx_connect_ms:\d+(\.\d+)?\|ms$/;
    await waitFor(() => expected.every((l) => statsd.lines.includes(l)) && statsd.lines.some((l) => timer.test(l)), "the first flushes");
    // A counter never used is not sent (Envoy sends used counters only).
    expect(statsd.lines.some((l) => l.startsWith("legate_test.tcp.tp.downstream_cx_no_route:"))).toBe(false);
    // One metric per datagram, as Envoy's UDP statsd sink without buffering.
    expect(statsd.datagrams).toBe(statsd.lines.length);

    // Later flushes send the increase since the previous one: 0 while idle, 1 after one more connection.
    statsd.lines.length = 0;
    await waitFor(() => statsd.lines.includes("legate_test.tcp.tp.downstream_cx_total:0|c"), "an idle flush");
    await roundTrip();
    await waitFor(() => statsd.lines.includes("legate_test.tcp.tp.downstream_cx_total:1|c"), "a delta of one");
    expect(statsd.lines).not.toContain("legate_test.tcp.tp.downstream_cx_total:2|c");
  });

  it("a hot reload that changes the sink carries on from what was sent (no totals resent)", async () => {
    await roundTrip();
    await waitFor(() => statsd.lines.includes("legate_test.tcp.tp.downstream_cx_total:1|c"), "the connection's flush");
    await h.reload(compileYaml(sinkYaml(up.port, statsd.port, "    prefix: renamed")));
    statsd.lines.length = 0;
    await waitFor(() => statsd.lines.includes("renamed.tcp.tp.downstream_cx_total:0|c"), "an idle flush under the new prefix");
    await roundTrip();
    await waitFor(() => statsd.lines.includes("renamed.tcp.tp.downstream_cx_total:1|c"), "a delta of one under the new prefix");
    expect(statsd.lines.some((l) => /^renamed\.tcp\.tp\.downstream_cx_total:[2-9]/.test(l))).toBe(false);
  });

  it("the prefix defaults to envoy and the flush interval to 5s", () => {
    const { model } = compileYaml(sinkYaml(up.port, statsd.port).replace("stats_flush_interval: 0.05s\n", ""));
    expect(model.statsSinks).toEqual({ flushIntervalMs: 5000, statsd: [{ address: "127.0.0.1", port: statsd.port, prefix: "envoy" }] });
  });

  it("refuses other sinks and statsd over a TCP cluster", () => {
    const dog = sinkYaml(1, 2).replace(
      /- name: envoy.stat_sinks.statsd\n  typed_config:\n    "@type": [^\n]+\n    address: [^\n]+\n/,
      `- name: envoy.stat_sinks.dog_statsd\n  typed_config:\n    "@type": type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink\n    address: { socket_address: { address: 127.0.0.1, port_value: 2 } }\n`,
    );
    expect(issuesOf(dog).join("\n")).toMatch(/unsupported stats_sinks\[0\].*only envoy\.stat_sinks\.statsd/);
    const tcp = sinkYaml(1, 2).replace(/    address: \{ socket_address[^\n]+\n/, "    tcp_cluster_name: up\n");
    expect(issuesOf(tcp).join("\n")).toMatch(/tcp_cluster_name/);
  });
});

describe("StatsdSinks", () => {
  it("keeps increments not yet sent across /reset_counters", async () => {
    const statsd = await statsdServer();
    const store = new StatsStore();
    const sink = new StatsdSinks([{ address: "127.0.0.1", port: statsd.port, prefix: "p" }], 3_600_000, store, silentLogger);
    try {
      const c = store.counter("a.b");
      c.inc(4);
      sink.flush();
      c.inc(3);
      store.resetCounters();
      expect(c.value).toBe(0);
      sink.flush();
      c.inc(2);
      sink.flush();
      await waitFor(() => statsd.lines.length >= 3, "three flushes");
      expect(statsd.lines).toEqual(["p.a.b:4|c", "p.a.b:3|c", "p.a.b:2|c"]);
    } finally {
      sink.close();
      statsd.close();
    }
  });
});
