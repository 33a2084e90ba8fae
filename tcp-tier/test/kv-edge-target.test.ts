/**
 * `LEGATE_KV=edge` (issue 6: the tcp tier reads KV "through the edge's admin API"), end to end: a real
 * `wrangler dev` serves the edge over a persisted local KV state; `legate push` and `legate runtime set`
 * write that state; the tcp tier (bin/legate.js, `--config-from-kv`) reads the config and the runtime
 * flags and publishes its health only through `http://127.0.0.1:<port>/__legate/admin` with the
 * admin token. Then the target's failure paths against small loopback servers: wrong token, errors,
 * no answer, timeouts, a 404 that is not "no such key", list paging, and the startup errors.
 */
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { healthKey, parseHealthReport } from "../../shared/kv/layout.ts";
import { edgeKvTarget } from "../src/cli/kv/edge.ts";
import { KvError } from "../src/cli/kv/target.ts";
import { kvArgsFromEnv } from "../src/kv/control.ts";
import { freePort, LEGATE_BIN, removeTempDirs, ROOT, runCliCaptured, runLegate, tempDir } from "../../test/cli/helpers.ts";
import { closedPort, tagServer, TCP_PROXY_TYPE, waitFor } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
const TOKEN = "edge-kv-test-token";
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");

const children = new Set<ChildProcess>();
const servers = new Set<http.Server>();
const closers: (() => Promise<void>)[] = [];

