/**
 * VirtualHost `virtual_clusters`: the first virtual cluster whose header matchers (`:method`, `:path`,
 * plain headers) all match names the request; the others of a host with virtual clusters count as
 * `other`. Their stats (`vhost.<vh>.vcluster.<vc>.upstream_rq_*`) and `%VIRTUAL_CLUSTER_NAME%`.
 */
import { describe, expect, it } from "vitest";
import { type Echo, type Json, routed, uniqueKey } from "../config.ts";
import type { ConformanceContext } from "../context.ts";
import { expectStats, FAST_BACK_OFF as FAST, send, statOr0 } from "../helpers.ts";

const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

const VIRTUAL_CLUSTERS: Json[] = [
  { name: "api_reads", headers: [{ name: ":method", string_match: { exact: "GET" } }, { name: ":path", string_match: { prefix: "/api/" } }] },
  { name: "writes", headers: [{ name: ":method", string_match: { exact: "POST" } }] },
  { name: "tagged", headers: [{ name: "x-tag", present_match: true }] },
];
const VC = "vhost.all.vcluster.";

export default function virtualClusters(ctx: ConformanceContext): void {
  const load = (route: Json = {}, extra: Parameters<typeof routed>[1] = {}) =>
    ctx.loadConfig(routed(ctx, { ...extra, route, vhost: { virtual_clusters: VIRTUAL_CLUSTERS } }));

  describe("selection and code stats", () => {
    it("charges the first matching virtual cluster, and `other` when none matches", async () => {
      await load();
      expect((await send(ctx, "/api/items")).res.status).toBe(200);
      // GET /api/ with x-tag: the first match (api_reads) wins over `tagged`.
      expect((await send(ctx, "/api/tagged", { headers: { "x-tag": "1" } })).res.status).toBe(200);
      expect((await send(ctx, "/api/items", { method: "POST", body: "x" })).res.status).toBe(200);
      expect((await send(ctx, "/web", { headers: { "x-tag": "1" } })).res.status).toBe(200);
      expect((await send(ctx, "/web", { headers: { "x-echo-status": "404" } })).res.status).toBe(404);
      await expectStats(ctx, {
        [`${VC}api_reads.upstream_rq_total`]: 2,
        [`${VC}api_reads.upstream_rq_200`]: 2,
        [`${VC}api_reads.upstream_rq_2xx`]: 2,
        [`${VC}api_reads.upstream_rq_completed`]: 2,
        [`${VC}writes.upstream_rq_total`]: 1,
        [`${VC}tagged.upstream_rq_total`]: 1,
        [`${VC}other.upstream_rq_total`]: 1,
        [`${VC}other.upstream_rq_404`]: 1,
        [`${VC}other.upstream_rq_4xx`]: 1,
        "cluster.up.upstream_rq_total": 5,
      });
    });

    it("has no virtual cluster stats on a host without virtual clusters", async () => {
      await ctx.loadConfig(routed(ctx));
      expect((await send(ctx, "/api/items")).res.status).toBe(200);
      await ctx.settle();
      expect(await ctx.stat(`${VC}other.upstream_rq_total`)).toBeUndefined();
    });

    it("matches on the request as received, before the route's path rewrite", async () => {
      await load({ prefix_rewrite: "/internal/" });
      expect((await send(ctx, "/api/x")).res.status).toBe(200);
      await expectStats(ctx, { [`${VC}api_reads.upstream_rq_total`]: 1 });
      expect(await statOr0(ctx, `${VC}other.upstream_rq_total`)).toBe(0);
    });
  });

  describe("retry and timeout stats", () => {
    it("counts retries and retry successes", async () => {
      await load({ retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: FAST } });
      const { res } = await send(ctx, "/api/r", { headers: { "x-echo-key": uniqueKey(), "x-echo-fail-times": "1" } });
      expect(res.status).toBe(200);
      await expectStats(ctx, {
        [`${VC}api_reads.upstream_rq_retry`]: 1,
        [`${VC}api_reads.upstream_rq_retry_success`]: 1,
        [`${VC}api_reads.upstream_rq_200`]: 1,
        "cluster.up.upstream_rq_retry": 1,
      });
    });

    it("counts retries past the limit, with the final code", async () => {
      await load({ retry_policy: { retry_on: "5xx", num_retries: 1, retry_back_off: FAST } });
      const { res } = await send(ctx, "/api/r", { headers: { "x-echo-key": uniqueKey(), "x-echo-fail-times": "5" } });
      expect(res.status).toBe(503);
      await expectStats(ctx, {
        [`${VC}api_reads.upstream_rq_retry`]: 1,
        [`${VC}api_reads.upstream_rq_retry_limit_exceeded`]: 1,
        [`${VC}api_reads.upstream_rq_503`]: 1,
        [`${VC}api_reads.upstream_rq_total`]: 1,
      });
    });

    it("counts retries the circuit breakers refuse", async () => {
      await load(
        { retry_policy: { retry_on: "5xx", num_retries: 2, retry_back_off: FAST } },
        { clusters: { up: { ports: [ctx.upstreamPorts[0]!], circuit_breakers: { thresholds: [{ max_retries: 0 }] } } } },
      );
      const { res } = await send(ctx, "/api/r", { headers: { "x-echo-key": uniqueKey(), "x-echo-fail-times": "5" } });
      expect(res.status).toBe(503);
      await expectStats(ctx, { [`${VC}api_reads.upstream_rq_retry_overflow`]: 1, "cluster.up.upstream_rq_retry_overflow": 1 });
      expect(await statOr0(ctx, `${VC}api_reads.upstream_rq_retry`)).toBe(0);
    });

    it("charges the 503 of a request the circuit breakers refuse", async () => {
      await load({}, { clusters: { up: { ports: [ctx.upstreamPorts[0]!], circuit_breakers: { thresholds: [{ max_requests: 0 }] } } } });
      const { res } = await send(ctx, "/api/o");
      expect(res.status).toBe(503);
      expect(res.headers.get("x-envoy-overloaded")).toBe("true");
      await expectStats(ctx, { [`${VC}api_reads.upstream_rq_total`]: 1, [`${VC}api_reads.upstream_rq_503`]: 1 });
    });

    it("counts route timeouts and charges the 504", async () => {
      await load({ timeout: "0.1s" });
      const { res } = await send(ctx, "/api/slow", { headers: { "x-echo-delay-ms": "600" } });
      expect(res.status).toBe(504);
      await expectStats(ctx, { [`${VC}api_reads.upstream_rq_timeout`]: 1, [`${VC}api_reads.upstream_rq_504`]: 1, [`${VC}api_reads.upstream_rq_5xx`]: 1 });
    });
  });

  describe("%VIRTUAL_CLUSTER_NAME%", () => {
    it("logs the virtual cluster's name, `other`, or - without virtual clusters", async () => {
      const accessLog = [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": STDOUT, log_format: { text_format_source: { inline_string: "%VIRTUAL_CLUSTER_NAME%\n" } } } }];
      await load({}, { hcm: { access_log: accessLog } });
      await send(ctx, "/api/a");
      await send(ctx, "/b", { method: "POST", body: "x" });
      await send(ctx, "/c");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual(["api_reads", "writes", "other"]);
      await ctx.loadConfig(routed(ctx, { hcm: { access_log: accessLog } }));
      await send(ctx, "/api/a");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual(["-"]);
    });

    it("is known to header mutations of the request and the response", async () => {
      const add = (key: string) => [{ header: { key, value: "vc=%VIRTUAL_CLUSTER_NAME%" } }];
      await ctx.loadConfig(routed(ctx, { vhost: { virtual_clusters: VIRTUAL_CLUSTERS, request_headers_to_add: add("x-vc"), response_headers_to_add: add("x-vc-out") } }));
      const { res, text } = await send(ctx, "/api/h");
      expect((JSON.parse(text) as Echo).headers["x-vc"]).toBe("vc=api_reads");
      expect(res.headers.get("x-vc-out")).toBe("vc=api_reads");
    });
  });
}
