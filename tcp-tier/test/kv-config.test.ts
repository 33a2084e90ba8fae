/**
 * `legate --config-from-kv` (issue 6: "Config pushes also reach it"): the tcp tier serves the config
 * `legate push` wrote to KV and hot-reloads each push, over the local state `wrangler dev` reads, with
 * the real CLI in a child process and real loopback upstreams. A push that the tier cannot run is
 * refused and the running config keeps serving; the usage errors name the flag.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { LEGATE_BIN, removeTempDirs, runCliCaptured, runLegate, tempDir } from "../../test/cli/helpers.ts";
import { tagServer, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  removeTempDirs();
});

function config(upstreamPort: number, extra = ""): string {
  return `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: tp, cluster: up }
${extra}
  clusters:
  - name: up
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } }
`;
}

/** Reads the proxy's answer: the tag server writes its tag and closes. */
async function ask(port: number): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("error", () => resolve(`error`));
    s.on("close", () => resolve(got));
  });
}

describe("--config-from-kv", () => {
  it("serves the pushed config and hot-reloads each push; a push it cannot run is refused", async () => {
    const dir = tempDir("legate-kv-config-");
    const a = await tagServer("A");
    const b = await tagServer("B");
    const push = async (yaml: string, name: string) => {
      const path = `${dir}/${name}.yaml`;
      writeFileSync(path, yaml);
      const r = await runCliCaptured(["push", "--local", "--persist-to", dir, "--namespace-id", NS, path], dir);
      expect(r.code, r.stderr).toBe(0);
    };
    try {
      await push(config(a.port), "a");
      const env = { ...process.env, LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: dir, LEGATE_KV_NAMESPACE_ID: NS, LEGATE_KV_POLL_MS: "100" };
      const proc = spawn(process.execPath, [LEGATE_BIN, "--config-from-kv", "--concurrency", "1", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"], env });
      children.add(proc);
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      expect(stderr).toMatch(/serving config version [0-9a-f]{64} \(pushed .* from .*a\.yaml\) from local KV/);
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const admin = async (path: string) => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
      const listenerPort = async () => Number(/^proxy::127\.0\.0\.1:(\d+)$/m.exec(await admin("/listeners"))![1]);
      const first = await listenerPort();
      expect(await ask(first)).toBe("A");

      // A push: the tier reloads it without a restart (the listener keeps its port; the cluster changes).
      await push(config(b.port), "b");
      await waitFor(() => /config reload applied|reloaded/.test(stderr) && /KV names config version/.test(stderr), "the reload", 200, 50);
      let answer = "";
      for (let i = 0; i < 100 && answer !== "B"; i++) {
        answer = await ask(await listenerPort());
        if (answer !== "B") await new Promise((r) => setTimeout(r, 50));
      }
      expect(answer).toBe("B");
      expect(await admin("/server_info")).toMatch(/"ok": ?true/);

      // A valid push the tier cannot run (its listener port is taken) is refused; B keeps serving.
      const taken = await tagServer("X");
      const clash = config(a.port).replace(/port_value: 0 \} \}\n    filter_chains/, `port_value: ${taken.port} } }\n    filter_chains`);
      await push(clash, "clash");
      await waitFor(() => /config reload rejected/.test(stderr), "the refused reload", 200, 50);
      expect(await ask(await listenerPort())).toBe("B");
      await taken.close();

      const exited = new Promise<number | null>((res) => proc.once("exit", (code) => res(code)));
      proc.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 60_000);

  it("needs LEGATE_KV and a pushed config, and excludes -c and --mode validate", async () => {
    const dir = tempDir("legate-kv-config-err-");
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LEGATE_KV;
    let r = await runLegate(["--config-from-kv"], { env, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--config-from-kv needs LEGATE_KV=local, remote or edge/);
    r = await runLegate(["--config-from-kv"], { env: { ...env, LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: dir, LEGATE_KV_NAMESPACE_ID: NS }, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no config in local KV .*legate\/config\/current is missing.*push one with `legate push`/);
    r = await runLegate(["--config-from-kv", "-c", "x.yaml"], { env, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/give either --config-from-kv or a config/);
    r = await runLegate(["--config-from-kv", "--mode", "validate"], { env, timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--mode validate checks a file/);
  }, 60_000);
});