/** Stops a child and everything it started (wrangler's workerd): its whole process group. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // Already gone.
    }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  // Whatever of the group outlived the leader (workerd) goes too.
  kill("SIGKILL");
}

afterAll(async () => {
  await Promise.all([...children].map(stopGroup));
  for (const s of servers) s.closeAllConnections();
  await Promise.all([...servers].map((s) => new Promise<void>((r) => s.close(() => r()))));
  await Promise.all(closers.splice(0).map((c) => c()));
  removeTempDirs();
}, 30_000);

/** Polls `probe` every 200 ms until it gives a value, for at most `timeoutMs`. */
async function until<T>(what: string | (() => string), probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = `: ${(e as Error).message}`;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A cluster of one loopback host, TCP-checked every 0.2 s. */
function checkedCluster(name: string, port: number): string {
  return `
  - name: ${name}
    connect_timeout: 1s
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]
    health_checks: [{ timeout: 1s, interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }]`;
}

function config(upstreamPort: number, checkedPort: number): string {
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
  clusters:${checkedCluster("up", upstreamPort)}${checkedCluster("checked_down", checkedPort)}
`;
}

/** Reads the proxy's answer: the tag server writes its tag and closes. */
async function ask(port: number): Promise<string> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("error", () => resolve("error"));
    s.on("close", () => resolve(got));
  });
}

describe("LEGATE_KV=edge through wrangler dev", () => {
  it("serves --config-from-kv, follows a runtime flag and publishes health, all through the edge's admin API", async () => {
    const dir = tempDir("legate-kv-edge-");
    const kvFlags = ["--local", "--persist-to", dir, "--namespace-id", NS];
    const up = await tagServer("UP");
    closers.push(() => up.close());
    const down = await closedPort();
    writeFileSync(join(dir, "tcp.yaml"), config(up.port, down));
    const pushed = await runCliCaptured(["push", ...kvFlags, join(dir, "tcp.yaml")], dir);
    expect(pushed.code, pushed.stderr).toBe(0);
    const flag = await runCliCaptured(["runtime", "set", "legate_test.edge_flag", "42", ...kvFlags], dir);
    expect(flag.code, flag.stderr).toBe(0);

    const port = await freePort();
    const wrangler = spawn(
      process.execPath,
      [WRANGLER, "dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", dir, "--var", `LEGATE_ADMIN_TOKEN:${TOKEN}`, "--show-interactive-dev-session=false"],
      {
        cwd: ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        // Off the network: no metrics, no update check, no Request.cf download.
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
      },
    );
    children.add(wrangler);
    let wranglerOut = "";
    wrangler.stdout!.on("data", (c: Buffer) => (wranglerOut += c.toString()));
    wrangler.stderr!.on("data", (c: Buffer) => (wranglerOut += c.toString()));
    const base = `http://127.0.0.1:${port}/__legate/admin`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    await until(
      () => `wrangler dev to serve the pushed pointer (its output: ${wranglerOut.slice(-1500)})`,
      async () => {
        if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited (${wrangler.exitCode}): ${wranglerOut.slice(-2000)}`);
        // (The config has no HTTP listener for the edge itself: its /ready stays 503; the KV is what counts.)
        const res = await fetch(`${base}/kv/${encodeURIComponent("legate/config/current")}`, { headers: auth, signal: AbortSignal.timeout(5000) });
        return res.status === 200 ? await res.text() : undefined;
      },
      90_000,
    );

    // The target itself, against the real edge: reads, and the writes the edge refuses.
    const target = edgeKvTarget({ baseUrl: base, token: TOKEN });
    expect(JSON.parse((await target.get("legate/runtime/current"))!).values).toEqual({ "legate_test.edge_flag": "42" });
    expect(await target.get("legate/no/such/key")).toBeNull();
    const refused = await target.put("legate/config/current", "{}").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KvError);
    expect((refused as KvError).code).toBe("LEGATE_KV_HTTP");
    expect((refused as KvError).message).toMatch(/^PUT http:\/\/127\.0\.0\.1:\d+\/__legate\/admin\/kv\/legate%2Fconfig%2Fcurrent: the edge answered 403: .*health reports/);

    const env: NodeJS.ProcessEnv = { ...process.env, LEGATE_KV: "edge", LEGATE_KV_EDGE_URL: base, LEGATE_KV_EDGE_TOKEN: TOKEN, LEGATE_KV_POLL_MS: "200", LEGATE_NODE_ID: "node-e2e" };
    const tcp = spawn(process.execPath, [LEGATE_BIN, "--config-from-kv", "--concurrency", "1", "-l", "info"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env, detached: true });
    children.add(tcp);
    let stderr = "";
    tcp.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(stderr) || tcp.exitCode !== null, "the tcp tier's admin port", 600, 50);
    expect(tcp.exitCode, stderr).toBeNull();
    expect(stderr).toMatch(new RegExp(`serving config version [0-9a-f]{64} .* from edge KV \\(${base.replace(/[./]/g, "\\$&")}\\)`));
    const admin = `http://127.0.0.1:${Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(stderr)![1])}`;

    // --config-from-kv: the listener proxies to the pushed cluster.
    const listenerPort = Number(/^proxy::127\.0\.0\.1:(\d+)$/m.exec(await (await fetch(`${admin}/listeners`)).text())![1]);
    expect(await ask(listenerPort)).toBe("UP");

    // The runtime flag, read through the edge.
    const rt = (await (await fetch(`${admin}/runtime`)).json()) as { layers: string[]; entries: Record<string, { final_value: string }> };
    expect(rt.layers).toContain("kv");
    expect(rt.entries["legate_test.edge_flag"]?.final_value).toBe("42");

    // A change follows at the next poll.
    const changed = await runCliCaptured(["runtime", "set", "legate_test.edge_flag", "43", ...kvFlags], dir);
    expect(changed.code, changed.stderr).toBe(0);
    await until(
      "the tcp tier to see the changed flag",
      async () => {
        const r = (await (await fetch(`${admin}/runtime`)).json()) as typeof rt;
        return r.entries["legate_test.edge_flag"]?.final_value === "43" ? true : undefined;
      },
      15_000,
    );

    // Health: written through the edge, listed by the edge's own KV endpoint.
    const listed = await until(
      "both health reports in the edge's list",
      async () => {
        const res = await fetch(`${base}/kv?prefix=${encodeURIComponent("legate/health/")}`, { headers: auth });
        const body = (await res.json()) as { keys: string[] };
        return body.keys.includes(healthKey("up", "node-e2e")) && body.keys.includes(healthKey("checked_down", "node-e2e")) ? body.keys : undefined;
      },
      20_000,
    );
    expect(listed.every((k) => k.startsWith("legate/health/"))).toBe(true);
    const verdicts = await until(
      "the first checks' verdicts in the published reports",
      async () => {
        const [a, b] = await Promise.all([target.get(healthKey("up", "node-e2e")), target.get(healthKey("checked_down", "node-e2e"))]);
        const ra = parseHealthReport(a ?? "");
        const rb = parseHealthReport(b ?? "");
        const ua = ra?.hosts[`127.0.0.1:${up.port}`];
        const ub = rb?.hosts[`127.0.0.1:${down}`];
        return ua === "healthy" && ub === "unhealthy" ? [ra!, rb!] : undefined;
      },
      20_000,
    );
    expect(verdicts.map((r) => [r.cluster, r.node])).toEqual([["up", "node-e2e"], ["checked_down", "node-e2e"]]);
    expect(stderr).not.toMatch(/publishing health of cluster .* failed/);

    await stopGroup(tcp);
  }, 180_000);
});

