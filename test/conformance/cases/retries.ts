/**
 * The route's retry_policy (and the virtual host's): retry_on conditions, num_retries and URX, back-off,
 * previous_hosts, retriable status codes and headers, x-envoy-attempt-count, and request bodies kept
 * for retries up to the buffer limit. Upstreams are steered by x-echo-* headers; the attempts they saw
 * are read back from /__echo/count.
 */
import { describe, expect, it } from "vitest";
import { type Echo, echoCount, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { expectStats, FAST_BACK_OFF as FAST, send, statOr0 } from "../helpers.ts";

const PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";

export default function retries(ctx: ConformanceContext): void {
  const [a, b] = [() => ctx.upstreamPorts[0]!, () => ctx.upstreamPorts[1]!];

  describe("retry_policy", () => {
    it("retries a 503 and returns the retry's success", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "1" } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).server).toBe("a");
      expect(res.headers.get("x-legate-response-flags")).toBeNull();
      expect((await echoCount(ctx, k)).count).toBe(2);
      await expectStats(ctx, {
        "cluster.up.upstream_rq_retry": 1,
        "cluster.up.upstream_rq_retry_success": 1,
        "cluster.up.upstream_rq_retry_backoff_exponential": 1,
        "cluster.up.retry.upstream_rq_503": 1,
        "cluster.up.upstream_rq_503": 0,
        "cluster.up.upstream_rq_200": 1,
        "cluster.up.upstream_rq_total": 2,
      });
    });

    it("stops at num_retries and passes the last answer on with flag URX", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "10" } });
      expect(res.status).toBe(503);
      expect(res.headers.get("x-upstream")).toBe("a");
      expect(res.headers.get("x-legate-response-flags")).toBe("URX");
      expect((await echoCount(ctx, k)).count).toBe(3);
      await expectStats(ctx, {
        "cluster.up.upstream_rq_retry": 2,
        "cluster.up.upstream_rq_retry_limit_exceeded": 1,
        "cluster.up.upstream_rq_retry_success": 0,
        "cluster.up.retry.upstream_rq_503": 2,
        "cluster.up.upstream_rq_503": 1,
      });
    });

    it("retries a connection reset under `reset`", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "reset", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "1", "x-echo-reset": "before-headers" } });
      expect(res.status).toBe(200);
      expect((await echoCount(ctx, k)).count).toBe(2);
      expect(await statOr0(ctx, "cluster.up.upstream_rq_retry")).toBe(1);
    });

    it("does not retry what retry_on does not name", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "retriable-4xx", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "1" } });
      expect(res.status).toBe(503);
      expect(res.headers.get("x-legate-response-flags")).toBeNull();
      expect((await echoCount(ctx, k)).count).toBe(1);
      const conflict = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "2", "x-echo-fail-status": "409" } });
      expect(conflict.res.status).toBe(200);
    });

    it("sends a connect-failure retry to another host with previous_hosts", async () => {
      await ctx.loadConfig(routed(ctx, {
        clusters: { up: { ports: [ctx.closedPort, b()], lb_policy: "RANDOM" } },
        route: {
          retry_policy: {
            retry_on: "connect-failure",
            num_retries: 1,
            retry_back_off: FAST,
            retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": PREVIOUS_HOSTS } }],
          },
        },
      }));
      // RANDOM could pick the refusing host twice in a row; previous_hosts never lets a retry do so.
      for (let i = 0; i < 12; i++) {
        const { res, text } = await send(ctx, "/r");
        expect(res.status).toBe(200);
        expect((JSON.parse(text) as Echo).server).toBe("b");
      }
      expect(await statOr0(ctx, "cluster.up.upstream_cx_connect_fail")).toBe(await statOr0(ctx, "cluster.up.upstream_rq_retry"));
      expect(await statOr0(ctx, "cluster.up.upstream_rq_503")).toBe(0);
    });

    it("answers 503 UF with URX when connect failures outlast the retries", async () => {
      await ctx.loadConfig(routed(ctx, { clusters: { up: [ctx.closedPort] }, route: { retry_policy: { retry_on: "connect-failure", num_retries: 2, retry_back_off: FAST } } }));
      const { res, text } = await send(ctx, "/r");
      expect(res.status).toBe(503);
      expect(res.headers.get("x-legate-response-flags")).toBe("UF,URX");
      expect(text).toBe("upstream connect error or disconnect/reset before headers. reset reason: connection failure");
      await expectStats(ctx, { "cluster.up.upstream_cx_connect_fail": 3, "cluster.up.upstream_rq_retry": 2, "cluster.up.upstream_rq_503": 1 });
    });

    it("retries retriable_status_codes under retriable-status-codes only", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "retriable-status-codes", retriable_status_codes: [418], retry_back_off: FAST } } }));
      const teapot = uniqueKey();
      const ok = await send(ctx, "/r", { headers: { "x-echo-key": teapot, "x-echo-fail-times": "1", "x-echo-fail-status": "418" } });
      expect(ok.res.status).toBe(200);
      expect((await echoCount(ctx, teapot)).count).toBe(2);
      const unavailable = uniqueKey();
      const no = await send(ctx, "/r", { headers: { "x-echo-key": unavailable, "x-echo-fail-times": "1" } });
      expect(no.res.status).toBe(503);
      expect((await echoCount(ctx, unavailable)).count).toBe(1);
    });

    it("retries responses with retriable_headers (here: answers from server a)", async () => {
      await ctx.loadConfig(routed(ctx, {
        clusters: { up: [a(), b()] },
        route: {
          retry_policy: {
            retry_on: "retriable-headers",
            retriable_headers: [{ name: "x-upstream", string_match: { exact: "a" } }],
            retry_back_off: FAST,
            retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": PREVIOUS_HOSTS } }],
          },
        },
      }));
      for (let i = 0; i < 4; i++) {
        const { res } = await send(ctx, "/r");
        expect(res.status).toBe(200);
        expect(res.headers.get("x-upstream")).toBe("b");
      }
      // Round robin sent some first attempts to a: each of those, and only those, was retried.
      expect(await statOr0(ctx, "cluster.up.upstream_rq_retry")).toBeGreaterThan(0);
      expect(await statOr0(ctx, "cluster.up.retry.upstream_rq_200")).toBe(await statOr0(ctx, "cluster.up.upstream_rq_retry"));
    });

    it("waits an exponential back-off before each retry", async () => {
      await ctx.loadConfig(routed(ctx, { route: { retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "3" } });
      expect(res.status).toBe(200);
      await expectStats(ctx, { "cluster.up.upstream_rq_retry": 3, "cluster.up.upstream_rq_retry_backoff_exponential": 3, "cluster.up.upstream_rq_retry_success": 1 });
    });

    it("takes the virtual host's retry policy when the route has none, and the route's over it", async () => {
      const vhost = { retry_policy: { retry_on: "5xx", retry_back_off: FAST } };
      await ctx.loadConfig(routed(ctx, { vhost }));
      const k1 = uniqueKey();
      expect((await send(ctx, "/r", { headers: { "x-echo-key": k1, "x-echo-fail-times": "1" } })).res.status).toBe(200);
      await ctx.loadConfig(routed(ctx, { vhost, route: { retry_policy: { retry_on: "retriable-4xx" } } }));
      const k2 = uniqueKey();
      expect((await send(ctx, "/r", { headers: { "x-echo-key": k2, "x-echo-fail-times": "1" } })).res.status).toBe(503);
    });

    it("sends x-envoy-attempt-count upstream and downstream when the virtual host asks", async () => {
      await ctx.loadConfig(routed(ctx, {
        vhost: { include_request_attempt_count: true, include_attempt_count_in_response: true },
        route: { retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: FAST } },
      }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/r", { headers: { "x-echo-key": k, "x-echo-fail-times": "2" } });
      expect(res.status).toBe(200);
      expect((JSON.parse(text) as Echo).headers["x-envoy-attempt-count"]).toBe("3");
      expect(res.headers.get("x-envoy-attempt-count")).toBe("3");
    });
  });

  describe("request bodies and retries", () => {
    it("retries a buffered body, sending it whole with its length", async () => {
      await ctx.loadConfig(routed(ctx, { routeEntry: { per_request_buffer_limit_bytes: 64 }, route: { retry_policy: { retry_on: "5xx", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const { res, text } = await send(ctx, "/r", { method: "POST", body: "small body", headers: { "x-echo-key": k, "x-echo-fail-times": "1" } });
      expect(res.status).toBe(200);
      const echo = JSON.parse(text) as Echo;
      expect(echo.body).toBe("small body");
      expect(echo.headers["content-length"]).toBe("10");
      expect((await echoCount(ctx, k)).count).toBe(2);
    });

    it("does not retry a body larger than per_request_buffer_limit_bytes", async () => {
      await ctx.loadConfig(routed(ctx, { routeEntry: { per_request_buffer_limit_bytes: 16 }, route: { retry_policy: { retry_on: "5xx", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const big = "x".repeat(100);
      const { res, text } = await send(ctx, "/r", { method: "POST", body: big, headers: { "x-echo-key": k, "x-echo-fail-times": "1" } });
      expect(res.status).toBe(503);
      expect((JSON.parse(text) as Echo).body).toBe(big);
      expect((await echoCount(ctx, k)).count).toBe(1);
      await expectStats(ctx, { "cluster.up.retry_or_shadow_abandoned": 1, "cluster.up.upstream_rq_retry": 0 });
    });

    it("does not retry a streamed body that outgrows the limit, and still sends all of it", async () => {
      await ctx.loadConfig(routed(ctx, { routeEntry: { per_request_buffer_limit_bytes: 16 }, route: { retry_policy: { retry_on: "5xx", retry_back_off: FAST } } }));
      const k = uniqueKey();
      const chunks = ["0123456789", "abcdefghij", "ABCDEFGHIJ"];
      let i = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (i === chunks.length) return c.close();
          c.enqueue(new TextEncoder().encode(chunks[i++]));
        },
      });
      const { res, text } = await send(ctx, "/r", { method: "POST", body, headers: { "x-echo-key": k, "x-echo-fail-times": "1" } });
      expect(res.status).toBe(503);
      expect((JSON.parse(text) as Echo).body).toBe(chunks.join(""));
      expect(await statOr0(ctx, "cluster.up.retry_or_shadow_abandoned")).toBe(1);
    });
  });
}
