/**
 * Route timeouts, per-try timeouts, idle timeouts and hedging through the edge Worker. Timeouts need
 * time: the values are small (100–200 ms) against upstream delays well beyond them, and the tests
 * assert outcomes and stats, never durations.
 */
import { describe, expect, it } from "vitest";
import { call, type Echo, settle } from "./helpers.ts";
import { echoCount, expectStats, key, readUntilReset, routerConfig, send, stat } from "./router-helpers.ts";

const FAST = { base_interval: "0.001s", max_interval: "0.002s" };

describe("route timeout", () => {
  it("answers 504 UT 'upstream request timeout' when no response headers come in time", async () => {
    const handler = await routerConfig({ route: { timeout: "0.1s" } });
    const { res, text } = await send(handler, "/t", { headers: { "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(504);
    expect(res.headers.get("x-legate-response-flags")).toBe("UT");
    expect(text).toBe("upstream request timeout");
    expectStats(handler, { "cluster.up.upstream_rq_timeout": 1, "cluster.up.upstream_rq_504": 1, "cluster.up.upstream_rq_tx_reset": 1 });
  });

  it("is never retried, even under 5xx", async () => {
    const handler = await routerConfig({ route: { timeout: "0.1s", retry_policy: { retry_on: "5xx", num_retries: 3, retry_back_off: FAST } } });
    const k = key();
    const { res } = await send(handler, "/t", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(504);
    expect((await echoCount(k)).count).toBe(1);
    expect(stat(handler, "cluster.up.upstream_rq_retry")).toBe(0);
  });

  it("covers the response body: a body that outlasts it is reset", async () => {
    const handler = await routerConfig({ route: { timeout: "0.15s" } });
    const res = await call(handler, new Request("http://front.example/t", { headers: { "x-echo-body-delay-ms": "800" } }));
    expect(res.status).toBe(200);
    expect(await readUntilReset(res)).toBeDefined();
    await settle();
    expectStats(handler, { "cluster.up.upstream_rq_timeout": 1, "cluster.up.upstream_rq_tx_reset": 1 });
  });

  it("is disabled by 0s", async () => {
    const handler = await routerConfig({ route: { timeout: "0s" } });
    const { res, text } = await send(handler, "/t", { headers: { "x-echo-delay-ms": "50" } });
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]).toBeUndefined();
  });

  it("tells the upstream how long it has in x-envoy-expected-rq-timeout-ms", async () => {
    const handler = await routerConfig({ route: { timeout: "2s" } });
    const { text } = await send(handler, "/t");
    const expected = Number((JSON.parse(text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]);
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThanOrEqual(2000);
    const perTry = await routerConfig({ route: { timeout: "2s", retry_policy: { retry_on: "5xx", per_try_timeout: "0.5s" } } });
    expect((JSON.parse((await send(perTry, "/t")).text) as Echo).headers["x-envoy-expected-rq-timeout-ms"]).toBe("500");
  });
});

describe("per-try timeout", () => {
  it("retries an attempt that timed out under 5xx, then answers 504 UT with URX when retries run out", async () => {
    const handler = await routerConfig({ route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.1s", retry_back_off: FAST } } });
    const k = key();
    const { res, text } = await send(handler, "/p", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(504);
    expect(text).toBe("upstream request timeout");
    expect(res.headers.get("x-legate-response-flags")).toBe("UT,URX");
    expect((await echoCount(k)).count).toBe(2);
    expectStats(handler, {
      "cluster.up.upstream_rq_per_try_timeout": 2,
      "cluster.up.upstream_rq_retry": 1,
      "cluster.up.upstream_rq_retry_limit_exceeded": 1,
      "cluster.up.upstream_rq_tx_reset": 2,
      "cluster.up.upstream_rq_timeout": 0,
    });
  });

  it("is not retried when retry_on has no 5xx, gateway-error or reset", async () => {
    const handler = await routerConfig({ route: { retry_policy: { retry_on: "retriable-4xx", per_try_timeout: "0.1s" } } });
    const k = key();
    const { res } = await send(handler, "/p", { headers: { "x-echo-key": k, "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(504);
    expect(res.headers.get("x-legate-response-flags")).toBe("UT");
    expect((await echoCount(k)).count).toBe(1);
  });

  it("per_try_idle_timeout resets a response body that stalls", async () => {
    const handler = await routerConfig({ route: { retry_policy: { retry_on: "5xx", per_try_idle_timeout: "0.1s" } } });
    const res = await call(handler, new Request("http://front.example/p", { headers: { "x-echo-body-delay-ms": "600" } }));
    expect(res.status).toBe(200);
    expect(await readUntilReset(res)).toBeDefined();
    await settle();
    expect(stat(handler, "cluster.up.upstream_rq_per_try_idle_timeout")).toBe(1);
  });
});

describe("idle_timeout and max_stream_duration", () => {
  it("answers 408 SI 'stream timeout' when the stream idles before response headers", async () => {
    const handler = await routerConfig({ route: { idle_timeout: "0.1s" } });
    const { res, text } = await send(handler, "/i", { headers: { "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(408);
    expect(res.headers.get("x-legate-response-flags")).toBe("SI");
    expect(text).toBe("stream timeout");
    expect(stat(handler, "http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
  });

  it("resets a response body that idles", async () => {
    const handler = await routerConfig({ route: { idle_timeout: "0.1s" } });
    const res = await call(handler, new Request("http://front.example/i", { headers: { "x-echo-body-delay-ms": "600" } }));
    expect(res.status).toBe(200);
    expect(await readUntilReset(res)).toBeDefined();
    await settle();
    expect(stat(handler, "http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
  });

  it("answers 408 DT when max_stream_duration elapses first", async () => {
    const handler = await routerConfig({ route: { max_stream_duration: { max_stream_duration: "0.1s" } } });
    const { res, text } = await send(handler, "/m", { headers: { "x-echo-delay-ms": "600" } });
    expect(res.status).toBe(408);
    expect(res.headers.get("x-legate-response-flags")).toBe("DT");
    expect(text).toBe("downstream duration timeout");
    expect(stat(handler, "http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
  });
});

describe("hedging (hedge_on_per_try_timeout)", () => {
  it("keeps the first attempt on a per-try timeout, races a second, and cancels the loser", async () => {
    const handler = await routerConfig({
      vhost: { include_request_attempt_count: true },
      route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: "0.1s", retry_back_off: FAST }, hedge_policy: { hedge_on_per_try_timeout: true } },
    });
    const k = key();
    // Both attempts take 300 ms: without hedging the first would be reset at 100 ms and the second too
    // (504). With hedging the first keeps going and answers first (it started 100 ms earlier).
    const { res, text } = await send(handler, "/h", { headers: { "x-echo-key": k, "x-echo-delay-ms": "300" } });
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as Echo).headers["x-envoy-attempt-count"]).toBe("1");
    expect((await echoCount(k)).count).toBe(2);
    expectStats(handler, { "cluster.up.upstream_rq_per_try_timeout": 2, "cluster.up.upstream_rq_retry": 1, "cluster.up.upstream_rq_tx_reset": 1, "cluster.up.upstream_rq_200": 1 });
  });

  it("waits for the first attempt when no retry is left to hedge with", async () => {
    const handler = await routerConfig({
      route: { timeout: "3s", retry_policy: { retry_on: "5xx", num_retries: 0, per_try_timeout: "0.1s" }, hedge_policy: { hedge_on_per_try_timeout: true } },
    });
    const k = key();
    const { res } = await send(handler, "/h", { headers: { "x-echo-key": k, "x-echo-delay-ms": "250" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-legate-response-flags")).toBe("URX");
    expect((await echoCount(k)).count).toBe(1);
  });
});
