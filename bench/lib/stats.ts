/**
 * Summaries of repeated runs: the harness quotes every figure as the median of its runs with the
 * min–max range, never a mean (one stalled run must not move the figure).
 */

/** Median, minimum and maximum of a non-empty list of run values. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** Summarises run values. Throws on an empty list: a figure without runs is a harness bug. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error("summarize: no runs");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  return summarize(values).median;
}

/** `a / b`, or null when either is missing or `b` is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return a / b;
}

/** Rounds to `digits` significant digits (for the JSON file: figures, not float noise). */
export function significant(value: number, digits = 4): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  return Number(value.toPrecision(digits));
}

/** A figure for the table: thousands grouped, sensible decimals for its size. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  const decimals = Number.isInteger(value) || abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}
