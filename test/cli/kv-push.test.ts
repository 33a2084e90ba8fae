/**
 * The push protocol (push.ts) over both KV targets: the local miniflare state that `wrangler dev`
 * reads (checked with a second miniflare and once with `wrangler kv key get --local`), and the
 * remote REST target against a loopback stand-in for Cloudflare's API (the real API cannot be
 * reached from here).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  canonicalJson,
  CONFIG_HISTORY_KEY,
  CONFIG_POINTER_KEY,
  type ConfigPointer,
  configVersion,
  configVersionKey,
  HISTORY_LIMIT,
} from "../../shared/kv/layout.ts";
import { diffConfigs, formatDiff } from "../../tcp-tier/src/cli/config-diff.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { openKvTarget } from "../../tcp-tier/src/cli/kv/open.ts";
import { remoteKvTarget } from "../../tcp-tier/src/cli/kv/remote.ts";
import type { KvTarget } from "../../tcp-tier/src/cli/kv/target.ts";
import { applyPlan, planPush, planRollback, readConfigState, readRollbackTarget } from "../../tcp-tier/src/cli/push.ts";
import { type CloudflareApiStandIn, removeTempDirs, ROOT, startCloudflareApi, tempDir } from "./helpers.ts";

const NS = "00000000000000000000000000000000";

/** A small bootstrap; `n` varies the cluster's port so every n is a distinct version. */
function config(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    static_resources: {
      listeners: [
        {
          name: "listener_0",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "t", stat_prefix: "s", cluster: "c" } }] }],
        },
      ],
      clusters: [{ name: "c", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 20000 + n } } } }] }] } }],
    },
    ...extra,
  };
}

const versionOf = async (c: unknown): Promise<string> => configVersion(canonicalJson(c));

async function push(target: KvTarget, c: unknown, source = "test.yaml") {
  const p = await planPush(target, c, source);
  await applyPlan(target, p);
  return p;
}

afterAll(() => removeTempDirs());

describe("local target (the state wrangler dev reads)", () => {
  let dir: string;
  let target: KvTarget;
  beforeAll(() => {
    dir = tempDir("legate-kv-local-");
    target = localKvTarget({ persistTo: dir, namespaceId: NS });
  });
  afterAll(async () => {
    await target.close();
  });

  it("writes body, history and pointer, readable by a separate miniflare", async () => {
    const p = await push(target, config(1));
    const v = await versionOf(config(1));
    expect(p).toMatchObject({ version: v, unchanged: false, writes: [configVersionKey(v), CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY], deletes: [] });
    await target.close(); // release the state before another process opens it

    const reader = localKvTarget({ persistTo: dir, namespaceId: NS });
    try {
      const pointer = JSON.parse((await reader.get(CONFIG_POINTER_KEY))!) as ConfigPointer;
      expect(pointer).toMatchObject({ version: v, source: "test.yaml" });
      expect(new Date(pointer.pushed_at).toISOString()).toBe(pointer.pushed_at);
      expect(await reader.get(configVersionKey(v))).toBe(canonicalJson(config(1)));
      expect(JSON.parse((await reader.get(CONFIG_HISTORY_KEY))!)).toEqual([pointer]);
    } finally {
      await reader.close();
    }
  });

  it("is what `wrangler kv key get --local --persist-to` reads", async () => {
    const v = await versionOf(config(1));
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, "node_modules/wrangler/bin/wrangler.js"), "kv", "key", "get", "--local", "--persist-to", dir, "--binding", "LEGATE_KV", CONFIG_POINTER_KEY],
        {
          cwd: ROOT,
          env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ version: v, source: "test.yaml" });
  }, 30_000);

  it("writes nothing when the config is already current", async () => {
    const p = await push(target, config(1));
    expect(p).toMatchObject({ unchanged: true, writes: [], deletes: [] });
    expect((await readConfigState(target)).history).toHaveLength(1);
  });

  it("keeps at most HISTORY_LIMIT versions and deletes the bodies that fall off", async () => {
    for (let n = 2; n <= HISTORY_LIMIT + 2; n++) await push(target, config(n));
    const state = await readConfigState(target);
    expect(state.history).toHaveLength(HISTORY_LIMIT);
    expect(state.history[0]!.version).toBe(await versionOf(config(HISTORY_LIMIT + 2)));
    expect(state.pointer!.version).toBe(state.history[0]!.version);
    // Versions 1 and 2 fell off: bodies gone. Version 3 is the oldest kept.
    expect(await target.get(configVersionKey(await versionOf(config(1))))).toBeNull();
    expect(await target.get(configVersionKey(await versionOf(config(2))))).toBeNull();
    expect(await target.get(configVersionKey(await versionOf(config(3))))).toBe(canonicalJson(config(3)));
    expect(state.history.at(-1)!.version).toBe(await versionOf(config(3)));
  });

  it("rolls back to a kept version by prefix: re-points without rewriting the body", async () => {
    const old = await versionOf(config(5));
    const rb = await readRollbackTarget(target, old.slice(0, 10));
    expect(rb.entry.version).toBe(old);
    const p = await planRollback(target, rb);
    expect(p).toMatchObject({ kind: "rollback", version: old, unchanged: false, writes: [CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY], deletes: [] });
    expect(formatDiff(p.diff)).toEqual(["clusters: ~c"]);
    await applyPlan(target, p);
    const state = await readConfigState(target);
    expect(state.pointer!.version).toBe(old);
    expect(state.history[0]!.version).toBe(old);
    expect(state.history).toHaveLength(HISTORY_LIMIT);
    expect(new Set(state.history.map((h) => h.version)).size).toBe(HISTORY_LIMIT);
    await expect(readRollbackTarget(target, "ffffffffff")).rejects.toMatchObject({ code: "LEGATE_KV_DATA" });
    await expect(readRollbackTarget(target, await versionOf(config(1)))).rejects.toThrow(/no kept version/);
  });
});

