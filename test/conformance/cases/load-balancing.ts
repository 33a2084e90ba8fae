/**
 * Load balancing over a cluster's hosts: weighted ROUND_ROBIN over whole cycles, priority levels
 * (spill to priority 1 when priority 0 has no healthy host), and consistent hashing (RING_HASH, MAGLEV)
 * by a route's hash_policy. The echo servers answer with `x-upstream: <name>`, which tells the host.
 */
import { describe, expect, it } from "vitest";
import { bootstrap, lbEndpoint, type Json } from "../config.ts";
import type { ConformanceContext } from "../context.ts";

function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

export default function loadBalancing(ctx: ConformanceContext): void {
  const [a, b] = [() => ctx.upstreamPorts[0]!, () => ctx.upstreamPorts[1]!];

  /** Cluster `a` with its own load_assignment (and other Envoy cluster fields). */
  const clusterA = (fields: Json) => bootstrap(ctx, { clusters: { a: { ports: [], ...fields } } });

  /** The host that answered a successful request (read and checked). */
  async function server(path = "/lb", headers: Record<string, string> = {}, clientAddress?: string): Promise<string> {
    const res = await ctx.request(new Request(`http://front.example${path}`, { headers }), clientAddress === undefined ? undefined : { clientAddress });
    await res.text();
    expect(res.status).toBe(200);
    return res.headers.get("x-upstream")!;
  }

  describe("load balancing", () => {
    it("weighted ROUND_ROBIN follows load_balancing_weight exactly over whole cycles", async () => {
      await ctx.loadConfig(clusterA({
        load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [lbEndpoint(a(), { load_balancing_weight: 1 }), lbEndpoint(b(), { load_balancing_weight: 3 })] }] },
      }));
      const names: string[] = [];
      for (let i = 0; i < 8; i++) names.push(await server());
      expect(tally(names)).toEqual({ a: 2, b: 6 });
    });

    it("spills to priority 1 when priority 0's only host is ejected", async () => {
      await ctx.loadConfig(clusterA({
        outlier_detection: { consecutive_5xx: 2, interval: "10s", base_ejection_time: "10s", max_ejection_percent: 50 },
        load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [lbEndpoint(a())] }, { priority: 1, lb_endpoints: [lbEndpoint(b())] }] },
      }));
      for (let i = 0; i < 3; i++) expect(await server()).toBe("a");
      for (let i = 0; i < 2; i++) {
        const res = await ctx.request(new Request("http://front.example/lb", { headers: { "x-echo-status": "503" } }));
        await res.text();
        expect(res.headers.get("x-upstream")).toBe("a");
      }
      await ctx.settle();
      for (let i = 0; i < 3; i++) expect(await server()).toBe("b");
    });

    it.each(["RING_HASH", "MAGLEV"])("%s with a header hash_policy keeps each user on one host", async (policy) => {
      await ctx.loadConfig(bootstrap(ctx, {
        clusters: { a: { ports: ctx.upstreamPorts, lb_policy: policy } },
        virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a", hash_policy: [{ header: { header_name: "x-user" } }] } }] }],
      }));
      const placement = new Map<string, string>();
      for (let u = 0; u < 24; u++) placement.set(`user-${u}`, await server("/h", { "x-user": `user-${u}` }));
      for (let round = 0; round < 2; round++) {
        for (const [user, name] of placement) expect(await server("/h", { "x-user": user })).toBe(name);
      }
      expect(new Set(placement.values()).size).toBeGreaterThan(1);
    });

    it("RING_HASH by connection_properties.source_ip hashes the downstream address, not a client header", async () => {
      await ctx.loadConfig(bootstrap(ctx, {
        clusters: { a: { ports: ctx.upstreamPorts, lb_policy: "RING_HASH" } },
        hcm: { use_remote_address: true },
        virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a", hash_policy: [{ connection_properties: { source_ip: true } }] } }] }],
      }));
      const placement = new Map<string, string>();
      for (let c = 1; c <= 24; c++) placement.set(`198.51.100.${c}`, await server("/ip", {}, `198.51.100.${c}`));
      expect(new Set(placement.values()).size).toBeGreaterThan(1);
      // With use_remote_address the peer is trusted, so a spoofed x-forwarded-for changes nothing.
      for (const [ip, name] of placement) expect(await server("/ip", { "x-forwarded-for": "203.0.113.99" }, ip)).toBe(name);
    });
  });
}
