import { defineConfig } from "vitest/config";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: { LEGATE_CONFIG_POLL_MS: "0" } } })],
        test: { name: "edge", include: ["edge/test/**/*.test.ts"], globalSetup: ["test/global-setup.ts"] },
      },
      {
        test: { name: "node", include: ["shared/**/*.test.ts", "tcp-tier/test/**/*.test.ts", "test/**/*.test.ts"], environment: "node" },
      },
    ],
  },
});
