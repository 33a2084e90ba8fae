import { describe, expect, it } from "vitest";
import type { CircuitBreakerThresholdsModel } from "../config/model.ts";
import { createStaticRuntime } from "../runtime/runtime.ts";
import { StatsStore } from "../stats/store.ts";
import { CircuitBreakers, DEFAULT_THRESHOLDS } from "./circuit-breakers.ts";
import { ClusterRuntime } from "./cluster.ts";
import { clusterModel, endpoint } from "./test-helpers.ts";

const th = (over: Partial<CircuitBreakerThresholdsModel> = {}): CircuitBreakerThresholdsModel => ({ ...DEFAULT_THRESHOLDS, ...over });

function setup(def: Partial<CircuitBreakerThresholdsModel>, high: Partial<CircuitBreakerThresholdsModel> = {}, runtime?: ReturnType<typeof createStaticRuntime>) {
  const stats = new StatsStore();
  const cb = new CircuitBreakers({ DEFAULT: th(def), HIGH: th(high) }, "c", stats.scope("cluster.c."), runtime);
  const v = (name: string) => stats.values().get(`cluster.c.${name}`);
  return { cb, v };
}

describe("CircuitBreakers", () => {
  it("refuses requests over max_requests, counting upstream_rq_pending_overflow and flipping rq_open", () => {
    const { cb, v } = setup({ maxRequests: 2 });
    expect(cb.tryAcquireRequest()).toBe(true);
    expect(v("circuit_breakers.default.rq_open")).toBe(0);
    expect(cb.tryAcquireRequest()).toBe(true);
    expect(v("circuit_breakers.default.rq_open")).toBe(1);
    expect(cb.tryAcquireRequest()).toBe(false);
    expect(v("upstream_rq_pending_overflow")).toBe(1);
    cb.releaseRequest();
    expect(v("circuit_breakers.default.rq_open")).toBe(0);
    expect(cb.tryAcquireRequest()).toBe(true);
  });

  it("keeps priorities apart: HIGH has its own counts and limits", () => {
    const { cb, v } = setup({ maxRequests: 1 }, { maxRequests: 3 });
    expect(cb.tryAcquireRequest("DEFAULT")).toBe(true);
    expect(cb.tryAcquireRequest("DEFAULT")).toBe(false);
    for (let i = 0; i < 3; i++) expect(cb.tryAcquireRequest("HIGH")).toBe(true);
    expect(cb.tryAcquireRequest("HIGH")).toBe(false);
    expect(v("circuit_breakers.high.rq_open")).toBe(1);
    expect(v("upstream_rq_pending_overflow")).toBe(2);
  });

  it("pending, connection and retry limits each count their own overflow stat", () => {
    const { cb, v } = setup({ maxPendingRequests: 1, maxConnections: 1, maxRetries: 1 });
    expect(cb.tryAcquirePending()).toBe(true);
    expect(cb.tryAcquirePending()).toBe(false);
    expect(v("upstream_rq_pending_overflow")).toBe(1);
    expect(v("circuit_breakers.default.rq_pending_open")).toBe(1);
    expect(cb.tryAcquireConnection()).toBe(true);
    expect(cb.tryAcquireConnection()).toBe(false);
    expect(v("upstream_cx_overflow")).toBe(1);
    expect(v("circuit_breakers.default.cx_open")).toBe(1);
    expect(cb.tryAcquireRetry()).toBe(true);
    expect(cb.tryAcquireRetry()).toBe(false);
    expect(v("upstream_rq_retry_overflow")).toBe(1);
    expect(v("circuit_breakers.default.rq_retry_open")).toBe(1);
    cb.releaseRetry();
    expect(v("circuit_breakers.default.rq_retry_open")).toBe(0);
  });

  it("publishes remaining_* gauges only with track_remaining", () => {
    const { cb, v } = setup({ maxRequests: 5, trackRemaining: true });
    expect(v("circuit_breakers.default.remaining_rq")).toBe(5);
    cb.tryAcquireRequest();
    expect(v("circuit_breakers.default.remaining_rq")).toBe(4);
    expect(v("circuit_breakers.default.remaining_cx")).toBe(1024);
    expect(v("circuit_breakers.default.remaining_pending")).toBe(1024);
    expect(v("circuit_breakers.default.remaining_retries")).toBe(3);
    expect(v("circuit_breakers.high.remaining_rq")).toBeUndefined();
  });

  it("a retry budget allows budget_percent of active + pending requests, never fewer than min_retry_concurrency", () => {
    const { cb } = setup({ retryBudget: { budgetPercent: 25, minRetryConcurrency: 2 }, maxRetries: 0 });
    expect(cb.resources().retries.limit).toBe(2);
    for (let i = 0; i < 12; i++) cb.tryAcquireRequest();
    for (let i = 0; i < 4; i++) cb.tryAcquirePending();
    expect(cb.resources().retries.limit).toBe(4); // 25 % of 16
    for (let i = 0; i < 4; i++) expect(cb.tryAcquireRetry()).toBe(true);
    expect(cb.tryAcquireRetry()).toBe(false);
  });

  it("reads runtime overrides circuit_breakers.<cluster>.<priority>.max_*", () => {
    const runtime = createStaticRuntime(new Map([["circuit_breakers.c.default.max_requests", 1]]));
    const { cb } = setup({ maxRequests: 100 }, {}, runtime);
    expect(cb.tryAcquireRequest()).toBe(true);
    expect(cb.tryAcquireRequest()).toBe(false);
  });
});

