/**
 * Compiles the HCM fields of the access log and WebSocket slice: `access_log` (loggers, formats,
 * filters) and `upgrade_configs`, plus the per-route `route.upgrade_configs`. Called once per HCM by
 * compile.ts through {@link compileHcmLogsAndUpgrades}; reads untrusted canonical JSON and reports
 * every problem as an issue, as compile.ts does.
 */
import { compileAccessLogFormat } from "../access-log/access-log.ts";
import { DEFAULT_FORMAT } from "../access-log/format.ts";
import { extensionByName, extensionByTypeUrl } from "./extensions.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import { Reader } from "./reader.ts";
import type { AccessLogFilterModel, AccessLogFormatModel, AccessLogModel, HttpConnectionManagerModel, UpgradeConfigModel } from "./model.ts";

type Obj = Record<string, unknown>;

const STDOUT = "envoy.access_loggers.stdout";
const STDERR = "envoy.access_loggers.stderr";
const FILE = "envoy.access_loggers.file";

/** Upgrade types Legate proxies. */
const UPGRADES = new Set(["websocket"]);

/** Filters of AccessLogFilter Legate does not implement, with the feature named in the issue. */
const UNSUPPORTED_FILTERS: Record<string, string> = {
  not_health_check_filter: "health check filtering of access logs",
  traceable_filter: "tracing-based access log filtering",
  runtime_filter: "runtime-sampled access logs",
  header_filter: "header-based access log filtering",
  grpc_status_filter: "gRPC status access log filtering",
  extension_filter: "access log filter extensions",
  metadata_filter: "metadata-based access log filtering",
  log_type_filter: "access log type filtering",
};


/**
 * Adds `accessLog` and `upgradeConfigs` to a compiled HCM (`raw` is its typed_config, at `path`), and
 * `upgradeConfigs` to its routes from `route_config.virtual_hosts[].routes[].route.upgrade_configs`.
 * `edge`: the HCM runs in the Worker, which has no files. Returns `hcm`.
 */
export function compileHcmLogsAndUpgrades(issues: ConfigIssue[], hcm: HttpConnectionManagerModel, raw: Obj, path: string, edge: boolean): HttpConnectionManagerModel {
  const r = new Reader(issues);
  const ap = joinPath(path, "access_log");
  const accessLog = r.arr(raw.access_log, ap).map((a, i) => compileAccessLog(r, a, joinPath(ap, i), edge)).filter((a): a is AccessLogModel => a !== undefined);
  if (accessLog.length) hcm.accessLog = accessLog;
  const upgrades = compileUpgradeConfigs(r, raw.upgrade_configs, joinPath(path, "upgrade_configs"), "hcm");
  if (upgrades.length) hcm.upgradeConfigs = upgrades;
  attachRouteUpgrades(r, hcm, raw, path);
  return hcm;
}

