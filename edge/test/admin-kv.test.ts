/**
 * The edge admin API's KV endpoints (`/__legate/admin/kv`), what the tcp tier's `LEGATE_KV=edge` talks
 * to: token required (and invisible without one), reads of every `legate/` key, lists by prefix,
 * writes and deletes of health reports only, everything else refused. (The tcp tier's side, end to end
 * through `wrangler dev`: tcp-tier/test/kv-edge-target.test.ts.)
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ENDPOINTS_PREFIX } from "../../shared/kv/endpoints.ts";
import { CONFIG_POINTER_KEY, healthKey, RUNTIME_KEY } from "../../shared/kv/layout.ts";
import { ADMIN_KV_MAX_BODY_BYTES } from "../src/admin.ts";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, pushConfig } from "./helpers.ts";

const KV = "http://front.example/__legate/admin/kv";
const TOKEN = "kv-admin-token";
const auth = { authorization: `Bearer ${TOKEN}` };
const handler = createEdgeHandler();
const send = (url: string, init: RequestInit = {}, token: string | undefined = TOKEN) =>
  call(handler, new Request(url, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } }), { LEGATE_ADMIN_TOKEN: token });
const keyUrl = (key: string) => `${KV}/${encodeURIComponent(key)}`;

function report(cluster: string, node: string, hosts: Record<string, "healthy" | "unhealthy"> = { "127.0.0.1:1": "healthy" }): string {
  return JSON.stringify({ cluster, node, reported_at: new Date().toISOString(), hosts });
}

describe("admin KV API: access", () => {
  it("without a configured token answers like an unmatched route; with one, needs it", async () => {
    await pushConfig(bootstrap({ virtualHosts: [{ name: "v", domains: ["nothing.example"], routes: [] }] }));
    for (const [url, method] of [[KV, "GET"], [keyUrl(CONFIG_POINTER_KEY), "GET"], [keyUrl(healthKey("c", "n")), "DELETE"]] as const) {
      const off = await send(url, { method }, "");
      expect(off.status).toBe(404);
      expect(off.headers.get("x-legate-response-flags")).toBe("NR");
      expect(await off.text()).toBe("");
      for (const headers of [{ authorization: "" }, { authorization: "Bearer wrong" }]) {
        const res = await call(handler, new Request(url, { method, headers }), { LEGATE_ADMIN_TOKEN: TOKEN });
        expect(res.status).toBe(401);
        await res.text();
      }
    }
    expect(await env.LEGATE_KV.get(CONFIG_POINTER_KEY)).not.toBeNull();
  });
});

describe("admin KV API: reads", () => {
  it("reads any legate/ key as text, 404 with x-legate-kv: missing when absent; slashes may be raw or encoded", async () => {
    await env.LEGATE_KV.put(RUNTIME_KEY, '{"version":1,"values":{"a.b":"1"}}');
    for (const url of [keyUrl(RUNTIME_KEY), `${KV}/${RUNTIME_KEY}`]) {
      const res = await send(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(await res.text()).toBe('{"version":1,"values":{"a.b":"1"}}');
    }
    const missing = await send(keyUrl("legate/nothing/here"));
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-legate-kv")).toBe("missing");
    expect(await missing.text()).toContain("legate/nothing/here");
  });

  it("refuses keys outside legate/ (403) and malformed keys (400) for every method", async () => {
    await env.LEGATE_KV.put("other/secret", "x");
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await send(keyUrl("other/secret"), { method, ...(method === "PUT" ? { body: "y" } : {}) });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain("outside legate/");
    }
    expect(await env.LEGATE_KV.get("other/secret")).toBe("x");
    for (const url of [`${KV}/`, `${KV}/%E0%A4%A`, keyUrl(`legate/${"k".repeat(600)}`)]) {
      const res = await send(url);
      expect(res.status, url).toBe(400);
      await res.text();
    }
    const list = await send(`${KV}?prefix=other/`);
    expect(list.status).toBe(403);
    await list.text();
  });

  it("lists key names by prefix, with limit and cursor", async () => {
    // KV is shared by the tests of this file: a prefix of this test's own.
    const prefix = `${ENDPOINTS_PREFIX}admin-kv-list-`;
    const keys = ["a", "b", "c"].map((k) => `${prefix}${k}`);
    for (const k of keys) await env.LEGATE_KV.put(k, "{}");
    await env.LEGATE_KV.put(healthKey("up", "n1"), report("up", "n1"));
    await env.LEGATE_KV.put(`elsewhere/${prefix}x`, "{}");
    const all = await send(`${KV}?prefix=${encodeURIComponent(prefix)}`);
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ keys, list_complete: true });
    const first = (await (await send(`${KV}?prefix=${prefix}&limit=2`)).json()) as { keys: string[]; list_complete: boolean; cursor: string };
    expect(first.keys).toEqual(keys.slice(0, 2));
    expect(first.list_complete).toBe(false);
    const rest = (await (await send(`${KV}?prefix=${prefix}&limit=2&cursor=${encodeURIComponent(first.cursor)}`)).json()) as { keys: string[] };
    expect(rest.keys).toEqual(keys.slice(2));
    const everything = (await (await send(KV)).json()) as { keys: string[] };
    expect(everything.keys).toContain(healthKey("up", "n1"));
    expect(everything.keys).not.toContain(`elsewhere/${prefix}x`);
    for (const limit of ["0", "1001", "x", "1.5"]) {
      const res = await send(`${KV}?limit=${limit}`);
      expect(res.status).toBe(400);
      await res.text();
    }
    const post = await send(KV, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
    await post.text();
  });
});

describe("admin KV API: writes", () => {
  it("writes and deletes health reports under their own key", async () => {
    const key = healthKey("my cluster", "node/1");
    const body = report("my cluster", "node/1", { "10.0.0.1:5432": "unhealthy" });
    const put = await send(keyUrl(key), { method: "PUT", body });
    expect(put.status).toBe(204);
    expect(await env.LEGATE_KV.get(key)).toBe(body);
    const got = await send(keyUrl(key));
    expect(await got.text()).toBe(body);
    const del = await send(keyUrl(key), { method: "DELETE" });
    expect(del.status).toBe(204);
    expect(await env.LEGATE_KV.get(key)).toBeNull();
    // Deleting what is gone is success, as KV's delete.
    expect((await send(keyUrl(key), { method: "DELETE" })).status).toBe(204);
  });

  it("refuses config, runtime and endpoints writes and deletes with 403, leaving KV as it was", async () => {
    const version = await pushConfig(bootstrap());
    await env.LEGATE_KV.put(RUNTIME_KEY, "{}");
    await env.LEGATE_KV.put("legate/endpoints/api", "{}");
    for (const key of [CONFIG_POINTER_KEY, `legate/config/v/${version}`, RUNTIME_KEY, "legate/endpoints/api", "legate/health/", "legate/healthy"]) {
      for (const method of ["PUT", "DELETE"]) {
        const res = await send(keyUrl(key), { method, ...(method === "PUT" ? { body: report("c", "n") } : {}) });
        expect(res.status, `${method} ${key}`).toBe(403);
        expect(await res.text()).toMatch(/writes only its health reports \(legate\/health\/\)/);
      }
    }
    expect(JSON.parse((await env.LEGATE_KV.get(CONFIG_POINTER_KEY))!).version).toBe(version);
    expect(await env.LEGATE_KV.get(RUNTIME_KEY)).toBe("{}");
    expect(await env.LEGATE_KV.get("legate/endpoints/api")).toBe("{}");
    const patch = await send(keyUrl(RUNTIME_KEY), { method: "PATCH", body: "x" });
    expect(patch.status).toBe(405);
    await patch.text();
  });

  it("refuses a body that is not a health report, or one filed under another key (400)", async () => {
    const key = healthKey("refused", "n1");
    for (const body of ["not json", '{"cluster":"refused"}', report("refused", "n2"), report("down", "n1")]) {
      const res = await send(keyUrl(key), { method: "PUT", body });
      expect(res.status, body).toBe(400);
      await res.text();
    }
    expect(await env.LEGATE_KV.get(key)).toBeNull();
  });

  it("refuses a body over the cap with 413, declared or streamed", async () => {
    const key = healthKey("up", "big");
    const big = "x".repeat(ADMIN_KV_MAX_BODY_BYTES + 1);
    const declared = await send(keyUrl(key), { method: "PUT", body: big });
    expect(declared.status).toBe(413);
    await declared.text();
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        const chunk = new TextEncoder().encode("y".repeat(64 * 1024));
        for (let i = 0; i < 17; i++) c.enqueue(chunk);
        c.close();
      },
    });
    const streamed = await send(keyUrl(key), { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(streamed.status).toBe(413);
    await streamed.text();
    expect(await env.LEGATE_KV.get(key)).toBeNull();
  });
});
