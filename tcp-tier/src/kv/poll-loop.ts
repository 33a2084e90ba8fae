/**
 * The loop every KV reader and writer of the tcp tier runs (runtime flags, EDS endpoints, configs,
 * health reports): `pass` every `intervalMs` on an unref'd timer, one pass at a time (a pass still
 * running when the next is due is shared, not doubled), and a close that waits for the pass in flight.
 */
export class PollLoop {
  private readonly intervalMs: number;
  private readonly pass: () => Promise<void>;
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight: Promise<void> | undefined;

  /** `pass` must not reject (each poller logs and counts its own failures). */
  constructor(intervalMs: number, pass: () => Promise<void>) {
    this.intervalMs = intervalMs;
    this.pass = pass;
  }

  /** Starts the timer (the first pass comes after one interval; call {@link run} for one now). */
  start(): void {
    this.timer ??= setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref();
  }

  /** One pass now, or the pass already running. */
  run(): Promise<void> {
    this.inFlight ??= this.pass().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Waits for the pass in flight, if any. */
  idle(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  /** Stops the timer and waits for the pass in flight. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
