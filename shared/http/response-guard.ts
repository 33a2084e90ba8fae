/**
 * Timeouts that outlive the response headers. Envoy's route `timeout` lasts until the upstream
 * response is complete, the route `idle_timeout` and the retry policy's `per_try_idle_timeout` are
 * reset by every body chunk, and `max_stream_duration` bounds the whole stream. Once headers have gone
 * downstream none of them can produce a status any more: they reset the stream (the downstream body
 * errors) and cancel the upstream response.
 *
 * {@link guardBody} wraps the upstream response body with one timer (re-armed lazily, not per chunk).
 * The router uses it only when one of those limits applies to the request.
 */
import { ProxyError } from "./errors.ts";
import { StreamTimer } from "./stream-timer.ts";

/** The limits still running when response headers arrive. */
export interface GuardLimits {
  /** Monotonic time the route timeout expires; Infinity when none. */
  deadline: number;
  /** Monotonic time `max_stream_duration` expires; Infinity when none. */
  maxDurationDeadline: number;
  /** Route `idle_timeout` in ms; 0 when none. */
  idleMs: number;
  /** `per_try_idle_timeout` in ms; 0 when none. */
  perTryIdleMs: number;
}

/** Which limit reset the stream. */
export type GuardExpiry = "timeout" | "max_duration" | "idle" | "per_try_idle";

export interface GuardCallbacks {
  /** A limit expired: the upstream response was cancelled and the downstream body errors. Called at most once. */
  onExpire(kind: GuardExpiry): void;
  /** Reading the upstream body failed (a reset mid-body). Called at most once. */
  onUpstreamError(error: unknown): void;
}

const EXPIRY_ERRORS: Readonly<Record<GuardExpiry, ConstructorParameters<typeof ProxyError>[0]>> = {
  timeout: "upstream_request_timeout",
  max_duration: "max_duration_timeout",
  idle: "stream_idle_timeout",
  per_try_idle: "upstream_per_try_idle_timeout",
};

/** The limits of one response body and whom to tell when they fire (HttpResponse.bodyGuard). */
export interface BodyGuard {
  limits: GuardLimits;
  callbacks: GuardCallbacks;
  /** The stream's timer, still armed for the route timeout by the upstream call (re-armed, not replaced). */
  timer?: StreamTimer;
}

/** The error a downstream body fails with when `kind` expired. */
export function expiryError(kind: GuardExpiry): ProxyError {
  return new ProxyError(EXPIRY_ERRORS[kind]);
}

/**
 * True when a limit needs to see the body's progress: an idle timeout that could expire before the
 * fixed-time limits (route timeout, max stream duration). Else one timer at a fixed time suffices.
 *
 * An idle timer started at `at` (or later, after activity) expires no earlier than `at + idle`; when
 * that is not before the earliest fixed deadline, the fixed deadline always fires first ({@link
 * guardBody} picks an idle expiry only when it is strictly earlier). So with Envoy's defaults (route
 * timeout 15 s, stream idle timeout 5 min) no idle timeout can ever fire on a response body.
 */
export function needsProgress(l: GuardLimits, at: number): boolean {
  const fixed = Math.min(l.deadline, l.maxDurationDeadline);
  return (l.idleMs > 0 && at + l.idleMs < fixed) || (l.perTryIdleMs > 0 && at + l.perTryIdleMs < fixed);
}

/** True when any limit applies (else the body needs no guard). */
export function hasLimits(l: GuardLimits): boolean {
  return l.deadline !== Infinity || l.maxDurationDeadline !== Infinity || l.idleMs > 0 || l.perTryIdleMs > 0;
}

/** No limit at all (a body watched only for its end). */
export const NO_LIMITS: GuardLimits = { deadline: Infinity, maxDurationDeadline: Infinity, idleMs: 0, perTryIdleMs: 0 };
const NO_CALLBACKS: GuardCallbacks = { onExpire() {}, onUpstreamError() {} };

/**
 * The engine's view of the body's end, so one wrapper both guards the body and completes the stream
 * (instead of a second wrapper around the first). `end` is called once: `complete` when the body
 * ended, `reset` by the proxy (a read failed or a limit expired) or by the downstream (it cancelled).
 */
export interface BodyWatch {
  end(reason: "complete" | "reset", by?: "downstream" | "proxy"): void;
  /** Bytes passed downstream (the access log's %BYTES_SENT%). */
  onBytes?(n: number): void;
}

/**
 * Wraps `body` so the limits reset the stream. The returned stream is pulled chunk by chunk (no
 * buffering). `callbacks` undefined: no limit's hooks (use with {@link NO_LIMITS}).
 */
export function guardBody(
  body: ReadableStream<Uint8Array>,
  limits: GuardLimits,
  now: () => number,
  callbacks: GuardCallbacks = NO_CALLBACKS,
  watch?: BodyWatch,
  streamTimer?: StreamTimer,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let lastActivity = now();
  let finished = false;
  /** A read of the upstream body is pending. */
  let reading = false;
  /**
   * Cancels the upstream body, but never under a pending read: workerd reports a native body read
   * interrupted by cancel (or abort) as an unhandled rejection, so such a cancel waits for the read to
   * settle (the next chunk, the end, or the runtime ending the request).
   */
  let cancelPending = false;
  const cancelUpstream = () => {
    if (reading) cancelPending = true;
    else void reader.cancel().catch(() => {});
  };
  const timer = streamTimer ?? new StreamTimer();
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const due = (): { at: number; kind: GuardExpiry } => {
    let at = limits.deadline;
    let kind: GuardExpiry = "timeout";
    if (limits.maxDurationDeadline < at) [at, kind] = [limits.maxDurationDeadline, "max_duration"];
    if (limits.idleMs > 0 && lastActivity + limits.idleMs < at) [at, kind] = [lastActivity + limits.idleMs, "idle"];
    if (limits.perTryIdleMs > 0 && lastActivity + limits.perTryIdleMs < at) [at, kind] = [lastActivity + limits.perTryIdleMs, "per_try_idle"];
    return { at, kind };
  };
  const finish = () => {
    finished = true;
    timer.clear();
  };
  const arm = () => {
    const { at, kind } = due();
    if (at === Infinity) return timer.clear();
    const t = now();
    if (at - t <= 0) return expire(kind);
    timer.arm(at, t, () => {
      if (!finished) arm();
    });
  };
  const expire = (kind: GuardExpiry) => {
    if (finished) return;
    finish();
    callbacks.onExpire(kind);
    controller.error(new ProxyError(EXPIRY_ERRORS[kind]));
    cancelUpstream();
    watch?.end("reset", "proxy");
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        arm();
      },
      async pull(c) {
        let r: ReadableStreamReadResult<Uint8Array>;
        reading = true;
        try {
          r = await reader.read();
        } catch (e) {
          reading = false;
          if (finished) return;
          finish();
          callbacks.onUpstreamError(e);
          c.error(e);
          watch?.end("reset", "proxy");
          return;
        }
        reading = false;
        if (finished) {
          if (cancelPending && !r.done) void reader.cancel().catch(() => {});
          return;
        }
        if (r.done) {
          finish();
          c.close();
          watch?.end("complete");
          return;
        }
        lastActivity = now();
        watch?.onBytes?.(r.value.byteLength);
        c.enqueue(r.value);
      },
      cancel() {
        const wasFinished = finished;
        finish();
        cancelUpstream();
        if (!wasFinished) watch?.end("reset", "downstream");
      },
    },
    { highWaterMark: 0 },
  );
}
