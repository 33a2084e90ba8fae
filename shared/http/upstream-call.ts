/**
 * One request's upstream work, up to the response headers: the router's single loop over attempts
 * (Pingora-style: every outcome is classified, and a retry goes back to host selection).
 *
 * Per attempt: pick a host (skipping hosts already tried when the retry policy has `previous_hosts`),
 * ask the circuit breakers to admit it, send it, and arm its per-try timer. Then wait for the next
 * event (an attempt's headers or failure, a per-try timer, a back-off ending, the route's timers) and
 * decide, as Envoy's router does:
 *
 * - response headers: a retriable response (RetryState) with retries left and room in the breakers is
 *   dropped and retried after the back-off (charged to `retry.upstream_rq_<code>`); otherwise it is
 *   the response (flag URX when the retry limit was the reason, UO when the breakers were), and every
 *   other attempt in flight is cancelled (`upstream_rq_tx_reset`).
 * - failure before headers (connect failure, reset): retried under the same rules; otherwise, when
 *   nothing else is in flight, the failure is the answer (503 UF/UC).
 * - per-try timeout (`per_try_timeout`, or `per_try_idle_timeout` before headers): counted, the
 *   attempt is abandoned (`upstream_rq_tx_reset`) and retried when `5xx`, `gateway-error` or `reset`
 *   is set; otherwise 504 UT. With hedging (`hedge_on_per_try_timeout`), a per-try timeout does not
 *   abandon the attempt: a second one is sent (if a retry is allowed) and the first good response of
 *   either wins; a retriable response from an attempt that was already hedged is dropped while
 *   another attempt is still under way.
 * - route timeout (`timeout`, covering every attempt and back-off): every attempt is abandoned,
 *   `upstream_rq_timeout`, 504 UT "upstream request timeout" (never retried). Route `idle_timeout`
 *   before headers: 504 SI (408 while a streamed body may still be arriving); `max_stream_duration`: the same with DT.
 *
 * Attempts the router gives up on are cancelled through an AbortSignal only on the hedging path (one
 * AbortController per hedged attempt); elsewhere they are abandoned and their response is cancelled
 * if it ever arrives (see upstream-request.ts).
 */
import type { RoutingPriority } from "../config/model.ts";
import type { ClusterRuntime, UpstreamAttempt, UpstreamHost } from "../upstream/cluster.ts";

/** Envoy's header for failing a host's health check from a normal response (its health_check filter sends it). */
const IMMEDIATE_HC_FAIL = "x-envoy-immediate-health-check-fail";
import type { RouterBody } from "./body-buffer.ts";
import { ProxyError, type ProxyErrorCode, toProxyError } from "./errors.ts";
import type { ResetKind, RetryState, RetryStatus } from "./retry-state.ts";
import type { RouterClusterStats } from "./router-stats.ts";
import { type AttemptRequest, bytesStream, urlAuthority } from "./upstream-request.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";
import { StreamTimer } from "./stream-timer.ts";

