import type { StatsStore } from "../../../shared/stats/store.ts";
/**
 * Envoy's admin endpoints and their output formats. Each handler is a function of the server's state
 * returning a complete response; admin-server.ts does the HTTP.
 */
import { formatDuration } from "../../../shared/config/duration.ts";
import type { BootstrapModel } from "../../../shared/config/model.ts";
import type { ListenerManager } from "../listener/listener-manager.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";
import type { Host } from "../upstream/host.ts";

/** Server state the admin reads and (for /healthcheck) writes. */
export interface ServerState {
  /** Wall-clock start time, ms since the epoch. */
  readonly startTime: number;
  /** Set by POST /healthcheck/fail, cleared by /healthcheck/ok; health-check filters fail while set. */
  healthCheckFailed: boolean;
}

/** Everything the admin endpoints read. */
export interface AdminContext {
  stats: StatsStore;
  state: ServerState;
  model: BootstrapModel;
  canonical: Record<string, unknown>;
  clusters: ClusterManager;
  listeners: ListenerManager;
  version: string;
  commandLineOptions: Record<string, unknown>;
  /** Refreshes gauges that are computed on demand (uptime, memory) before stats are rendered. */
  refreshServerStats(): void;
  /** Starts shutting the server down; called after the /quitquitquit response is sent. */
  shutdown(): void;
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

/** Envoy's server state name: LIVE, or DRAINING once health checks are failed on purpose. */
function serverState(ctx: AdminContext): "LIVE" | "DRAINING" {
  return ctx.state.healthCheckFailed ? "DRAINING" : "LIVE";
}

export const HANDLERS: readonly AdminHandler[] = [
  { path: "/", help: "Admin home page", mutates: false, handle: () => ({ status: 200, contentType: HTML, body: homePage() }) },
  { path: "/clusters", help: "upstream cluster status (format=text|json)", mutates: false, handle: (ctx, req) => clusters(ctx, req) },
  { path: "/config_dump", help: "dump current Envoy configs", mutates: false, handle: (ctx) => json(configDump(ctx)) },
  {
    path: "/healthcheck/fail",
    help: "cause the server to fail health checks",
    mutates: true,
    handle: (ctx) => {
      ctx.state.healthCheckFailed = true;
      return text("OK\n");
    },
  },
  {
    path: "/healthcheck/ok",
    help: "cause the server to pass health checks",
    mutates: true,
    handle: (ctx) => {
      ctx.state.healthCheckFailed = false;
      return text("OK\n");
    },
  },
  { path: "/help", help: "print out list of admin commands", mutates: false, handle: () => text(helpText()) },
  { path: "/listeners", help: "print listener info (format=text|json)", mutates: false, handle: (ctx, req) => listeners(ctx, req) },
  {
    path: "/quitquitquit",
    help: "exit the server",
    mutates: true,
    handle: (ctx) => ({ ...text("OK\n"), afterSent: () => ctx.shutdown() }),
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
  { path: "/server_info", help: "print server version/status information", mutates: false, handle: (ctx) => json(serverInfo(ctx)) },
  { path: "/stats", help: "print server stats (usedonly, filter=<regex>, format=text|json|prometheus)", mutates: false, handle: (ctx, req) => stats(ctx, req) },
  { path: "/stats/prometheus", help: "print server stats in prometheus format", mutates: false, handle: (ctx) => prometheus(ctx) },
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
  };
}

const T = "type.googleapis.com/";

function configDump(ctx: AdminContext) {
  const lastUpdated = new Date(ctx.state.startTime).toISOString();
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

function formatParam(req: AdminRequest): string {
  return req.query.get("format") ?? "text";
}

function hostStats(h: Host): { name: string; type: "COUNTER" | "GAUGE"; value: number }[] {
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
    lines.push(`${n}::added_via_api::false`);
    for (const h of c.hosts) {
      const a = h.addressString;
      for (const s of hostStats(h)) lines.push(`${n}::${a}::${s.name}::${s.value}`);
      lines.push(
        `${n}::${a}::hostname::${h.hostname}`,
        `${n}::${a}::health_flags::${h.healthFlags}`,
        `${n}::${a}::weight::${h.weight}`,
        `${n}::${a}::region::`,
        `${n}::${a}::zone::`,
        `${n}::${a}::sub_zone::`,
        `${n}::${a}::canary::false`,
        `${n}::${a}::priority::0`,
        `${n}::${a}::success_rate::-1`,
        `${n}::${a}::local_origin_success_rate::-1`,
      );
    }
  }
  return text(lines.join("\n") + (lines.length ? "\n" : ""));
}

function clusterStatus(c: Cluster) {
  return {
    name: c.name,
    added_via_api: false,
    observability_name: c.name,
    host_statuses: c.hosts.map((h) => ({
      address: { socket_address: { address: h.address, port_value: h.port } },
      // proto3 JSON: uint64 values are strings.
      stats: hostStats(h).map((s) => ({ name: s.name, type: s.type, value: String(s.value) })),
      health_status: { eds_health_status: "HEALTHY" },
      weight: h.weight,
      hostname: h.hostname,
      priority: 0,
      locality: {},
    })),
  };
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
  if (format === "prometheus") return prometheus(ctx);
  let filter: RegExp | undefined;
  const f = req.query.get("filter");
  if (f !== null && f !== "") {
    try {
      filter = new RegExp(f);
    } catch {
      return text(`Invalid re2 regex\n`, 400);
    }
  }
  const usedOnly = req.query.has("usedonly");
  ctx.refreshServerStats();
  if (format === "json") return json(ctx.stats.jsonFormat(filter, usedOnly));
  if (format !== "text") return text(`usage: /stats?format=(text|json|prometheus)\n`, 400);
  return text(ctx.stats.textFormat(filter, usedOnly));
}

function prometheus(ctx: AdminContext): AdminResponse {
  ctx.refreshServerStats();
  return text(ctx.stats.prometheusFormat());
}
