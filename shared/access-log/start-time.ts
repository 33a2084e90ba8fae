/**
 * `%START_TIME(<format>)%`: a strftime-style format over UTC (Envoy formats START_TIME in UTC), compiled
 * once into a list of parts. Supported specifiers: `%Y %y %C %m %d %e %j %H %I %M %S %p %a %A %b %h %B
 * %F %T %D %R %u %w %z %Z %s %n %t %%`, Envoy's fractional seconds `%f` / `%1f`…`%9f` (digits of the
 * second, default 9), and absl's `%E<n>S` / `%E*S` (seconds with n fraction digits). Time is known to
 * the millisecond, so digits past the third are zeros.
 */

/** Envoy's default START_TIME format: `2016-04-15T20:17:00.310Z`. */
export const DEFAULT_START_TIME_FORMAT = "%Y-%m-%dT%H:%M:%E3SZ";

type Part = string | ((d: Date, ms: number) => string);

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Milliseconds as `digits` fraction digits (past 3, zeros). */
function fraction(ms: number, digits: number): string {
  const three = pad(ms % 1000, 3);
  return digits <= 3 ? three.slice(0, digits) : three + "0".repeat(digits - 3);
}

const SIMPLE: Record<string, (d: Date, ms: number) => string> = {
  Y: (d) => String(d.getUTCFullYear()),
  y: (d) => pad(d.getUTCFullYear() % 100),
  C: (d) => pad(Math.floor(d.getUTCFullYear() / 100)),
  m: (d) => pad(d.getUTCMonth() + 1),
  d: (d) => pad(d.getUTCDate()),
  e: (d) => String(d.getUTCDate()).padStart(2, " "),
  j: (d) => pad(Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1, 3),
  H: (d) => pad(d.getUTCHours()),
  I: (d) => pad(((d.getUTCHours() + 11) % 12) + 1),
  M: (d) => pad(d.getUTCMinutes()),
  S: (d) => pad(d.getUTCSeconds()),
  p: (d) => (d.getUTCHours() < 12 ? "AM" : "PM"),
  a: (d) => DAYS[d.getUTCDay()]!.slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()]!,
  b: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  h: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()]!,
  u: (d) => String(d.getUTCDay() || 7),
  w: (d) => String(d.getUTCDay()),
  z: () => "+0000",
  Z: () => "UTC",
  s: (_d, ms) => String(Math.floor(ms / 1000)),
  n: () => "\n",
  t: () => "\t",
  "%": () => "%",
};
const COMPOSITE: Record<string, string> = { F: "%Y-%m-%d", T: "%H:%M:%S", D: "%m/%d/%y", R: "%H:%M" };

/** A compiled START_TIME format: epoch milliseconds → text. */
export type StartTimeFormatter = (epochMs: number) => string;

/**
 * Compiles a START_TIME format. Returns an error message for a specifier it does not know (Envoy
 * would pass it to the C library; Legate refuses rather than print something else).
 */
export function compileStartTime(format: string): StartTimeFormatter | { error: string } {
  const parts: Part[] = [];
  let literal = "";
  const flush = () => {
    if (literal) parts.push(literal);
    literal = "";
  };
  const expanded = format;
  for (let i = 0; i < expanded.length; i++) {
    const ch = expanded[i]!;
    if (ch !== "%") {
      literal += ch;
      continue;
    }
    const rest = expanded.slice(i + 1);
    const frac = /^([1-9])?f/.exec(rest);
    const eS = /^E(\d|\*)S/.exec(rest);
    if (frac) {
      flush();
      const digits = frac[1] ? Number(frac[1]) : 9;
      parts.push((_d, ms) => fraction(ms, digits));
      i += frac[0].length;
    } else if (eS) {
      flush();
      const digits = eS[1] === "*" ? 3 : Number(eS[1]);
      parts.push((d, ms) => (digits === 0 ? pad(d.getUTCSeconds()) : `${pad(d.getUTCSeconds())}.${fraction(ms, digits)}`));
      i += eS[0].length;
    } else if (rest[0] !== undefined && COMPOSITE[rest[0]] !== undefined) {
      flush();
      const inner = compileStartTime(COMPOSITE[rest[0]]!) as StartTimeFormatter;
      parts.push((_d, ms) => inner(ms));
      i += 1;
    } else {
      const spec = rest[0];
      const fn = spec === undefined ? undefined : SIMPLE[spec];
      if (!fn) return { error: `START_TIME format specifier %${spec ?? ""} is not supported by Legate (in ${JSON.stringify(format)})` };
      flush();
      parts.push(fn);
      i += 1;
    }
  }
  flush();
  if (parts.length === 1 && typeof parts[0] === "string") {
    const only = parts[0];
    return () => only;
  }
  return (epochMs) => {
    const d = new Date(epochMs);
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : p(d, epochMs);
    return out;
  };
}
