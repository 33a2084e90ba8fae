/**
 * Request-time errors: one {@link ProxyError} type with a stable `code`, and the one table
 * ({@link PROXY_ERRORS}) that maps each code to the HTTP status, Envoy response flag, body and
 * response code details of the local reply Envoy would send. Classify once, where the failure is
 * understood (the transport knows its runtime's socket errors, the router knows its timers), then
 * match on `code`, never on `instanceof` or message text.
 *
 * A failure can carry extra response flags besides its own (the router adds `URX` when the retry
 * limit was reached, `UO` when a retry was refused by the circuit breakers): {@link ProxyError.flags}.
 */

/** Every request-time failure Legate classifies. Stable: tests, docs and the access log use them. */
export type ProxyErrorCode =
  | "no_route"
  | "cluster_not_found"
  | "no_healthy_upstream"
  | "upstream_connect_failure"
  | "upstream_connection_termination"
  | "upstream_overflow"
  | "maintenance_mode"
  | "upstream_request_timeout"
  | "upstream_request_timeout_alt_response"
  | "upstream_per_try_timeout"
  | "upstream_per_try_idle_timeout"
  | "upstream_reset_after_response_started"
  | "stream_idle_timeout"
  | "request_timeout"
  | "max_duration_timeout"
  | "no_config"
  | "internal_error";

/** Which side of the proxy a failure belongs to (for logs and retry decisions). */
export type ProxyErrorSource = "downstream" | "upstream" | "config" | "filter";

export interface ProxyErrorSpec {
  status: number;
  /** Envoy's response flag (`%RESPONSE_FLAGS%`), or `""` when Envoy has none for it. */
  flag: string;
  /** The local reply body, as Envoy words it. Empty means no body. */
  body: string;
  /** Envoy's `%RESPONSE_CODE_DETAILS%`. */
  details: string;
  source: ProxyErrorSource;
  /** True when another host (or a later attempt) could succeed; the retry policy decides. */
  retryable: boolean;
}

const UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers. reset reason:";
const UPSTREAM_TIMEOUT = "upstream request timeout";

/** The one place codes become statuses, flags and bodies. */
export const PROXY_ERRORS: Readonly<Record<ProxyErrorCode, ProxyErrorSpec>> = {
  no_route: { status: 404, flag: "NR", body: "", details: "route_not_found", source: "downstream", retryable: false },
  cluster_not_found: { status: 503, flag: "NC", body: "", details: "cluster_not_found", source: "config", retryable: false },
  no_healthy_upstream: { status: 503, flag: "UH", body: "no healthy upstream", details: "no_healthy_upstream", source: "upstream", retryable: false },
  upstream_connect_failure: {
    status: 503,
    flag: "UF",
    body: `${UPSTREAM_RESET} connection failure`,
    details: "upstream_reset_before_response_started{connection_failure}",
    source: "upstream",
    retryable: true,
  },
  upstream_connection_termination: {
    status: 503,
    flag: "UC",
    body: `${UPSTREAM_RESET} connection termination`,
    details: "upstream_reset_before_response_started{connection_termination}",
    source: "upstream",
    retryable: true,
  },
  // A circuit breaker refused the attempt (max_connections, max_pending_requests, max_requests).
  // Envoy never retries an overflow, and adds `x-envoy-overloaded: true` to the reply.
  upstream_overflow: {
    status: 503,
    flag: "UO",
    body: `${UPSTREAM_RESET} overflow`,
    details: "upstream_reset_before_response_started{overflow}",
    source: "upstream",
    retryable: false,
  },
  // Runtime `upstream.maintenance_mode.<cluster>` (a percentage) sends this share of the cluster's
  // requests an immediate 503, as Envoy's router does (UO, `x-envoy-overloaded: true`).
  maintenance_mode: { status: 503, flag: "UO", body: "maintenance mode", details: "maintenance_mode", source: "upstream", retryable: false },
  // The route timeout (`timeout`, default 15 s, or x-envoy-upstream-rq-timeout-ms) covers every attempt.
  upstream_request_timeout: { status: 504, flag: "UT", body: UPSTREAM_TIMEOUT, details: "upstream_response_timeout", source: "upstream", retryable: false },
  // The same, for a trusted client that sent x-envoy-upstream-rq-timeout-alt-response.
  upstream_request_timeout_alt_response: { status: 204, flag: "UT", body: "", details: "upstream_response_timeout", source: "upstream", retryable: false },
  upstream_per_try_timeout: { status: 504, flag: "UT", body: UPSTREAM_TIMEOUT, details: "upstream_per_try_timeout", source: "upstream", retryable: true },
  upstream_per_try_idle_timeout: { status: 504, flag: "UT", body: UPSTREAM_TIMEOUT, details: "upstream_per_try_idle_timeout", source: "upstream", retryable: true },
  // Once response headers went downstream a failure can only reset the stream; the status is never sent.
  upstream_reset_after_response_started: {
    status: 502,
    flag: "UR",
    body: "",
    details: "upstream_reset_after_response_started{remote_reset}",
    source: "upstream",
    retryable: false,
  },
  // The HCM's `stream_idle_timeout` or the route's `idle_timeout` fired before response headers. 408 here;
  // 504 when the request had been received whole (raised with `status`), as Envoy answers.
  stream_idle_timeout: { status: 408, flag: "SI", body: "stream timeout", details: "stream_idle_timeout", source: "downstream", retryable: false },
  // The HCM's `request_timeout`: the request body had not fully arrived in time (Envoy sets no flag).
  request_timeout: { status: 408, flag: "", body: "request timeout", details: "request_overall_timeout", source: "downstream", retryable: false },
  // The route's `max_stream_duration` elapsed before response headers (504 too once the request was whole).
  max_duration_timeout: { status: 408, flag: "DT", body: "downstream duration timeout", details: "max_duration_timeout", source: "downstream", retryable: false },
  // Envoy has no flag for "nothing to serve yet"; NFCF (no filter chain found) is the closest: the
  // listener has no filter chain that could take the request.
  no_config: {
    status: 503,
    flag: "NFCF",
    body: "no configuration loaded: this Legate edge has not loaded a valid config yet (push one with `legate push`)",
    details: "legate_no_config",
    source: "config",
    retryable: false,
  },
  internal_error: { status: 500, flag: "", body: "internal error", details: "legate_internal_error", source: "filter", retryable: false },
};

