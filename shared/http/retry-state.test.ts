/**
 * Retry decisions in isolation: conditions, limits, breakers, back-off bounds and the request
 * controls of trusted clients. (The router's behaviour against real upstreams is in
 * shared/http/router.test.ts and edge/test/router-*.test.ts.)
 */
import { describe, expect, it } from "vitest";
import type { RetryPolicyModel } from "../config/model.ts";
import { StatsStore } from "../stats/store.ts";
import { ExponentialBackoff, rateLimitedBackoffMs } from "./backoff.ts";
import { takeRequestControls } from "./request-controls.ts";
import { compileRetryPolicy, GRPC_RETRY_ON, HTTP_RETRY_ON, parseRetryOn, RETRY_ON } from "./retry-policy.ts";
import { createRetryState, type RetryBreakers } from "./retry-state.ts";
import { RouterClusterStats } from "./router-stats.ts";

function policy(over: Partial<RetryPolicyModel> = {}): RetryPolicyModel {
  return { retryOn: ["5xx"], numRetries: 1, retriableStatusCodes: [], retriableHeaders: [], retriableRequestHeaders: [], previousHosts: false, hostSelectionRetryMaxAttempts: 1, ...over };
}

/** A retry breaker with a fixed number of slots. */
function breakers(slots: number): RetryBreakers & { held: number } {
  return {
    held: 0,
    tryAcquireRetry() {
      if (this.held >= slots) return false;
      this.held++;
      return true;
    },
    releaseRetry() {
      this.held--;
    },
  };
}

const request = { method: "GET", authority: "a.example", path: "/", requestHeaders: new Headers() };

function state(p: RetryPolicyModel | undefined, b = breakers(10), controls?: ReturnType<typeof takeRequestControls>, req = request) {
  const stats = new StatsStore();
  const rs = new RouterClusterStats(stats.scope("cluster.c."));
  const s = createRetryState({ policy: p && compileRetryPolicy(p), controls, request: req, breakers: b, stats: rs, random: () => 0.5, epochNow: () => 1_000_000 });
  return { s, stats, b };
}

