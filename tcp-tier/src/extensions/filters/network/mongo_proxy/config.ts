/**
 * `envoy.filters.network.mongo_proxy`, config half: looks up the fixed stats, opens the access log and
 * reads the fault settings once per config version; per-command and per-collection stats are made on first
 * use and shared by every connection of the config. The factory adds one {@link MongoProxyFilter} per
 * connection (filter.ts).
 */
import type { MongoProxyModel } from "../../../../../../shared/config/model.ts";
import { createStaticRuntime, type Runtime } from "../../../../../../shared/runtime/runtime.ts";
import type { Counter, Gauge, Histogram, StatsScope } from "../../../../../../shared/stats/store.ts";
import { nodeAccessLogSinks } from "../../../../access-log/node-sinks.ts";
import type { ServerState } from "../../../../admin/handlers.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { NetworkFilterFactory } from "../../../../network/filter.ts";
import { MongoProxyFilter } from "./filter.ts";

/** Envoy's counters under `mongo.<stat_prefix>.`, then Legate's (OP_MSG, OP_UPDATE/DELETE, OP_COMPRESSED). */
export const MONGO_COUNTERS = [
  "decoding_error", "delays_injected",
  "op_get_more", "op_insert", "op_kill_cursors",
  "op_query", "op_query_tailable_cursor", "op_query_no_cursor_timeout", "op_query_await_data", "op_query_exhaust",
  "op_query_no_max_time", "op_query_scatter_get", "op_query_multi_get",
  "op_reply", "op_reply_cursor_not_found", "op_reply_query_failure", "op_reply_valid_cursor",
  "cx_destroy_local_with_active_rq", "cx_destroy_remote_with_active_rq", "cx_drain_close",
  "op_msg", "op_msg_more_to_come", "op_msg_exhaust_allowed", "op_msg_reply", "op_msg_reply_error", "op_msg_reply_valid_cursor",
  "op_update", "op_delete", "op_compressed", "op_compressed_undecodable",
] as const;

export type MongoCounter = (typeof MONGO_COUNTERS)[number];

/** Histograms a reply is recorded into (`cmd.<c>.`, `collection.<c>.query.`, `...callsite.<s>.query.`). */
export interface ReplyStats {
  reply_num_docs: Histogram;
  reply_size: Histogram;
  reply_time_ms: Histogram;
}

export interface QueryStats extends ReplyStats {
  total: Counter;
  scatter_get: Counter;
  multi_get: Counter;
}

export interface CommandStats extends ReplyStats {
  total: Counter;
}

export interface MongoProxyConfig {
  model: MongoProxyModel;
  stats: Record<MongoCounter, Counter>;
  opQueryActive: Gauge;
  commands: ReadonlySet<string>;
  runtime: Runtime;
  serverState: ServerState;
  /** Appends one access log line; absent without `access_log`. */
  log?: (line: string) => void;
  commandStats(name: string): CommandStats;
  /** Per-collection query stats; with `callsite`, the callsite's. */
  queryStats(collection: string, callsite?: string): QueryStats;
}

function replyStats(scope: StatsScope): ReplyStats {
  return { reply_num_docs: scope.histogram("reply_num_docs"), reply_size: scope.histogram("reply_size"), reply_time_ms: scope.histogram("reply_time_ms") };
}

/** Stat name segments come from traffic: dots would split the name, so they become underscores. */
function segment(name: string): string {
  return name.replace(/[.:\s]/g, "_");
}

export function createMongoProxyConfig(model: MongoProxyModel, context: NetworkFilterFactoryContext): MongoProxyConfig {
  const scope = context.stats.scope(`mongo.${model.statPrefix}.`);
  const stats = Object.fromEntries(MONGO_COUNTERS.map((n) => [n, scope.counter(n)])) as Record<MongoCounter, Counter>;
  const cmdCache = new Map<string, CommandStats>();
  const queryCache = new Map<string, QueryStats>();
  const config: MongoProxyConfig = {
    model,
    stats,
    opQueryActive: scope.gauge("op_query_active"),
    commands: new Set(model.commands),
    runtime: context.runtime ?? createStaticRuntime(),
    serverState: context.serverState,
    commandStats(name) {
      let s = cmdCache.get(name);
      if (!s) {
        const c = scope.scope(`cmd.${segment(name)}.`);
        s = { total: c.counter("total"), ...replyStats(c) };
        cmdCache.set(name, s);
      }
      return s;
    },
    queryStats(collection, callsite) {
      const key = callsite === undefined ? collection : `${collection}\0${callsite}`;
      let s = queryCache.get(key);
      if (!s) {
        const base = `collection.${segment(collection)}.${callsite === undefined ? "" : `callsite.${segment(callsite)}.`}query.`;
        const q = scope.scope(base);
        s = { total: q.counter("total"), scatter_get: q.counter("scatter_get"), multi_get: q.counter("multi_get"), ...replyStats(q) };
        queryCache.set(key, s);
      }
      return s;
    },
  };
  const file = nodeAccessLogSinks(context.logger).file;
  if (model.accessLog && file) config.log = file(model.accessLog);
  return config;
}

export function createMongoProxyFactory(model: MongoProxyModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const config = createMongoProxyConfig(model, context);
  return (manager) => manager.addFilter(new MongoProxyFilter(config));
}
