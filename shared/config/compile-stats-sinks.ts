/**
 * Bootstrap `stats_sinks` and `stats_flush_interval`: the statsd sink (`envoy.stat_sinks.statsd`,
 * `envoy.config.metrics.v3.StatsdSink`) over UDP, run by the tcp tier. Any other sink type, and
 * statsd over a TCP cluster (`tcp_cluster_name`), are refused.
 */
import { joinPath } from "./issues.ts";
import type { StatsSinksModel } from "./model.ts";
import type { Reader } from "./reader.ts";

const STATSD_TYPE = "envoy.config.metrics.v3.StatsdSink";
const STATSD_NAMES = new Set(["envoy.stat_sinks.statsd", "envoy.statsd"]);
/** Envoy's default `stats_flush_interval`. */
const DEFAULT_FLUSH_MS = 5000;

export function compileStatsSinks(r: Reader, root: Record<string, unknown>): StatsSinksModel {
  const flushIntervalMs = r.durationMs(root.stats_flush_interval, "stats_flush_interval") ?? DEFAULT_FLUSH_MS;
  const statsd: StatsSinksModel["statsd"] = [];
  r.arr(root.stats_sinks, "stats_sinks").forEach((s, i) => {
    const p = joinPath("stats_sinks", i);
    const sink = r.obj(s, p) ?? {};
    const tc = r.obj(sink.typed_config, joinPath(p, "typed_config"));
    const typeUrl = r.str(tc?.["@type"], joinPath(p, "typed_config.@type")) ?? "";
    const name = r.str(sink.name, joinPath(p, "name")) ?? "";
    const isStatsd = typeUrl ? typeUrl.endsWith(`/${STATSD_TYPE}`) : STATSD_NAMES.has(name);
    if (!isStatsd) {
      r.bad(p, `stats sink ${typeUrl || name || "(unnamed)"} is not supported by Legate (only envoy.stat_sinks.statsd)`, "unsupported");
      return;
    }
    if (!tc) {
      r.bad(p, "envoy.stat_sinks.statsd needs a typed_config with `address`", "not-envoy");
      return;
    }
    const ap = joinPath(p, "typed_config.address");
    const addr = r.obj(tc.address, ap);
    const sa = r.obj(addr?.socket_address, joinPath(ap, "socket_address"));
    if (!sa) {
      r.bad(ap, "the statsd sink needs `address.socket_address` (UDP); `tcp_cluster_name` is not supported", "unsupported");
      return;
    }
    const address = r.str(sa.address, joinPath(ap, "socket_address.address"));
    const port = r.uint(sa.port_value, joinPath(ap, "socket_address.port_value"), 65535) ?? 0;
    if (!address) return;
    const prefix = r.str(tc.prefix, joinPath(p, "typed_config.prefix")) || "envoy";
    statsd.push({ address, port, prefix });
  });
  return { flushIntervalMs, statsd };
}