/** What one request's upstream call needs. Built by the router per routed request. */
export interface UpstreamCallOptions {
  cluster: ClusterRuntime;
  stats: RouterClusterStats;
  transport: UpstreamTransport;
  /** Picks a host; `tried` is set when retries must avoid hosts already tried. Undefined: none to offer. */
  pickHost(tried: ReadonlySet<UpstreamHost> | undefined): UpstreamHost | undefined;
  priority: RoutingPriority;
  method: string;
  /** `:path` as sent upstream. */
  path: string;
  /** The Host/:authority sent upstream. */
  authority: string;
  /** Request headers for every attempt (copied per attempt when there can be several). */
  headers: Headers;
  body: RouterBody;
  /** Undefined: exactly one attempt (no retry, no hedge). */
  retry: RetryState | undefined;
  /** Route timeout; 0: none. */
  timeoutMs: number;
  /** 0: none. */
  perTryTimeoutMs: number;
  /** 0: none. */
  perTryIdleTimeoutMs: number;
  hedgeOnPerTryTimeout: boolean;
  /** Route idle_timeout; 0: none. */
  idleTimeoutMs: number;
  /** Monotonic time max_stream_duration expires; Infinity: none. */
  maxDurationDeadline: number;
  previousHosts: boolean;
  includeAttemptCount: boolean;
  includeIsTimeoutRetry: boolean;
  /** A route timeout answers 204 (x-envoy-upstream-rq-timeout-alt-response). */
  timeoutAltResponse: boolean;
  /** The HCM's stream limits fired (idle timeout, max duration): its stats. */
  onStreamLimit(kind: "idle" | "max_duration"): void;
  /** Called whenever an attempt is sent to a host (for %UPSTREAM_HOST%). */
  onHost(host: UpstreamHost): void;
  now(): number;
  /**
   * The stream's timer (stream-timer.ts), with `start` the monotonic time the route timeout counts
   * from. Given: when the call yields response headers the timer is left running for the caller, who
   * re-arms it for the body or clears it. Absent: the call uses and clears its own.
   */
  timer?: StreamTimer;
  start?: number;
}

/** The response an upstream call settled on. */
export interface UpstreamCallResult {
  response: Response;
  /** The attempt that produced it: end it when the response body is done. */
  attempt: UpstreamAttempt;
  /** When that attempt was sent (monotonic ms). */
  attemptStart: number;
  /** Attempts sent in all. */
  attempts: number;
  /** Response flags set on the way (URX, UO), for the stream info. */
  flags: string[];
}

type Event =
  | { kind: "headers"; attempt: Attempt; response: Response }
  | { kind: "failed"; attempt: Attempt; error: unknown }
  | { kind: "try_timeout"; attempt: Attempt; idle: boolean }
  | { kind: "stream_timer" }
  | { kind: "backoff"; timeoutRetry: boolean };

/** One attempt in flight (or given up on). */
interface Attempt {
  readonly host: UpstreamHost;
  readonly admitted: UpstreamAttempt;
  readonly start: number;
  readonly controller: AbortController | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** waiting: no headers yet; done: answered, failed, or given up on. */
  state: "waiting" | "done";
  /** A hedge was sent because of this attempt's per-try timeout (Envoy's `retried()`). */
  hedged: boolean;
}

/** Runs the call. Resolves with the response headers; rejects with a ProxyError (flags included). */
export function runUpstreamCall(options: UpstreamCallOptions): Promise<UpstreamCallResult> {
  return new UpstreamCall(options).run();
}

class UpstreamCall {
  private readonly o: UpstreamCallOptions;
  private readonly queue: Event[] = [];
  private wake: (() => void) | undefined;
  private readonly attempts: Attempt[] = [];
  private readonly tried = new Set<UpstreamHost>();
  private readonly backoffs = new Set<ReturnType<typeof setTimeout>>();
  private readonly timer: StreamTimer;
  /** The caller's timer is left to it (the call yielded response headers). */
  private handedOver = false;
  private streamLimit: { at: number; kind: "timeout" | "idle" | "max_duration" } | undefined;
  private readonly flags: string[] = [];
  private readonly t0: number;
  private sent = 0;
  private finished = false;

  constructor(options: UpstreamCallOptions) {
    this.o = options;
    this.t0 = options.start ?? options.now();
    this.timer = options.timer ?? new StreamTimer();
  }

  async run(): Promise<UpstreamCallResult> {
    try {
      this.armStreamTimer();
      const first = this.startAttempt(false);
      if (first) throw first;
      for (;;) {
        const ev = await this.next();
        const result = this.handle(ev);
        if (result) {
          this.handedOver = this.o.timer !== undefined;
          return result;
        }
      }
    } finally {
      this.cleanup();
    }
  }

  private push(ev: Event): void {
    if (this.finished) {
      // The call is over: a late answer from an abandoned attempt is dropped.
      if (ev.kind === "headers") discard(ev.response);
      return;
    }
    this.queue.push(ev);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async next(): Promise<Event> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    return this.queue.shift()!;
  }

