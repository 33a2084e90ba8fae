/**
 * Envoy's admin endpoints and their output formats. Each handler is a function of the server's state
 * returning a complete response; admin-server.ts does the HTTP.
 */
import { formatDuration } from "../../../shared/config/duration.ts";
import type { BootstrapModel, ListenerModel } from "../../../shared/config/model.ts";
import { translateRe2 } from "../../../shared/http/re2.ts";
import { LOG_LEVELS, type Logger, type LogLevel } from "../../../shared/log.ts";
import type { StatsStore } from "../../../shared/stats/store.ts";
import type { ClusterModel } from "../../../shared/config/model.ts";
import type { RuntimeLayers } from "./runtime-layers.ts";

/** What /clusters shows of one upstream host (tcp-tier/src/upstream/host.ts, or a sum over worker processes). */
export interface HostView {
  readonly address: string;
  readonly port: number;
  readonly addressString: string;
  readonly hostname: string;
  readonly healthFlags: string;
  readonly weight: number;
  readonly cxActive: number;
  readonly cxConnectFail: number;
  readonly cxTotal: number;
  /** Failed active health checking / outlier detection (shown by /clusters?format=json). */
  readonly failedActiveHc?: boolean;
  readonly failedOutlierCheck?: boolean;
  /** The endpoint's `health_status` (EDS or config); absent: shown as HEALTHY. */
  readonly edsHealthStatus?: string;
  /** The endpoint's priority (0 highest) and locality; absent: 0 and none. */
  readonly priority?: number;
  readonly locality?: { region: string; zone: string; subZone: string };
}

/** What /clusters shows of one cluster (tcp-tier/src/upstream/cluster.ts, or a sum over worker processes). */
export interface ClusterView {
  readonly name: string;
  readonly model: Pick<ClusterModel, "circuitBreakers">;
  readonly hosts: readonly HostView[];
}

/** The outcome of the last hot reload (tcp-tier/src/reload/), shown by /server_info. */
export interface ReloadStatus {
  /** ISO time of the attempt. */
  time: string;
  ok: boolean;
  /** Why the new config was refused (the old one keeps serving). */
  error?: string;
}

/** Server state the admin reads and (for /healthcheck) writes. */
export interface ServerState {
  /** Wall-clock start time, ms since the epoch. */
  readonly startTime: number;
  /** Set by POST /healthcheck/fail, cleared by /healthcheck/ok; health-check filters fail while set. */
  healthCheckFailed: boolean;
  /** Set while the server drains before exiting (SIGTERM): /ready and /server_info say DRAINING. */
  draining?: boolean;
  /** The last hot reload, absent before the first. */
  lastReload?: ReloadStatus;
}

/** Everything the admin endpoints read. Config-derived fields are replaced on each hot reload. */
export interface AdminContext {
  stats: StatsStore;
  state: ServerState;
  model: BootstrapModel;
  canonical: Record<string, unknown>;
  /** When the current config was applied (ms since the epoch): `last_updated` in /config_dump. */
  configTime: number;
  clusters: { all(): readonly ClusterView[] };
  /** The listeners currently accepting, TCP then UDP (draining ones are not listed, as Envoy's /listeners). */
  listeners: { all(): readonly { model: ListenerModel; boundAddress: { address: string; port: number } | undefined }[] };
  version: string;
  commandLineOptions: Record<string, unknown>;
  /** The process logger; /logging changes its level. */
  logger: Logger;
  /** The logger's name as /logging lists it. */
  loggerName: string;
  runtime: RuntimeLayers;
  /** Refreshes gauges that are computed on demand (uptime, memory) before stats are rendered. */
  refreshServerStats(): void;
  /** Starts shutting the server down; called after the /quitquitquit response is sent. */
  shutdown(): void;
  /** /drain_listeners: stop accepting on the listeners (after the drain time when `graceful`). */
  drainListeners(opts: { graceful: boolean; inboundOnly: boolean }): void;
}

