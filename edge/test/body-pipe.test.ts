/**
 * The edge's native body pipe (edge/src/body-pipe.ts, shared/http/body-pipe.ts): with no limit that
 * watches a body's progress (here `stream_idle_timeout: 0s`), no access log and no encodeBody filter,
 * the response body goes from the upstream's fetch into a workerd FixedLengthStream /
 * IdentityTransformStream with no JS wrapper. It must behave as the JS path does: the body and its
 * length arrive whole, the stream completes (stats), the route timeout resets a body that outlasts it,
 * and an upstream lost mid-body resets the downstream body.
 */
import { describe, expect, it } from "vitest";
import { createEdgeHandler, type EdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type Echo, pushConfig, settle } from "./helpers.ts";

/** Envoy's JSON for one route to cluster `a` with `route` settings, no stream idle timeout. */
function config(route: Record<string, unknown> = {}) {
  return bootstrap({
    virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a", ...route } }] }],
    hcm: { stream_idle_timeout: "0s" },
  });
}

/**
 * Reads a body to its end or to its error, as the runtime does when it sends one (`arrayBuffer()`):
 * workerd reports a JS reader's read of an errored native stream as an unhandled rejection, but in
 * production the runtime, not JS, reads these bodies.
 */
async function readAll(res: Response): Promise<{ text: string; error: unknown }> {
  try {
    return { text: new TextDecoder().decode(await res.arrayBuffer()), error: undefined };
  } catch (e) {
    return { text: "", error: e };
  }
}

const stat = (h: EdgeHandler, name: string) => h.stats.counter(name).value;

describe("the native response body pipe", () => {
  it("passes a fixed-length body whole, with its Content-Length, and completes the stream", async () => {
    await pushConfig(config());
    const handler = createEdgeHandler();
    const big = "x".repeat(40_000);
    const res = await call(handler, new Request("http://front.example/pipe", { method: "POST", body: big }));
    expect(res.status).toBe(200);
    const length = res.headers.get("content-length");
    const { text, error } = await readAll(res);
    expect(error).toBeUndefined();
    expect(length).toBe(String(new TextEncoder().encode(text).byteLength));
    expect((JSON.parse(text) as Echo).body).toBe(big);
    await settle();
    expect(stat(handler, "http.ingress_http.downstream_rq_completed")).toBe(1);
    expect(handler.stats.gauge("http.ingress_http.downstream_rq_active").value).toBe(0);
    expect(stat(handler, "http.ingress_http.downstream_rq_tx_reset")).toBe(0);
    expect(stat(handler, "cluster.a.upstream_rq_completed")).toBe(1);
  });

  it("passes a body of unknown length (chunked upstream) whole", async () => {
    await pushConfig(config());
    const handler = createEdgeHandler();
    // A delayed body is sent without Content-Length by the echo server.
    const res = await call(handler, new Request("http://front.example/chunked", { headers: { "x-echo-body-delay-ms": "20" } }));
    const { text, error } = await readAll(res);
    expect(error).toBeUndefined();
    expect((JSON.parse(text) as Echo).url).toBe("/chunked");
    await settle();
    expect(stat(handler, "http.ingress_http.downstream_rq_completed")).toBe(1);
    expect(stat(handler, "http.ingress_http.downstream_rq_tx_reset")).toBe(0);
  });

  it("resets a body that outlasts the route timeout, with UT and the router's stats", async () => {
    await pushConfig(config({ timeout: "0.15s" }));
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/slow", { headers: { "x-echo-body-delay-ms": "800" } }));
    expect(res.status).toBe(200);
    const { error } = await readAll(res);
    expect(error).toBeDefined();
    await settle();
    expect(stat(handler, "cluster.a.upstream_rq_timeout")).toBe(1);
    expect(stat(handler, "cluster.a.upstream_rq_tx_reset")).toBe(1);
    expect(stat(handler, "http.ingress_http.downstream_rq_tx_reset")).toBe(1);
    expect(stat(handler, "http.ingress_http.downstream_rq_completed")).toBe(1);
  });

  it("resets a body that outlasts max_stream_duration, counted as the HCM's max duration", async () => {
    await pushConfig(config({ timeout: "0s", max_stream_duration: { max_stream_duration: "0.15s" } }));
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/long", { headers: { "x-echo-body-delay-ms": "800" } }));
    expect(res.status).toBe(200);
    const { error } = await readAll(res);
    expect(error).toBeDefined();
    await settle();
    expect(stat(handler, "http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
    expect(stat(handler, "cluster.a.upstream_rq_timeout")).toBe(0);
    expect(stat(handler, "http.ingress_http.downstream_rq_tx_reset")).toBe(1);
  });

  it("resets the downstream body when the upstream is lost mid-body", async () => {
    await pushConfig(config());
    const handler = createEdgeHandler();
    const res = await call(handler, new Request("http://front.example/lost", { headers: { "x-echo-reset": "after-headers" } }));
    expect(res.status).toBe(200);
    const { error } = await readAll(res);
    expect(error).toBeDefined();
    await settle();
    expect(stat(handler, "http.ingress_http.downstream_rq_tx_reset")).toBe(1);
    expect(stat(handler, "cluster.a.upstream_rq_rx_reset")).toBe(1);
    expect(stat(handler, "http.ingress_http.downstream_rq_completed")).toBe(1);
  });
});