describe("remote target (Cloudflare's REST API, loopback stand-in)", () => {
  const creds = { token: "tok-123", account: "acc0123", namespace: "ns0123" };
  let api: CloudflareApiStandIn;
  let target: KvTarget;
  beforeAll(async () => {
    api = await startCloudflareApi(creds);
    target = remoteKvTarget({ apiToken: creds.token, accountId: creds.account, namespaceId: creds.namespace, baseUrl: api.baseUrl });
  });
  afterAll(async () => {
    await target.close();
    await api.close();
  });
  afterEach(() => {
    api.requests.length = 0;
    delete api.failWith;
  });

  const path = (key: string): string => `/client/v4/accounts/${creds.account}/storage/kv/namespaces/${creds.namespace}/values/${encodeURIComponent(key)}`;

  it("PUTs body, history, then pointer, with the bearer token and the raw value as body", async () => {
    const v = await versionOf(config(1));
    await push(target, config(1), "envoy.yaml");
    const writes = api.requests.filter((r) => r.method !== "GET");
    expect(writes.map((r) => [r.method, r.path])).toEqual([
      ["PUT", path(configVersionKey(v))],
      ["PUT", path(CONFIG_HISTORY_KEY)],
      ["PUT", path(CONFIG_POINTER_KEY)],
    ]);
    expect(path(CONFIG_POINTER_KEY)).toContain("legate%2Fconfig%2Fcurrent");
    for (const r of api.requests) expect(r.authorization).toBe("Bearer tok-123");
    expect(writes[0]!.body).toBe(canonicalJson(config(1)));
    expect(writes[0]!.contentType).toMatch(/^text\/plain/);
    expect(JSON.parse(writes[2]!.body)).toMatchObject({ version: v, source: "envoy.yaml" });
    expect(api.values.get(CONFIG_POINTER_KEY)).toBe(writes[2]!.body);
  });

  it("sends only GETs for an unchanged push and for a dry run", async () => {
    await push(target, config(1));
    const p = await planPush(target, config(2, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } } }), "x");
    expect(p.writes).toHaveLength(3);
    expect(formatDiff(p.diff)).toEqual(["clusters: ~c", "other: +admin"]);
    expect(api.requests.every((r) => r.method === "GET")).toBe(true);
  });

  it("deletes fallen-off bodies only after the pointer moved", async () => {
    for (let n = 2; n <= HISTORY_LIMIT + 1; n++) await push(target, config(n));
    api.requests.length = 0;
    await push(target, config(HISTORY_LIMIT + 2));
    const writes = api.requests.filter((r) => r.method !== "GET").map((r) => [r.method, r.path]);
    // History was [1]; pushing 2..21 dropped 1, pushing 22 drops 2.
    const v2 = await versionOf(config(2));
    expect(writes.at(-2)).toEqual(["PUT", path(CONFIG_POINTER_KEY)]);
    expect(writes.at(-1)).toEqual(["DELETE", path(configVersionKey(v2))]);
    expect(api.values.has(configVersionKey(v2))).toBe(false);
    expect(api.values.has(configVersionKey(await versionOf(config(1))))).toBe(false);
    expect(JSON.parse(api.values.get(CONFIG_HISTORY_KEY)!)).toHaveLength(HISTORY_LIMIT);
  });

  it("reports the API's errors, and a wrong namespace is not an empty one", async () => {
    api.failWith = { status: 403, code: 10000, message: "Authentication error" };
    await expect(target.put("k", "v")).rejects.toMatchObject({ code: "LEGATE_KV_HTTP", message: expect.stringContaining("403: Authentication error [code 10000]") });
    delete api.failWith;
    const wrongNs = remoteKvTarget({ apiToken: creds.token, accountId: creds.account, namespaceId: "other", baseUrl: api.baseUrl });
    await expect(wrongNs.get(CONFIG_POINTER_KEY)).rejects.toThrow(/namespace not found/);
    const noServer = remoteKvTarget({ apiToken: "t", accountId: "a", namespaceId: "n", baseUrl: "http://127.0.0.1:1/client/v4", timeoutMs: 2000 });
    await expect(noServer.get("k")).rejects.toMatchObject({ code: "LEGATE_KV_NETWORK" });
  });

  it("refuses a pointer or history Legate did not write", async () => {
    api.values.set(CONFIG_POINTER_KEY, "not json");
    await expect(readConfigState(target)).rejects.toMatchObject({ code: "LEGATE_KV_DATA" });
    api.values.delete(CONFIG_POINTER_KEY);
    api.values.set(CONFIG_HISTORY_KEY, '[{"version":"x"}]');
    await expect(readConfigState(target)).rejects.toMatchObject({ code: "LEGATE_KV_DATA" });
  });
});

