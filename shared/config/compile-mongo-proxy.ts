/**
 * Compiles `envoy.filters.network.mongo_proxy` (`MongoProxy` v3) into a {@link MongoProxyModel}, with
 * Envoy's defaults. Called once per filter by compile.ts; reads untrusted canonical JSON and reports every
 * problem as an issue. Fields the validator refuses (coverage.ts: `emit_dynamic_metadata`, a delay's
 * `header_delay`) are not read here.
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { FractionalPercentModel, MongoProxyModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** Envoy's `commands` default. */
export const MONGO_DEFAULT_COMMANDS: readonly string[] = ["delete", "insert", "update"];

const DENOMINATORS = ["HUNDRED", "TEN_THOUSAND", "MILLION"] as const;

/**
 * @param config the filter's `typed_config`, at `path`.
 * @param edge the listener is the edge's: mongo_proxy cannot run there (refused).
 */
export function compileMongoProxy(issues: ConfigIssue[], name: string, config: Obj, path: string, filterPath: string, edge: boolean): MongoProxyModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(config.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const model: MongoProxyModel = { kind: "mongo_proxy", name, statPrefix, commands: [...MONGO_DEFAULT_COMMANDS] };
  const accessLog = r.str(config.access_log, p("access_log"));
  if (accessLog) model.accessLog = accessLog;
  const cmds = r.arr(config.commands, p("commands")).flatMap((v, i) => r.str(v, joinPath(p("commands"), i)) ?? []);
  if (cmds.length > 0) model.commands = cmds;
  const dp = p("delay");
  const d = r.obj(config.delay, dp);
  // A header_delay (the oneof's other choice) is refused by the validator: no second issue here.
  if (d && d.header_delay === undefined) {
    const fp = joinPath(dp, "fixed_delay");
    const fixedDelayMs = r.required(r.durationMs(d.fixed_delay, fp), fp, "fixed_delay") ?? 0;
    const pp = joinPath(dp, "percentage");
    const po = r.obj(d.percentage, pp);
    // Envoy reads an absent percentage as its proto default: 0 %, so the delay never fires.
    const percentage: FractionalPercentModel = po
      ? { numerator: r.uint(po.numerator, joinPath(pp, "numerator")) ?? 0, denominator: r.enumOf(po.denominator, joinPath(pp, "denominator"), DENOMINATORS, "HUNDRED") }
      : { numerator: 0, denominator: "HUNDRED" };
    model.delay = { fixedDelayMs, percentage };
  }
  if (edge) r.bad(filterPath, "mongo_proxy runs in the tcp tier only (the edge listener runs one http_connection_manager)", "unsupported");
  return model;
}
