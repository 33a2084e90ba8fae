/**
 * Compiles `envoy.filters.network.postgres_proxy` (contrib, v3alpha PostgresProxy) into its model, with
 * Envoy's defaults. A non-terminal filter: compile.ts requires a terminal filter (tcp_proxy) after it.
 * `terminate_ssl` and `upstream_ssl` other than DISABLE are refused by the support table (coverage.ts)
 * and never read here.
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { PostgresProxyModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

/** `envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy`. */
export function compilePostgresProxy(issues: ConfigIssue[], name: string, c: Obj, path: string, filterPath: string, edge: boolean): PostgresProxyModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(c.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const enableSqlParsing = r.bool(c.enable_sql_parsing, p("enable_sql_parsing")) ?? true;
  if (edge) r.bad(filterPath, "postgres_proxy runs in the tcp tier only (the edge listener runs one http_connection_manager)", "unsupported");
  return { kind: "postgres_proxy", name, statPrefix, enableSqlParsing };
}
