/**
 * request_mirror_policies through the edge Worker: the shadow reaches its cluster (counted there and in
 * its stats), and nothing about it reaches the primary. What the shadow carries (`-shadow` Host, body)
 * is checked in shared/http/router.test.ts, where the test server can record it.
 */
import { describe, expect, it } from "vitest";
import { type Echo, ports } from "./helpers.ts";
import { awaitEchoCount, echoCount, key, routerConfig, send, stat } from "./router-helpers.ts";

describe("request mirroring", () => {
  it("sends a shadow copy to the mirror cluster with a -shadow Host, and answers from the primary", async () => {
    const handler = await routerConfig({ clusters: { up: [ports.a], shadow: [ports.b] }, route: { request_mirror_policies: [{ cluster: "shadow" }] } });
    const k = key();
    const { res, text } = await send(handler, "/m?q=1", { method: "POST", body: "mirrored body", headers: { "x-echo-key": k, host: "front.example:8080" } });
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as Echo).server).toBe("a");
    const seen = await awaitEchoCount(k, 2);
    expect(seen.servers).toEqual({ a: 1, b: 1 });
    // The shadow's answer is dropped by the router (its Host is checked in shared/http/router.test.ts).
    for (let i = 0; i < 100 && stat(handler, "cluster.shadow.upstream_rq_200") === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stat(handler, "cluster.shadow.upstream_rq_total")).toBe(1);
    expect(stat(handler, "cluster.shadow.upstream_rq_200")).toBe(1);
    expect(stat(handler, "cluster.up.upstream_rq_200")).toBe(1);
  });

  it("never lets a failing shadow touch the primary response", async () => {
    const handler = await routerConfig({ clusters: { up: [ports.a], shadow: [ports.closed] }, route: { request_mirror_policies: [{ cluster: "shadow" }] } });
    const k = key();
    const { res, text } = await send(handler, "/m", { headers: { "x-echo-key": k } });
    expect(res.status).toBe(200);
    expect((JSON.parse(text) as Echo).server).toBe("a");
    for (let i = 0; i < 100 && stat(handler, "cluster.shadow.upstream_cx_connect_fail") === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(stat(handler, "cluster.shadow.upstream_cx_connect_fail")).toBe(1);
    expect(stat(handler, "cluster.shadow.upstream_rq_503")).toBe(1);
    expect(res.headers.get("x-legate-response-flags")).toBeNull();
  });

  it("does not mirror when runtime_fraction is 0, nor a body too large to buffer", async () => {
    const none = await routerConfig({
      clusters: { up: [ports.a], shadow: [ports.b] },
      route: { request_mirror_policies: [{ cluster: "shadow", runtime_fraction: { default_value: { numerator: 0 } } }] },
    });
    const k = key();
    await send(none, "/m", { headers: { "x-echo-key": k } });
    const big = await routerConfig({
      clusters: { up: [ports.a], shadow: [ports.b] },
      routeEntry: { per_request_buffer_limit_bytes: 8 },
      route: { request_mirror_policies: [{ cluster: "shadow" }] },
    });
    await send(big, "/m", { method: "POST", body: "more than eight bytes", headers: { "x-echo-key": k } });
    // Give any shadow the time it would need, then check none came.
    await awaitEchoCount(k, 3, 20);
    expect((await echoCount(k)).servers).toEqual({ a: 2 });
    expect(stat(big, "cluster.up.retry_or_shadow_abandoned")).toBe(1);
  });

  it("mirrors to the cluster a cluster_header names, and not when the header is missing", async () => {
    const handler = await routerConfig({ clusters: { up: [ports.a], shadow: [ports.c] }, route: { request_mirror_policies: [{ cluster_header: "x-mirror-cluster" }] } });
    const k = key();
    await send(handler, "/m", { headers: { "x-echo-key": k, "x-mirror-cluster": "shadow" } });
    await send(handler, "/m", { headers: { "x-echo-key": k } });
    await send(handler, "/m", { headers: { "x-echo-key": k, "x-mirror-cluster": "nowhere" } });
    expect((await awaitEchoCount(k, 4)).servers).toEqual({ a: 3, c: 1 });
  });
});
