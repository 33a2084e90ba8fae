/**
 * When the engine may hand a response body to the runtime's native pipe (body-pipe.ts) instead of a
 * JS wrapper: only when no idle timeout could expire before the fixed-time limits. With Envoy's
 * defaults (route timeout 15 s, stream idle timeout 5 min) the route timeout always fires first, so
 * the native pipe is exact; an idle timeout shorter than the time left must see every chunk.
 */
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../config/compile.ts";
import type { HttpConnectionManagerModel } from "../config/model.ts";
import { StatsStore } from "../stats/store.ts";
import type { BodyPipe } from "./body-pipe.ts";
import { createHttpEngine } from "./engine.ts";
import { type GuardLimits, needsProgress } from "./response-guard.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

describe("needsProgress", () => {
  const limits = (l: Partial<GuardLimits>): GuardLimits => ({ deadline: Infinity, maxDurationDeadline: Infinity, idleMs: 0, perTryIdleMs: 0, ...l });

  it("is false when no idle timeout applies", () => {
    expect(needsProgress(limits({ deadline: 1_000 }), 0)).toBe(false);
    expect(needsProgress(limits({}), 0)).toBe(false);
  });

  it("is false when the route timeout expires before any idle timeout could (Envoy's defaults)", () => {
    // Headers at t = 40 ms of a 15 s route timeout; stream idle timeout 5 min.
    expect(needsProgress(limits({ deadline: 15_000, idleMs: 300_000 }), 40)).toBe(false);
    // max_stream_duration bounds it the same way.
    expect(needsProgress(limits({ maxDurationDeadline: 2_000, idleMs: 5_000, perTryIdleMs: 3_000 }), 100)).toBe(false);
  });

  it("is false on a tie: the guard reports the fixed deadline when both fall at once", () => {
    expect(needsProgress(limits({ deadline: 1_500, idleMs: 1_000 }), 500)).toBe(false);
  });

  it("is true when an idle timeout could expire first", () => {
    expect(needsProgress(limits({ deadline: 15_000, idleMs: 1_000 }), 0)).toBe(true);
    expect(needsProgress(limits({ deadline: 15_000, perTryIdleMs: 1_000 }), 0)).toBe(true);
    // No route timeout (`timeout: 0s`): the idle timeout is the only bound.
    expect(needsProgress(limits({ idleMs: 300_000 }), 0)).toBe(true);
    // Late headers leave less of the route timeout than the idle timeout: still exact to skip...
    expect(needsProgress(limits({ deadline: 15_000, idleMs: 10_000 }), 6_000)).toBe(false);
    // ...early ones do not.
    expect(needsProgress(limits({ deadline: 15_000, idleMs: 10_000 }), 4_000)).toBe(true);
  });
});

/** An engine over a constant upstream, with a body pipe that records each use and passes the body on. */
function engineWith(hcm: Record<string, unknown>, route: Record<string, unknown>): { handle(r: Request): Promise<Response>; piped: number[] } {
  const { model, issues } = compileBootstrap({
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress",
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "up", ...route } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
          ...hcm,
        } }] }],
      }],
      clusters: [{ name: "up", type: "STATIC", load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] } }],
    },
  });
  expect(issues).toEqual([]);
  const piped: number[] = [];
  const bodyPipe: BodyPipe = (body, length) => {
    piped.push(length ?? -1);
    const t = new TransformStream<Uint8Array, Uint8Array>();
    return { readable: t.readable, done: body.pipeTo(t.writable) };
  };
  const engine = createHttpEngine({
    hcm: model!.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel,
    clusters: model!.clusters,
    transport: { fetch: () => Promise.resolve(new Response("hello", { headers: { "content-length": "5" } })) },
    stats: new StatsStore(),
    bodyPipe,
  });
  return { handle: (r) => engine.handle(r), piped };
}

describe("the engine's choice of the native pipe", () => {
  const get = () => new Request("http://front.example/x");

  it("pipes natively with Envoy's default timeouts", async () => {
    const e = engineWith({}, {});
    const res = await e.handle(get());
    expect(await res.text()).toBe("hello");
    expect(e.piped).toEqual([5]);
  });

  it("keeps the JS guard when a route idle_timeout is shorter than the route timeout", async () => {
    const e = engineWith({}, { idle_timeout: "1s" });
    const res = await e.handle(get());
    expect(await res.text()).toBe("hello");
    expect(e.piped).toEqual([]);
  });

  it("keeps the JS guard when the route has no timeout and the stream idle timeout applies", async () => {
    const e = engineWith({}, { timeout: "0s" });
    expect(await (await e.handle(get())).text()).toBe("hello");
    expect(e.piped).toEqual([]);
  });

  it("pipes natively when the stream idle timeout is off and the route has no timeout", async () => {
    const e = engineWith({ stream_idle_timeout: "0s" }, { timeout: "0s" });
    expect(await (await e.handle(get())).text()).toBe("hello");
    expect(e.piped).toEqual([5]);
  });
});
