/**
 * The x-envoy request headers the router consumes (Envoy's router filter docs, "HTTP headers consumed
 * from downstreams"). They are honoured only from trusted (internal) clients, which the HCM marks
 * with `x-envoy-internal: true` (shared/http/headers.ts, Envoy's rules: a client's own
 * `x-envoy-internal` is always removed, and external requests lose these headers before routing).
 * Whatever the client, the router removes them before the request goes upstream.
 *
 * - `x-envoy-retry-on`, `x-envoy-retry-grpc-on`: retry conditions added to the route's (unknown
 *   tokens ignored, as Envoy does); with neither, nor a route policy, no retries.
 * - `x-envoy-max-retries`: replaces `num_retries` (only when some retry condition is set).
 * - `x-envoy-upstream-rq-timeout-ms`: replaces the route `timeout` (0 disables it).
 * - `x-envoy-upstream-rq-per-try-timeout-ms`: replaces `per_try_timeout`; ignored unless below the
 *   route timeout.
 * - `x-envoy-hedge-on-per-try-timeout`: `true`/`false` replaces `hedge_on_per_try_timeout`.
 * - `x-envoy-retriable-status-codes`, `x-envoy-retriable-header-names`: added to the policy's lists.
 * - `x-envoy-upstream-rq-timeout-alt-response`: a route timeout answers 204 instead of 504.
 */
import { GRPC_RETRY_ON, HTTP_RETRY_ON, parseRetryOn } from "./retry-policy.ts";

/** What a trusted client asked for. Fields are absent when the header was absent or unparsable. */
export interface RequestControls {
  /** Conditions from x-envoy-retry-on and x-envoy-retry-grpc-on (0: none). */
  retryOn: number;
  maxRetries?: number;
  timeoutMs?: number;
  perTryTimeoutMs?: number;
  hedgeOnPerTryTimeout?: boolean;
  retriableStatusCodes?: number[];
  /** Lower-cased. */
  retriableHeaderNames?: string[];
  /** x-envoy-upstream-rq-timeout-alt-response was present. */
  timeoutAltResponse: boolean;
}

const RETRY_ON = "x-envoy-retry-on";
const RETRY_GRPC_ON = "x-envoy-retry-grpc-on";
const MAX_RETRIES = "x-envoy-max-retries";
const TIMEOUT = "x-envoy-upstream-rq-timeout-ms";
const PER_TRY_TIMEOUT = "x-envoy-upstream-rq-per-try-timeout-ms";
const HEDGE = "x-envoy-hedge-on-per-try-timeout";
const STATUS_CODES = "x-envoy-retriable-status-codes";
const HEADER_NAMES = "x-envoy-retriable-header-names";
const ALT_RESPONSE = "x-envoy-upstream-rq-timeout-alt-response";
/** Set by the router itself on every attempt; a client's value never goes upstream. */
const EXPECTED_TIMEOUT = "x-envoy-expected-rq-timeout-ms";

const CONSUMED = [RETRY_ON, RETRY_GRPC_ON, MAX_RETRIES, TIMEOUT, PER_TRY_TIMEOUT, HEDGE, STATUS_CODES, HEADER_NAMES, ALT_RESPONSE, EXPECTED_TIMEOUT];

/** True when the HCM marked the request as coming from an internal (trusted) client. */
export function isTrustedRequest(headers: Headers): boolean {
  return headers.get("x-envoy-internal") === "true";
}

/**
 * Reads the controls of a trusted request and removes every consumed header from `headers`. Called
 * once per routed request. Returns undefined for an untrusted request or one that set none.
 */
export function takeRequestControls(headers: Headers, trusted: boolean): RequestControls | undefined {
  if (!trusted) {
    for (const h of CONSUMED) headers.delete(h);
    return undefined;
  }
  let controls: RequestControls | undefined;
  const get = (name: string): string | null => {
    const v = headers.get(name);
    if (v !== null) headers.delete(name);
    return v;
  };
  const ensure = (): RequestControls => (controls ??= { retryOn: 0, timeoutAltResponse: false });

  const retryOn = get(RETRY_ON);
  if (retryOn !== null) ensure().retryOn |= parseRetryOn(retryOn, HTTP_RETRY_ON).bits;
  const grpcOn = get(RETRY_GRPC_ON);
  if (grpcOn !== null) ensure().retryOn |= parseRetryOn(grpcOn, GRPC_RETRY_ON).bits;
  const maxRetries = uint(get(MAX_RETRIES));
  if (maxRetries !== undefined) ensure().maxRetries = maxRetries;
  const timeout = uint(get(TIMEOUT));
  if (timeout !== undefined) ensure().timeoutMs = timeout;
  const perTry = uint(get(PER_TRY_TIMEOUT));
  if (perTry !== undefined) ensure().perTryTimeoutMs = perTry;
  const hedge = get(HEDGE);
  if (hedge === "true" || hedge === "false") ensure().hedgeOnPerTryTimeout = hedge === "true";
  const codes = get(STATUS_CODES);
  if (codes !== null) {
    const list = codes.split(",").map((c) => uint(c.trim())).filter((c): c is number => c !== undefined);
    if (list.length) ensure().retriableStatusCodes = list;
  }
  const names = get(HEADER_NAMES);
  if (names !== null) {
    const list = names.split(",").map((n) => n.trim().toLowerCase()).filter((n) => n !== "");
    if (list.length) ensure().retriableHeaderNames = list;
  }
  if (get(ALT_RESPONSE) !== null) ensure().timeoutAltResponse = true;
  headers.delete(EXPECTED_TIMEOUT);
  return controls;
}

function uint(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || !/^\d{1,15}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}
