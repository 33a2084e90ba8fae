/**
 * `legate` as a user runs it: bin/legate.js in a subprocess (under this Node), real ports on loopback.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { badYaml, clusterYaml, tcpProxyYaml, writeConfig } from "./fixtures.ts";
import { freePort, isListening, LEGATE_BIN, removeTempDirs, ROOT, runLegate, tempDir } from "./helpers.ts";

afterAll(() => removeTempDirs());

/** A TCP echo server on 127.0.0.1:0 for tcp_proxy to reach. */
async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

async function ports() {
  return { admin: await freePort(), listener: await freePort(), upstream: await freePort() };
}

describe("legate --version / --help / bad command lines", () => {
  it("--version prints Envoy's layout with Legate's name and exits 0", async () => {
    const r = await runLegate(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\nlegate {2}version: ([0-9a-f]{40}|unknown)\/0\.1\.0\/(Clean|Modified|unknown)\/RELEASE\/OpenSSL\n\n$/);
    expect(r.stderr).toBe("");
  });

  it("runs under the machine's own Node too (re-running itself with Node 24 when that one is older than 22.18)", async () => {
    const systemNode = (process.env.PATH ?? "")
      .split(":")
      .filter((d) => d && !d.includes("node_modules"))
      .map((d) => join(d, "node"))
      .find((p) => existsSync(p));
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(systemNode ?? process.execPath, [LEGATE_BIN, "--version"], { stdio: ["ignore", "pipe", "inherit"] });
      let stdout = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout });
      });
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("legate  version: ");
  });

  it("--help prints every flag and exits 0", async () => {
    const r = await runLegate(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--config-path");
    expect(r.stdout).toContain("--mode <mode>");
  });

  it.each([
    [["-c", "x.yaml", "--frobnicate"], "Argument: --frobnicate"],
    [["-c", "x.yaml", "--mode", "foo"], "unknown mode 'foo'"],
    [["-c", "x.yaml", "--concurrency", "abc"], "'abc' is not an unsigned integer"],
    [["-c"], "requires a value"],
    [["push", "--local", "--remote", "x.yaml"], "exclude each other"],
  ])("%j: usage on stderr, exit 1", async (argv, message) => {
    const r = await runLegate(argv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("PARSE ERROR:");
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("Brief USAGE:");
  });
});