  /** The route timeout, idle timeout (until headers) and max stream duration: one timer at the earliest. */
  private armStreamTimer(): void {
    const o = this.o;
    let limit: UpstreamCall["streamLimit"];
    if (o.timeoutMs > 0) limit = { at: this.t0 + o.timeoutMs, kind: "timeout" };
    if (o.idleTimeoutMs > 0 && (!limit || this.t0 + o.idleTimeoutMs < limit.at)) limit = { at: this.t0 + o.idleTimeoutMs, kind: "idle" };
    if (o.maxDurationDeadline !== Infinity && (!limit || o.maxDurationDeadline < limit.at)) limit = { at: o.maxDurationDeadline, kind: "max_duration" };
    this.streamLimit = limit;
    if (limit) this.timer.arm(limit.at, this.t0, () => this.push({ kind: "stream_timer" }));
  }

  /** Sends one attempt. Returns the failure when none could be sent (no host, overflow). */
  private startAttempt(timeoutRetry: boolean): ProxyError | undefined {
    const o = this.o;
    const host = o.pickHost(o.previousHosts ? this.tried : undefined);
    if (!host) {
      o.cluster.cxNoneHealthy.inc();
      return new ProxyError("no_healthy_upstream", `cluster "${o.cluster.name}" has no healthy host`);
    }
    const admitted = o.cluster.startAttempt(host, o.priority);
    if (!admitted) {
      return new ProxyError("upstream_overflow", `cluster "${o.cluster.name}": ${o.cluster.lastOverflow ?? "circuit breaker"} overflow`);
    }
    this.tried.add(host);
    this.sent++;
    o.onHost(host);
    const headers = o.retry ? new Headers(o.headers) : o.headers;
    if (o.includeAttemptCount) headers.set("x-envoy-attempt-count", String(this.sent));
    if (timeoutRetry && o.includeIsTimeoutRetry) headers.set("x-envoy-is-timeout-retry", "true");
    const start = o.now();
    const expected = this.expectedTimeout(start);
    if (expected > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(expected));
    const controller = o.hedgeOnPerTryTimeout && o.retry ? new AbortController() : undefined;
    const attempt: Attempt = { host, admitted, start, controller, timer: undefined, state: "waiting", hedged: false };
    this.attempts.push(attempt);
    const body = o.body;
    const request: AttemptRequest = {
      url: `http://${urlAuthority(host.address, host.port)}${o.path}`,
      method: o.method,
      headers,
      body: body.kind === "buffered" ? bytesStream(body.bytes) : body.kind === "stream" ? body.stream : null,
      bodyBytes: body.kind === "buffered" ? body.bytes : undefined,
      authority: o.authority,
      cluster: o.cluster.model,
      host: host.endpoint,
      signal: controller?.signal,
    };
    o.transport.fetch(request).then(
      (response) => this.push({ kind: "headers", attempt, response }),
      (error: unknown) => this.push({ kind: "failed", attempt, error }),
    );
    const perTry = o.perTryTimeoutMs;
    const idle = o.perTryIdleTimeoutMs;
    if (perTry > 0 || idle > 0) {
      const isIdle = idle > 0 && (perTry === 0 || idle < perTry);
      attempt.timer = setTimeout(() => this.push({ kind: "try_timeout", attempt, idle: isIdle }), isIdle ? idle : perTry);
    }
    return undefined;
  }

  /** Envoy's x-envoy-expected-rq-timeout-ms for an attempt sent at `at`; 0: none. */
  private expectedTimeout(at: number): number {
    const o = this.o;
    let expected = o.perTryTimeoutMs;
    if (o.hedgeOnPerTryTimeout || expected === 0) expected = o.timeoutMs;
    if (expected > 0 && o.timeoutMs > 0) {
      const elapsed = Math.floor(at - this.t0);
      expected = elapsed >= o.timeoutMs ? 1 : Math.min(expected, o.timeoutMs - elapsed);
    }
    return expected;
  }

