import { env, SELF } from "cloudflare:test";
import { expect, it, inject } from "vitest";
it("runs in workerd", async () => {
  await env.LEGATE_KV.put("x", "kv");
  const r = await SELF.fetch("http://example.com/");
  expect(await r.text()).toBe("hello kv");
  const port = inject("upstreamPort" as never) as number;
  const u = await fetch(`http://127.0.0.1:${port}/`);
  expect(await u.text()).toBe("upstream");
  expect(navigator.userAgent).toBe("Cloudflare-Workers");
});