export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
  /** Runs once the response has been handed to the socket (e.g. /quitquitquit shuts down then). */
  afterSent?: () => void;
}

export interface AdminHandler {
  path: string;
  help: string;
  /** Mutating endpoints require POST (405 otherwise), as Envoy's. */
  mutates: boolean;
  handle(ctx: AdminContext, req: AdminRequest): AdminResponse;
}

const TEXT = "text/plain; charset=UTF-8";
const JSON_TYPE = "application/json";
const HTML = "text/html; charset=UTF-8";

const text = (body: string, status = 200): AdminResponse => ({ status, contentType: TEXT, body });
const json = (value: unknown, status = 200): AdminResponse => ({ status, contentType: JSON_TYPE, body: JSON.stringify(value, null, 1) + "\n" });

/** Envoy's server state name: LIVE, or DRAINING once health checks are failed on purpose or the server drains. */
function serverState(ctx: AdminContext): "LIVE" | "DRAINING" {
  return ctx.state.healthCheckFailed || ctx.state.draining ? "DRAINING" : "LIVE";
}

const ok = (): AdminResponse => text("OK\n");

export const HANDLERS: readonly AdminHandler[] = [
  { path: "/", help: "Admin home page", mutates: false, handle: () => ({ status: 200, contentType: HTML, body: homePage() }) },
  { path: "/clusters", help: "upstream cluster status (format=text|json)", mutates: false, handle: (ctx, req) => clusters(ctx, req) },
  { path: "/config_dump", help: "dump current Envoy configs (resource=<repeated field>, mask=<field mask>)", mutates: false, handle: (ctx, req) => configDumpHandler(ctx, req) },
  {
    path: "/drain_listeners",
    help: "drain listeners (graceful: after the drain time; inboundonly: INBOUND listeners only)",
    mutates: true,
    handle: (ctx, req) => {
      ctx.drainListeners({ graceful: req.query.has("graceful"), inboundOnly: req.query.has("inboundonly") });
      return ok();
    },
  },
  {
    path: "/healthcheck/fail",
    help: "cause the server to fail health checks",
    mutates: true,
    handle: (ctx) => {
      ctx.state.healthCheckFailed = true;
      return ok();
    },
  },
  {
    path: "/healthcheck/ok",
    help: "cause the server to pass health checks",
    mutates: true,
    handle: (ctx) => {
      ctx.state.healthCheckFailed = false;
      return ok();
    },
  },
  { path: "/help", help: "print out list of admin commands", mutates: false, handle: () => text(helpText()) },
  { path: "/listeners", help: "print listener info (format=text|json)", mutates: false, handle: (ctx, req) => listeners(ctx, req) },
  { path: "/logging", help: "query/change logging levels (level=<level>, paths=<logger>:<level>,...)", mutates: true, handle: (ctx, req) => logging(ctx, req) },
  { path: "/memory", help: "print current allocation/heap usage", mutates: false, handle: () => json(memory()) },
  {
    path: "/quitquitquit",
    help: "exit the server",
    mutates: true,
    handle: (ctx) => ({ ...ok(), afterSent: () => ctx.shutdown() }),
  },
  {
    path: "/ready",
    help: "print server state, return 200 if LIVE, otherwise return 503",
    mutates: false,
    handle: (ctx) => {
      const state = serverState(ctx);
      return text(`${state}\n`, state === "LIVE" ? 200 : 503);
    },
  },
  {
    path: "/reset_counters",
    help: "reset all counters to zero",
    mutates: true,
    handle: (ctx) => {
      ctx.stats.resetCounters();
      return ok();
    },
  },
  { path: "/runtime", help: "print runtime values", mutates: false, handle: (ctx) => json(ctx.runtime.render()) },
  {
    path: "/runtime_modify",
    help: "modify runtime values (key=value; an empty value removes the key)",
    mutates: true,
    handle: (ctx, req) => {
      if ([...req.query.keys()].length === 0) return text("usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n", 400);
      if (!ctx.runtime.modify(req.query.entries())) return text("No admin layer specified\n", 503);
      return ok();
    },
  },
  { path: "/server_info", help: "print server version/status information", mutates: false, handle: (ctx) => json(serverInfo(ctx)) },
  { path: "/stats", help: "print server stats (usedonly, filter=<regex>, format=text|json|prometheus)", mutates: false, handle: (ctx, req) => stats(ctx, req) },
  { path: "/stats/prometheus", help: "print server stats in prometheus format (usedonly, filter=<regex>)", mutates: false, handle: (ctx, req) => prometheus(ctx, req) },
];

