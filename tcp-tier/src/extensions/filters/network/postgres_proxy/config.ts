/**
 * `envoy.filters.network.postgres_proxy`: the factory looks up every counter once per config version;
 * the per-connection filter (filter.ts) decodes both directions and counts into them.
 */
import type { PostgresProxyModel } from "../../../../../../shared/config/model.ts";
import type { Counter } from "../../../../../../shared/stats/store.ts";
import type { NetworkFilterFactoryContext } from "../../../../extensions.ts";
import type { NetworkFilterFactory } from "../../../../network/filter.ts";
import { PostgresProxyFilter } from "./filter.ts";

/** Envoy's counter names under `postgres.<stat_prefix>.`, plus Legate's `decoding_error`. */
export const POSTGRES_COUNTERS = [
  "sessions", "sessions_encrypted", "sessions_unencrypted",
  "sessions_terminated_ssl", "sessions_upstream_ssl_success", "sessions_upstream_ssl_failed",
  "statements", "statements_insert", "statements_update", "statements_delete", "statements_select", "statements_other",
  "statements_parsed", "statements_parse_error",
  "transactions", "transactions_commit", "transactions_rollback",
  "errors", "errors_error", "errors_fatal", "errors_panic", "errors_unknown",
  "notices", "notices_notice", "notices_warning", "notices_log", "notices_info", "notices_debug", "notices_unknown",
  "messages", "messages_frontend", "messages_backend", "messages_unknown",
  "decoding_error",
] as const;

export type PostgresCounter = (typeof POSTGRES_COUNTERS)[number];

export interface PostgresProxyConfig {
  model: PostgresProxyModel;
  stats: Record<PostgresCounter, Counter>;
}

export function createPostgresProxyFactory(model: PostgresProxyModel, context: NetworkFilterFactoryContext): NetworkFilterFactory {
  const scope = context.stats.scope(`postgres.${model.statPrefix}.`);
  const stats = Object.fromEntries(POSTGRES_COUNTERS.map((n) => [n, scope.counter(n)])) as Record<PostgresCounter, Counter>;
  const config: PostgresProxyConfig = { model, stats };
  return (manager) => manager.addFilter(new PostgresProxyFilter(config, context.logger));
}
