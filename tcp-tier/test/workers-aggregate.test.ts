/**
 * The primary's folding of worker reports into process-wide stats (tcp-tier/src/workers/aggregate.ts):
 * counters by increase (kept when a worker goes), gauges summed or taken once, histograms exact.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_BUCKETS, StatsStore } from "../../shared/stats/store.ts";
import { gaugeMerge, perHandlerName, StatsAggregator } from "../src/workers/aggregate.ts";
import type { StatsReport } from "../src/workers/protocol.ts";

function report(r: Partial<StatsReport>): StatsReport {
  return { t: "report", counters: [], gauges: [], histograms: [], clusters: [], listeners: [], memory: { heapUsed: 1, heapTotal: 2, rss: 3 }, ...r };
}

function bucketsOf(samples: number[]): number[] {
  return DEFAULT_BUCKETS.map((b) => samples.filter((v) => v <= b).length);
}

describe("StatsAggregator", () => {
  it("adds counter increases, keeps a gone worker's counts, and survives a counter reset", () => {
    const stats = new StatsStore();
    const agg = new StatsAggregator(stats);
    agg.apply(1, 0, report({ counters: [["tcp.p.downstream_cx_total", 3]] }));
    agg.apply(2, 1, report({ counters: [["tcp.p.downstream_cx_total", 4]] }));
    agg.apply(1, 0, report({ counters: [["tcp.p.downstream_cx_total", 5]] }));
    expect(stats.values().get("tcp.p.downstream_cx_total")).toBe(9);
    agg.remove(2, 1);
    // Worker 1's replacement counts from 0 again: the sum goes on from 9.
    agg.apply(3, 1, report({ counters: [["tcp.p.downstream_cx_total", 1]] }));
    expect(stats.values().get("tcp.p.downstream_cx_total")).toBe(10);
    stats.resetCounters();
    agg.apply(1, 0, report({ counters: [["tcp.p.downstream_cx_total", 7]] }));
    expect(stats.values().get("tcp.p.downstream_cx_total")).toBe(2);
  });

  it("sums connection gauges, takes config gauges once, drops a gone worker's gauges", () => {
    const stats = new StatsStore();
    const agg = new StatsAggregator(stats);
    const gauges = (active: number): [string, number][] => [
      ["listener.127.0.0.1_80.downstream_cx_active", active],
      ["listener_manager.total_listeners_active", 2],
      ["cluster.up.membership_total", 3],
      ["cluster.up.circuit_breakers.default.remaining_cx", 1000 - active],
      ["cluster.up.circuit_breakers.default.cx_open", active > 5 ? 1 : 0],
    ];
    agg.apply(1, 0, report({ gauges: gauges(2) }));
    agg.apply(2, 1, report({ gauges: gauges(7) }));
    const v = stats.values();
    expect(v.get("listener.127.0.0.1_80.downstream_cx_active")).toBe(9);
    expect(v.get("listener_manager.total_listeners_active")).toBe(2);
    expect(v.get("cluster.up.membership_total")).toBe(3);
    expect(v.get("cluster.up.circuit_breakers.default.remaining_cx")).toBe(993);
    expect(v.get("cluster.up.circuit_breakers.default.cx_open")).toBe(1);
    expect(v.get("listener.127.0.0.1_80.worker_0.downstream_cx_active")).toBe(2);
    expect(v.get("listener.127.0.0.1_80.worker_1.downstream_cx_active")).toBe(7);
    agg.remove(2, 1);
    expect(stats.values().get("listener.127.0.0.1_80.downstream_cx_active")).toBe(2);
    expect(stats.values().get("listener.127.0.0.1_80.worker_1.downstream_cx_active")).toBe(0);
    expect(agg.memory()).toEqual({ heapUsed: 1, heapTotal: 2, rss: 3 });
  });

  it("merges histogram increases exactly, also beyond the samples sent", () => {
    const stats = new StatsStore();
    const agg = new StatsAggregator(stats);
    const recorded: number[] = [];
    stats.onHistogramSample((_h, v) => recorded.push(v));
    const all = [0.7, 3, 40, 700, 2000];
    // Five samples happened in the worker; only the first two travelled.
    agg.apply(1, 0, report({ histograms: [{ name: "cluster.up.upstream_cx_length_ms", count: 5, sum: all.reduce((a, b) => a + b), buckets: bucketsOf(all), samples: all.slice(0, 2) }] }));
    agg.apply(2, 1, report({ histograms: [{ name: "cluster.up.upstream_cx_length_ms", count: 1, sum: 8, buckets: bucketsOf([8]), samples: [8] }] }));
    const h = stats.snapshot().histograms.find((x) => x.name === "cluster.up.upstream_cx_length_ms")!;
    expect(h.count).toBe(6);
    expect(h.sum).toBeCloseTo(2751.7);
    expect([...h.bucketCounts]).toEqual(bucketsOf([...all, 8]));
    // The samples that travelled reach the statsd listener as timers.
    expect(recorded).toEqual([0.7, 3, 8]);
  });

  it("sums per-host connection figures over workers and keeps a gone worker's totals", () => {
    const stats = new StatsStore();
    const agg = new StatsAggregator(stats);
    const host = (cxActive: number, cxTotal: number, failed = false) => ({
      hostPort: "127.0.0.1:9",
      address: "127.0.0.1",
      port: 9,
      addressString: "127.0.0.1:9",
      hostname: "",
      healthFlags: failed ? "/failed_active_hc" : "healthy",
      weight: 1,
      cxActive,
      cxConnectFail: 0,
      cxTotal,
      failedActiveHc: failed,
      failedOutlierCheck: false,
      priority: 1,
      locality: { region: "eu", zone: "a", subZone: "" },
    });
    agg.apply(1, 0, report({ clusters: [{ name: "up", hosts: [host(1, 5)] }] }));
    agg.apply(2, 1, report({ clusters: [{ name: "up", hosts: [host(2, 6, true)] }] }));
    const models = new Map([["up", { name: "up" }]]) as unknown as Parameters<StatsAggregator["clusters"]>[0];
    const [c] = agg.clusters(models);
    expect(c!.hosts).toHaveLength(1);
    expect(c!.hosts[0]).toMatchObject({ cxActive: 3, cxTotal: 11, healthFlags: "/failed_active_hc", priority: 1, locality: { region: "eu", zone: "a" } });
    // What the primary publishes to KV: the same merge, failed when any worker's checker says so.
    expect(agg.healthSources(models)).toEqual([{ name: "up", model: { name: "up" }, hosts: [{ hostPort: "127.0.0.1:9", failedActiveHc: true }] }]);
    agg.remove(2, 1);
    expect(agg.clusters(models)[0]!.hosts[0]).toMatchObject({ cxActive: 1, cxTotal: 11, healthFlags: "healthy" });
    expect(agg.healthSources(models)[0]!.hosts).toEqual([{ hostPort: "127.0.0.1:9", failedActiveHc: false }]);
  });

  it("names Envoy's per-handler listener stats and classifies gauges", () => {
    expect(perHandlerName("listener.0.0.0.0_80.downstream_cx_total", 3)).toBe("listener.0.0.0.0_80.worker_3.downstream_cx_total");
    expect(perHandlerName("listener.admin.downstream_cx_total", 0)).toBeUndefined();
    expect(perHandlerName("listener.0.0.0.0_80.worker_1.downstream_cx_total", 0)).toBeUndefined();
    expect(perHandlerName("tcp.p.downstream_cx_total", 0)).toBeUndefined();
    expect(gaugeMerge("server.total_connections")).toBe("sum");
    expect(gaugeMerge("cluster.up.upstream_cx_active")).toBe("sum");
    expect(gaugeMerge("cluster_manager.active_clusters")).toBe("max");
    expect(gaugeMerge("cluster.up.circuit_breakers.high.remaining_pending")).toBe("min");
  });
});
