/**
 * `legate status`: KV's config pointer, runtime flags and health reports, and a running tcp tier's
 * view through its admin API (does it see KV's flags, how healthy are its hosts).
 */
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_POINTER_KEY, healthKey, type HealthReport } from "../../shared/kv/layout.ts";
import { silentLogger } from "../../shared/log.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { runCli } from "../../tcp-tier/src/cli/main.ts";
import { writeRuntimeDocument } from "../../tcp-tier/src/cli/runtime-commands.ts";
import { parseStatusArgs } from "../../tcp-tier/src/cli/status-command.ts";
import { KvRuntimePoller } from "../../tcp-tier/src/kv/runtime-poller.ts";
import { startServer } from "../../tcp-tier/src/server.ts";
import { compileYaml } from "../../tcp-tier/test/helpers.ts";
import { removeTempDirs, tempDir } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
afterAll(() => removeTempDirs());

const YAML = `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
`;

async function status(dir: string, ...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(["status", "--persist-to", dir, "--namespace-id", NS, ...extra], {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env: {},
    cwd: dir,
  });
  return { code, stdout, stderr };
}

describe("legate status", () => {
  it("parses its arguments", () => {
    expect(parseStatusArgs(["--admin", "http://a/", "--admin", "https://b/__legate/admin"])).toEqual({ target: "local", admins: ["http://a", "https://b/__legate/admin"] });
    expect(() => parseStatusArgs(["--admin", "ftp://x"])).toThrow(/not an http/);
    expect(() => parseStatusArgs(["extra"])).toThrow(/unexpected argument/);
  });

  it("shows KV's config, flags and health, and whether a running tcp tier agrees", async () => {
    const dir = tempDir("legate-kv-status-");
    const kv = localKvTarget({ persistTo: dir, namespaceId: NS });
    const poller = new KvRuntimePoller(kv, silentLogger, 100);
    let h: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      expect((await status(dir)).stdout).toMatch(/config: none pushed\n {2}runtime: no flags\n {2}health: no reports\n/);

      await kv.put(CONFIG_POINTER_KEY, JSON.stringify({ version: "ab".repeat(32), pushed_at: "2026-11-24T10:00:00.000Z", source: "demo.yaml" }));
      await writeRuntimeDocument(kv, undefined, { "routing.shift": "30" });
      const report: HealthReport = { cluster: "up", node: "n1", reported_at: new Date().toISOString(), hosts: { "127.0.0.1:1": "unhealthy" } };
      await kv.put(healthKey("up", "n1"), JSON.stringify(report));

      await poller.start();
      const { model, canonical } = compileYaml(YAML);
      h = await startServer({ model, canonical, logger: silentLogger, version: "test", kvRuntime: poller.layer });
      const admin = `http://127.0.0.1:${h.adminAddress!.port}`;

      const agree = await status(dir, "--admin", admin);
      expect(agree.stderr).toBe("");
      expect(agree.code).toBe(0);
      expect(agree.stdout).toContain(`config: ${"ab".repeat(32)} (pushed 2026-11-24T10:00:00.000Z from demo.yaml)`);
      expect(agree.stdout).toContain("runtime: version 1, 1 flag\n    routing.shift=30\n");
      expect(agree.stdout).toMatch(/health: cluster up: n1 \d+ s ago\n {4}127\.0\.0\.1:1 unhealthy\n/);
      expect(agree.stdout).toContain(`${admin}\n  runtime: sees the KV flags (layers: base < kv < admin)\n  cluster up: 127.0.0.1:1 healthy\n`);

      // The admin layer overrides the flag: the tier no longer agrees with KV.
      expect((await fetch(`${admin}/runtime_modify?routing.shift=5`, { method: "POST" })).status).toBe(200);
      const differ = await status(dir, "--admin", admin);
      expect(differ.code).toBe(1);
      expect(differ.stdout).toContain("runtime: routing.shift is '5' here, '30' in KV");
    } finally {
      await h?.close();
      await poller.close();
      await kv.close();
    }
  }, 30_000);
});