describe("retry conditions", () => {
  it("parses Envoy's condition names, trimming spaces, and lists the unknown ones", () => {
    expect(parseRetryOn("5xx, reset ,connect-failure", HTTP_RETRY_ON)).toEqual({ bits: RETRY_ON.FIVE_XX | RETRY_ON.RESET | RETRY_ON.CONNECT_FAILURE, unknown: [] });
    expect(parseRetryOn("5x,unavailable", HTTP_RETRY_ON).unknown).toEqual(["5x", "unavailable"]);
    expect(parseRetryOn("unavailable,cancelled", GRPC_RETRY_ON).bits).toBe(RETRY_ON.GRPC_UNAVAILABLE | RETRY_ON.GRPC_CANCELLED);
  });

  it("classifies responses as Envoy does", () => {
    const h = new Headers();
    const five = state(policy({ retryOn: ["5xx"] })).s!;
    expect([500, 503, 599, 404, 409].map((c) => five.wouldRetryFromHeaders(c, h))).toEqual([true, true, true, false, false]);
    const gw = state(policy({ retryOn: ["gateway-error"] })).s!;
    expect([500, 502, 503, 504].map((c) => gw.wouldRetryFromHeaders(c, h))).toEqual([false, true, true, true]);
    const r4 = state(policy({ retryOn: ["retriable-4xx"] })).s!;
    expect([409, 408, 429].map((c) => r4.wouldRetryFromHeaders(c, h))).toEqual([true, false, false]);
    const codes = state(policy({ retryOn: ["retriable-status-codes"], retriableStatusCodes: [418, 429] })).s!;
    expect([418, 429, 503].map((c) => codes.wouldRetryFromHeaders(c, h))).toEqual([true, true, false]);
    // Never retry an overloaded answer; x-envoy-ratelimited only under envoy-ratelimited.
    expect(five.wouldRetryFromHeaders(503, new Headers({ "x-envoy-overloaded": "true" }))).toBe(false);
    expect(five.wouldRetryFromHeaders(503, new Headers({ "x-envoy-ratelimited": "true" }))).toBe(false);
    const rl = state(policy({ retryOn: ["envoy-ratelimited"] })).s!;
    expect(rl.wouldRetryFromHeaders(429, new Headers({ "x-envoy-ratelimited": "true" }))).toBe(true);
  });

  it("retries gRPC statuses from the grpc-status response header", () => {
    const s = state(policy({ retryOn: ["unavailable", "resource-exhausted"] })).s!;
    expect(s.wouldRetryFromHeaders(200, new Headers({ "grpc-status": "14" }))).toBe(true);
    expect(s.wouldRetryFromHeaders(200, new Headers({ "grpc-status": "8" }))).toBe(true);
    expect(s.wouldRetryFromHeaders(200, new Headers({ "grpc-status": "13" }))).toBe(false);
    expect(s.wouldRetryFromHeaders(200, new Headers())).toBe(false);
  });

  it("retries resets under 5xx, gateway-error and reset; connect failures also under connect-failure and reset-before-request", () => {
    for (const on of ["5xx", "gateway-error", "reset"]) {
      const s = state(policy({ retryOn: [on] })).s!;
      expect([s.wouldRetryFromReset("connect_failure"), s.wouldRetryFromReset("remote_reset"), s.wouldRetryFromReset("timeout"), s.wouldRetryFromReset("overflow")]).toEqual([true, true, true, false]);
    }
    for (const on of ["connect-failure", "reset-before-request"]) {
      const s = state(policy({ retryOn: [on] })).s!;
      expect([s.wouldRetryFromReset("connect_failure"), s.wouldRetryFromReset("remote_reset"), s.wouldRetryFromReset("timeout")]).toEqual([true, false, false]);
    }
  });

  it("matches retriable_headers on the response and retriable_request_headers on the request", () => {
    const p = policy({
      retryOn: ["retriable-headers"],
      retriableHeaders: [{ name: "x-try-again", match: { kind: "present", present: true }, invertMatch: false, treatMissingHeaderAsEmpty: false }],
      retriableRequestHeaders: [{ name: ":method", match: { kind: "string", matcher: { kind: "exact", value: "GET", ignoreCase: false } }, invertMatch: false, treatMissingHeaderAsEmpty: false }],
    });
    const s = state(p).s!;
    expect(s.wouldRetryFromHeaders(200, new Headers({ "x-try-again": "1" }))).toBe(true);
    expect(s.wouldRetryFromHeaders(503, new Headers())).toBe(false);
    expect(state(p, breakers(10), undefined, { ...request, method: "POST" }).s).toBeUndefined();
  });
});

describe("retry limits and breakers", () => {
  it("counts retries, the limit (URX) and success", () => {
    const { s, stats } = state(policy({ numRetries: 2 }));
    expect(s!.shouldRetry(true)).toBe("yes");
    expect(s!.shouldRetry(true)).toBe("yes");
    expect(s!.shouldRetry(true)).toBe("limit_exceeded");
    const v = stats.values();
    expect(v.get("cluster.c.upstream_rq_retry")).toBe(2);
    expect(v.get("cluster.c.upstream_rq_retry_limit_exceeded")).toBe(1);
    const ok = state(policy());
    expect(ok.s!.shouldRetry(true)).toBe("yes");
    expect(ok.s!.shouldRetry(false)).toBe("no");
    expect(ok.stats.values().get("cluster.c.upstream_rq_retry_success")).toBe(1);
  });

  it("holds one retry slot from a retry until its outcome, and refuses a retry when the breaker is full", () => {
    const b = breakers(1);
    const { s } = state(policy({ numRetries: 5 }), b);
    expect(s!.shouldRetry(true)).toBe("yes");
    expect(b.held).toBe(1);
    // The next outcome releases the slot before deciding again.
    expect(s!.shouldRetry(true)).toBe("yes");
    expect(b.held).toBe(1);
    s!.release();
    expect(b.held).toBe(0);
    const full = breakers(0);
    expect(state(policy(), full).s!.shouldRetry(true)).toBe("overflow");
  });

  it("has no state at all without a condition", () => {
    expect(state(undefined).s).toBeUndefined();
    expect(state(policy({ retryOn: [] })).s).toBeUndefined();
  });
});

