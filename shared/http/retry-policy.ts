/**
 * Envoy's retry conditions (`retry_on`, `x-envoy-retry-on`, `x-envoy-retry-grpc-on`) as bit flags, and
 * a route's retry policy compiled once per config version ({@link compileRetryPolicy}).
 *
 * HTTP conditions: `5xx` (any 5xx, and every reset, connect failure and per-try timeout),
 * `gateway-error` (502, 503, 504, and the same resets), `reset` (no response at all: reset,
 * disconnect, connect failure, per-try timeout), `reset-before-request` (a reset before the request
 * was sent: at the edge, a failed connect), `connect-failure`, `retriable-4xx` (409),
 * `refused-stream` (an HTTP/2 REFUSED_STREAM; never seen over the edge's HTTP/1.1 `fetch`),
 * `retriable-status-codes`, `retriable-headers`, `envoy-ratelimited` (a response with
 * `x-envoy-ratelimited`). gRPC conditions (the `grpc-status` response header): `cancelled` (1),
 * `deadline-exceeded` (4), `resource-exhausted` (8), `internal` (13), `unavailable` (14).
 * `http3-post-connect-failure` is Envoy's but meaningless without HTTP/3 upstreams: config refuses it.
 */
import type { RetryPolicyModel } from "../config/model.ts";
import { compileHeaderMatcher, type HeaderMatch } from "./matchers.ts";

/** Retry condition bits. */
export const RETRY_ON = {
  FIVE_XX: 1 << 0,
  GATEWAY_ERROR: 1 << 1,
  RESET: 1 << 2,
  RESET_BEFORE_REQUEST: 1 << 3,
  CONNECT_FAILURE: 1 << 4,
  RETRIABLE_4XX: 1 << 5,
  REFUSED_STREAM: 1 << 6,
  RETRIABLE_STATUS_CODES: 1 << 7,
  RETRIABLE_HEADERS: 1 << 8,
  ENVOY_RATE_LIMITED: 1 << 9,
  HTTP3_POST_CONNECT_FAILURE: 1 << 10,
  GRPC_CANCELLED: 1 << 11,
  GRPC_DEADLINE_EXCEEDED: 1 << 12,
  GRPC_RESOURCE_EXHAUSTED: 1 << 13,
  GRPC_INTERNAL: 1 << 14,
  GRPC_UNAVAILABLE: 1 << 15,
} as const;

/** The `x-envoy-retry-on` conditions by name. */
export const HTTP_RETRY_ON: Readonly<Record<string, number>> = {
  "5xx": RETRY_ON.FIVE_XX,
  "gateway-error": RETRY_ON.GATEWAY_ERROR,
  reset: RETRY_ON.RESET,
  "reset-before-request": RETRY_ON.RESET_BEFORE_REQUEST,
  "connect-failure": RETRY_ON.CONNECT_FAILURE,
  "retriable-4xx": RETRY_ON.RETRIABLE_4XX,
  "refused-stream": RETRY_ON.REFUSED_STREAM,
  "retriable-status-codes": RETRY_ON.RETRIABLE_STATUS_CODES,
  "retriable-headers": RETRY_ON.RETRIABLE_HEADERS,
  "envoy-ratelimited": RETRY_ON.ENVOY_RATE_LIMITED,
  "http3-post-connect-failure": RETRY_ON.HTTP3_POST_CONNECT_FAILURE,
};

/** The `x-envoy-retry-grpc-on` conditions by name. */
export const GRPC_RETRY_ON: Readonly<Record<string, number>> = {
  cancelled: RETRY_ON.GRPC_CANCELLED,
  "deadline-exceeded": RETRY_ON.GRPC_DEADLINE_EXCEEDED,
  "resource-exhausted": RETRY_ON.GRPC_RESOURCE_EXHAUSTED,
  internal: RETRY_ON.GRPC_INTERNAL,
  unavailable: RETRY_ON.GRPC_UNAVAILABLE,
};

/** gRPC status codes for the gRPC conditions. */
export const GRPC_STATUS_BITS: ReadonlyMap<number, number> = new Map([
  [1, RETRY_ON.GRPC_CANCELLED],
  [4, RETRY_ON.GRPC_DEADLINE_EXCEEDED],
  [8, RETRY_ON.GRPC_RESOURCE_EXHAUSTED],
  [13, RETRY_ON.GRPC_INTERNAL],
  [14, RETRY_ON.GRPC_UNAVAILABLE],
]);

/** Conditions Envoy defines that Legate refuses in config (they could never trigger). */
export const UNSUPPORTED_RETRY_ON: ReadonlySet<string> = new Set(["http3-post-connect-failure"]);

/**
 * Parses a comma-separated condition list (tokens trimmed, empty ones skipped) against `names`.
 * `unknown` lists the tokens that are not conditions (Envoy ignores them; config compile refuses them).
 */
export function parseRetryOn(text: string, ...names: Readonly<Record<string, number>>[]): { bits: number; unknown: string[] } {
  let bits = 0;
  const unknown: string[] = [];
  for (const raw of text.split(",")) {
    const token = raw.trim();
    if (!token) continue;
    let bit: number | undefined;
    for (const table of names) {
      bit = table[token];
      if (bit !== undefined) break;
    }
    if (bit === undefined) unknown.push(token);
    else bits |= bit;
  }
  return { bits, unknown };
}

/** A route's retry policy, compiled once per config version (matchers compiled, conditions as bits). */
export interface CompiledRetryPolicy {
  readonly model: RetryPolicyModel;
  readonly retryOn: number;
  readonly numRetries: number;
  /** 0: none. */
  readonly perTryTimeoutMs: number;
  /** 0: none. */
  readonly perTryIdleTimeoutMs: number;
  readonly retriableHeaders: readonly HeaderMatch[];
  readonly retriableRequestHeaders: readonly HeaderMatch[];
}

/** Compiles a retry policy. Called once per route per config version (cached by the router). */
export function compileRetryPolicy(model: RetryPolicyModel): CompiledRetryPolicy {
  const { bits } = parseRetryOn(model.retryOn.join(","), HTTP_RETRY_ON, GRPC_RETRY_ON);
  return {
    model,
    retryOn: bits,
    numRetries: model.numRetries,
    perTryTimeoutMs: model.perTryTimeoutMs ?? 0,
    perTryIdleTimeoutMs: model.perTryIdleTimeoutMs ?? 0,
    retriableHeaders: model.retriableHeaders.map(compileHeaderMatcher),
    retriableRequestHeaders: model.retriableRequestHeaders.map(compileHeaderMatcher),
  };
}