describe("ClusterRuntime.startAttempt", () => {
  it("admits up to the limits, releases pending slots on headers and everything on end (idempotent)", () => {
    const stats = new StatsStore();
    const c = new ClusterRuntime(clusterModel("c", [endpoint(1)], { circuitBreakers: { DEFAULT: th({ maxRequests: 2, maxPendingRequests: 1 }), HIGH: th() } }), stats);
    const host = c.chooseHost()!;
    const first = c.startAttempt(host)!;
    expect(first).toBeDefined();
    expect(host.activeRequests).toBe(1);
    expect(c.startAttempt(host)).toBeUndefined(); // one attempt is waiting for headers
    expect(c.lastOverflow).toBe("max_pending_requests");
    first.onHeaders(200);
    const second = c.startAttempt(host)!;
    second.onHeaders(200);
    expect(c.startAttempt(host)).toBeUndefined(); // two requests in flight
    expect(c.lastOverflow).toBe("max_requests");
    first.end();
    first.end();
    expect(host.activeRequests).toBe(1);
    const third = c.startAttempt(host)!;
    third.onFailure({ kind: "connect_failure" });
    second.end();
    expect(host.activeRequests).toBe(0);
    expect(c.breakers.resources().requests.count).toBe(0);
    expect(c.breakers.resources().pending.count).toBe(0);
    expect(c.breakers.resources().connections.count).toBe(0);
    expect([host.rqTotal, host.rqSuccess, host.rqError, host.cxConnectFail]).toEqual([3, 2, 1, 1]);
    expect(stats.values().get("cluster.c.upstream_rq_pending_overflow")).toBe(2);
  });

  it("refuses with max_connections first (upstream_cx_overflow)", () => {
    const stats = new StatsStore();
    const c = new ClusterRuntime(clusterModel("c", [endpoint(1)], { circuitBreakers: { DEFAULT: th({ maxConnections: 1 }), HIGH: th() } }), stats);
    const host = c.chooseHost()!;
    expect(c.startAttempt(host)).toBeDefined();
    expect(c.startAttempt(host)).toBeUndefined();
    expect(c.lastOverflow).toBe("max_connections");
    expect(stats.values().get("cluster.c.upstream_cx_overflow")).toBe(1);
    expect(c.startAttempt(host, "HIGH")).toBeDefined();
  });
});
