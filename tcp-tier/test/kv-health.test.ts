/**
 * The tcp tier publishes its active-health-check verdicts to the local KV state `wrangler dev` reads:
 * one key per cluster for this node, written on change, refreshed periodically, never more than once
 * per second per key. (The edge side, merging and applying them: edge/test/kv-health.test.ts.)
 */
import { afterAll, describe, expect, it } from "vitest";
import { healthKey, parseHealthReport } from "../../shared/kv/layout.ts";
import { silentLogger } from "../../shared/log.ts";
import { localKvTarget } from "../src/cli/kv/local.ts";
import { type HealthSourceCluster, KvHealthPublisher } from "../src/kv/health-publisher.ts";
import { removeTempDirs, tempDir } from "../../test/cli/helpers.ts";
import { closedPort, echoServer, startYaml, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
afterAll(() => removeTempDirs());

function yaml(up: number, down: number): string {
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
    connect_timeout: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up} } } }
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${down} } } }
    health_checks:
    - timeout: 1s
      interval: 0.05s
      no_traffic_interval: 0.05s
      unhealthy_threshold: 1
      healthy_threshold: 1
      tcp_health_check: {}
  - name: unchecked
    load_assignment:
      cluster_name: unchecked
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up} } } }
`;
}

describe("tcp tier: health published to KV", () => {
  it("writes the checked cluster's verdicts on change and on refresh, at most once per second per key", async () => {
    const dir = tempDir("legate-tcp-kv-health-");
    const target = localKvTarget({ persistTo: dir, namespaceId: NS });
    const up = await echoServer();
    const down = await closedPort();
    const h = await startYaml(yaml(up.port, down));
    const puts: string[] = [];
    const writer = { description: target.description, put: async (k: string, v: string) => { puts.push(k); await target.put(k, v); } };
    let now = Date.parse("2026-01-01T00:00:00Z");
    const clusters = () => h.adminContext.clusters.all() as unknown as Iterable<HealthSourceCluster>;
    const pub = new KvHealthPublisher(writer, "node-a", clusters, silentLogger, { refreshMs: 10_000, now: () => now });
    try {
      const cluster = () => [...clusters()].find((c) => c.name === "up")!;
      // Every host starts as failed_active_hc until its first check: wait for both first verdicts.
      const byPort = (port: number) => cluster().hosts.find((x) => x.hostPort === `127.0.0.1:${port}`);
      await waitFor(() => byPort(up.port)?.failedActiveHc === false && byPort(down)?.failedActiveHc === true, "the first checks of both hosts", 400, 10);

      await pub.tick();
      expect(puts).toEqual([healthKey("up", "node-a")]);
      const r = parseHealthReport((await target.get(healthKey("up", "node-a")))!);
      expect(r).toEqual({
        cluster: "up",
        node: "node-a",
        reported_at: "2026-01-01T00:00:00.000Z",
        hosts: { [`127.0.0.1:${up.port}`]: "healthy", [`127.0.0.1:${down}`]: "unhealthy" },
      });

      // Unchanged and not due for a refresh: nothing written.
      now += 2000;
      await pub.tick();
      expect(puts).toHaveLength(1);

      // A change within a second of the last write waits for the next tick after that second.
      now += 500;
      const downHost = cluster().hosts.find((x) => x.failedActiveHc)! as { failedActiveHc: boolean };
      // Simulate the checker flipping the verdict (the real one flips it back on its next round, so write through the same field).
      downHost.failedActiveHc = false;
      const written = puts.length;
      await pub.tick();
      expect(puts.length).toBe(written + 1);
      expect(parseHealthReport((await target.get(healthKey("up", "node-a")))!)!.hosts[`127.0.0.1:${down}`]).toBe("healthy");
      downHost.failedActiveHc = true;
      now += 300;
      await pub.tick();
      expect(puts.length).toBe(written + 1);
      now += 700;
      await pub.tick();
      expect(puts.length).toBe(written + 2);

      // Refresh: unchanged, but refreshMs after the last write.
      now += 10_000;
      await pub.tick();
      expect(puts.length).toBe(written + 3);
      expect(parseHealthReport((await target.get(healthKey("up", "node-a")))!)!.reported_at).toBe(new Date(now).toISOString());
    } finally {
      await pub.close();
      await h.close();
      await Promise.all([target.close(), up.close()]);
    }
  }, 30_000);
});
