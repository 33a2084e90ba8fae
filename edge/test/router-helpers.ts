/** Shared pieces of the router tests (edge/test/router-*.test.ts): configs with one routed cluster, echo counts, stats. */
import { expect } from "vitest";
import { createEdgeHandler, type EdgeHandler } from "../src/handler.ts";
import { bootstrap, call, ports, pushConfig, settle } from "./helpers.ts";

type Json = Record<string, unknown>;

export interface RouterSpec {
  /** Fields of the route action besides `cluster: "up"`. */
  route?: Json;
  /** Fields of the virtual host besides name, domains and routes. */
  vhost?: Json;
  /** Fields of the Route besides match and route (e.g. per_request_buffer_limit_bytes). */
  routeEntry?: Json;
  /** Cluster ports: `up` is the routed cluster. Default `up` → [a]. */
  clusters?: Record<string, number[]>;
  /** Extra fields per cluster (lb_policy, ...). */
  clusterFields?: Record<string, Json>;
}

/** Pushes a config whose `*` virtual host routes `/` to cluster `up`, and returns a fresh handler. */
export async function routerConfig(spec: RouterSpec): Promise<EdgeHandler> {
  const config = bootstrap({
    clusters: spec.clusters ?? { up: [ports.a] },
    virtualHosts: [{ name: "all", domains: ["*"], ...spec.vhost, routes: [{ match: { prefix: "/" }, ...spec.routeEntry, route: { cluster: "up", ...spec.route } }] }],
  }) as { static_resources: { clusters: Json[] } };
  for (const c of config.static_resources.clusters) Object.assign(c, spec.clusterFields?.[c.name as string]);
  await pushConfig(config);
  return createEdgeHandler();
}

/** A unique x-echo-key. */
export function key(): string {
  return `router-${crypto.randomUUID()}`;
}

/** Requests with x-echo-key `k` each echo server saw (they share one counter table). */
export async function echoCount(k: string): Promise<{ count: number; servers: Record<string, number> }> {
  const res = await fetch(`http://127.0.0.1:${ports.a}/__echo/count?key=${encodeURIComponent(k)}`);
  return (await res.json()) as { count: number; servers: Record<string, number> };
}

/** Waits (at most `tries` × 10 ms) until the echo servers saw `n` requests with key `k`; returns what they saw. */
export async function awaitEchoCount(k: string, n: number, tries = 100): Promise<{ count: number; servers: Record<string, number> }> {
  let seen = await echoCount(k);
  for (let i = 0; i < tries && seen.count < n; i++) {
    await new Promise((r) => setTimeout(r, 10));
    seen = await echoCount(k);
  }
  return seen;
}

/** Sends a request through the handler, reads the whole body, and settles the stream's stats. */
export async function send(handler: EdgeHandler, path: string, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
  const res = await call(handler, new Request(`http://front.example${path}`, init));
  const text = await res.text();
  await settle();
  return { res, text };
}

/** A counter's value (0 when it was never created). */
export function stat(handler: EdgeHandler, name: string): number {
  return handler.stats.values().get(name) ?? 0;
}

/** Asserts several stats at once. */
export function expectStats(handler: EdgeHandler, expected: Record<string, number>): void {
  const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, stat(handler, k)]));
  expect(actual).toEqual(expected);
}

/**
 * Reads a body that the proxy is expected to reset: resolves with the error it failed with. Reads
 * through a reader (not `text()`), so the failure is the reader's to handle.
 */
export async function readUntilReset(res: Response): Promise<unknown> {
  const reader = res.body!.getReader();
  for (let i = 0; i < 1000; i++) {
    try {
      const r = await reader.read();
      if (r.done) return undefined;
    } catch (e) {
      return e;
    }
  }
  return undefined;
}
