/**
 * The tcp tier's KV runtime layer over the local state `wrangler dev` reads (miniflare, as
 * `legate runtime set --local` writes it): a flag written to KV changes a running listener's behaviour
 * (local_ratelimit runtime_enabled) without a restart, the admin layer (/runtime_modify) wins over KV,
 * and /runtime shows static < kv < admin.
 */
import { afterAll, describe, expect, it } from "vitest";
import { RUNTIME_KEY } from "../../shared/kv/layout.ts";
import { silentLogger } from "../../shared/log.ts";
import { localKvTarget } from "../src/cli/kv/local.ts";
import { readRuntimeDocument, writeRuntimeDocument } from "../src/cli/runtime-commands.ts";
import { kvArgsFromEnv } from "../src/kv/control.ts";
import { KvRuntimePoller } from "../src/kv/runtime-poller.ts";
import { startServer } from "../src/server.ts";
import { removeTempDirs, tempDir } from "../../test/cli/helpers.ts";
import { compileYaml, echoServer, proxyPort, TCP_PROXY_TYPE, tryEcho } from "./helpers.ts";

const NS = "00000000000000000000000000000000";
const LRL_TYPE = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const FLAG = "legate_test.ratelimit_enabled";

afterAll(() => removeTempDirs());

function yaml(upPort: number): string {
  return `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
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
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upPort} } } }
`;
}


describe("tcp tier: runtime flags from KV", () => {
  it("reads LEGATE_KV settings from the environment and refuses bad ones", () => {
    expect(kvArgsFromEnv({})).toBeUndefined();
    expect(kvArgsFromEnv({ LEGATE_KV: "local", LEGATE_KV_PERSIST_TO: "/s", LEGATE_KV_NAMESPACE_ID: "ns", LEGATE_KV_POLL_MS: "250" }))
      .toEqual({ kv: { target: "local", persistTo: "/s", namespaceId: "ns" }, pollMs: 250 });
    expect(() => kvArgsFromEnv({ LEGATE_KV: "yes" })).toThrow(/not 'local', 'remote' or 'edge'/);
    expect(() => kvArgsFromEnv({ LEGATE_KV: "local", LEGATE_KV_POLL_MS: "5" })).toThrow(/at least 100/);
  });

  it("a KV flag reaches a running listener; the admin layer wins over KV; /runtime shows the layers", async () => {
    const dir = tempDir("legate-tcp-kv-runtime-");
    const writer = localKvTarget({ persistTo: dir, namespaceId: NS });
    const reader = localKvTarget({ persistTo: dir, namespaceId: NS });
    const poller = new KvRuntimePoller(reader, silentLogger, 100);
    const up = await echoServer();
    const { model, canonical } = compileYaml(yaml(up.port));
    let h: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      await poller.start();
      expect(poller.version).toBeUndefined();
      h = await startServer({ model, canonical, logger: silentLogger, version: "test", kvRuntime: poller.layer });
      const port = proxyPort(h);
      const admin = `http://127.0.0.1:${h.adminAddress!.port}`;

      // Static default: limit enabled, one token.
      expect(await tryEcho(port, "one")).toBe("one");
      expect(await tryEcho(port, "two")).toBe("");

      // `legate runtime set legate_test.ratelimit_enabled false`, then the next poll (bounded wait).
      await writeRuntimeDocument(writer, await readRuntimeDocument(writer), { [FLAG]: "false" });
      for (let i = 0; i < 50 && poller.version === undefined; i++) await new Promise((r) => setTimeout(r, 50));
      expect(poller.version).toBe(1);
      expect(await tryEcho(port, "three")).toBe("three");
      expect(await tryEcho(port, "four")).toBe("four");

      const rt = (await (await fetch(`${admin}/runtime`)).json()) as { layers: string[]; entries: Record<string, unknown> };
      expect(rt.layers).toEqual(["base", "kv", "admin"]);
      expect(rt.entries[FLAG]).toEqual({ layer_values: ["", "false", ""], final_value: "false" });

      // The admin layer is above KV.
      expect((await fetch(`${admin}/runtime_modify?${FLAG}=true`, { method: "POST" })).status).toBe(200);
      expect(await tryEcho(port, "five")).toBe("");
      // Removing the admin value uncovers KV's again.
      expect((await fetch(`${admin}/runtime_modify?${FLAG}=`, { method: "POST" })).status).toBe(200);
      expect(await tryEcho(port, "six")).toBe("six");

      // Deleting the document empties the KV layer: the static default (enabled, bucket empty) is back.
      await writer.delete(RUNTIME_KEY);
      for (let i = 0; i < 50 && poller.version !== undefined; i++) await new Promise((r) => setTimeout(r, 50));
      expect(poller.version).toBeUndefined();
      expect(await tryEcho(port, "seven")).toBe("");
    } finally {
      await h?.close();
      await poller.close();
      await Promise.all([writer.close(), reader.close(), up.close()]);
    }
  }, 30_000);

  it("keeps the previous values when the document is not a runtime document", async () => {
    const dir = tempDir("legate-tcp-kv-runtime-bad-");
    const t = localKvTarget({ persistTo: dir, namespaceId: NS });
    const poller = new KvRuntimePoller(t, silentLogger, 100);
    try {
      await writeRuntimeDocument(t, undefined, { a: "1" });
      await poller.poll();
      expect(poller.layer.get("a")).toBe("1");
      await t.put(RUNTIME_KEY, "[1,2]");
      await poller.poll();
      expect(poller.layer.get("a")).toBe("1");
      expect(poller.version).toBe(1);
    } finally {
      await poller.close();
      await t.close();
    }
  }, 30_000);
});