/** Options of a {@link ProxyError} beyond its code. */
export interface ProxyErrorOptions {
  cause?: unknown;
  /**
   * Response flags to report after the code's own (e.g. `URX` when the retry limit was reached before
   * this failure could be retried). In the order they were set.
   */
  extraFlags?: readonly string[];
  /**
   * Replaces the table's status. Envoy's stream timeouts (`stream_idle_timeout`, `max_duration_timeout`)
   * answer 408 only while the request is still arriving and 504 once it was received whole
   * (Utility::maybeRequestTimeoutCode); the code that raises them knows which.
   */
  status?: number;
}

/** A classified request-time failure. `message` is for logs; the client sees the table's body. */
export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  /** The code's flag followed by {@link ProxyErrorOptions.extraFlags} (empty strings left out). */
  readonly flags: readonly string[];
  private readonly merged: ProxyErrorSpec | undefined;

  constructor(code: ProxyErrorCode, message?: string, options?: ProxyErrorOptions) {
    super(message ?? PROXY_ERRORS[code].details, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = "ProxyError";
    const own = PROXY_ERRORS[code].flag;
    const extra = options?.extraFlags?.filter((f) => f && f !== own) ?? [];
    this.flags = own ? [own, ...extra] : extra;
    // Envoy renders several flags comma-separated (%RESPONSE_FLAGS% "UF,URX"); so does `spec.flag`.
    const status = options?.status;
    this.merged = extra.length || status !== undefined
      ? { ...PROXY_ERRORS[code], flag: this.flags.join(","), ...(status !== undefined ? { status } : {}) }
      : undefined;
  }

  /** The local reply for this failure: the table's entry, with every flag in `flag`. */
  get spec(): ProxyErrorSpec {
    return this.merged ?? PROXY_ERRORS[this.code];
  }
}

/** True for a {@link ProxyError} (by shape, so errors from another copy of this module also match). */
export function isProxyError(e: unknown): e is ProxyError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "ProxyError" && typeof (e as { code?: unknown }).code === "string" && (e as { code: string }).code in PROXY_ERRORS;
}

/** Classifies anything thrown inside the engine: a ProxyError stays itself, the rest is `internal_error`. */
export function toProxyError(e: unknown): ProxyError {
  return isProxyError(e) ? e : new ProxyError("internal_error", e instanceof Error ? e.message : String(e), { cause: e });
}
