/**
 * Edge-only proxying facts. The runtime-neutral routing and proxying cases live in the conformance suite
 * (test/conformance/cases/route-matching.ts, proxy-basics.ts), run here by conformance.test.ts.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type Echo, ports, pushConfig, settle } from "./helpers.ts";

describe("the Worker's default export", () => {
  it("sends the downstream Host as x-forwarded-host (workerd sends the URL's host as Host) and the body with its length", async () => {
    await pushConfig(bootstrap());
    const res = await SELF.fetch("http://front.example/some/path", {
      method: "POST",
      body: "payload bytes",
      headers: { "x-forwarded-host": "first.example" },
    });
    const echo = (await res.json()) as Echo;
    expect(echo.headers["content-length"]).toBe("13");
    expect(echo.headers.host).toBe(`127.0.0.1:${ports.a}`);
    expect(echo.headers["x-forwarded-host"]).toBe("first.example, front.example");
  });

  it("records upstream_rq_time as a histogram", async () => {
    await pushConfig(bootstrap());
    const handler = createEdgeHandler();
    await (await call(handler, new Request("http://front.example/t"))).text();
    await settle();
    expect(handler.stats.textFormat(/upstream_rq_time/)).toMatch(/^cluster\.a\.upstream_rq_time: P0\(/m);
  });
});
