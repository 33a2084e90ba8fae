/**
 * The engine-overhead fixture: a small, ordinary edge config (seven routes, one cluster), one request,
 * and an in-process transport that answers at once with a constant response (no network). Timing the
 * engine with it against calling the same transport directly isolates what the HTTP engine itself
 * costs per request: Stream setup, route lookup, Envoy's request headers (x-request-id, XFF), the
 * router (host pick, breakers, timeout bookkeeping), response header handling, the body wrapper and
 * the stats. Runtime-neutral (Node and the bench Worker).
 */
import type { BootstrapModel, HttpConnectionManagerModel } from "../../shared/config/model.ts";
import type { BodyPipe } from "../../shared/http/body-pipe.ts";
import { createHttpEngine, type HttpEngine } from "../../shared/http/engine.ts";
import type { AttemptRequest } from "../../shared/http/upstream-request.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import { createStaticRuntime } from "../../shared/runtime/runtime.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { edgeBootstrap, type Json, staticCluster } from "./route-fixture.ts";

/**
 * A small route_config as a site's front proxy would have: health, an admin area behind a header,
 * a regex, the API, two fixed paths and the catch-all, all to `cluster`.
 */
export function smallRouteConfig(cluster: string): Json {
  return {
    name: "site",
    virtual_hosts: [
      {
        name: "site",
        domains: ["*"],
        routes: [
          { name: "healthz", match: { path: "/healthz" }, direct_response: { status: 200, body: { inline_string: "ok\n" } } },
          { name: "admin", match: { prefix: "/admin/", headers: [{ name: "x-role", string_match: { exact: "admin" } }] }, route: { cluster } },
          { name: "user", match: { safe_regex: { regex: "/users/[0-9]+" } }, route: { cluster } },
          { name: "api", match: { prefix: "/api/" }, route: { cluster, timeout: "10s" } },
          { name: "small", match: { path: "/small" }, route: { cluster } },
          { name: "16k", match: { path: "/16k" }, route: { cluster } },
          { name: "default", match: { prefix: "/" }, route: { cluster } },
        ],
      },
    ],
  };
}

/** The engine-overhead bootstrap: {@link smallRouteConfig} to cluster `app` (never contacted). */
export function engineBootstrap(): Json {
  return edgeBootstrap(smallRouteConfig("app"), [staticCluster("app", 9)]);
}

/** The timed request: a GET to the API route with a browser's headers. */
export const ENGINE_REQUEST = {
  url: "https://shop.example.com/api/items?page=2",
  method: "GET",
  headers: [
    ["host", "shop.example.com"],
    ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"],
    ["accept", "application/json"],
    ["accept-encoding", "gzip, deflate, br"],
    ["accept-language", "en-GB,en;q=0.9"],
    ["cookie", "session=6a1f0c2e9b; theme=dark"],
    ["cf-connecting-ip", "203.0.113.7"],
  ] as [string, string][],
};

/** What the constant transport answers: 200, a JSON content type, 64 bytes. */
export const RESPONSE_BODY = new TextEncoder().encode(`{"items":[1,2,3],"page":2,"next":"/api/items?page=3","ok":true}`);
const RESPONSE_HEADERS: [string, string][] = [
  ["content-type", "application/json"],
  ["cache-control", "no-store"],
  ["server", "origin"],
];

/** An in-process transport answering every attempt at once with the constant response. */
export function constantTransport(): UpstreamTransport {
  return {
    fetch: () => Promise.resolve(new Response(RESPONSE_BODY, { status: 200, headers: RESPONSE_HEADERS })),
  };
}

/**
 * The engine exactly as the edge builds it (edge/src/handler.ts), with `transport`; in workerd the
 * bench Worker passes the edge's native `bodyPipe` too (Node has none).
 */
export function buildEngine(model: BootstrapModel, transport: UpstreamTransport, bodyPipe?: BodyPipe): HttpEngine {
  const listener = model.listeners.find((l) => l.edge);
  if (!listener) throw new Error("the engine fixture has no edge listener");
  const chain = listener.filterChains.concat(listener.defaultFilterChain ?? [])[0];
  return createHttpEngine({
    hcm: chain!.filters[0] as HttpConnectionManagerModel,
    clusters: model.clusters,
    transport,
    stats: new StatsStore(),
    connectionBufferLimitBytes: listener.perConnectionBufferLimitBytes,
    runtime: createStaticRuntime(model.runtime),
    ...(bodyPipe ? { bodyPipe } : {}),
  });
}

/** The downstream request, built once and handed to the engine on every iteration (a GET has no body to consume). */
export function engineRequest(): Request {
  return new Request(ENGINE_REQUEST.url, { method: ENGINE_REQUEST.method, headers: ENGINE_REQUEST.headers });
}

/** The attempt a direct call hands the transport (what the router would build). */
export function directAttempt(model: BootstrapModel): AttemptRequest {
  const cluster = model.clusters.get("app");
  if (!cluster) throw new Error("the engine fixture has no cluster app");
  const host = cluster.endpoints[0];
  if (!host) throw new Error("cluster app has no endpoint");
  return {
    url: "http://127.0.0.1:9/api/items?page=2",
    method: "GET",
    headers: new Headers(ENGINE_REQUEST.headers),
    body: null,
    authority: "shop.example.com",
    cluster,
    host,
  };
}
