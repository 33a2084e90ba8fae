import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONFIG_POINTER_KEY } from "../../shared/kv/layout.ts";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, pointTo, pushConfig, pushText, settle } from "./helpers.ts";

/** A config whose one route answers `text` directly, so the serving version is visible in the body. */
function answering(text: string, spec: Parameters<typeof bootstrap>[0] = {}) {
  return bootstrap({
    ...spec,
    virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: text } } }] }],
  });
}

async function body(res: Response | Promise<Response>): Promise<string> {
  return (await res).text();
}

/** The real KV binding, with its reads counted. */
function countingKv() {
  const counts = { get: 0 };
  const kv = env.LEGATE_KV;
  const wrapped = {
    get: (...args: Parameters<KVNamespace["get"]>) => {
      // Config reads only (pointer and bodies): each check also reads the runtime flags and health keys.
      if (String(args[0]).startsWith("legate/config/")) counts.get++;
      return (kv.get as (...a: unknown[]) => Promise<unknown>)(...args);
    },
    list: (...args: Parameters<KVNamespace["list"]>) => kv.list(...args),
  } as unknown as KVNamespace;
  return { kv: wrapped, counts };
}

describe("finding the config", () => {
  it("answers 503 with a plain-text reason while no config was ever pushed", async () => {
    await env.LEGATE_KV.delete(CONFIG_POINTER_KEY);
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/"));
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("text/plain");
    expect(res.headers.get("x-legate-response-flags")).toBe("NFCF");
    expect(await res.text()).toMatch(/^no configuration loaded/);
    expect(handler.stats.values().get("legate.edge.rq_no_config")).toBe(1);
    expect(handler.stats.values().get("legate.edge.config_load_failure")).toBe(0);
  });

  it("picks up a new version on the next request, without a restart", async () => {
    await pushConfig(answering("one"));
    expect(await body(SELF.fetch("http://front.example/"))).toBe("one");
    await pushConfig(answering("two"));
    expect(await body(SELF.fetch("http://front.example/"))).toBe("two");
    // Rolling back is pointing at an older version again.
    await pushConfig(answering("one"));
    expect(await body(SELF.fetch("http://front.example/"))).toBe("one");
  });

  it("serves the listener named by LEGATE_EDGE_LISTENER when none is marked", async () => {
    await pushConfig(answering("named", { markEdge: false, listenerName: "front" }));
    const handler = createEdgeHandler();
    expect(await body(call(handler, new Request("http://front.example/"), { LEGATE_EDGE_LISTENER: "front" }))).toBe("named");
  });

  it("checks KV only once per poll interval", async () => {
    await pushConfig(answering("first"));
    const { kv, counts } = countingKv();
    const handler = createEdgeHandler();
    const slow = { LEGATE_KV: kv, LEGATE_CONFIG_POLL_MS: "3600000" };
    expect(await body(call(handler, new Request("http://front.example/"), slow))).toBe("first");
    expect(counts.get).toBe(2);
    await pushConfig(answering("second"));
    expect(await body(call(handler, new Request("http://front.example/"), slow))).toBe("first");
    expect(counts.get).toBe(2);
  });

  it("runs one KV check for concurrent requests once a config is loaded, and only its starter waits", async () => {
    await pushConfig(answering("shared"));
    const { kv, counts } = countingKv();
    const handler = createEdgeHandler();
    expect(await body(call(handler, new Request("http://front.example/"), { LEGATE_KV: kv }))).toBe("shared");
    expect(counts.get).toBe(2);
    // POLL_MS is 0: every request finds a check due, but the first starts it and the others, arriving
    // while it runs, are served the loaded snapshot without a read of their own.
    const bodies = await Promise.all(Array.from({ length: 8 }, () => body(call(handler, new Request("http://front.example/"), { LEGATE_KV: kv }))));
    expect(bodies).toEqual(Array(8).fill("shared"));
    expect(counts.get).toBe(3);
    expect(handler.stats.values().get("legate.edge.config_reload")).toBe(1);
    await settle();
  });
});

describe("failing closed on a bad version", () => {
  it("keeps the previous config serving, and counts each bad version once", async () => {
    const handler = createEdgeHandler();
    const get = () => body(call(handler, new Request("http://front.example/")));
    const stat = (name: string) => handler.stats.values().get(`legate.edge.${name}`);
    await pushConfig(answering("good"));
    expect(await get()).toBe("good");
    expect(stat("config_reload")).toBe(1);

    await pushText("{ this is not json");
    expect(await get()).toBe("good");
    expect(await get()).toBe("good");
    expect(stat("config_load_failure")).toBe(1);

    // Valid JSON that does not compile: a route to a cluster that does not exist.
    const broken = bootstrap({ virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "nowhere" } }] }] });
    await pushConfig(broken);
    expect(await get()).toBe("good");
    expect(stat("config_load_failure")).toBe(2);

    // A config with no edge listener (only a tcp_proxy listener, which the tcp tier serves).
    await pushConfig({
      static_resources: {
        listeners: [{
          name: "tcp",
          address: { socket_address: { address: "0.0.0.0", port_value: 6000 } },
          filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "a" } }] }],
        }],
        clusters: [{ name: "a", type: "STATIC", load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 6001 } } } }] }] } }],
      },
    });
    expect(await get()).toBe("good");
    expect(stat("config_load_failure")).toBe(3);

    // A pointer to a version whose body is missing, then a pointer that is not JSON.
    await pointTo("f".repeat(64));
    expect(await get()).toBe("good");
    await env.LEGATE_KV.put(CONFIG_POINTER_KEY, "garbage");
    expect(await get()).toBe("good");
    expect(stat("config_load_failure")).toBe(5);

    await pushConfig(answering("better"));
    expect(await get()).toBe("better");
    expect(stat("config_reload")).toBe(2);
    expect(stat("config_load_failure")).toBe(5);
  });

  it("answers 503 when the only version ever seen is bad", async () => {
    const handler = createEdgeHandler();
    await pushText("[1, 2");
    const res = await call(handler, new Request("http://front.example/"));
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/^no configuration loaded/);
    expect(handler.stats.values().get("legate.edge.config_load_failure")).toBe(1);
  });
});
