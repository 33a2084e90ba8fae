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
 *
 * SSL (only when `terminate_ssl` or `upstream_ssl` is set; otherwise every byte takes the fast path):
 * while the client's untyped startup packets arrive the filter frames them itself and passes them on
 * with `injectReadDataToFilterChain`.
 * - `terminate_ssl`: the client's SSLRequest is not forwarded; the filter answers `S` and switches the
 *   downstream connection to TLS (the chain's starttls transport socket). The decrypted session is then
 *   sniffed and forwarded as usual; `sessions_terminated_ssl` once the handshake is done. A failed
 *   handshake closes that connection (counted as the listener's `ssl.connection_error`).
 * - `upstream_ssl` REQUIRE/ALLOW: on the client's first StartupMessage (or CancelRequest) in clear text,
 *   the filter keeps it, sends its own SSLRequest upstream and reads the one-byte answer (never passed
 *   to the client). `S`: the upstream connection switches to TLS (the cluster's starttls transport
 *   socket) and, once the handshake is done, the startup message follows (`sessions_upstream_ssl_success`).
 *   `N`: `sessions_upstream_ssl_failed`; REQUIRE closes the session, ALLOW goes on in clear text. Not
 *   tried when the client's own SSLRequest went to the server (terminate_ssl off): the two negotiate TLS
 *   end to end, as in Envoy.
 */
import type { Logger } from "../../../../../../shared/log.ts";
import { concat, EMPTY } from "../../../../network/filter-manager.ts";
import type { Connection, Filter, FilterStatus, ReadFilterCallbacks, ReadFilterStatus, WriteFilterCallbacks } from "../../../../network/filter.ts";
import { type BackendEvent, encode, type FrontendEvent, GSSENC_REQUEST_CODE, MAX_STARTUP_PACKET, PgDecoder, SSL_REQUEST_CODE } from "./codec.ts";
import type { PostgresCounter, PostgresProxyConfig } from "./config.ts";
import { parseSql, type SqlParseResult } from "./sql.ts";

const STATEMENT_KINDS: Record<string, PostgresCounter> = {
  INSERT: "statements_insert",
  UPDATE: "statements_update",
  DELETE: "statements_delete",
  SELECT: "statements_select",
};
const ERROR_SEVERITIES: Record<string, PostgresCounter> = { ERROR: "errors_error", FATAL: "errors_fatal", PANIC: "errors_panic" };
/** The SSLRequest the proxy sends upstream, and the `S` it answers a client's SSLRequest with. */
const SSL_REQUEST = encode.untyped(SSL_REQUEST_CODE);
const ANSWER_S = new Uint8Array([0x53]);
const S = 0x53;
const N = 0x4e;

/**
 * Where a session whose SSL the filter handles is, before it becomes plain sniffing:
 * - `startup`: reading the client's untyped startup packets;
 * - `terminating`: the client's SSLRequest was answered with `S`, the TLS handshake with it runs;
 * - `asking-upstream`: the proxy's SSLRequest was sent upstream, the server's answer is awaited;
 * - `upstream-tls`: the TLS handshake with the server runs.
 */
type SslPhase = "startup" | "terminating" | "asking-upstream" | "upstream-tls";

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
  private readCallbacks: ReadFilterCallbacks | undefined;
  private writeCallbacks: WriteFilterCallbacks | undefined;
  private inTransaction = false;
  /** Undefined once the startup phase is over (or when neither SSL option is set): the fast path. */
  private phase: SslPhase | undefined;
  /** Client bytes kept during the startup phase, not yet passed on. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private pendingEnd = false;
  /** Parsed statements are logged at debug level; nothing else consumes them (see docs/tcp-tier.md). */
  private readonly logStatements: boolean;

  constructor(config: PostgresProxyConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.logStatements = logger.level === "debug" || logger.level === "trace";
    if (config.model.terminateSsl || config.model.upstreamSsl !== "DISABLE") this.phase = "startup";
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
    this.readCallbacks = callbacks;
  }

  initializeWriteFilterCallbacks(callbacks: WriteFilterCallbacks): void {
    this.connection = callbacks.connection;
    this.writeCallbacks = callbacks;
  }

  onData(data: Uint8Array, endStream: boolean): ReadFilterStatus {
    if (this.phase === undefined) {
      if (this.decoder.active) this.decoder.frontend(data);
      return "continue";
    }
    if (data.length > 0) {
      this.pending.push(data);
      this.pendingBytes += data.length;
    }
    if (endStream) this.pendingEnd = true;
    if (this.phase === "startup") this.readStartup();
    return "consumed";
  }

  onWrite(data: Uint8Array): FilterStatus {
    if (this.phase === "asking-upstream") return this.upstreamAnswer(data);
    if (this.decoder.active) this.decoder.backend(data);
    return "continue";
  }

  // --- SSL: the startup phase (see the module comment) ---

  private log(message: string): void {
    this.logger.debug(`postgres_proxy ${this.config.model.statPrefix}: connection ${this.connection?.id ?? "?"}: ${message}`);
  }

  /** Takes the kept client bytes. */
  private takePending(): { bytes: Uint8Array; end: boolean } {
    const bytes = this.pendingBytes === 0 ? EMPTY : concat(this.pending, this.pendingBytes);
    const end = this.pendingEnd;
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingEnd = false;
    return { bytes, end };
  }

  /** Sniffs and passes on client bytes. */
  private forward(bytes: Uint8Array, end: boolean): void {
    if (bytes.length > 0 && this.decoder.active) this.decoder.frontend(bytes);
    if (bytes.length > 0 || end) this.readCallbacks!.injectReadDataToFilterChain(bytes, end);
  }

  /** Ends the startup phase: what is kept goes on, and later bytes take the fast path. */
  private release(): void {
    this.phase = undefined;
    const { bytes, end } = this.takePending();
    this.forward(bytes, end);
  }

  /** Frames the kept client bytes into startup packets and acts on each, until one needs an answer. */
  private readStartup(): void {
    const model = this.config.model;
    while (this.phase === "startup" && this.connection?.state === "open") {
      // The server accepted GSS encryption (or the bytes broke the protocol): nothing more to read here.
      if (!this.decoder.active) return this.release();
      if (this.pendingBytes < 8) {
        if (this.pendingEnd) this.release();
        return;
      }
      const buf = concat(this.pending, this.pendingBytes);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      const length = view.getUint32(0);
      const code = view.getUint32(4);
      // Not a startup packet: the decoder reports it (decoding_error) and the bytes go on unchanged.
      if (length < 8 || length > MAX_STARTUP_PACKET) return this.release();
      if (buf.length < length) {
        this.pending = [buf];
        if (this.pendingEnd) this.release();
        return;
      }
      const rest = buf.subarray(length);
      if (code === SSL_REQUEST_CODE && length === 8 && model.terminateSsl) {
        this.pending = [];
        this.pendingBytes = 0;
        this.inc("messages");
        this.inc("messages_frontend");
        this.phase = "terminating";
        this.writeCallbacks!.injectWriteDataToFilterChain(ANSWER_S, false);
        const started = this.connection.startSecureTransport(rest, (ok) => this.onDownstreamTls(ok));
        if (!started) {
          this.log("cannot switch the client connection to TLS (the filter chain has no starttls transport socket); closing");
          this.connection.close("no-flush");
        }
        return;
      }
      if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
        // Passed to the server as it is; its answer is sniffed by the decoder.
        this.pending = rest.length > 0 ? [rest] : [];
        this.pendingBytes = rest.length;
        this.forward(buf.subarray(0, length), false);
        // The client negotiates TLS with the server itself: upstream_ssl does not apply (as in Envoy), and
        // after the server's N a second SSLRequest (the proxy's) would be a protocol error.
        if (code === SSL_REQUEST_CODE) return this.release();
        // A GSSENCRequest: after the server's N the client sends an SSLRequest or its StartupMessage.
        continue;
      }
      // A StartupMessage or CancelRequest.
      if (model.upstreamSsl !== "DISABLE") {
        this.phase = "asking-upstream";
        this.pending = [buf];
        this.log("asking the server for TLS");
        this.readCallbacks!.injectReadDataToFilterChain(SSL_REQUEST, false);
        return;
      }
      return this.release();
    }
  }

  private onDownstreamTls(ok: boolean): void {
    if (!ok) {
      this.log("TLS handshake with the client failed; connection closed");
      return;
    }
    this.inc("sessions_terminated_ssl");
    this.log("terminated TLS from the client");
    // The client now sends its startup packet again, encrypted.
    this.phase = "startup";
    this.readStartup();
  }

  /** The server's one-byte answer to the proxy's SSLRequest; never passed to the client. */
  private upstreamAnswer(data: Uint8Array): FilterStatus {
    const conn = this.connection!;
    const mode = this.config.model.upstreamSsl;
    const byte = data.length === 1 ? data[0] : undefined;
    if (byte !== S) this.inc("sessions_upstream_ssl_failed");
    if (byte === N && mode === "ALLOW") {
      this.log("the server refused TLS; going on in clear text (upstream_ssl ALLOW)");
      this.release();
      return "stop";
    }
    if (byte !== S) {
      this.log(byte === N ? "the server refused TLS; closing (upstream_ssl REQUIRE)" : `unexpected answer to the SSLRequest (${data.length} bytes); closing`);
      conn.close("no-flush");
      return "stop";
    }
    this.phase = "upstream-tls";
    if (!this.readCallbacks!.startUpstreamSecureTransport((ok) => this.onUpstreamTls(ok))) {
      // The server now expects a TLS handshake: neither mode can go on in clear text.
      this.inc("sessions_upstream_ssl_failed");
      this.log("cannot switch the server connection to TLS (the cluster has no starttls transport socket); closing");
      conn.close("no-flush");
    }
    return "stop";
  }

  private onUpstreamTls(ok: boolean): void {
    if (!ok) {
      this.inc("sessions_upstream_ssl_failed");
      this.log("TLS handshake with the server failed; closing");
      this.connection?.close("no-flush");
      return;
    }
    this.inc("sessions_upstream_ssl_success");
    this.log("TLS to the server established");
    this.release();
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
