/**
 * The edge's admin API under {@link ADMIN_PREFIX}: a subset of Envoy's admin endpoints, answered by
 * the isolate that receives the request (stats are per isolate, like Envoy's per process).
 *
 * Guarded by `Authorization: Bearer <LEGATE_ADMIN_TOKEN>` (a Worker secret), compared in constant
 * time. Without a configured token every admin path answers exactly like a request no route matched
 * (404, flag NR), so the API's existence does not leak; with one, a missing or wrong token gets 401.
 *
 * - `GET /ready`: `LIVE` (200) once a config is loaded, else `PRE_INITIALIZING` (503).
 * - `GET /config_dump`: Envoy's ConfigDump: BootstrapConfigDump (the pushed bootstrap), then
 *   ListenersConfigDump (the edge listener) and ClustersConfigDump, with `version_info` = the KV version.
 * - `GET /stats`: Envoy's text format; `?filter=<regex>`, `?usedonly`, `?format=json|prometheus`.
 * - `GET /stats/prometheus`: Prometheus exposition format.
 * - `GET /clusters`: Envoy's cluster status text (`?format=json` for ClusterStatuses): hosts with
 *   health flags, outlier state, success rates, weights, localities, priorities, and the circuit
 *   breakers' limits and (Legate's addition) what they hold now. Live state of this isolate.
 * - `/kv` (Legate's addition, for the tcp tier's `LEGATE_KV=edge`): read any `legate/` key, list them,
 *   write and delete only under `legate/health/` ({@link handleAdminKv}).
 */
import { type IRequest, IttyRouter } from "itty-router";
import { ProxyError } from "../../shared/http/errors.ts";
import { errorResponse } from "../../shared/http/engine.ts";
import { renderClustersJson, renderClustersText } from "../../shared/upstream/admin-clusters.ts";
import { type ClusterRuntime, getClusterRuntime } from "../../shared/upstream/cluster.ts";
import type { StatsStore } from "../../shared/stats/store.ts";
import { HEALTH_PREFIX, healthKey, KV_PREFIX, parseHealthReport } from "../../shared/kv/layout.ts";
import { type ConfigCache, type ConfigSnapshot, KV_CACHE_TTL_S } from "./config-cache.ts";
import type { Env } from "./env.ts";
import type { KvRuntime } from "./kv-runtime.ts";

export const ADMIN_PREFIX = "/__legate/admin/";

export interface AdminContext {
  cache: ConfigCache<unknown>;
  stats: StatsStore;
  waitUntil?: (p: Promise<unknown>) => void;
}

const TYPE = "type.googleapis.com/envoy.admin.v3.";
const ENDPOINTS: Record<string, string> = {
  "/ready": "print server state, return 200 if LIVE, otherwise return 503",
  "/config_dump": "dump current Envoy configs",
  "/stats": "print server stats (?filter=<regex>, ?usedonly, ?format=json|prometheus)",
  "/stats/prometheus": "print server stats in prometheus format",
  "/clusters": "upstream cluster status (?format=json)",
  "/runtime": "print runtime values",
  "/kv": "Legate's KV keys for the tcp tier: GET /kv?prefix=legate/..., GET /kv/<key>; PUT and DELETE under legate/health/ only",
};

const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
  new Response(body, { status, headers: { "content-type": type, "cache-control": "no-cache, max-age=0" } });
const json = (value: unknown) =>
  new Response(JSON.stringify(value, null, 2) + "\n", { headers: { "content-type": "application/json", "cache-control": "no-cache, max-age=0" } });

type AdminArgs = [AdminContext];
const router = IttyRouter<IRequest, AdminArgs, Response>({ base: ADMIN_PREFIX.slice(0, -1) });

