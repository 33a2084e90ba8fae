/**
 * One timer per stream for the limits that run from the request to the end of the response body: the
 * route timeout and `max_stream_duration` (upstream-call.ts until response headers, then the body's
 * guard: response-guard.ts or body-pipe.ts). Each phase arms it for the instant its limit falls due
 * and with its own callback; a phase that wants the instant already armed keeps the runtime's timer and
 * only swaps the callback, so a request whose route timeout covers both phases sets one timer, not two.
 *
 * Whoever ends the stream's use of it calls {@link StreamTimer.clear}.
 */
export class StreamTimer {
  private handle: ReturnType<typeof setTimeout> | undefined;
  private at = Infinity;
  private fn: (() => void) | undefined;

  /** Calls `fn` at monotonic time `at` (`now` is the current monotonic time), replacing any earlier callback. */
  arm(at: number, now: number, fn: () => void): void {
    this.fn = fn;
    if (this.handle !== undefined && this.at === at) return;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.at = at;
    this.handle = setTimeout(() => {
      this.handle = undefined;
      this.at = Infinity;
      const f = this.fn;
      this.fn = undefined;
      f?.();
    }, Math.max(0, Math.ceil(at - now)));
  }

  /** Stops the timer (no callback will run). */
  clear(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
    this.at = Infinity;
    this.fn = undefined;
  }
}