const BY_PATH = new Map(HANDLERS.map((h) => [h.path, h]));

/** Routes one request: 405 for a mutating endpoint without POST, 404 with the help text for an unknown path. */
export function dispatch(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const handler = BY_PATH.get(req.path);
  if (!handler) return text(`invalid path. ${helpText()}`, 404);
  if (handler.mutates && req.method !== "POST") return text(`Method ${req.method} not allowed, POST required.`, 405);
  return handler.handle(ctx, req);
}

/** Envoy's /help text: one `  /path: help` line per endpoint, sorted, the home page left out. */
export function helpText(): string {
  const lines = [...HANDLERS]
    .filter((h) => h.path !== "/")
    .sort((a, b) => (a.path < b.path ? -1 : 1))
    .map((h) => `  ${h.path}: ${h.help}`);
  return `admin commands are:\n${lines.join("\n")}\n`;
}

function homePage(): string {
  const rows = HANDLERS.filter((h) => h.path !== "/").map((h) => {
    const link = h.mutates
      ? `<form action="${h.path}" method="post"><button type="submit">${h.path}</button></form>`
      : `<a href="${h.path}">${h.path}</a>`;
    return `<tr><td>${link}</td><td>${escapeHtml(h.help)}</td></tr>`;
  });
  return `<!DOCTYPE html>\n<html><head><title>Legate admin</title></head><body>\n<table>\n<thead><tr><th>Command</th><th>Description</th></tr></thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>\n</body></html>\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function serverInfo(ctx: AdminContext) {
  const uptime = formatDuration(Math.floor((Date.now() - ctx.state.startTime) / 1000) * 1000);
  const node = (ctx.canonical.node as Record<string, unknown> | undefined) ?? {};
  return {
    version: ctx.version,
    state: serverState(ctx),
    uptime_current_epoch: uptime,
    uptime_all_epochs: uptime,
    // Legate has no hot restart: Envoy reports "disabled" when built without it.
    hot_restart_version: "disabled",
    command_line_options: ctx.commandLineOptions,
    node: { ...node, id: ctx.model.node.id, cluster: ctx.model.node.cluster, user_agent_name: "legate", user_agent_version: ctx.version },
    // Legate addition: the outcome of the last hot reload (absent before the first).
    ...(ctx.state.lastReload ? { last_config_reload: ctx.state.lastReload } : {}),
  };
}

const T = "type.googleapis.com/";

function configDump(ctx: AdminContext) {
  const lastUpdated = new Date(ctx.configTime).toISOString();
  const sr = (ctx.canonical.static_resources as Record<string, unknown> | undefined) ?? {};
  const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? (v as Record<string, unknown>[]) : []);
  const routeConfigs: Record<string, unknown>[] = [];
  for (const l of list(sr.listeners)) {
    for (const fc of [...list(l.filter_chains), ...(l.default_filter_chain ? [l.default_filter_chain as Record<string, unknown>] : [])]) {
      for (const f of list(fc.filters)) {
        const tc = f.typed_config as Record<string, unknown> | undefined;
        if (tc?.route_config && typeof tc.route_config === "object") routeConfigs.push(tc.route_config as Record<string, unknown>);
      }
    }
  }
  const configs: Record<string, unknown>[] = [
    { "@type": `${T}envoy.admin.v3.BootstrapConfigDump`, bootstrap: ctx.canonical, last_updated: lastUpdated },
    {
      "@type": `${T}envoy.admin.v3.ClustersConfigDump`,
      static_clusters: list(sr.clusters).map((c) => ({ cluster: { "@type": `${T}envoy.config.cluster.v3.Cluster`, ...c }, last_updated: lastUpdated })),
    },
    {
      "@type": `${T}envoy.admin.v3.ListenersConfigDump`,
      static_listeners: list(sr.listeners).map((l) => ({ listener: { "@type": `${T}envoy.config.listener.v3.Listener`, ...l }, last_updated: lastUpdated })),
    },
  ];
  if (routeConfigs.length) {
    configs.push({
      "@type": `${T}envoy.admin.v3.RoutesConfigDump`,
      static_route_configs: routeConfigs.map((rc) => ({ route_config: { "@type": `${T}envoy.config.route.v3.RouteConfiguration`, ...rc }, last_updated: lastUpdated })),
    });
  }
  return { configs };
}

/** `/config_dump`, with Envoy's `resource` (one repeated field's elements) and `mask` (a FieldMask) parameters. */
function configDumpHandler(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const configs = configDump(ctx).configs;
  const resource = req.query.get("resource");
  const maskParam = req.query.get("mask");
  const mask = maskParam ? maskParam.split(",").map((p) => p.trim()).filter(Boolean).map((p) => p.split(".")) : undefined;
  if (resource) {
    const items: Record<string, unknown>[] = [];
    let found = false;
    for (const c of configs) {
      const v = c[resource];
      if (v === undefined) continue;
      found = true;
      if (!Array.isArray(v)) return text(`${resource} is not a repeated field. Use ?mask=${resource} to get only this field\n`, 400);
      const itemType = `${String(c["@type"])}.${RESOURCE_ITEM_TYPES[resource] ?? resource}`;
      for (const item of v as Record<string, unknown>[]) {
        const masked = mask ? applyMask(item, mask) : item;
        items.push({ "@type": itemType, ...masked });
      }
    }
    if (!found) return text(`${resource} not found in config dump\n`, 404);
    return json({ configs: items });
  }
  if (!mask) return json({ configs });
  return json({ configs: configs.map((c) => ({ "@type": c["@type"], ...applyMask(c, mask) })) });
}

/** The message name of one element of each repeated config-dump field, as Envoy names it in `@type`. */
const RESOURCE_ITEM_TYPES: Record<string, string> = {
  static_clusters: "StaticCluster",
  static_listeners: "StaticListener",
  static_route_configs: "StaticRouteConfig",
};

/** Protobuf's FieldMask trimming on JSON: keeps only the given paths; inside a list, applies to each element. */
function applyMask(value: Record<string, unknown>, paths: string[][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const byHead = new Map<string, string[][]>();
  for (const p of paths) {
    const [head, ...rest] = p;
    if (head === undefined) continue;
    const list = byHead.get(head) ?? [];
    list.push(rest);
    byHead.set(head, list);
  }
  for (const [head, rests] of byHead) {
    const v = value[head];
    if (v === undefined) continue;
    if (rests.some((r) => r.length === 0)) {
      out[head] = v;
      continue;
    }
    const sub = (x: unknown) => (x !== null && typeof x === "object" && !Array.isArray(x) ? applyMask(x as Record<string, unknown>, rests) : undefined);
    if (Array.isArray(v)) out[head] = v.map(sub).filter((x) => x !== undefined);
    else {
      const m = sub(v);
      if (m !== undefined) out[head] = m;
    }
  }
  return out;
}

function formatParam(req: AdminRequest): string {
  return req.query.get("format") ?? "text";
}

function hostStats(h: HostView): { name: string; type: "COUNTER" | "GAUGE"; value: number }[] {
  // Envoy's per-host stats, sorted by name; the rq_* stats stay 0 for TCP (no requests are counted).
  return [
    { name: "cx_active", type: "GAUGE", value: h.cxActive },
    { name: "cx_connect_fail", type: "COUNTER", value: h.cxConnectFail },
    { name: "cx_total", type: "COUNTER", value: h.cxTotal },
    { name: "rq_active", type: "GAUGE", value: 0 },
    { name: "rq_error", type: "COUNTER", value: 0 },
    { name: "rq_success", type: "COUNTER", value: 0 },
    { name: "rq_timeout", type: "COUNTER", value: 0 },
    { name: "rq_total", type: "COUNTER", value: 0 },
  ];
}

function clusters(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const all = ctx.clusters.all();
  if (formatParam(req) === "json") {
    return json({ cluster_statuses: all.map((c) => clusterStatus(c)) });
  }
  const lines: string[] = [];
  for (const c of all) {
    const n = c.name;
    lines.push(`${n}::observability_name::${n}`);
    for (const p of ["DEFAULT", "HIGH"] as const) {
      const t = c.model.circuitBreakers?.[p];
      const label = `${n}::${p.toLowerCase()}_priority`;
      lines.push(
        `${label}::max_connections::${t?.maxConnections ?? 1024}`,
        `${label}::max_pending_requests::${t?.maxPendingRequests ?? 1024}`,
        `${label}::max_requests::${t?.maxRequests ?? 1024}`,
        `${label}::max_retries::${t?.maxRetries ?? 3}`,
      );
    }
    lines.push(`${n}::added_via_api::false`);
    for (const h of c.hosts) {
      const a = h.addressString;
      for (const s of hostStats(h)) lines.push(`${n}::${a}::${s.name}::${s.value}`);
      lines.push(
        `${n}::${a}::hostname::${h.hostname}`,
        `${n}::${a}::health_flags::${h.healthFlags}`,
        `${n}::${a}::weight::${h.weight}`,
        `${n}::${a}::region::${h.locality?.region ?? ""}`,
        `${n}::${a}::zone::${h.locality?.zone ?? ""}`,
        `${n}::${a}::sub_zone::${h.locality?.subZone ?? ""}`,
        `${n}::${a}::canary::false`,
        `${n}::${a}::priority::${h.priority ?? 0}`,
        `${n}::${a}::success_rate::-1`,
        `${n}::${a}::local_origin_success_rate::-1`,
      );
    }
  }
  return text(lines.join("\n") + (lines.length ? "\n" : ""));
}

function clusterStatus(c: ClusterView) {
  const thresholds = (["DEFAULT", "HIGH"] as const).map((p) => {
    const t = c.model.circuitBreakers?.[p];
    return { priority: p, max_connections: t?.maxConnections ?? 1024, max_pending_requests: t?.maxPendingRequests ?? 1024, max_requests: t?.maxRequests ?? 1024, max_retries: t?.maxRetries ?? 3 };
  });
  return {
    name: c.name,
    circuit_breakers: { thresholds },
    added_via_api: false,
    observability_name: c.name,
    host_statuses: c.hosts.map((h) => ({
      address: { socket_address: { address: h.address, port_value: h.port } },
      // proto3 JSON: uint64 values are strings.
      stats: hostStats(h).map((s) => ({ name: s.name, type: s.type, value: String(s.value) })),
      health_status: {
        eds_health_status: h.edsHealthStatus ?? "HEALTHY",
        ...(h.failedActiveHc ? { failed_active_health_check: true } : {}),
        ...(h.failedOutlierCheck ? { failed_outlier_check: true } : {}),
      },
      weight: h.weight,
      hostname: h.hostname,
      priority: h.priority ?? 0,
      locality: localityJson(h.locality),
    })),
  };
}

/** proto3 JSON of a Locality: empty fields are left out. */
function localityJson(l: HostView["locality"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (l?.region) out.region = l.region;
  if (l?.zone) out.zone = l.zone;
  if (l?.subZone) out.sub_zone = l.subZone;
  return out;
}

function listeners(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const bound = ctx.listeners.all().filter((l) => l.boundAddress);
  if (formatParam(req) === "json") {
    return json({
      listener_statuses: bound.map((l) => ({
        name: l.model.name,
        local_address: { socket_address: { address: l.boundAddress!.address, port_value: l.boundAddress!.port } },
      })),
    });
  }
  const lines = bound.map((l) => {
    const { address, port } = l.boundAddress!;
    return `${l.model.name}::${address.includes(":") ? `[${address}]` : address}:${port}`;
  });
  return text(lines.join("\n") + (lines.length ? "\n" : ""));
}

function stats(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const format = formatParam(req);
  if (format === "prometheus") return prometheus(ctx, req);
  const sel = statsSelection(req);
  if ("error" in sel) return sel.error;
  const { filter, usedOnly } = sel;
  ctx.refreshServerStats();
  if (format === "json") return json(ctx.stats.jsonFormat(filter, usedOnly));
  if (format !== "text") return text(`usage: /stats?format=(text|json|prometheus)\n`, 400);
  return text(ctx.stats.textFormat(filter, usedOnly));
}

function prometheus(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const sel = statsSelection(req);
  if ("error" in sel) return sel.error;
  ctx.refreshServerStats();
  return text(ctx.stats.prometheusFormat(sel.filter, sel.usedOnly));
}

/**
 * `filter` and `usedonly`: the filter is an RE2 pattern matched anywhere in a stat's name (RE2's
 * PartialMatch, as Envoy's), translated by shared/http/re2.ts; an invalid one is a 400.
 */
function statsSelection(req: AdminRequest): { filter: RegExp | undefined; usedOnly: boolean } | { error: AdminResponse } {
  let filter: RegExp | undefined;
  const f = req.query.get("filter");
  if (f !== null && f !== "") {
    try {
      const t = translateRe2(f);
      filter = new RegExp(t.source, t.flags);
    } catch (e) {
      return { error: text(`Invalid re2 regex: ${(e as Error).message}\n`, 400) };
    }
  }
  return { filter, usedOnly: req.query.has("usedonly") };
}

/** `/logging`: lists the loggers and their levels; `level=` sets all, `paths=<name>:<level>,...` or `<name>=<level>` one. */
function logging(ctx: AdminContext, req: AdminRequest): AdminResponse {
  const usage = () =>
    text(`usage: /logging?<name>=<level> (change single level)\n/logging?paths=name1:level1,name2:level2,... (change multiple levels)\n/logging?level=<level> (change all levels)\nlevels: ${LOG_LEVELS.join(" ")}\n${listLoggers(ctx)}`, 404);
  const isLevel = (l: string): l is LogLevel => (LOG_LEVELS as readonly string[]).includes(l);
  const params = [...req.query.entries()];
  if (params.length > 1) return usage();
  const [param] = params;
  if (param) {
    const [key, value] = param;
    let level: string | undefined;
    if (key === "level") level = value;
    else if (key === "paths") {
      for (const pair of value.split(",")) {
        const [name, l] = pair.split(":");
        if (name !== ctx.loggerName || l === undefined) return usage();
        level = l;
      }
    } else if (key === ctx.loggerName) level = value;
    if (level === undefined || !isLevel(level)) return usage();
    ctx.logger.level = level;
  }
  return text(listLoggers(ctx));
}

function listLoggers(ctx: AdminContext): string {
  return `active loggers:\n  ${ctx.loggerName}: ${ctx.logger.level}\n`;
}

/** `/memory`, Envoy's `Memory` message (uint64s as strings): V8's heap and the process's resident size. */
function memory() {
  const m = process.memoryUsage();
  return {
    allocated: String(m.heapUsed + m.external),
    heap_size: String(m.heapTotal),
    pageheap_unmapped: "0",
    pageheap_free: String(Math.max(0, m.heapTotal - m.heapUsed)),
    total_thread_cache: "0",
    total_physical_bytes: String(m.rss),
  };
}
