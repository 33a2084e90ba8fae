/**
 * `legate push`, `versions` and `rollback` through the command line (runCli in this process, plus
 * one run of the real executable): validation first, what is printed, what is (not) written.
 * Remote runs go to a loopback stand-in for Cloudflare's API (the real API cannot be reached here).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY, type ConfigPointer, configVersion, configVersionKey } from "../../shared/kv/layout.ts";
import { runCli } from "../../tcp-tier/src/cli/main.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { badYaml, tcpProxyYaml, writeConfig } from "./fixtures.ts";
import { type CloudflareApiStandIn, removeTempDirs, ROOT, runLegate, startCloudflareApi, tempDir } from "./helpers.ts";

const NS = "00000000000000000000000000000000";

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(argv: string[], env: Record<string, string | undefined> = {}, cwd = ROOT): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env, cwd });
  return { code, stdout, stderr };
}

/** Reads keys from a local state directory with a fresh miniflare (as a separate reader would). */
async function readLocal(dir: string, keys: string[]): Promise<(string | null)[]> {
  const t = localKvTarget({ persistTo: dir, namespaceId: NS });
  try {
    return await Promise.all(keys.map((k) => t.get(k)));
  } finally {
    await t.close();
  }
}

const p1 = { admin: 19901, listener: 19902, upstream: 19903 };
const p2 = { ...p1, upstream: 19904 };

afterAll(() => removeTempDirs());

