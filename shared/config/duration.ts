/**
 * Parses a protobuf JSON duration (`"1.5s"`, `"0.250s"`, `"-2s"`) into milliseconds.
 * Returns undefined when the text is not a duration in protobuf's JSON form.
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[2]);
  const frac = m[3] ? Number(`0.${m[3]}`) : 0;
  const ms = (seconds + frac) * 1000;
  return m[1] ? -ms : ms;
}

/** Formats milliseconds as a protobuf JSON duration (`1500` → `"1.500s"`, `2000` → `"2s"`). */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(3).replace(/0+$/, "")}s`;
}