function compileAccessLog(r: Reader, v: unknown, path: string, edge: boolean): AccessLogModel | undefined {
  const o = r.obj(v, path) ?? {};
  const name = r.str(o.name, joinPath(path, "name")) ?? "";
  const tp = joinPath(path, "typed_config");
  const tc = r.obj(o.typed_config, tp);
  const typeUrl = tc ? r.str(tc["@type"], joinPath(tp, "@type")) : undefined;
  const ext = typeUrl !== undefined ? extensionByTypeUrl(typeUrl) : extensionByName(name);
  if (!ext || ext.category !== "access_logger" || ![STDOUT, STDERR, FILE].includes(ext.name)) {
    return r.bad(path, `access logger ${name}${typeUrl ? ` (${typeUrl})` : ""} is not supported by Legate (supported: ${STDOUT}, ${STDERR}, ${FILE})`, "unsupported");
  }
  const config = tc ?? {};
  let sink: AccessLogModel["sink"];
  let format: AccessLogFormatModel | undefined;
  if (ext.name === FILE) {
    const filePath = r.str(config.path, joinPath(tp, "path"));
    if (!filePath) r.bad(joinPath(tp, "path"), "path is required");
    sink = { kind: "file", path: filePath ?? "" };
    if (edge) {
      r.bad(path, `${FILE} cannot run at the edge: a Worker has no files; use ${STDOUT} (Workers logs, \`wrangler tail\`), or serve this listener from the tcp tier`, "unsupported");
    }
    const legacy = r.str(config.format, joinPath(tp, "format"));
    const json = r.obj(config.json_format, joinPath(tp, "json_format"));
    const typedJson = r.obj(config.typed_json_format, joinPath(tp, "typed_json_format"));
    if (legacy) format = { kind: "text", text: legacy, omitEmptyValues: false };
    else if (json) format = { kind: "json", json, typed: false, omitEmptyValues: false };
    else if (typedJson) format = { kind: "json", json: typedJson, typed: true, omitEmptyValues: false };
  } else {
    sink = { kind: ext.name === STDOUT ? "stdout" : "stderr" };
  }
  const lf = r.obj(config.log_format, joinPath(tp, "log_format"));
  if (lf) format = compileSubstitutionFormat(r, lf, joinPath(tp, "log_format"));
  const fp = joinPath(path, "filter");
  const fo = r.obj(o.filter, fp);
  const filter = fo ? compileFilter(r, fo, fp) : undefined;
  const model: AccessLogModel = { name: name || ext.name, sink, format: format ?? { kind: "text", text: DEFAULT_FORMAT, omitEmptyValues: false }, ...(filter ? { filter } : {}) };
  const formatPath = lf ? joinPath(tp, "log_format") : tp;
  for (const fi of compileAccessLogFormat(model).issues) r.bad(formatPath, fi.message, fi.kind);
  return model;
}

function compileSubstitutionFormat(r: Reader, o: Obj, path: string): AccessLogFormatModel | undefined {
  const omitEmptyValues = r.bool(o.omit_empty_values, joinPath(path, "omit_empty_values")) ?? false;
  const text = r.str(o.text_format, joinPath(path, "text_format"));
  if (text !== undefined) return { kind: "text", text, omitEmptyValues };
  const json = r.obj(o.json_format, joinPath(path, "json_format"));
  if (json) return { kind: "json", json, typed: true, omitEmptyValues };
  const sp = joinPath(path, "text_format_source");
  const src = r.obj(o.text_format_source, sp);
  if (src) {
    const inline = r.str(src.inline_string, joinPath(sp, "inline_string"));
    if (inline !== undefined) return { kind: "text", text: inline, omitEmptyValues };
    const bytes = r.str(src.inline_bytes, joinPath(sp, "inline_bytes"));
    if (bytes !== undefined) return { kind: "text", text: new TextDecoder().decode(Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0))), omitEmptyValues };
    return r.bad(sp, "text_format_source needs inline_string or inline_bytes (files are inlined when the config is validated)");
  }
  return r.bad(path, "a log_format needs one of text_format, text_format_source or json_format");
}

function compileFilter(r: Reader, o: Obj, path: string): AccessLogFilterModel | undefined {
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) return r.bad(path, "an access log filter needs exactly one filter");
  const kp = joinPath(path, key);
  switch (key) {
    case "status_code_filter":
    case "duration_filter": {
      const cp = joinPath(kp, "comparison");
      const c = r.obj(r.obj(o[key], kp)?.comparison, cp);
      if (!c) return r.bad(cp, "comparison is required");
      const op = c.op ?? "EQ";
      if (op !== "EQ" && op !== "GE" && op !== "LE") return r.bad(joinPath(cp, "op"), `expected one of EQ, GE, LE, got ${JSON.stringify(op)}`);
      const vp = joinPath(cp, "value");
      const v = r.obj(c.value, vp);
      if (!v) return r.bad(vp, "value is required");
      const value = r.uint(v.default_value, joinPath(vp, "default_value")) ?? 0;
      const runtimeKey = r.str(v.runtime_key, joinPath(vp, "runtime_key")) ?? "";
      return { kind: key === "status_code_filter" ? "status_code" : "duration", op, value, runtimeKey };
    }
    case "and_filter":
    case "or_filter": {
      const lp = joinPath(kp, "filters");
      const list = r.arr(r.obj(o[key], kp)?.filters, lp);
      if (list.length < 2) r.bad(lp, "needs at least two filters");
      const filters = list.map((f, i) => compileFilter(r, r.obj(f, joinPath(lp, i)) ?? {}, joinPath(lp, i))).filter((f): f is AccessLogFilterModel => f !== undefined);
      return { kind: key === "and_filter" ? "and" : "or", filters };
    }
    case "response_flag_filter": {
      const lp = joinPath(kp, "flags");
      const flags = r.arr(r.obj(o[key], kp)?.flags, lp).map((f, i) => r.str(f, joinPath(lp, i)) ?? "");
      return { kind: "response_flag", flags };
    }
    default: {
      const feature = UNSUPPORTED_FILTERS[key];
      return r.bad(kp, feature ? `\`${key}\` (${feature}) is not supported by Legate` : `unknown access log filter \`${key}\``, feature ? "unsupported" : "not-envoy");
    }
  }
}

