/**
 * Compiles `envoy.filters.network.postgres_proxy` (contrib, v3alpha PostgresProxy) into its model, with
 * Envoy's defaults. A non-terminal filter: compile.ts requires a terminal filter (tcp_proxy) after it.
 *
 * `terminate_ssl` and `upstream_ssl` need the starttls transport socket where the switch to TLS happens:
 * on the filter chain (terminate_ssl) and on every cluster the chain's tcp_proxy goes to (upstream_ssl).
 * Envoy finds out per connection (the switch fails and the session is closed, or goes on in clear text);
 * Legate refuses such a config at load time instead ({@link checkPostgresStartTls}).
 */
import { type ConfigIssue, joinPath } from "./issues.ts";
import type { ClusterModel, FilterChainModel, PostgresProxyModel } from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

const SSL_MODES = ["DISABLE", "REQUIRE", "ALLOW"] as const;

/** `envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy`. */
export function compilePostgresProxy(issues: ConfigIssue[], name: string, c: Obj, path: string, filterPath: string, edge: boolean): PostgresProxyModel {
  const r = new Reader(issues);
  const p = (k: string) => joinPath(path, k);
  const statPrefix = r.required(r.str(c.stat_prefix, p("stat_prefix")), p("stat_prefix"), "stat_prefix") ?? "";
  const enableSqlParsing = r.bool(c.enable_sql_parsing, p("enable_sql_parsing")) ?? true;
  const terminateSsl = r.bool(c.terminate_ssl, p("terminate_ssl")) ?? false;
  // Protobuf JSON may carry an enum as its number.
  const rawMode = typeof c.upstream_ssl === "number" ? SSL_MODES[c.upstream_ssl] ?? c.upstream_ssl : c.upstream_ssl;
  const upstreamSsl = r.enumOf(rawMode, p("upstream_ssl"), SSL_MODES, "DISABLE");
  if (edge) r.bad(filterPath, "postgres_proxy runs in the tcp tier only (the edge listener runs one http_connection_manager)", "unsupported");
  return { kind: "postgres_proxy", name, statPrefix, enableSqlParsing, terminateSsl, upstreamSsl };
}

/**
 * Checks a compiled chain's postgres_proxy filters against the transport sockets they switch:
 * `terminate_ssl` needs the chain's `transport_socket` to be `envoy.transport_sockets.starttls`, and
 * `upstream_ssl` REQUIRE/ALLOW needs every cluster of the chain's tcp_proxy to have one.
 * `path` is the chain's JSON path.
 */
export function checkPostgresStartTls(issues: ConfigIssue[], chain: FilterChainModel, path: string, clusters: ReadonlyMap<string, ClusterModel>): void {
  const tcpProxy = chain.filters.find((f) => f.kind === "tcp_proxy");
  chain.filters.forEach((f, i) => {
    if (f.kind !== "postgres_proxy") return;
    const fp = joinPath(joinPath(joinPath(path, "filters"), i), "typed_config");
    if (f.terminateSsl && !chain.transportSocket?.startTls) {
      issues.push({
        kind: "invalid-reference",
        path: joinPath(fp, "terminate_ssl"),
        message: `terminate_ssl needs the filter chain's transport_socket to be envoy.transport_sockets.starttls (a StartTlsConfig whose tls_socket_config holds the certificate); ${
          chain.transportSocket ? "this chain terminates TLS for every connection (envoy.transport_sockets.tls), before any Postgres byte" : "this chain has no transport_socket"
        } (${joinPath(path, "transport_socket")})`,
      });
    }
    if (f.upstreamSsl === "DISABLE" || tcpProxy?.kind !== "tcp_proxy") return;
    const names = tcpProxy.weightedClusters ? tcpProxy.weightedClusters.map((w) => w.name) : [tcpProxy.cluster];
    for (const name of names) {
      const cluster = clusters.get(name);
      if (!cluster || cluster.transportSocket?.startTls) continue;
      issues.push({
        kind: "invalid-reference",
        path: joinPath(fp, "upstream_ssl"),
        message: `upstream_ssl ${f.upstreamSsl} needs cluster "${name}" to have an envoy.transport_sockets.starttls transport_socket (an UpstreamStartTlsConfig whose tls_socket_config is the UpstreamTlsContext); it has ${
          cluster.transportSocket ? "envoy.transport_sockets.tls, which starts TLS before the Postgres SSLRequest" : "none"
        }`,
      });
    }
  });
}
