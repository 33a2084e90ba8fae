/**
 * Upgrade requests without `upgrade_configs`: Envoy answers 403 (details `upgrade_failed`, counted in
 * `downstream_rq_ws_on_non_ws_route`) when a route matched, and routes as usual when none did.
 * Proxying WebSockets is edge-only for now (edge/test/websocket.test.ts): the Node engine has no
 * WebSocket transport yet and refuses configs with upgrade_configs.
 */
import { describe, expect, it } from "vitest";
import { bootstrap } from "../config.ts";
import type { ConformanceContext } from "../context.ts";

export default function upgrades(ctx: ConformanceContext): void {
  const upgrade = (url: string) => new Request(url, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });

  describe("upgrades without upgrade_configs", () => {
    it("answers 403 with an empty body when a route matched, and 404 NR when none did", async () => {
      await ctx.loadConfig(bootstrap(ctx, {
        virtualHosts: [{ name: "vh", domains: ["front.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }],
        hcm: {
          access_log: [{
            name: "envoy.access_loggers.stdout",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%" } },
          }],
        },
      }));
      const refused = await ctx.request(upgrade("http://front.example/ws"));
      expect(refused.status).toBe(403);
      expect(await refused.text()).toBe("");
      const unrouted = await ctx.request(upgrade("http://other.example/ws"));
      expect(unrouted.status).toBe(404);
      expect(unrouted.headers.get("x-legate-response-flags")).toBe("NR");
      await unrouted.text();
      const plain = await ctx.request(new Request("http://front.example/plain"));
      expect(plain.status).toBe(200);
      await plain.text();
      await ctx.settle();
      expect(await ctx.stat("http.ingress_http.downstream_rq_ws_on_non_ws_route")).toBe(1);
      expect(await ctx.stat("http.ingress_http.downstream_cx_upgrades_total")).toBe(0);
      expect(ctx.accessLog()).toEqual(["403 upgrade_failed", "404 route_not_found", "200 via_upstream"]);
    });
  });
}