  private handle(ev: Event): UpstreamCallResult | undefined {
    switch (ev.kind) {
      case "headers":
        return this.onHeaders(ev.attempt, ev.response);
      case "failed":
        this.onFailed(ev.attempt, ev.error);
        return undefined;
      case "try_timeout":
        this.onTryTimeout(ev.attempt, ev.idle);
        return undefined;
      case "stream_timer":
        return this.onStreamTimer();
      case "backoff": {
        const failure = this.startAttempt(ev.timeoutRetry);
        if (failure) this.settleFailure(failure);
        return undefined;
      }
    }
  }

  private onHeaders(attempt: Attempt, response: Response): UpstreamCallResult | undefined {
    if (attempt.state === "done") {
      // Given up on earlier (timeout, hedge loser): its late answer is dropped.
      discard(response);
      return undefined;
    }
    this.settle(attempt);
    const o = this.o;
    const status = response.status;
    attempt.admitted.onHeaders(status);
    o.cluster.rqTotal.inc();
    // Envoy's router: an actively checked host that answers with this header is failed at once.
    if (o.cluster.activelyChecked && response.headers.has(IMMEDIATE_HC_FAIL)) o.cluster.immediateHealthCheckFail(attempt.admitted.host);
    const retry = o.retry;
    if (retry) {
      const would = retry.wouldRetryFromHeaders(status, response.headers);
      if (attempt.hedged) {
        // Envoy: once hedged, a retriable answer is dropped while another attempt is under way.
        if (would && this.othersPending(attempt)) {
          o.stats.chargeRetriedCode(status);
          discard(response);
          attempt.admitted.end();
          return undefined;
        }
      } else {
        const decision = retry.shouldRetry(would);
        if (decision === "yes") {
          o.stats.chargeRetriedCode(status);
          discard(response);
          attempt.admitted.end();
          this.scheduleRetry(retry.backoffMs(response.headers), false);
          return undefined;
        }
        this.noteRefusal(decision);
      }
    }
    this.cancelOthers(attempt);
    o.cluster.chargeCode(status);
    return { response, attempt: attempt.admitted, attemptStart: attempt.start, attempts: this.sent, flags: this.flags };
  }

  private onFailed(attempt: Attempt, error: unknown): void {
    if (attempt.state === "done") return;
    this.settle(attempt);
    const o = this.o;
    const err = toProxyError(error);
    const kind: ResetKind = err.code === "upstream_connect_failure" ? "connect_failure" : "remote_reset";
    if (kind === "connect_failure") o.cluster.cxConnectFail.inc();
    else o.stats.rxReset.inc();
    attempt.admitted.onFailure(kind === "connect_failure" ? { kind: "connect_failure" } : { kind: "reset" });
    if (o.retry && !attempt.hedged && err.spec.source === "upstream") {
      const decision = o.retry.shouldRetry(o.retry.wouldRetryFromReset(kind));
      if (decision === "yes") {
        this.scheduleRetry(o.retry.backoffMs(), false);
        return;
      }
      this.noteRefusal(decision);
    }
    this.settleFailure(err);
  }

  private onTryTimeout(attempt: Attempt, idle: boolean): void {
    if (attempt.state === "done") return;
    attempt.timer = undefined;
    const o = this.o;
    (idle ? o.stats.perTryIdleTimeout : o.stats.perTryTimeout).inc();
    const retry = o.retry;
    if (o.hedgeOnPerTryTimeout && !idle && retry) {
      // Hedging: keep this attempt and race another one (any retry left and allowed by the breakers).
      const decision = retry.shouldRetry(true);
      if (decision === "yes") {
        attempt.hedged = true;
        this.scheduleRetry(retry.backoffMs(), true);
      } else this.noteRefusal(decision);
      return;
    }
    this.abandon(attempt, true);
    if (retry && !attempt.hedged) {
      const decision = retry.shouldRetry(retry.wouldRetryFromReset("timeout"));
      if (decision === "yes") {
        this.scheduleRetry(retry.backoffMs(), true);
        return;
      }
      this.noteRefusal(decision);
    }
    this.settleFailure(new ProxyError(idle ? "upstream_per_try_idle_timeout" : "upstream_per_try_timeout"));
  }