describe("legate --mode validate", () => {
  it("prints Envoy's OK line for a good config, without binding its ports", async () => {
    const dir = tempDir();
    const p = await ports();
    // Hold the listener port: validation must not even try to bind it.
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(p.listener, "127.0.0.1", r));
    try {
      const path = writeConfig(dir, "envoy.yaml", tcpProxyYaml(p));
      const r = await runLegate(["--mode", "validate", "-c", path]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(`configuration '${path}' OK\n`);
      expect(r.code).toBe(0);
      expect(await isListening(p.admin)).toBe(false);
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });

  it("prints the path as given (relative) and validates the demo config", async () => {
    const r = await runLegate(["--mode=validate", "--config-path=demo/envoy-demo.yaml"], { cwd: ROOT });
    expect(r.stdout).toBe("configuration 'demo/envoy-demo.yaml' OK\n");
    expect(r.code).toBe(0);
  });

  it("prints every error, one per line, on stderr and exits 1", async () => {
    const dir = tempDir();
    const p = await ports();
    const path = writeConfig(dir, "bad.yaml", badYaml(p));
    const r = await runLegate(["--mode", "validate", "-c", path]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toMatch(/no_such_field.*not valid Envoy configuration/);
    expect(r.stderr).toMatch(/invalid reference.*nowhere/);
    for (const line of lines) expect(line).toMatch(/^\S+: (not valid Envoy configuration|Envoy feature not supported by Legate|invalid reference|warning: optional extension skipped): /);
    expect(await isListening(p.admin)).toBe(false);
    expect(await isListening(p.listener)).toBe(false);
  });

  it("merges --config-yaml into the file (a cluster the file lacks)", async () => {
    const dir = tempDir();
    const p = await ports();
    const path = writeConfig(dir, "partial.yaml", tcpProxyYaml(p, { withCluster: false }));
    const without = await runLegate(["--mode", "validate", "-c", path]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/invalid reference/);
    const merged = await runLegate(["--mode", "validate", "-c", path, "--config-yaml", clusterYaml("echo", p.upstream)]);
    expect(merged.stderr).toBe("");
    expect(merged.stdout).toBe(`configuration '${path}' OK\n`);
    expect(merged.code).toBe(0);
  });

  it("with --config-yaml alone prints configuration '' OK, as Envoy", async () => {
    const p = await ports();
    const r = await runLegate(["--mode", "validate", "--config-yaml", tcpProxyYaml(p)]);
    expect(r.stdout).toBe("configuration '' OK\n");
    expect(r.code).toBe(0);
  });
});

describe("legate -c (serve) and --mode init_only", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("serves: /ready on the admin port, bytes through tcp_proxy, and a clean exit on SIGTERM", async () => {
    const echo = await echoServer();
    cleanups.push(() => echo.close());
    const p = { admin: await freePort(), listener: await freePort(), upstream: echo.port };
    const dir = tempDir();
    const path = writeConfig(dir, "envoy.yaml", tcpProxyYaml(p));

    const child = spawn(process.execPath, [LEGATE_BIN, "-c", path, "--log-level", "debug"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });

    // Bounded wait for the admin port to answer /ready.
    let ready = "";
    for (let i = 0; i < 150 && child.exitCode === null; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${p.admin}/ready`, { signal: AbortSignal.timeout(1000) });
        if (res.status === 200) {
          ready = await res.text();
          break;
        }
        await res.body?.cancel();
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready.trim(), stderr).toBe("LIVE");

    const echoed = await new Promise<string>((resolve, reject) => {
      const s = net.connect(p.listener, "127.0.0.1");
      let got = "";
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no echo; got ${JSON.stringify(got)}`));
      }, 5000);
      s.on("data", (c: Buffer) => {
        got += c.toString();
        if (got === "ping through legate") {
          clearTimeout(timer);
          s.end();
          resolve(got);
        }
      });
      s.on("error", reject);
      s.write("ping through legate");
    });
    expect(echoed).toBe("ping through legate");

    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const { code, signal } = await exited;
    clearTimeout(timer);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(stderr).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[info\]\[main\] initializing legate version /m);
    expect(stderr).toMatch(/\[warning\]\[main\] caught SIGTERM$/m);
    expect(stderr).toMatch(/\[info\]\[main\] exiting$/m);
    expect(await isListening(p.listener)).toBe(false);
  }, 30_000);

  it("init_only initializes and exits 0, logging to --log-path only", async () => {
    const p = await ports();
    const dir = tempDir();
    const path = writeConfig(dir, "envoy.yaml", tcpProxyYaml(p));
    const log = join(dir, "legate.log");
    const r = await runLegate(["-c", path, "--mode", "init_only", "--log-path", log]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const text = readFileSync(log, "utf8");
    expect(text).toMatch(/\[info\]\[main\] initializing legate version .* \(mode init_only/);
    expect(text).toMatch(/\[info\]\[main\] exiting\n$/);
    expect(await isListening(p.admin)).toBe(false);
  });

  it("refuses to serve an invalid config: critical log lines, exit 1", async () => {
    const p = await ports();
    const dir = tempDir();
    const path = writeConfig(dir, "bad.yaml", badYaml(p));
    const r = await runLegate(["-c", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[critical\]\[main\] error initializing configuration '.*bad\.yaml': .*no_such_field/);
    expect(r.stderr).toMatch(/\[critical\]\[main\] error initializing configuration '.*bad\.yaml': .*invalid reference/);
    expect(await isListening(p.admin)).toBe(false);
  });

  it("fails with exit 1 when a port is taken", async () => {
    const p = await ports();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(p.listener, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const dir = tempDir();
    const path = writeConfig(dir, "envoy.yaml", tcpProxyYaml(p));
    const r = await runLegate(["-c", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[critical\]\[main\] error initializing configuration/);
    expect(await isListening(p.admin)).toBe(false);
  });
});
