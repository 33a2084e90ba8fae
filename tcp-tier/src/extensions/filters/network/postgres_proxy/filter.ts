/**
 * The per-connection postgres_proxy filter: a read filter (client→server bytes) and a write filter
 * (server→client bytes) that hand every chunk to one {@link PgDecoder} and always return `continue`, so
 * traffic passes unchanged. Counts follow Envoy's postgres_proxy:
 * - `sessions` and `sessions_unencrypted` on AuthenticationOk (a successful login in plain text);
 *   `sessions_encrypted` when the server accepts an SSLRequest or GSSENCRequest (decoding stops then).
 * - `statements` and `statements_<kind>` per CommandComplete, by its tag; BEGIN / START TRANSACTION
 *   count a transaction, COMMIT and ROLLBACK end it (`transactions_commit` / `transactions_rollback`);
 *   a statement outside a transaction block is its own committed transaction.
 * - `statements_parsed` / `statements_parse_error` per Query or Parse message when SQL parsing is on.
 * - `errors_*` / `notices_*` by the severity of ErrorResponse / NoticeResponse.
 * - `messages` for every message seen, `messages_frontend` / `messages_backend` for known ones,
 *   `messages_unknown` for type bytes the protocol does not define.
 * A decoding error counts `decoding_error` and stops decoding on that connection; it never closes it.
 */
import type { Logger } from "../../../../../../shared/log.ts";
import type { Connection, Filter, FilterStatus, ReadFilterCallbacks, WriteFilterCallbacks } from "../../../../network/filter.ts";
import { type BackendEvent, type FrontendEvent, PgDecoder } from "./codec.ts";
import type { PostgresCounter, PostgresProxyConfig } from "./config.ts";
import { parseSql, type SqlParseResult } from "./sql.ts";

const STATEMENT_KINDS: Record<string, PostgresCounter> = {
  INSERT: "statements_insert",
  UPDATE: "statements_update",
  DELETE: "statements_delete",
  SELECT: "statements_select",
};
const ERROR_SEVERITIES: Record<string, PostgresCounter> = { ERROR: "errors_error", FATAL: "errors_fatal", PANIC: "errors_panic" };
const NOTICE_SEVERITIES: Record<string, PostgresCounter> = {
  NOTICE: "notices_notice",
  WARNING: "notices_warning",
  LOG: "notices_log",
  INFO: "notices_info",
  DEBUG: "notices_debug",
};

export class PostgresProxyFilter implements Filter {
  private readonly config: PostgresProxyConfig;
  private readonly logger: Logger;
  private readonly decoder: PgDecoder;
  private connection: Connection | undefined;
  private inTransaction = false;
  /** Parsed statements are logged at debug level; nothing else consumes them (see docs/tcp-tier.md). */
  private readonly logStatements: boolean;

  constructor(config: PostgresProxyConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.logStatements = logger.level === "debug" || logger.level === "trace";
    this.decoder = new PgDecoder({
      frontend: (e) => this.onFrontend(e),
      backend: (e) => this.onBackend(e),
      onDecodingError: (direction, reason) => {
        this.config.stats.decoding_error.inc();
        this.logger.debug(`postgres_proxy ${this.config.model.statPrefix}: connection ${this.connection?.id ?? "?"}: ${direction} decoding error, sniffing stopped: ${reason}`);
      },
    });
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.connection = callbacks.connection;
  }

  initializeWriteFilterCallbacks(callbacks: WriteFilterCallbacks): void {
    this.connection = callbacks.connection;
  }

  onData(data: Uint8Array): FilterStatus {
    if (this.decoder.active) this.decoder.frontend(data);
    return "continue";
  }

  onWrite(data: Uint8Array): FilterStatus {
    if (this.decoder.active) this.decoder.backend(data);
    return "continue";
  }

  private inc(name: PostgresCounter): void {
    this.config.stats[name].inc();
  }

  private onFrontend(e: FrontendEvent): void {
    this.inc("messages");
    if (e.kind === "unknown") return this.inc("messages_unknown");
    this.inc("messages_frontend");
    if ((e.kind === "query" || e.kind === "parse") && this.config.model.enableSqlParsing) {
      const parsed = e.sql === undefined ? undefined : parseSql(e.sql);
      this.inc(parsed?.ok ? "statements_parsed" : "statements_parse_error");
      if (this.logStatements) this.logSql(parsed);
    }
  }

  private onBackend(e: BackendEvent): void {
    if (e.kind === "encryption-answer") {
      if (e.accepted) this.inc("sessions_encrypted");
      return;
    }
    this.inc("messages");
    if (e.kind === "unknown") return this.inc("messages_unknown");
    this.inc("messages_backend");
    switch (e.kind) {
      case "authentication":
        if (e.code === 0) {
          this.inc("sessions");
          this.inc("sessions_unencrypted");
        }
        return;
      case "command-complete":
        return this.commandComplete(e.tag);
      case "error":
        this.inc("errors");
        return this.inc(ERROR_SEVERITIES[e.severity] ?? "errors_unknown");
      case "notice":
        this.inc("notices");
        return this.inc(NOTICE_SEVERITIES[e.severity] ?? "notices_unknown");
      case "ready-for-query":
        // `I`: no transaction block is open (after COMMIT, ROLLBACK, or an implicit transaction).
        if (e.status === "I") this.inTransaction = false;
        return;
      default:
        return;
    }
  }

  private logSql(parsed: SqlParseResult | undefined): void {
    const what = !parsed
      ? "SQL too large to parse"
      : parsed.ok
        ? parsed.statements.map((st) => `${st.keyword}${st.tables.length ? ` [${st.tables.join(", ")}]` : ""}`).join("; ")
        : `parse error: ${parsed.error}`;
    this.logger.debug(`postgres_proxy ${this.config.model.statPrefix}: connection ${this.connection?.id ?? "?"}: ${what}`);
  }

  private commandComplete(tag: string): void {
    this.inc("statements");
    const space = tag.indexOf(" ");
    const word = space < 0 ? tag : tag.slice(0, space);
    this.inc(STATEMENT_KINDS[word] ?? "statements_other");
    if (word === "BEGIN" || tag === "START TRANSACTION") {
      this.inTransaction = true;
      this.inc("transactions");
    } else if (word === "COMMIT") {
      this.inTransaction = false;
      this.inc("transactions_commit");
    } else if (word === "ROLLBACK") {
      this.inTransaction = false;
      this.inc("transactions_rollback");
    } else if (!this.inTransaction) {
      this.inc("transactions");
      this.inc("transactions_commit");
    }
  }
}