  private onStreamTimer(): UpstreamCallResult | undefined {
    const limit = this.streamLimit!;
    const o = this.o;
    for (const a of this.attempts) if (a.state === "waiting") this.abandon(a, true);
    let code: ProxyErrorCode;
    if (limit.kind === "timeout") {
      o.stats.timeout.inc();
      code = o.timeoutAltResponse ? "upstream_request_timeout_alt_response" : "upstream_request_timeout";
      o.cluster.chargeCode(504);
    } else {
      o.onStreamLimit(limit.kind);
      code = limit.kind === "idle" ? "stream_idle_timeout" : "max_duration_timeout";
      // Envoy answers 504 when the request was received whole, 408 while it may still be arriving (a
      // body streaming through unbuffered).
      throw new ProxyError(code, undefined, { extraFlags: this.flags, status: o.body.kind === "stream" ? 408 : 504 });
    }
    throw new ProxyError(code, undefined, { extraFlags: this.flags });
  }

  /**
   * A failure that ends the call unless another attempt or a retry is still under way (then it is
   * dropped, as Envoy drops a reset while other attempts may still answer).
   */
  private settleFailure(err: ProxyError): void {
    if (this.attempts.some((a) => a.state === "waiting") || this.backoffs.size > 0) return;
    if (err.spec.source === "upstream" && err.code !== "no_healthy_upstream") this.o.cluster.chargeCode(err.spec.status);
    throw this.flags.length ? new ProxyError(err.code, err.message, { cause: err.cause, extraFlags: [...err.flags.slice(1), ...this.flags] }) : err;
  }

  private noteRefusal(decision: RetryStatus): void {
    const flag = decision === "limit_exceeded" ? "URX" : decision === "overflow" ? "UO" : undefined;
    if (decision === "overflow") this.o.stats.retryOverflow?.inc();
    if (flag && !this.flags.includes(flag)) this.flags.push(flag);
  }

  private scheduleRetry(delayMs: number, timeoutRetry: boolean): void {
    const timer = setTimeout(() => {
      this.backoffs.delete(timer);
      this.push({ kind: "backoff", timeoutRetry });
    }, delayMs);
    this.backoffs.add(timer);
  }

  /** Whether anything besides `attempt` could still produce a response. */
  private othersPending(attempt: Attempt): boolean {
    return this.backoffs.size > 0 || this.attempts.some((a) => a !== attempt && a.state === "waiting");
  }

  /** Marks an attempt as answered or failed. */
  private settle(attempt: Attempt): void {
    attempt.state = "done";
    if (attempt.timer !== undefined) clearTimeout(attempt.timer);
    attempt.timer = undefined;
  }

  /** Gives up on an attempt: reset it (tx_reset), report a timeout to outlier detection when it was one. */
  private abandon(attempt: Attempt, timedOut: boolean): void {
    this.settle(attempt);
    this.o.stats.txReset.inc();
    attempt.controller?.abort();
    if (timedOut) attempt.admitted.onFailure({ kind: "timeout" });
    else attempt.admitted.end();
  }

  private cancelOthers(winner: Attempt): void {
    for (const a of this.attempts) if (a !== winner && a.state === "waiting") this.abandon(a, false);
  }

  private cleanup(): void {
    this.finished = true;
    // Answers that arrived but were not handled (the call ended first) are dropped.
    for (const ev of this.queue) if (ev.kind === "headers") discard(ev.response);
    this.queue.length = 0;
    if (!this.handedOver) this.timer.clear();
    for (const t of this.backoffs) clearTimeout(t);
    this.backoffs.clear();
    for (const a of this.attempts) {
      if (a.state === "waiting") this.abandon(a, false);
    }
    this.o.retry?.release();
  }
}

/** Drops a response nobody will read: its body is cancelled (the connection is not reused). */
function discard(response: Response): void {
  if (response.body) void response.body.cancel().catch(() => {});
}