describe("legate push --local", () => {
  let state: string;
  let good1: string;
  let good2: string;
  let v1: string;
  beforeAll(() => {
    state = tempDir("legate-state-");
    const dir = tempDir();
    good1 = writeConfig(dir, "one.yaml", tcpProxyYaml(p1));
    good2 = writeConfig(dir, "two.yaml", tcpProxyYaml(p2));
  });

  it("refuses an invalid config, prints every issue, and writes nothing (no state at all)", async () => {
    const dir = tempDir();
    const bad = writeConfig(dir, "bad.yaml", badYaml(p1));
    const r = await cli(["push", "--persist-to", state, bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/no_such_field/);
    expect(r.stderr).toMatch(/invalid reference/);
    expect(r.stderr).toContain("push refused: the configuration is not valid; nothing was written");
    expect(await readLocal(state, [CONFIG_POINTER_KEY, CONFIG_HISTORY_KEY])).toEqual([null, null]);
  });

  it("--dry-run shows the change and writes nothing", async () => {
    const r = await cli(["push", "--dry-run", "--persist-to", state, good1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`configuration '${good1}' OK`);
    expect(r.stdout).toMatch(/push \(dry run\) to local KV \(namespace 0+, state .*\)/);
    expect(r.stdout).toMatch(/version: \(nothing\) -> [0-9a-f]{64}/);
    expect(r.stdout).toContain("would write: legate/config/v/");
    expect(r.stdout).toContain("listeners: +listener_0");
    expect(r.stdout).toContain("clusters: +echo");
    expect(r.stdout).toContain("nothing written (--dry-run)");
    expect(await readLocal(state, [CONFIG_POINTER_KEY])).toEqual([null]);
  });

  it("pushes: body, history and pointer readable from the state wrangler dev reads", async () => {
    const r = await cli(["push", "--local", "--persist-to", state, good1]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^configuration '.*one\.yaml' OK\npushed to local KV/);
    const [pointerText, historyText] = await readLocal(state, [CONFIG_POINTER_KEY, CONFIG_HISTORY_KEY]);
    const pointer = JSON.parse(pointerText!) as ConfigPointer;
    v1 = pointer.version;
    expect(pointer.source).toBe(good1);
    const [body] = await readLocal(state, [configVersionKey(v1)]);
    expect(await configVersion(body!)).toBe(v1);
    expect(canonicalJson(JSON.parse(body!))).toBe(body);
    expect(JSON.parse(historyText!)).toEqual([pointer]);
  });

  it("says unchanged for the same config and writes nothing", async () => {
    const r = await cli(["push", "--persist-to", state, "-c", good1]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`unchanged: version ${v1.slice(0, 12)} is already current`);
    const [historyText] = await readLocal(state, [CONFIG_HISTORY_KEY]);
    expect(JSON.parse(historyText!)).toHaveLength(1);
  });

  it("a second version, versions listing, rollback (with --dry-run first)", async () => {
    const pushed = await cli(["push", "--persist-to", state, good2]);
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toContain(`version: ${v1.slice(0, 12)} -> `);
    expect(pushed.stdout).toContain("clusters: ~echo");

    const listed = await cli(["versions", "--persist-to", state]);
    expect(listed.code).toBe(0);
    const rows = listed.stdout.trim().split("\n").slice(1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^\\* [0-9a-f]{64}  \\S+  ${good2.replace(/[.]/g, "\\.")}$`));
    expect(rows[1]).toMatch(new RegExp(`^  ${v1}  `));

    const dry = await cli(["rollback", "--dry-run", "--persist-to", state, v1.slice(0, 10)]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("rollback (dry run)");
    expect(dry.stdout).toContain(`would write: ${CONFIG_HISTORY_KEY}, ${CONFIG_POINTER_KEY}`);
    expect(JSON.parse((await readLocal(state, [CONFIG_POINTER_KEY]))[0]!).version).not.toBe(v1);

    const rb = await cli(["rollback", "--persist-to", state, v1.slice(0, 10)]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toContain("rolled back to local KV");
    expect(JSON.parse((await readLocal(state, [CONFIG_POINTER_KEY]))[0]!).version).toBe(v1);

    const again = await cli(["rollback", "--persist-to", state, v1]);
    expect(again.stdout).toContain("unchanged");
    const missing = await cli(["rollback", "--persist-to", state, "0123456789abcdef"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no kept version matches '0123456789abcdef'");
  });

  it("refuses to roll back to a kept body that no longer validates", async () => {
    const t = localKvTarget({ persistTo: state, namespaceId: NS });
    const v2 = JSON.parse((await t.get(CONFIG_HISTORY_KEY))!)[1].version as string;
    // Corrupt the kept body of the other version (an older validator accepted it, say).
    await t.put(configVersionKey(v2), JSON.stringify({ static_resources: { listeners: [{ name: "x", bogus: true }] } }));
    await t.close();
    const r = await cli(["rollback", "--persist-to", state, v2]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bogus/);
    expect(r.stderr).toContain("rollback refused");
    expect(JSON.parse((await readLocal(state, [CONFIG_POINTER_KEY]))[0]!).version).toBe(v1);
  });

  it("works from the real executable too (default state under --persist-to, project wrangler.toml)", async () => {
    const dir = tempDir("legate-state-");
    const r = await runLegate(["push", "--persist-to", dir, good1], { cwd: ROOT, timeoutMs: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("pushed to local KV (namespace 00000000000000000000000000000000");
    const [pointer] = await readLocal(dir, [CONFIG_POINTER_KEY]);
    expect(JSON.parse(pointer!).version).toBe(v1);
  }, 30_000);
});

describe("legate push --remote (loopback stand-in for Cloudflare's API)", () => {
  const creds = { token: "secret-token", account: "acct42", namespace: "ns42" };
  let api: CloudflareApiStandIn;
  let env: Record<string, string>;
  let good: string;
  beforeAll(async () => {
    api = await startCloudflareApi(creds);
    env = { CLOUDFLARE_API_TOKEN: creds.token, CLOUDFLARE_ACCOUNT_ID: creds.account, CLOUDFLARE_API_BASE_URL: api.baseUrl };
    good = writeConfig(tempDir(), "envoy.yaml", tcpProxyYaml(p1));
  });
  afterAll(async () => {
    await api.close();
  });

  it("validates first: an invalid config sends no request at all", async () => {
    const bad = writeConfig(tempDir(), "bad.yaml", badYaml(p1));
    const r = await cli(["push", "--remote", "--namespace-id", creds.namespace, bad], env);
    expect(r.code).toBe(1);
    expect(api.requests).toEqual([]);
  });

  it("pushes through the API: PUT body, history, pointer with the bearer token", async () => {
    const r = await cli(["push", "--remote", "--namespace-id", creds.namespace, good], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`pushed to remote KV (account ${creds.account}, namespace ${creds.namespace})`);
    const base = `/client/v4/accounts/${creds.account}/storage/kv/namespaces/${creds.namespace}/values/`;
    const puts = api.requests.filter((q) => q.method === "PUT");
    const version = JSON.parse(api.values.get(CONFIG_POINTER_KEY)!).version as string;
    expect(puts.map((q) => q.path)).toEqual([
      base + encodeURIComponent(configVersionKey(version)),
      base + encodeURIComponent(CONFIG_HISTORY_KEY),
      base + encodeURIComponent(CONFIG_POINTER_KEY),
    ]);
    expect(api.requests.every((q) => q.authorization === `Bearer ${creds.token}`)).toBe(true);
    expect(await configVersion(api.values.get(configVersionKey(version))!)).toBe(version);

    api.requests.length = 0;
    const again = await cli(["push", "--remote", "--namespace-id", creds.namespace, good], env);
    expect(again.stdout).toContain("unchanged");
    expect(api.requests.every((q) => q.method === "GET")).toBe(true);
  });

  it("explains what is missing: token, account, real namespace id", async () => {
    const noToken = await cli(["push", "--remote", good], { CLOUDFLARE_ACCOUNT_ID: "a" });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("CLOUDFLARE_API_TOKEN is not set");
    const placeholder = await cli(["push", "--remote", good], env);
    expect(placeholder.code).toBe(1);
    expect(placeholder.stderr).toMatch(/LEGATE_KV binding in .*wrangler\.toml has no real namespace id/);
    const api401 = await cli(["versions", "--remote", "--namespace-id", creds.namespace], { ...env, CLOUDFLARE_API_TOKEN: "wrong" });
    expect(api401.code).toBe(1);
    expect(api401.stderr).toMatch(/Cloudflare API answered 400: Invalid request headers/);
  });
});
