/** Shared pieces of the edge tests: Envoy bootstraps, pushing them to KV as the CLI does, upstream ports. */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { inject } from "vitest";
import { CONFIG_HISTORY_KEY, CONFIG_POINTER_KEY, type ConfigPointer, HISTORY_LIMIT, canonicalJson, configVersion, configVersionKey } from "../../shared/kv/layout.ts";
import type { Env } from "../src/env.ts";
import type { EdgeHandler } from "../src/handler.ts";

declare module "vitest" {
  export interface ProvidedContext {
    upstreamPort: number;
    upstreamPort2: number;
    upstreamPorts: number[];
    closedPort: number;
  }
}

/** Loopback upstreams from test/global-setup.ts. */
export const ports = {
  get a(): number {
    return inject("upstreamPort");
  },
  get b(): number {
    return inject("upstreamPort2");
  },
  get c(): number {
    return inject("upstreamPorts")[2]!;
  },
  get d(): number {
    return inject("upstreamPorts")[3]!;
  },
  /** The four echo servers "a", "b", "c", "d", in that order. */
  get all(): number[] {
    return inject("upstreamPorts");
  },
  get closed(): number {
    return inject("closedPort");
  },
};

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

type Json = Record<string, unknown>;

/** A route in Envoy v3 JSON: `{ match: { prefix: "/" }, route: { cluster: "a" } }`. */
export type RouteJson = Json;

export interface BootstrapSpec {
  /** Virtual hosts (Envoy JSON). Default: one `*` host sending everything to cluster `a`. */
  virtualHosts?: Json[];
  /** Clusters by name → endpoint ports on 127.0.0.1. Default: `a` → the first upstream. */
  clusters?: Record<string, number[]>;
  statPrefix?: string;
  /** Mark the listener for the edge in metadata (default true). */
  markEdge?: boolean;
  listenerName?: string;
  /** Extra HttpConnectionManager fields (e.g. `access_log`, `upgrade_configs`), merged in. */
  hcm?: Json;
}

/** An Envoy v3 bootstrap with one HCM listener (the edge's) and STATIC clusters on loopback. */
export function bootstrap(spec: BootstrapSpec = {}): Json {
  const clusters = spec.clusters ?? { a: [ports.a] };
  const virtualHosts = spec.virtualHosts ?? [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }];
  return {
    static_resources: {
      listeners: [
        {
          name: spec.listenerName ?? "edge",
          address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
          ...(spec.markEdge === false ? {} : { metadata: { filter_metadata: { legate: { edge: true } } } }),
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": HCM,
                    stat_prefix: spec.statPrefix ?? "ingress_http",
                    route_config: { name: "local_route", virtual_hosts: virtualHosts },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
                    ...spec.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: Object.entries(clusters).map(([name, eps]) => ({
        name,
        type: "STATIC",
        connect_timeout: "1s",
        load_assignment: {
          cluster_name: name,
          endpoints: [{ lb_endpoints: eps.map((port) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } })) }],
        },
      })),
    },
  };
}

/** Writes a config the way `legate push` does: the canonical body under its version, then the pointer. */
export async function pushConfig(config: unknown, kv: KVNamespace = env.LEGATE_KV): Promise<string> {
  const text = canonicalJson(config);
  return pushText(text, kv);
}

/** Writes arbitrary text as a config version and points at it (for configs the CLI would refuse). */
export async function pushText(text: string, kv: KVNamespace = env.LEGATE_KV): Promise<string> {
  const version = await configVersion(text);
  await kv.put(configVersionKey(version), text);
  await pointTo(version, kv);
  return version;
}

/** Writes the history entry, then the pointer (last, as the CLI does). */
export async function pointTo(version: string, kv: KVNamespace = env.LEGATE_KV): Promise<void> {
  const pointer: ConfigPointer = { version, pushed_at: new Date().toISOString(), source: "edge test" };
  const history = ((await kv.get<ConfigPointer[]>(CONFIG_HISTORY_KEY, "json")) ?? []).filter((p) => p.version !== version);
  await kv.put(CONFIG_HISTORY_KEY, JSON.stringify([pointer, ...history].slice(0, HISTORY_LIMIT)));
  await kv.put(CONFIG_POINTER_KEY, JSON.stringify(pointer));
}

/** Calls a handler the way the runtime would, with `overrides` on top of the test env; waits for its waitUntil work. */
export async function call(handler: EdgeHandler, request: Request, overrides: Partial<Env> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await handler.fetch(request, { ...env, ...overrides }, ctx);
  // The body is still streaming; waitUntil work (stream completion) is awaited by the caller after reading it.
  pending.push(waitOnExecutionContext(ctx));
  return res;
}

const pending: Promise<unknown>[] = [];

/** Waits for the waitUntil work of every {@link call} so far (stats charged on stream completion). */
export async function settle(): Promise<void> {
  await Promise.all(pending.splice(0));
}

/** JSON an echo upstream returns. */
export interface Echo {
  server: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}