router
  .get("/ready", async (_req, ctx) => ((await ctx.cache.get(ctx.waitUntil)) ? text("LIVE\n") : text("PRE_INITIALIZING\n", 503)))
  .get("/config_dump", async (req, ctx) => {
    for (const p of ["resource", "mask", "name_regex"]) {
      if (req.query[p] !== undefined) return text(`config_dump: ?${p}= is not supported by the Legate edge\n`, 400);
    }
    return json(configDump(await ctx.cache.get(ctx.waitUntil)));
  })
  .get("/stats", (req, ctx) => {
    const q = req.query;
    let filter: RegExp | undefined;
    const f = first(q.filter);
    if (f) {
      try {
        filter = new RegExp(f);
      } catch {
        return text(`Invalid regex: "${f}"\n`, 400);
      }
    }
    const usedOnly = q.usedonly !== undefined;
    const format = first(q.format);
    if (format === "prometheus") return prometheus(ctx.stats);
    if (format === "json") return json(ctx.stats.jsonFormat(filter, usedOnly));
    if (format !== undefined && format !== "text") return text(`usage: /stats?format=(text|json|prometheus)\n`, 400);
    return text(ctx.stats.textFormat(filter, usedOnly));
  })
  .get("/stats/prometheus", (_req, ctx) => prometheus(ctx.stats))
  .get("/clusters", async (req, ctx) => {
    const format = first(req.query.format);
    if (format !== undefined && format !== "text" && format !== "json") return text(`usage: /clusters?format=(text|json)\n`, 400);
    const runtimes = liveClusters(await ctx.cache.get(ctx.waitUntil), ctx.stats);
    return format === "json" ? json(renderClustersJson(runtimes)) : text(renderClustersText(runtimes));
  })
  .get("/runtime", async (_req, ctx) => json(runtimeDump(await ctx.cache.get(ctx.waitUntil), ctx.cache.kvRuntime)))
  .all("*", () => text(`invalid path. admin commands are:\n${Object.entries(ENDPOINTS).map(([p, d]) => `  ${ADMIN_PREFIX.slice(0, -1)}${p}: ${d}`).join("\n")}\n`, 404));

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function prometheus(stats: StatsStore): Response {
  return text(stats.prometheusFormat(), 200, "text/plain; version=0.0.4; charset=utf-8");
}

/**
 * The isolate's cluster runtimes for the config being served, in config order: the ones the router
 * uses (same model and stats store give the same runtime), so /clusters shows live state.
 */
function liveClusters(snapshot: ConfigSnapshot<unknown> | undefined, stats: StatsStore): ClusterRuntime[] {
  if (!snapshot) return [];
  return [...snapshot.model.clusters.values()].map((model) => getClusterRuntime(model, stats));
}

