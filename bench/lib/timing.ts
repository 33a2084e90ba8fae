/** Timing helpers for loops run in this Node process. */

/** Run plan of a micro-benchmark: how many timed runs, how long each, how long to warm up first. */
export interface RunPlan {
  runs: number;
  sampleMs: number;
  warmupMs: number;
}

/**
 * How many iterations make one sample last about `targetMs`, measured by doubling from `start`
 * (bounded: at most 2^30 iterations). `work(n)` runs n iterations and returns the elapsed milliseconds.
 */
export async function iterationsFor(work: (n: number) => Promise<number> | number, targetMs: number, start = 64): Promise<number> {
  let n = start;
  for (;;) {
    const ms = await work(n);
    if (ms >= targetMs / 4 || n >= 2 ** 30) return Math.max(1, Math.round((n * targetMs) / Math.max(ms, 0.001)));
    n *= 2;
  }
}

/** Runs `work` for about `ms` milliseconds (JIT warm-up), in chunks of `n` iterations. */
export async function warmUp(work: (n: number) => Promise<number> | number, n: number, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) await work(n);
}

/** Elapsed milliseconds of a synchronous call. */
export function timeSync(f: () => unknown): number {
  const start = performance.now();
  f();
  return performance.now() - start;
}

/** Elapsed milliseconds of an asynchronous call. */
export async function timeAsync(f: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await f();
  return performance.now() - start;
}
