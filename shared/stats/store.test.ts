import { describe, expect, it } from "vitest";
import { extractTags, StatsStore } from "./store.ts";

describe("StatsStore", () => {
  it("renders Envoy's text format sorted, with scopes and usedonly", () => {
    const s = new StatsStore();
    const cluster = s.scope("cluster.backend.");
    cluster.counter("upstream_rq_total").inc(3);
    cluster.gauge("upstream_cx_active").set(2);
    s.counter("listener.0.0.0.0_10000.downstream_cx_total");
    expect(s.textFormat()).toBe(
      "cluster.backend.upstream_cx_active: 2\ncluster.backend.upstream_rq_total: 3\nlistener.0.0.0.0_10000.downstream_cx_total: 0\n",
    );
    expect(s.textFormat(/^listener\./, true)).toBe("");
    expect(s.textFormat(/rq_total/)).toBe("cluster.backend.upstream_rq_total: 3\n");
  });

  it("renders histograms as quantiles, or No recorded values", () => {
    const s = new StatsStore();
    const h = s.histogram("cluster.a.upstream_rq_time");
    s.histogram("cluster.b.upstream_rq_time");
    for (let i = 1; i <= 100; i++) h.record(i);
    const text = s.textFormat();
    expect(text).toContain("cluster.a.upstream_rq_time: P0(1,1) P25(25,25) P50(50,50)");
    expect(text).toContain("P100(100,100)");
    expect(text).toContain("cluster.b.upstream_rq_time: No recorded values");
  });

  it("renders Envoy's JSON format with histograms", () => {
    const s = new StatsStore();
    s.counter("cluster.a.upstream_rq_total").inc();
    s.histogram("cluster.a.upstream_rq_time").record(7);
    const j = s.jsonFormat() as { stats: Array<Record<string, unknown>> };
    expect(j.stats[0]).toEqual({ name: "cluster.a.upstream_rq_total", value: 1 });
    const hist = j.stats[1]!.histograms as { supported_quantiles: number[]; computed_quantiles: { name: string; values: { cumulative: number | null }[] }[] };
    expect(hist.supported_quantiles).toEqual([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    expect(hist.computed_quantiles[0]!.name).toBe("cluster.a.upstream_rq_time");
    expect(hist.computed_quantiles[0]!.values[2]!.cumulative).toBe(7);
  });

  it("renders Prometheus with Envoy's tag extraction and cumulative buckets", () => {
    const s = new StatsStore();
    s.counter("cluster.my.svc.upstream_rq_total").inc(5);
    s.counter("listener.127.0.0.1_10000.downstream_cx_total").inc(1);
    s.counter("tcp.ingress_tcp.downstream_cx_total").inc(2);
    const h = s.histogram("cluster.x.upstream_rq_time");
    h.record(3);
    h.record(700);
    const p = s.prometheusFormat();
    expect(p).toContain("# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name=\"my.svc\"} 5");
    expect(p).toContain('envoy_listener_downstream_cx_total{envoy_listener_address="127.0.0.1_10000"} 1');
    expect(p).toContain('envoy_tcp_downstream_cx_total{envoy_tcp_prefix="ingress_tcp"} 2');
    expect(p).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="x",le="1"} 0');
    expect(p).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="x",le="5"} 1');
    expect(p).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="x",le="1000"} 2');
    expect(p).toContain('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="x",le="+Inf"} 2');
    expect(p).toContain('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="x"} 703');
    // Every sample line is `name{labels} value`.
    for (const line of p.trim().split("\n")) expect(line).toMatch(/^(# TYPE \w+ (counter|gauge|histogram)|\w+(\{[^}]*\})? -?[\d.e+]+)$/);
  });

  it("leaves names without a known tag alone", () => {
    expect(extractTags("server.uptime")).toEqual({ metric: "envoy_server_uptime", labels: "" });
  });
});
