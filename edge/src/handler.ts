/**
 * The Worker's request handler: admin paths to the admin API, everything else through the HTTP
 * engine of the edge listener's http_connection_manager (Envoy's HCM + router), with the config the
 * isolate's {@link ConfigCache} holds.
 *
 * {@link createEdgeHandler} makes an independent handler (its own config cache and stats); the
 * Worker's default export is one per isolate. Tests make their own to start from an empty isolate.
 */
import { ProxyError } from "../../shared/http/errors.ts";
import { createHttpEngine, errorResponse, type HttpEngine } from "../../shared/http/engine.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import type { Logger } from "../../shared/log.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { ADMIN_PREFIX, handleAdmin } from "./admin.ts";
import { ConfigCache, parsePollMs } from "./config-cache.ts";
import type { Env } from "./env.ts";
import { consoleLogger } from "./log.ts";
import { fetchTransport } from "./upstream-transport.ts";
import { nativeBodyPipe } from "./body-pipe.ts";
import { edgeWebSocket } from "./websocket.ts";
import { createLayeredRuntime } from "../../shared/runtime/runtime.ts";
import { KvEndpoints } from "./kv-endpoints.ts";
import { KvHealth } from "./kv-health.ts";
import { KvRuntime } from "./kv-runtime.ts";

export interface EdgeHandlerOptions {
  /** Default: the Workers fetch ({@link fetchTransport}). */
  transport?: UpstreamTransport;
  /** Default: console. */
  log?: Logger;
}

export interface EdgeHandler {
  /** The isolate's stats (what /__legate/admin/stats shows). */
  readonly stats: StatsStore;
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response>;
}

export function createEdgeHandler(options: EdgeHandlerOptions = {}): EdgeHandler {
  const stats = new StatsStore();
  const log = options.log ?? consoleLogger;
  const transport = options.transport ?? fetchTransport;
  const noConfig = stats.counter("legate.edge.rq_no_config");
  let cache: ConfigCache<HttpEngine> | undefined;
  let cacheKey: { kv: KVNamespace; poll: string | undefined; listener: string | undefined } | undefined;

  /** One cache per binding set; bindings only change between deployments (or between tests). */
  const cacheFor = (env: Env): ConfigCache<HttpEngine> => {
    if (!cache || !cacheKey || cacheKey.kv !== env.LEGATE_KV || cacheKey.poll !== env.LEGATE_CONFIG_POLL_MS || cacheKey.listener !== env.LEGATE_EDGE_LISTENER) {
      cacheKey = { kv: env.LEGATE_KV, poll: env.LEGATE_CONFIG_POLL_MS, listener: env.LEGATE_EDGE_LISTENER };
      const kvRuntime = new KvRuntime(env.LEGATE_KV, stats, log);
      cache = new ConfigCache<HttpEngine>({
        kvRuntime,
        kvHealth: new KvHealth(env.LEGATE_KV, stats, log),
        kvEndpoints: new KvEndpoints(env.LEGATE_KV, stats, log),
        kv: env.LEGATE_KV,
        pollMs: parsePollMs(env.LEGATE_CONFIG_POLL_MS, log),
        edgeListener: env.LEGATE_EDGE_LISTENER || undefined,
        stats,
        log,
        build: (model, listener) =>
          createHttpEngine({
            // The config cache only accepts an edge listener whose one chain holds one HCM (compile checks it).
            hcm: listener.filterChains.concat(listener.defaultFilterChain ?? [])[0]!.filters[0] as HttpConnectionManagerModel,
            clusters: model.clusters,
            transport,
            stats,
            websocket: edgeWebSocket,
            bodyPipe: nativeBodyPipe,
            connectionBufferLimitBytes: listener.perConnectionBufferLimitBytes,
            // layered_runtime static layers < the KV layer (`legate runtime set`), read live per lookup.
            runtime: createLayeredRuntime([model.runtime, kvRuntime.layer]),
          }),
      });
    }
    return cache;
  };

  return {
    stats,
    async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
      const waitUntil = (p: Promise<unknown>) => ctx.waitUntil(p);
      const configs = cacheFor(env);
      if (pathOf(request.url).startsWith(ADMIN_PREFIX)) return handleAdmin(request, env, { cache: configs, stats, waitUntil });
      const snapshot = await configs.get(waitUntil);
      if (!snapshot) {
        noConfig.inc();
        return errorResponse(new ProxyError("no_config"));
      }
      return snapshot.built.handle(request, { waitUntil });
    },
  };
}

/** The path of an absolute URL, without parsing it. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start < 0 ? "/" : url.slice(start);
}