/** A loopback HTTP server answering with `handle`; closed in afterAll. */
async function stubServer(handle: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<string> {
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => handle(req, res, body));
  });
  servers.add(srv);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}/__legate/admin`;
}

async function kvError(p: Promise<unknown>): Promise<KvError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KvError);
  return e as KvError;
}

describe("the edge KV target's failures", () => {
  it("names the URL and status of an error answer, and sends the bearer token", async () => {
    const seen: string[] = [];
    const base = await stubServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      if (req.headers.authorization !== "Bearer right") return void res.writeHead(401).end("unauthorized\n");
      if (req.url!.includes("boom")) return void res.writeHead(503).end("upstream overloaded\n");
      // A 404 without x-legate-kv: missing is not "no such key" (say, an edge without LEGATE_ADMIN_TOKEN).
      res.writeHead(404).end();
    });
    const wrong = await kvError(edgeKvTarget({ baseUrl: base, token: "wrong" }).get("legate/runtime/current"));
    expect(wrong.code).toBe("LEGATE_KV_HTTP");
    expect(wrong.message).toBe(`GET ${base}/kv/legate%2Fruntime%2Fcurrent: the edge answered 401 (LEGATE_KV_EDGE_TOKEN is not the edge's LEGATE_ADMIN_TOKEN): unauthorized`);
    const t = edgeKvTarget({ baseUrl: `${base}/`, token: "right" });
    const boom = await kvError(t.put("legate/health/boom/n", "{}"));
    expect(boom.code).toBe("LEGATE_KV_HTTP");
    expect(boom.message).toBe(`PUT ${base}/kv/legate%2Fhealth%2Fboom%2Fn: the edge answered 503: upstream overloaded`);
    const notAdmin = await kvError(t.get("legate/config/current"));
    expect(notAdmin.message).toMatch(/answered 404 \(no admin API there/);
    const list = await kvError(t.list!("legate/health/", 10));
    expect(list.message).toContain(`GET ${base}/kv?prefix=legate%2Fhealth%2F&limit=10: the edge answered 404`);
    expect(seen[0]).toBe("GET /__legate/admin/kv/legate%2Fruntime%2Fcurrent Bearer wrong");
    expect(seen[1]).toBe("PUT /__legate/admin/kv/legate%2Fhealth%2Fboom%2Fn Bearer right");
  });

  it("reports no answer (refused, timed out) as LEGATE_KV_NETWORK with the URL", async () => {
    const port = await closedPort();
    const refused = await kvError(edgeKvTarget({ baseUrl: `http://127.0.0.1:${port}/__legate/admin`, token: "t" }).get("legate/x"));
    expect(refused.code).toBe("LEGATE_KV_NETWORK");
    expect(refused.message).toBe(`GET http://127.0.0.1:${port}/__legate/admin/kv/legate%2Fx: ECONNREFUSED`);
    // Answers headers never: the timeout ends the wait.
    const base = await stubServer(() => undefined);
    const slow = await kvError(edgeKvTarget({ baseUrl: base, token: "t", timeoutMs: 300 }).get("legate/x"));
    expect(slow.code).toBe("LEGATE_KV_NETWORK");
    expect(slow.message).toBe(`GET ${base}/kv/legate%2Fx: no answer within 300 ms`);
  });

  it("follows list cursors up to the limit, and refuses a list that is not one", async () => {
    const calls: string[] = [];
    const base = await stubServer((req, res) => {
      const q = new URL(req.url!, "http://x").searchParams;
      calls.push(`${q.get("prefix")} ${q.get("limit")} ${q.get("cursor")}`);
      if (q.get("prefix") === "legate/bad/") return void res.writeHead(200).end("not json");
      const page = q.get("cursor") === null ? { keys: ["legate/a/1", "legate/a/2"], list_complete: false, cursor: "c1" } : { keys: ["legate/a/3"], list_complete: true };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(page));
    });
    const t = edgeKvTarget({ baseUrl: base, token: "t" });
    expect(await t.list!("legate/a/", 1001)).toEqual(["legate/a/1", "legate/a/2", "legate/a/3"]);
    expect(calls).toEqual(["legate/a/ 1000 null", "legate/a/ 999 c1"]);
    expect(await t.list!("legate/a/", 2)).toEqual(["legate/a/1", "legate/a/2"]);
    expect((await kvError(t.list!("legate/bad/", 5))).code).toBe("LEGATE_KV_DATA");
  });

  it("makes a missing or bad LEGATE_KV_EDGE_URL or LEGATE_KV_EDGE_TOKEN a startup error naming the variable", async () => {
    const ok = { LEGATE_KV: "edge", LEGATE_KV_EDGE_URL: "https://edge.example.com/__legate/admin", LEGATE_KV_EDGE_TOKEN: "t" };
    expect(kvArgsFromEnv(ok)?.kv.target).toBe("edge");
    expect(() => kvArgsFromEnv({ ...ok, LEGATE_KV_EDGE_URL: "" })).toThrow(/LEGATE_KV=edge needs LEGATE_KV_EDGE_URL/);
    expect(() => kvArgsFromEnv({ ...ok, LEGATE_KV_EDGE_TOKEN: undefined })).toThrow(/LEGATE_KV=edge needs LEGATE_KV_EDGE_TOKEN/);
    expect(() => kvArgsFromEnv({ ...ok, LEGATE_KV_EDGE_URL: "edge.example.com" })).toThrow(/LEGATE_KV_EDGE_URL='edge.example.com' is not a URL/);
    expect(() => kvArgsFromEnv({ ...ok, LEGATE_KV_EDGE_URL: "ftp://edge.example.com/x" })).toThrow(/not an http\(s\) URL/);
    expect(() => kvArgsFromEnv({ ...ok, LEGATE_KV_EDGE_URL: "https://edge.example.com" })).toThrow(/has no path: give the admin API base, https:\/\/edge\.example\.com\/__legate\/admin/);
    const dir = tempDir("legate-kv-edge-env-");
    const r = await runLegate(["--config-from-kv"], { cwd: dir, env: { ...process.env, LEGATE_KV: "edge", LEGATE_KV_EDGE_URL: "http://127.0.0.1:1/__legate/admin" }, timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/LEGATE_KV=edge needs LEGATE_KV_EDGE_TOKEN/);
  });
});
