/**
 * How a tier hands a response body to its runtime without JavaScript touching every chunk.
 *
 * The engine must know when a response body has been sent (to complete the stream: stats, filters'
 * onStreamComplete) and must reset it when the route timeout or max stream duration fires. A JS
 * `ReadableStream` wrapper does both but runs JS for every chunk and keeps the runtime from moving the
 * bytes natively. A {@link BodyPipe} instead pipes the upstream body into a stream of the runtime's own
 * (in workerd, `IdentityTransformStream`, or `FixedLengthStream` when the length is known so the
 * response keeps its Content-Length): the runtime moves the bytes, `done` tells when the pipe ended,
 * and `signal` aborts it (the upstream body is cancelled and the downstream body errors).
 *
 * The engine uses the pipe only when nothing needs to see the bytes: no `encodeBody` transform, no
 * access log (it counts bytes sent and notices a downstream going away), and no limit that watches the
 * body's progress (`idle_timeout`, `per_try_idle_timeout`). Otherwise, and in tiers without a pipe
 * (Node), the JS wrappers run (response-guard.ts, engine.ts `watched`).
 */
import { type BodyGuard, expiryError, type GuardExpiry } from "./response-guard.ts";
import { StreamTimer } from "./stream-timer.ts";

export interface PipedBody {
  /** What the downstream response is built with. */
  readable: ReadableStream<Uint8Array>;
  /** Resolves when the whole body went through; rejects when the pipe failed or was aborted. */
  done: Promise<void>;
}

/** Pipes `body` into a runtime stream. `length`: the body's Content-Length when known. */
export type BodyPipe = (body: ReadableStream<Uint8Array>, length: number | undefined, signal: AbortSignal | undefined) => PipedBody;

/** The body's length from a valid Content-Length, else undefined. */
export function contentLength(headers: Headers): number | undefined {
  const v = headers.get("content-length");
  if (v === null || v.length > 15 || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/**
 * Sends `body` through `pipe`, with the fixed-time limits of `guard` (route timeout, max stream
 * duration) as one timer that aborts the pipe. `guard` must not need progress (needsProgress false at the time of the call).
 * `end` is called once: `complete`, or `reset` (upstream failure or a limit). `settled` resolves after
 * `end` ran: hand it to the runtime's waitUntil, since the pipe's promise may settle after the
 * runtime has sent the last byte and would otherwise drop the request's remaining work.
 */
export function pipeBody(
  pipe: BodyPipe,
  body: ReadableStream<Uint8Array>,
  headers: Headers,
  guard: BodyGuard | undefined,
  now: () => number,
  end: (reason: "complete" | "reset") => void,
): { readable: ReadableStream<Uint8Array>; settled: Promise<void> } {
  let controller: AbortController | undefined;
  let timer: StreamTimer | undefined;
  let expired = false;
  if (guard) {
    const l = guard.limits;
    const at = Math.min(l.deadline, l.maxDurationDeadline);
    if (at !== Infinity) {
      const kind: GuardExpiry = l.maxDurationDeadline < l.deadline ? "max_duration" : "timeout";
      const abort = (controller = new AbortController());
      timer = guard.timer ?? new StreamTimer();
      timer.arm(at, now(), () => {
        expired = true;
        guard.callbacks.onExpire(kind);
        abort.abort(expiryError(kind));
      });
    } else guard.timer?.clear();
  }
  const piped = pipe(body, contentLength(headers), controller?.signal);
  const settled = piped.done.then(
    () => {
      timer?.clear();
      end("complete");
    },
    (e: unknown) => {
      timer?.clear();
      if (!expired) guard?.callbacks.onUpstreamError(e);
      end("reset");
    },
  );
  return { readable: piped.readable, settled };
}