describe("back-off", () => {
  it("keeps retry N within [0, (2^N - 1) x base), capped at max", () => {
    for (const r of [0, 0.3, 0.999999]) {
      const b = new ExponentialBackoff(25, 250, () => r);
      const waits = Array.from({ length: 6 }, () => b.next());
      const limits = [25, 75, 175, 250, 250, 250];
      waits.forEach((w, i) => {
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThanOrEqual(limits[i]!);
        if (limits[i]! < 250) expect(w).toBeLessThan(limits[i]!);
      });
      if (r === 0) expect(waits).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  it("takes the rate-limited interval from the first usable reset header, jittered up to 1.5x", () => {
    const p = { resetHeaders: [{ name: "retry-after", format: "SECONDS" as const }, { name: "x-ratelimit-reset", format: "UNIX_TIMESTAMP" as const }], maxMs: 300_000 };
    expect(rateLimitedBackoffMs(p, new Headers({ "retry-after": "2" }), 0, () => 0)).toBe(2000);
    expect(rateLimitedBackoffMs(p, new Headers({ "retry-after": "2" }), 0, () => 0.999)).toBeLessThan(3000);
    // Over max_interval: skipped for the next header (a time 5 s from now).
    expect(rateLimitedBackoffMs(p, new Headers({ "retry-after": "9999", "x-ratelimit-reset": "1005" }), 1_000_000, () => 0)).toBe(5000);
    expect(rateLimitedBackoffMs(p, new Headers({ "retry-after": "soon" }), 0, () => 0)).toBeUndefined();
  });

  it("counts which back-off a retry used", () => {
    const p = policy({ rateLimitedBackOff: { resetHeaders: [{ name: "retry-after", format: "SECONDS" }], maxMs: 300_000 } });
    const { s, stats } = state(p);
    expect(s!.backoffMs(new Headers({ "retry-after": "1" }))).toBeGreaterThanOrEqual(1000);
    expect(s!.backoffMs(new Headers())).toBeLessThan(25);
    expect(stats.values().get("cluster.c.upstream_rq_retry_backoff_ratelimited")).toBe(1);
    expect(stats.values().get("cluster.c.upstream_rq_retry_backoff_exponential")).toBe(1);
  });
});

describe("request controls", () => {
  const all = {
    "x-envoy-retry-on": "5xx,bogus",
    "x-envoy-retry-grpc-on": "unavailable",
    "x-envoy-max-retries": "3",
    "x-envoy-upstream-rq-timeout-ms": "250",
    "x-envoy-upstream-rq-per-try-timeout-ms": "100",
    "x-envoy-hedge-on-per-try-timeout": "true",
    "x-envoy-retriable-status-codes": "418, 425",
    "x-envoy-retriable-header-names": "X-Retry-Me",
    "x-envoy-expected-rq-timeout-ms": "5",
    "x-other": "kept",
  };

  it("reads a trusted client's controls and removes them", () => {
    const h = new Headers(all);
    expect(takeRequestControls(h, true)).toEqual({
      retryOn: RETRY_ON.FIVE_XX | RETRY_ON.GRPC_UNAVAILABLE,
      maxRetries: 3,
      timeoutMs: 250,
      perTryTimeoutMs: 100,
      hedgeOnPerTryTimeout: true,
      retriableStatusCodes: [418, 425],
      retriableHeaderNames: ["x-retry-me"],
      timeoutAltResponse: false,
    });
    expect([...h.keys()]).toEqual(["x-other"]);
  });

  it("ignores an untrusted client's controls, and removes them too", () => {
    const h = new Headers(all);
    expect(takeRequestControls(h, false)).toBeUndefined();
    expect([...h.keys()]).toEqual(["x-other"]);
  });

  it("x-envoy-max-retries replaces num_retries; x-envoy-retriable-status-codes adds codes", () => {
    const controls = takeRequestControls(new Headers({ "x-envoy-max-retries": "0", "x-envoy-retriable-status-codes": "418" }), true);
    const { s } = state(policy({ retryOn: ["retriable-status-codes"], numRetries: 5 }), breakers(10), controls);
    expect(s!.wouldRetryFromHeaders(418, new Headers())).toBe(true);
    expect(s!.shouldRetry(true)).toBe("limit_exceeded");
  });
});

describe("shadow Host", () => {
  it("appends -shadow to the host part, before any port", async () => {
    const { shadowAuthority } = await import("./upstream-request.ts");
    expect(shadowAuthority("foo.com")).toBe("foo.com-shadow");
    expect(shadowAuthority("foo.com:8080")).toBe("foo.com-shadow:8080");
    expect(shadowAuthority("[::1]:80")).toBe("[::1]-shadow:80");
  });
});