describe("choosing the target", () => {
  const wranglerToml = join(ROOT, "wrangler.toml");

  it("local: the LEGATE_KV id from wrangler.toml and .wrangler/state beside it", () => {
    const { target } = openKvTarget({ target: "local" }, {}, ROOT);
    expect(target.description).toBe(`local KV (namespace ${NS}, state ${join(ROOT, ".wrangler/state")})`);
    const other = openKvTarget({ target: "local", persistTo: "s", namespaceId: "abc" }, {}, "/tmp");
    expect(other.target.description).toBe("local KV (namespace abc, state /tmp/s)");
  });

  it("remote: clear errors for a missing token, account or namespace id", () => {
    const dir = tempDir();
    expect(() => openKvTarget({ target: "remote" }, {}, ROOT)).toThrow(/CLOUDFLARE_API_TOKEN is not set/);
    expect(() => openKvTarget({ target: "remote" }, { CLOUDFLARE_API_TOKEN: "t" }, ROOT)).toThrow(/set CLOUDFLARE_ACCOUNT_ID or account_id/);
    expect(() => openKvTarget({ target: "remote", wranglerConfig: wranglerToml }, { CLOUDFLARE_API_TOKEN: "t", CLOUDFLARE_ACCOUNT_ID: "a" }, ROOT)).toThrow(
      /has no real namespace id \(0+ is the placeholder\)/,
    );
    expect(() => openKvTarget({ target: "remote" }, { CLOUDFLARE_API_TOKEN: "t", CLOUDFLARE_ACCOUNT_ID: "a" }, dir)).toThrow(/no wrangler config found/);
    const ok = openKvTarget({ target: "remote", namespaceId: "ns9" }, { CLOUDFLARE_API_TOKEN: "t", CLOUDFLARE_ACCOUNT_ID: "a" }, dir);
    expect(ok.target.description).toBe("remote KV (account a, namespace ns9)");
  });
});

describe("change summary", () => {
  it("names listeners, clusters and routes added, removed and changed", () => {
    const hcm = (routes: unknown[]) => ({
      name: "http",
      address: { socket_address: { address: "127.0.0.1", port_value: 8080 } },
      filter_chains: [{ filters: [{ name: "hcm", typed_config: { route_config: { virtual_hosts: [{ name: "vh", domains: ["*"], routes }] } } }] }],
    });
    const before = { static_resources: { listeners: [hcm([{ match: { prefix: "/" }, route: { cluster: "a" } }, { name: "old", match: { path: "/o" }, direct_response: { status: 200 } }])], clusters: [{ name: "a" }, { name: "b" }] } };
    const after = { static_resources: { listeners: [hcm([{ match: { prefix: "/" }, route: { cluster: "c" } }, { match: { safe_regex: { regex: "^/x" } }, route: { cluster: "c" } }]), { name: "tcp" }], clusters: [{ name: "a" }, { name: "c" }] } };
    const d = diffConfigs(before, after);
    expect(d.listeners).toEqual({ added: ["tcp"], removed: [], changed: ["http"] });
    expect(d.clusters).toEqual({ added: ["c"], removed: ["b"], changed: [] });
    expect(d.routes).toEqual({ added: ["http/vh/regex ^/x"], removed: ["http/vh/old"], changed: ["http/vh/prefix /"] });
    expect(formatDiff(d)).toEqual(["listeners: +tcp ~http", "clusters: +c -b", "routes: +http/vh/regex ^/x ~http/vh/prefix / -http/vh/old"]);
    expect(formatDiff(diffConfigs(after, after))).toEqual([]);
    expect(diffConfigs(undefined, after).clusters.added).toEqual(["a", "c"]);
  });
});
