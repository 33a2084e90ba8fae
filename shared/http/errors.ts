/**
 * Request-time errors: one {@link ProxyError} type with a stable `code`, and the one table
 * ({@link PROXY_ERRORS}) that maps each code to the HTTP status, Envoy response flag, body and
 * response code details of the local reply Envoy would send. Classify once, where the failure is
 * understood (the transport knows its runtime's socket errors), then match on `code`, never on
 * `instanceof` or message text.
 */

/** Every request-time failure Legate classifies. Stable: tests, docs and the access log use them. */
export type ProxyErrorCode =
  | "no_route"
  | "cluster_not_found"
  | "no_healthy_upstream"
  | "upstream_connect_failure"
  | "upstream_connection_termination"
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

/** A classified request-time failure. `message` is for logs; the client sees the table's body. */
export class ProxyError extends Error {
  readonly code: ProxyErrorCode;
  constructor(code: ProxyErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? PROXY_ERRORS[code].details, options);
    this.code = code;
    this.name = "ProxyError";
  }
  get spec(): ProxyErrorSpec {
    return PROXY_ERRORS[this.code];
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
