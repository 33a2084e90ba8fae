/**
 * %DOWNSTREAM_REMOTE_ADDRESS% is Envoy's downstream remote address after X-Forwarded-For processing;
 * %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% stays the peer's (at the edge: cf-connecting-ip).
 */
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { formatIssue } from "../../shared/config/issues.ts";
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import { createHttpEngine } from "../../shared/http/engine.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { fetchTransport } from "../src/upstream-transport.ts";
import { bootstrap } from "./helpers.ts";

async function logLine(hcm: Record<string, unknown>, headers: Record<string, string>): Promise<string> {
  const { model, issues } = compileBootstrap(
    bootstrap({
      hcm: {
        ...hcm,
        access_log: [{
          name: "envoy.access_loggers.stdout",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%\n" } },
          },
        }],
      },
    }),
  );
  if (!model) throw new Error(issues.map(formatIssue).join("\n"));
  const lines: string[] = [];
  const engine = createHttpEngine({
    hcm: model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel,
    clusters: model.clusters,
    transport: fetchTransport,
    stats: new StatsStore(),
    accessLogSinks: { stdout: (l) => void lines.push(l), stderr: (l) => void lines.push(l) },
  });
  const res = await engine.handle(new Request("http://front.example/", { headers }));
  await res.arrayBuffer();
  for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  return lines[0]!.trimEnd();
}

describe("downstream addresses in the access log", () => {
  it("uses the X-Forwarded-For address when use_remote_address is false, the peer's as the direct one", async () => {
    expect(await logLine({}, { "cf-connecting-ip": "203.0.113.9", "x-forwarded-for": "198.51.100.7" })).toBe("198.51.100.7:0 203.0.113.9");
  });

  it("uses the peer's address when use_remote_address is true", async () => {
    expect(await logLine({ use_remote_address: true }, { "cf-connecting-ip": "203.0.113.9", "x-forwarded-for": "198.51.100.7" })).toBe("203.0.113.9:0 203.0.113.9");
  });
});
