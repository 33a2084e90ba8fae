import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { call, ports, pushConfig, settle } from "./helpers.ts";
import { bootstrapWith, withToken } from "./upstream-helpers.ts";

type Handler = ReturnType<typeof createEdgeHandler>;

async function server(handler: Handler, path = "/lb", headers: Record<string, string> = {}): Promise<string> {
  const res = await call(handler, new Request(`http://front.example${path}`, { headers }), withToken);
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get("x-upstream")!;
}

function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

const ep = (port: number, extra: Record<string, unknown> = {}) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...extra });

describe("load balancing at the edge", () => {
  it("weighted ROUND_ROBIN follows load_balancing_weight exactly over whole cycles", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [] } }, {
      a: { load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [ep(ports.a, { load_balancing_weight: 1 }), ep(ports.b, { load_balancing_weight: 3 })] }] } },
    }));
    const handler = createEdgeHandler();
    const names: string[] = [];
    for (let i = 0; i < 8; i++) names.push(await server(handler));
    expect(tally(names)).toEqual({ a: 2, b: 6 });
  });

  it("spills to priority 1 when priority 0's only host is ejected", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [] } }, {
      a: {
        outlier_detection: { consecutive_5xx: 2, interval: "10s", base_ejection_time: "10s", max_ejection_percent: 50 },
        load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [ep(ports.a)] }, { priority: 1, lb_endpoints: [ep(ports.b)] }] },
      },
    }));
    const handler = createEdgeHandler();
    for (let i = 0; i < 3; i++) expect(await server(handler)).toBe("a");
    for (let i = 0; i < 2; i++) {
      const res = await call(handler, new Request("http://front.example/lb", { headers: { "x-echo-status": "503" } }), withToken);
      await res.text();
      expect(res.headers.get("x-upstream")).toBe("a");
    }
    await settle();
    for (let i = 0; i < 3; i++) expect(await server(handler)).toBe("b");
  });

  it.each(["RING_HASH", "MAGLEV"])("%s with a header hash_policy keeps each user on one host", async (policy) => {
    await pushConfig(bootstrapWith({
      clusters: { a: ports.all },
      virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a", hash_policy: [{ header: { header_name: "x-user" } }] } }] }],
    }, { a: { lb_policy: policy } }));
    const handler = createEdgeHandler();
    const placement = new Map<string, string>();
    for (let u = 0; u < 24; u++) placement.set(`user-${u}`, await server(handler, "/h", { "x-user": `user-${u}` }));
    for (let round = 0; round < 2; round++) {
      for (const [user, name] of placement) expect(await server(handler, "/h", { "x-user": user })).toBe(name);
    }
    expect(new Set(placement.values()).size).toBeGreaterThan(1);
  });
});
