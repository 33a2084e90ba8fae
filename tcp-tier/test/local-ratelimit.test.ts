/**
 * Network local_ratelimit through the tcp tier (real sockets, socat once), and the token bucket's refill
 * arithmetic on an injected clock.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { validateBootstrapValue } from "../src/config/load.ts";
import { TokenBucket } from "../src/extensions/filters/network/local_ratelimit/config.ts";
import { compileYaml, echoServer, proxyPort, startYaml, stat, TCP_PROXY_TYPE, tryEcho } from "./helpers.ts";

const LRL_TYPE = "type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";

function lrlYaml(upPort: number, limit: string, runtime = ""): string {
  return `
${runtime}static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.local_ratelimit
        typed_config:
          "@type": ${LRL_TYPE}
          stat_prefix: lr
${limit}
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


const BUCKET_2_PER_MINUTE = "          token_bucket: { max_tokens: 2, fill_interval: 60s }";

describe("network local_ratelimit", () => {
  it("lets max_tokens connections through, then closes new ones and counts them", async () => {
    const up = await echoServer();
    const h = await startYaml(lrlYaml(up.port, BUCKET_2_PER_MINUTE));
    try {
      const port = proxyPort(h);
      expect(await tryEcho(port, "one")).toBe("one");
      expect(await tryEcho(port, "two")).toBe("two");
      expect(await tryEcho(port, "three")).toBe("");
      expect(stat(h, "local_rate_limit.lr.rate_limited")).toBe(1);
      // A refused connection never reached the upstream.
      expect(stat(h, "cluster.up.upstream_cx_total")).toBe(2);
      // socat sees the same: its connection is closed with nothing echoed.
      const child = spawn("socat", ["-t1", "-", `TCP4:127.0.0.1:${port}`], { stdio: ["pipe", "pipe", "ignore"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stdin.end("four");
      await once(child, "close");
      expect(out).toBe("");
      expect(stat(h, "local_rate_limit.lr.rate_limited")).toBe(2);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("runtime_enabled turns the limit off (default_value) or on (a static runtime layer)", async () => {
    const up = await echoServer();
    const flag = `${BUCKET_2_PER_MINUTE.replace("max_tokens: 2", "max_tokens: 1")}\n          runtime_enabled: { default_value: false, runtime_key: lr.enabled }`;
    const off = await startYaml(lrlYaml(up.port, flag));
    try {
      const port = proxyPort(off);
      for (const m of ["a", "b", "c"]) expect(await tryEcho(port, m)).toBe(m);
      expect(stat(off, "local_rate_limit.lr.rate_limited")).toBe(0);
    } finally {
      await off.close();
    }
    const runtime = "layered_runtime:\n  layers:\n  - name: static\n    static_layer: { lr: { enabled: true } }\n";
    const on = await startYaml(lrlYaml(up.port, flag, runtime));
    try {
      const port = proxyPort(on);
      expect(await tryEcho(port, "a")).toBe("a");
      expect(await tryEcho(port, "b")).toBe("");
      expect(stat(on, "local_rate_limit.lr.rate_limited")).toBe(1);
    } finally {
      await on.close();
      await up.close();
    }
  });

  it("a reloaded listener reads the new config's static runtime layer", async () => {
    const up = await echoServer();
    const flag = `${BUCKET_2_PER_MINUTE.replace("max_tokens: 2", "max_tokens: 1")}\n          runtime_enabled: { default_value: false, runtime_key: lr.enabled }`;
    const h = await startYaml(lrlYaml(up.port, flag));
    try {
      // The reload changes only the runtime layer and a stat prefix, so the listener is rebuilt.
      const runtime = "layered_runtime:\n  layers:\n  - name: static\n    static_layer: { lr: { enabled: true } }\n";
      await h.reload(compileYaml(lrlYaml(up.port, flag, runtime).replace("stat_prefix: lr", "stat_prefix: lr2")));
      const port = proxyPort(h);
      expect(await tryEcho(port, "a")).toBe("a");
      expect(await tryEcho(port, "b")).toBe("");
      expect(stat(h, "local_rate_limit.lr2.rate_limited")).toBe(1);
    } finally {
      await h.close();
      await up.close();
    }
  });

  it("refuses a fill_interval under 50 ms and share_key", async () => {
    const bad = compileBootstrap(parseConfigText(lrlYaml(1, "          token_bucket: { max_tokens: 1, fill_interval: 0.01s }")).value);
    expect(bad.issues.map((i) => i.message).some((m) => m.includes("at least 50ms"))).toBe(true);
    const shared = await validateBootstrapValue(parseConfigText(lrlYaml(1, `${BUCKET_2_PER_MINUTE}\n          share_key: k`)).value);
    expect(shared.ok ? [] : shared.issues.map((i) => `${i.kind} ${i.path}`)).toEqual([
      "unsupported static_resources.listeners[0].filter_chains[0].filters[0].typed_config.share_key",
    ]);
    const good = await validateBootstrapValue(parseConfigText(lrlYaml(1, BUCKET_2_PER_MINUTE)).value);
    expect(good.ok ? [] : good.issues).toEqual([]);
  });
});

describe("TokenBucket", () => {
  it("starts full, refills tokens_per_fill per elapsed interval, and never exceeds max_tokens", () => {
    let now = 0;
    const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 100 }, () => now);
    expect([b.consume(), b.consume(), b.consume(), b.consume()]).toEqual([true, true, true, false]);
    now = 99;
    expect(b.consume()).toBe(false);
    now = 100;
    expect([b.consume(), b.consume(), b.consume()]).toEqual([true, true, false]);
    // Ten intervals later the bucket holds max_tokens, not 20.
    now = 1100;
    expect([b.consume(), b.consume(), b.consume(), b.consume()]).toEqual([true, true, true, false]);
    // Partial intervals carry over: 50 + 50 ms make one fill.
    now = 1150;
    expect(b.consume()).toBe(false);
    now = 1200;
    expect(b.consume()).toBe(true);
  });
});