function compileUpgradeConfigs(r: Reader, v: unknown, path: string, where: "hcm" | "route"): UpgradeConfigModel[] {
  const seen = new Set<string>();
  const out: UpgradeConfigModel[] = [];
  r.arr(v, path).forEach((u, i) => {
    const p = joinPath(path, i);
    const o = r.obj(u, p) ?? {};
    const type = r.str(o.upgrade_type, joinPath(p, "upgrade_type"));
    if (!type) {
      r.bad(joinPath(p, "upgrade_type"), "upgrade_type is required");
      return;
    }
    const upgradeType = type.toLowerCase();
    if (!UPGRADES.has(upgradeType)) {
      r.bad(joinPath(p, "upgrade_type"), `${type} upgrades are not supported by Legate (only websocket)`, "unsupported");
      return;
    }
    if (where === "hcm" && r.arr(o.filters, joinPath(p, "filters")).length) {
      r.bad(joinPath(p, "filters"), "custom filter chains for upgrades are not supported by Legate", "unsupported");
    }
    if (where === "route" && o.connect_config !== undefined && o.connect_config !== null) {
      r.bad(joinPath(p, "connect_config"), "CONNECT termination is not supported by Legate", "unsupported");
    }
    if (seen.has(upgradeType)) r.bad(joinPath(p, "upgrade_type"), `upgrade type ${type} is configured more than once`);
    seen.add(upgradeType);
    out.push({ upgradeType, enabled: r.bool(o.enabled, joinPath(p, "enabled")) ?? true });
  });
  return out;
}

/**
 * Route-level upgrade_configs, read from the raw route config and attached to the compiled routes by
 * position. Positions agree whenever compile produced a model (a route that failed to compile is an
 * issue, and then no model is returned at all).
 */
function attachRouteUpgrades(r: Reader, hcm: HttpConnectionManagerModel, raw: Obj, path: string): void {
  const rc = raw.route_config;
  if (rc === null || typeof rc !== "object" || Array.isArray(rc)) return;
  const vp = joinPath(joinPath(path, "route_config"), "virtual_hosts");
  const vhosts = (rc as Obj).virtual_hosts;
  if (!Array.isArray(vhosts)) return;
  vhosts.forEach((vh, i) => {
    const routes = vh !== null && typeof vh === "object" ? (vh as Obj).routes : undefined;
    if (!Array.isArray(routes)) return;
    routes.forEach((rt, j) => {
      const action = rt !== null && typeof rt === "object" ? (rt as Obj).route : undefined;
      if (action === null || typeof action !== "object" || Array.isArray(action)) return;
      const upgrades = (action as Obj).upgrade_configs;
      if (upgrades === undefined || upgrades === null) return;
      const p = joinPath(joinPath(joinPath(joinPath(vp, i), "routes"), j), "route");
      const list = compileUpgradeConfigs(r, upgrades, joinPath(p, "upgrade_configs"), "route");
      const model = hcm.routeConfig.virtualHosts[i]?.routes[j];
      if (model && list.length) model.upgradeConfigs = list;
    });
  });
}
