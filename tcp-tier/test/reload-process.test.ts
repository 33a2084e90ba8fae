/**
 * Hot reload and draining in a real `legate` process: the `-c` file rewritten (a change elsewhere, then a
 * bad config), SIGHUP, and SIGTERM draining an open connection, all under continuous traffic.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LEGATE_BIN } from "../../test/cli/helpers.ts";
import { parseArgs, UsageError } from "../src/cli/args.ts";
import { commandLineOptions } from "../src/cli/serve.ts";
import { echoServer, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

function yaml(upPort: number, listeners: { name: string; ip: string }[], extra = ""): string {
  return `
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:${listeners
    .map(
      (l) => `
  - name: ${l.name}
    address: { socket_address: { address: ${l.ip}, port_value: 0 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { "@type": ${TCP_PROXY_TYPE}, stat_prefix: ${l.name}, cluster: up } }] }]`,
    )
    .join("")}
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } } }] }] }
${extra}`;
}

const dir = mkdtempSync(join(tmpdir(), "legate-reload-"));
let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Writes the config as deploy tools do: a new file renamed over the old one. */
function writeConfig(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

describe("legate process: hot reload and drain", () => {
  it("reloads on file changes and SIGHUP, refuses a bad config, drains on SIGTERM", async () => {
    const up = await echoServer();
    try {
      const path = join(dir, "envoy.yaml");
      writeConfig(path, yaml(up.port, [{ name: "proxy", ip: "127.0.0.1" }]));
      const proc = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--drain-time-s", "30", "-l", "info"], { stdio: ["ignore", "ignore", "pipe"] });
      child = proc;
      let stderr = "";
      proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));

      await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || proc.exitCode !== null, "the admin port", 300, 50);
      const adminPort = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
      const admin = async (p: string) => (await fetch(`http://127.0.0.1:${adminPort}${p}`)).text();
      const listeners = async () => new Map((await admin("/listeners")).trim().split("\n").filter(Boolean).map((l) => l.split("::") as [string, string]));
      const counter = async (name: string) => Number(/: (\d+)\n$/.exec(await admin(`/stats?filter=${encodeURIComponent(`^${name.replace(/\./g, "\\.")}$`)}`))?.[1] ?? 0);
      const proxyPort = Number((await listeners()).get("proxy")!.split(":")[1]);

      // Continuous traffic on one established connection through the proxy.
      const sock = connect({ host: "127.0.0.1", port: proxyPort, allowHalfOpen: true });
      await once(sock, "connect");
      let rounds = 0;
      let broken = false;
      sock.on("close", () => (broken = true));
      sock.on("data", (d: Buffer) => {
        if (d.toString().includes("!")) rounds++;
      });
      const pump = setInterval(() => sock.write("!"), 5);
      const traffic = async (what: string) => {
        const r = rounds;
        await waitFor(() => rounds > r + 5 || broken, what, 400, 10);
        expect(broken).toBe(false);
      };
      try {
        await traffic("traffic before reloads");

        // 1. A change elsewhere: a new listener appears.
        writeConfig(path, yaml(up.port, [{ name: "proxy", ip: "127.0.0.1" }, { name: "extra", ip: "127.0.0.2" }]));
        await waitFor(() => /config reloaded/.test(stderr), "the first reload", 400, 25);
        const after = await listeners();
        expect(after.get("proxy")).toBe(`127.0.0.1:${proxyPort}`);
        expect(after.get("extra")).toMatch(/^127\.0\.0\.2:\d+$/);
        await traffic("traffic after the first reload");

        // 2. A bad config: refused, shown on the admin port, the old one keeps serving.
        writeConfig(path, yaml(up.port, [{ name: "proxy", ip: "127.0.0.1" }], "bogus_field: 1\n"));
        await waitFor(() => /config reload rejected/.test(stderr), "the rejection", 400, 25);
        expect(await counter("server.config_reload.rejected")).toBe(1);
        const info = JSON.parse(await admin("/server_info"));
        expect(info.last_config_reload).toMatchObject({ ok: false });
        expect(info.last_config_reload.error).toMatch(/bogus_field/);
        expect([...(await listeners()).keys()]).toEqual(["proxy", "extra"]);
        await traffic("traffic after the bad config");

        // 3. SIGHUP reloads the (still bad) file again: a second rejection.
        proc.kill("SIGHUP");
        await waitFor(() => (stderr.match(/config reload rejected/g) ?? []).length === 2, "the SIGHUP reload", 400, 25);
        expect(await counter("server.config_reload.attempt")).toBe(3);
        expect(await counter("server.config_reload.success")).toBe(1);
        await traffic("traffic after SIGHUP");

        // 4. SIGTERM drains: no new connections, the open one keeps working, exit once it closes.
        proc.kill("SIGTERM");
        await waitFor(() => /draining: listeners stop accepting/.test(stderr), "the drain", 400, 25);
        const probe = connect({ host: "127.0.0.1", port: proxyPort });
        const [err] = (await once(probe, "error")) as [NodeJS.ErrnoException];
        expect(err.code).toBe("ECONNREFUSED");
        await traffic("traffic while draining");
      } finally {
        clearInterval(pump);
      }
      expect(proc.exitCode).toBeNull();
      sock.end();
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/\[info\]\[main\] exiting$/m);
    } finally {
      await up.close();
    }
  }, 30_000);
});

describe("--drain-time-s", () => {
  it("is parsed as Envoy's unsigned seconds, and shown in /server_info's command_line_options", () => {
    expect(parseArgs(["-c", "x.yaml", "--drain-time-s", "5"])).toMatchObject({ command: "envoy", drainTimeS: 5 });
    expect(parseArgs(["-c", "x.yaml"])).not.toHaveProperty("drainTimeS");
    expect(() => parseArgs(["-c", "x.yaml", "--drain-time-s", "-1"])).toThrow(UsageError);
    expect(() => parseArgs(["-c", "x.yaml", "--drain-time-s", "1.5"])).toThrow(UsageError);
    const args = parseArgs(["-c", "x.yaml", "--drain-time-s", "7"]);
    expect(args.command === "envoy" && commandLineOptions(args).drain_time).toBe("7s");
  });
});