/** Envoy's `/config_dump` shape for what this isolate is serving. */
export function configDump(snapshot: ConfigSnapshot<unknown> | undefined): { configs: unknown[] } {
  if (!snapshot) return { configs: [] };
  const bootstrap = JSON.parse(snapshot.text) as { static_resources?: { listeners?: { name?: string }[]; clusters?: unknown[] } };
  const lastUpdated = snapshot.loadedAt.toISOString();
  const listeners = (bootstrap.static_resources?.listeners ?? []).filter((l) => l.name === snapshot.listener.name);
  return {
    configs: [
      { "@type": `${TYPE}BootstrapConfigDump`, bootstrap, last_updated: lastUpdated },
      {
        "@type": `${TYPE}ListenersConfigDump`,
        version_info: snapshot.version,
        static_listeners: listeners.map((l) => ({ listener: { "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", ...l }, last_updated: lastUpdated })),
      },
      {
        "@type": `${TYPE}ClustersConfigDump`,
        version_info: snapshot.version,
        static_clusters: (bootstrap.static_resources?.clusters ?? []).map((c) => ({
          cluster: { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", ...(c as object) },
          last_updated: lastUpdated,
        })),
      },
    ],
  };
}

/** SHA-256 of both sides, then a constant-time comparison: timing reveals neither content nor length. */
async function tokenMatches(presented: string, expected: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(presented)),
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * Answers a request whose path starts with {@link ADMIN_PREFIX}. Called once per admin request.
 */
export async function handleAdmin(request: Request, env: Env, ctx: AdminContext): Promise<Response> {
  const token = env.LEGATE_ADMIN_TOKEN;
  if (!token) {
    // Look like the engine's own route miss, down to the HCM's server_name.
    const hcm = ctx.cache.snapshot?.listener.filterChains.concat(ctx.cache.snapshot.listener.defaultFilterChain ?? [])[0]?.filters[0];
    const serverName = hcm?.kind === "http_connection_manager" ? hcm.headerPolicy?.serverName : undefined;
    return errorResponse(new ProxyError("no_route"), serverName);
  }
  const auth = request.headers.get("authorization") ?? "";
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
  if (!m || !(await tokenMatches(m[1]!, token))) {
    return new Response("unauthorized\n", {
      status: 401,
      headers: { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="legate-admin"' },
    });
  }
  const path = new URL(request.url).pathname;
  if (path === KV_ROUTE || path.startsWith(`${KV_ROUTE}/`)) return handleAdminKv(request, env.LEGATE_KV, path);
  if (request.method !== "GET") {
    return text(`method ${request.method} not allowed: the Legate edge admin endpoints are read-only (GET)\n`, 405);
  }
  const res = await router.fetch(request, ctx);
  return res ?? text("not found\n", 404);
}

/**
 * Envoy's `/runtime`: `{"layers": [names], "entries": {key: {"layer_values": [per layer, "" where
 * unset], "final_value": value of the last layer that sets it}}}`, from the served config's
 * `layered_runtime` static layers (values as strings, as Envoy prints them), then the KV layer `kv`
 * (`legate runtime set`) when KV holds a runtime document.
 */
export function runtimeDump(snapshot: ConfigSnapshot<unknown> | undefined, kvRuntime?: KvRuntime): { layers: string[]; entries: Record<string, { layer_values: string[]; final_value: string }> } {
  const layers: { name: string; values: Map<string, string> }[] = [];
  if (snapshot) {
    const config = JSON.parse(snapshot.text) as { layered_runtime?: { layers?: { name?: string; static_layer?: Record<string, unknown> }[] } };
    for (const layer of config.layered_runtime?.layers ?? []) {
      const values = new Map<string, string>();
      flattenRuntime(layer.static_layer ?? {}, "", values);
      layers.push({ name: layer.name ?? "", values });
    }
  }
  if (kvRuntime?.version !== undefined) {
    layers.push({ name: kvRuntime.layer.name, values: new Map([...kvRuntime.layer.values].map(([k, v]) => [k, String(v)])) });
  }
  const keys = [...new Set(layers.flatMap((l) => [...l.values.keys()]))].sort();
  const entries: Record<string, { layer_values: string[]; final_value: string }> = {};
  for (const key of keys) {
    const layerValues = layers.map((l) => l.values.get(key) ?? "");
    let finalValue = "";
    for (const l of layers) if (l.values.has(key)) finalValue = l.values.get(key)!;
    entries[key] = { layer_values: layerValues, final_value: finalValue };
  }
  return { layers: layers.map((l) => l.name), entries };
}

function flattenRuntime(o: Record<string, unknown>, prefix: string, out: Map<string, string>): void {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flattenRuntime(v as Record<string, unknown>, key, out);
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out.set(key, String(v));
  }
}

const KV_ROUTE = `${ADMIN_PREFIX}kv`;
/** Largest value a PUT may carry (a health report is a few hundred bytes per host). */
export const ADMIN_KV_MAX_BODY_BYTES = 1024 * 1024;
/** Workers KV's own limits: key length in bytes, keys per list page. */
const KV_MAX_KEY_BYTES = 512;
const KV_MAX_LIST = 1000;
/** Set on a 404 that means "no such key", so a client can tell it from a path no route answers. */
export const KV_MISSING_HEADER = "x-legate-kv";

/**
 * `/__legate/admin/kv`: the tcp tier's KV through this edge (`LEGATE_KV=edge`), so a tcp-tier host
 * needs the admin token only, not a Cloudflare API token. What it may touch is what the tcp tier
 * needs, no more: it reads config, runtime flags and endpoints, and writes its health reports.
 *
 * - `GET /kv/<key>`: the value as text (404 with `x-legate-kv: missing` when there is none). Read with
 *   the edge's own `cacheTtl` ({@link KV_CACHE_TTL_S}), so the caller sees what this edge location sees.
 * - `GET /kv?prefix=<p>&limit=<n>&cursor=<c>`: `{ keys: [names], list_complete, cursor? }`, one KV list
 *   page (`limit` 1..1000, default 1000; `prefix` default `legate/`).
 * - `PUT /kv/<key>` (body: the value, at most {@link ADMIN_KV_MAX_BODY_BYTES}, else 413) and
 *   `DELETE /kv/<key>`: only under `legate/health/`, and a PUT only of a health report whose key is
 *   its own (`legate/health/<cluster>/<node>`); 204. Anything else is 403: a leaked tcp-tier token must
 *   not be able to repoint the config, flags or endpoints.
 *
 * `<key>` is the rest of the path, percent-decoded (`legate%2Fconfig%2Fcurrent` or `legate/config/current`).
 * Keys outside `legate/` are 403 for every method; an empty, undecodable or too long key is 400.
 */
export async function handleAdminKv(request: Request, kv: KVNamespace, path: string): Promise<Response> {
  if (path === KV_ROUTE) {
    if (request.method !== "GET") return notAllowed(request.method, "GET");
    return listKeys(kv, new URL(request.url).searchParams);
  }
  let key: string;
  try {
    key = decodeURIComponent(path.slice(KV_ROUTE.length + 1));
  } catch {
    return text(`kv: the key in ${path} is not valid percent-encoding\n`, 400);
  }
  if (key === "") return text("kv: no key: use /kv/<key>, or /kv?prefix=<prefix> to list\n", 400);
  if (new TextEncoder().encode(key).length > KV_MAX_KEY_BYTES) return text(`kv: key longer than ${KV_MAX_KEY_BYTES} bytes\n`, 400);
  if (!key.startsWith(KV_PREFIX)) return text(`kv: '${key}' is outside ${KV_PREFIX}: only Legate's keys are served\n`, 403);
  const method = request.method;
  if (method === "GET") {
    const value = await kv.get(key, { cacheTtl: KV_CACHE_TTL_S });
    if (value === null) {
      return new Response(`kv: no key '${key}'\n`, { status: 404, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache, max-age=0", [KV_MISSING_HEADER]: "missing" } });
    }
    return text(value);
  }
  if (method !== "PUT" && method !== "DELETE") return notAllowed(method, "GET, PUT, DELETE");
  if (!key.startsWith(HEALTH_PREFIX) || key.length === HEALTH_PREFIX.length) {
    return text(
      `kv: ${method} '${key}' refused: through the edge admin API the tcp tier writes only its health reports (${HEALTH_PREFIX}); ` +
        "push configs, runtime flags and endpoints with `legate push|runtime|endpoints --remote`\n",
      403,
    );
  }
  if (method === "DELETE") {
    await kv.delete(key);
    return new Response(null, { status: 204 });
  }
  const body = await readCapped(request, ADMIN_KV_MAX_BODY_BYTES);
  if (body === undefined) return text(`kv: PUT '${key}': body larger than ${ADMIN_KV_MAX_BODY_BYTES} bytes\n`, 413);
  const report = parseHealthReport(body);
  if (!report) return text(`kv: PUT '${key}': the body is not a health report (shared/kv/layout.ts HealthReport)\n`, 400);
  if (healthKey(report.cluster, report.node) !== key) {
    return text(`kv: PUT '${key}': a report of cluster '${report.cluster}' by node '${report.node}' belongs under '${healthKey(report.cluster, report.node)}'\n`, 400);
  }
  await kv.put(key, body);
  return new Response(null, { status: 204 });
}

async function listKeys(kv: KVNamespace, q: URLSearchParams): Promise<Response> {
  const prefix = q.get("prefix") ?? KV_PREFIX;
  if (!prefix.startsWith(KV_PREFIX)) return text(`kv: prefix '${prefix}' is outside ${KV_PREFIX}: only Legate's keys are served\n`, 403);
  const limitText = q.get("limit");
  const limit = limitText === null ? KV_MAX_LIST : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > KV_MAX_LIST) return text(`kv: limit '${limitText}' is not an integer from 1 to ${KV_MAX_LIST}\n`, 400);
  const cursor = q.get("cursor");
  const page = await kv.list({ prefix, limit, ...(cursor ? { cursor } : {}) });
  return json({
    keys: page.keys.map((k) => k.name),
    list_complete: page.list_complete,
    ...(!page.list_complete ? { cursor: page.cursor } : {}),
  });
}

function notAllowed(method: string, allow: string): Response {
  const res = text(`method ${method} not allowed here (allowed: ${allow})\n`, 405);
  res.headers.set("allow", allow);
  return res;
}

/** The body as UTF-8 text, or undefined as soon as it is known to exceed `max` bytes. */
async function readCapped(request: Request, max: number): Promise<string | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) {
    await request.body?.cancel();
    return undefined;
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}
