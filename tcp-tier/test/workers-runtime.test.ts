/**
 * Runtime and KV health under `--concurrency 2`, in a real `legate` process with the local KV state
 * `wrangler dev` reads (LEGATE_KV=local): the primary owns the KV and admin runtime layers and sends
 * every change to both workers, so local_ratelimit's `runtime_enabled` follows POST /runtime_modify and a
 * KV flag on connections served by either worker (Envoy's per-handler `worker_<i>` counters tell which),
 * a restarted worker starts with the current values, /runtime on the primary shows static < kv < admin,
 * and the primary publishes the workers' health-check verdicts to KV.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { healthKey, parseHealthReport } from "../../shared/kv/layout.ts";
import { localKvTarget } from "../src/cli/kv/local.ts";
import { readRuntimeDocument, writeRuntimeDocument } from "../src/cli/runtime-commands.ts";
import { LEGATE_BIN, removeTempDirs, tempDir } from "../../test/cli/helpers.ts";
import { closedPort, echoServer, TCP_PROXY_TYPE, tryEcho, waitFor } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
const LRL_TYPE = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const FLAG = "legate_test.ratelimit_enabled";

function yaml(up: number, down: number): string {
  return `
node: { id: edge-node-7 }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.local_ratelimit
        typed_config:
          "@type": ${LRL_TYPE}
          stat_prefix: lr
          token_bucket: { max_tokens: 1, fill_interval: 3600s }
          runtime_enabled: { default_value: true, runtime_key: ${FLAG} }
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
  - name: checked
    connect_timeout: 1s
    load_assignment:
      cluster_name: checked
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up} } } }
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${down} } } }
    health_checks:
    - timeout: 1s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 1
      healthy_threshold: 1
      tcp_health_check: {}
`;
}

let child: ChildProcess | undefined;
const workerPids = new Set<number>();
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const pid of workerPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  removeTempDirs();
});


describe("legate --concurrency 2: runtime and KV health", () => {
  it("sends /runtime_modify and KV flags to every worker (and a restarted one); publishes health to KV", async () => {
    const dir = tempDir("legate-workers-runtime-");
    const kv = localKvTarget({ persistTo: dir, namespaceId: NS });
    const up = await echoServer();
    const down = await closedPort();
    try {
      const path = `${dir}/envoy.yaml`;
      writeFileSync(path, yaml(up.port, down));
      const env: NodeJS.ProcessEnv = { ...process.env, LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: dir, LEGATE_KV_NAMESPACE_ID: NS, LEGATE_KV_POLL_MS: "100" };
      delete env.LEGATE_NODE_ID;
      const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--concurrency", "2", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"], env });
      child = proc;
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      const serving = () => [...stderr.matchAll(/\]\[(\d+)\]\[info\]\[main\] worker (\d) serving/g)].map((m) => ({ pid: Number(m[1]), index: Number(m[2]) }));
      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      expect(stderr).not.toMatch(/applies with --concurrency 1 only/);
      for (const w of serving()) workerPids.add(w.pid);
      expect(serving().map((w) => w.index).sort()).toEqual([0, 1]);
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const admin = async (p: string, method = "GET") => (await fetch(`http://127.0.0.1:${adminPort}${p}`, { method })).text();
      const ports = new Map((await admin("/listeners")).trim().split("\n").filter(Boolean).map((l) => l.split("::") as [string, string]));
      const port = Number(ports.get("proxy")!.split(":")[1]);
      // Envoy's per-handler counter: the connections worker <i> accepted.
      const perWorker = async (): Promise<[number, number]> => {
        const text = await admin("/stats");
        const get = (i: number) => Number(new RegExp(`^listener\\.127\\.0\\.0\\.1_\\d+\\.worker_${i}\\.downstream_cx_total: (\\d+)$`, "m").exec(text)?.[1] ?? 0);
        return [get(0), get(1)];
      };
      /** `n` connections; how many echoed, and how many each worker accepted meanwhile. */
      const burst = async (n: number, tag: string): Promise<{ echoed: number; w0: number; w1: number }> => {
        const before = await perWorker();
        let echoed = 0;
        for (let i = 0; i < n; i++) if ((await tryEcho(port, `${tag}${i}`)) === `${tag}${i}`) echoed++;
        // The workers report their figures at least once a second; /stats collects fresh ones.
        const after = await perWorker();
        return { echoed, w0: after[0] - before[0], w1: after[1] - before[1] };
      };

      // Static default: enabled, one token per worker. Spend both workers' tokens (bounded).
      for (let i = 0; i < 20; i++) {
        const [a, b] = await perWorker();
        if (a >= 2 && b >= 2) break;
        await tryEcho(port, "spend");
      }
      let r = await burst(6, "limited");
      expect(r.echoed).toBe(0);
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);

      // The admin layer turns the limit off in both workers.
      expect(await admin(`/runtime_modify?${FLAG}=false`, "POST")).toMatch(/OK/);
      r = await burst(6, "admin-off");
      expect(r.echoed).toBe(6);
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);

      // Removing the admin value: the static default again, everywhere.
      await admin(`/runtime_modify?${FLAG}=`, "POST");
      r = await burst(6, "default");
      expect(r.echoed).toBe(0);
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);

      // `legate runtime set legate_test.ratelimit_enabled false` on the local KV: polled by the primary.
      await writeRuntimeDocument(kv, await readRuntimeDocument(kv), { [FLAG]: "false" });
      await waitFor(() => /loaded KV runtime version 1/.test(stderr), "the KV poll", 100, 50);
      r = await burst(6, "kv-off");
      expect(r.echoed).toBe(6);
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);
      const rt = JSON.parse(await admin("/runtime")) as { layers: string[]; entries: Record<string, unknown> };
      expect(rt.layers).toEqual(["base", "kv", "admin"]);
      expect(rt.entries[FLAG]).toEqual({ layer_values: ["", "false", ""], final_value: "false" });

      // The admin layer wins over KV in the workers too.
      await admin(`/runtime_modify?${FLAG}=true`, "POST");
      r = await burst(4, "admin-on");
      expect(r.echoed).toBe(0);

      // A worker killed and restarted starts with the current set (KV's false, once the admin value is
      // removed), not the static default: all its connections pass.
      await admin(`/runtime_modify?${FLAG}=`, "POST");
      const victim = serving().find((w) => w.index === 1)!;
      process.kill(victim.pid, "SIGKILL");
      await waitFor(() => serving().filter((w) => w.index === 1).length === 2, "worker 1 restarted", 200, 50);
      for (const w of serving()) workerPids.add(w.pid);
      r = await burst(6, "restarted");
      expect(r.echoed).toBe(6);
      expect(r.w0 > 0 && r.w1 > 0).toBe(true);
      // And it follows later changes: admin true limits again (at most its one fresh token passes).
      await admin(`/runtime_modify?${FLAG}=true`, "POST");
      r = await burst(6, "restarted-on");
      expect(r.w1).toBeGreaterThan(0);
      expect(r.echoed).toBeLessThanOrEqual(1);

      // Health: the workers' checkers' verdicts, merged by the primary, as node `edge-node-7`.
      let report: ReturnType<typeof parseHealthReport>;
      for (let i = 0; i < 100; i++) {
        const text = await kv.get(healthKey("checked", "edge-node-7"));
        report = text === null ? undefined : parseHealthReport(text);
        if (report && report.hosts[`127.0.0.1:${down}`] === "unhealthy") break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(report!.hosts).toEqual({ [`127.0.0.1:${up.port}`]: "healthy", [`127.0.0.1:${down}`]: "unhealthy" });
      expect(await kv.get(healthKey("up", "edge-node-7"))).toBeNull();

      const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
      proc.kill("SIGTERM");
      const code = await exited;
      expect(code).toBe(0);
      expect(stderr).toMatch(/caught SIGTERM/);
    } finally {
      await Promise.all([kv.close(), up.close()]);
    }
  }, 60_000);
});
