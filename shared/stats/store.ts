/**
 * Envoy-style stats: counters, gauges and histograms named as Envoy names them
 * (`cluster.<name>.upstream_rq_total`, `listener.<addr>.downstream_cx_total`, ...), rendered in Envoy's
 * admin text format and in Prometheus exposition format with Envoy's tag extraction.
 *
 * Hot paths look a stat up once (at config or connection time) and keep the object; `inc()` is then a
 * field increment.
 */

export class Counter {
  value = 0;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  inc(by = 1): void {
    this.value += by;
  }
}

/** Envoy's gauge import modes matter only for hot restart; Legate keeps the name for familiarity. */
export class Gauge {
  value = 0;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
  set(v: number): void {
    this.value = v;
  }
}

/** Envoy's default histogram bucket bounds (milliseconds for time histograms). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

const QUANTILES = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];
/** Samples kept per histogram for quantiles in the text format (a bounded reservoir). */
const RESERVOIR = 1024;

export class Histogram {
  /** Cumulative count of samples at or below each bound in {@link DEFAULT_BUCKETS}. */
  readonly bucketCounts = new Array<number>(DEFAULT_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;
  private readonly samples: number[] = [];
  readonly name: string;
  /** Set by {@link StatsStore.onHistogramSample}: called with each recorded value (statsd timers). */
  onSample: ((h: Histogram, value: number) => void) | undefined;
  constructor(name: string) {
    this.name = name;
  }

  record(value: number): void {
    this.onSample?.(this, value);
    this.count++;
    this.sum += value;
    for (let i = 0; i < DEFAULT_BUCKETS.length; i++) if (value <= DEFAULT_BUCKETS[i]!) this.bucketCounts[i]!++;
    if (this.samples.length < RESERVOIR) this.samples.push(value);
    else this.samples[Math.floor(Math.random() * this.count) % RESERVOIR] = value;
  }

  /** Quantile over the retained samples; NaN when empty. */
  quantile(q: number): number {
    if (this.samples.length === 0) return NaN;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  }
}

export type Stat = Counter | Gauge | Histogram;

/** A prefix view of a store: `scope("cluster.foo.").counter("upstream_rq_total")`. */
export interface StatsScope {
  counter(name: string): Counter;
  gauge(name: string): Gauge;
  histogram(name: string): Histogram;
  scope(prefix: string): StatsScope;
}

export class StatsStore implements StatsScope {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter(name)));
    return c;
  }

  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge(name)));
    return g;
  }

  histogram(name: string): Histogram {
    let h = this.histograms.get(name);
    if (!h) {
      this.histograms.set(name, (h = new Histogram(name)));
      h.onSample = this.sampleListener;
    }
    return h;
  }

  private sampleListener: ((h: Histogram, value: number) => void) | undefined;
  private readonly resetListeners: (() => void)[] = [];

  /** Every counter, gauge and histogram, for sinks (statsd) that walk the whole store on each flush. */
  snapshot(): { counters: readonly Counter[]; gauges: readonly Gauge[]; histograms: readonly Histogram[] } {
    return { counters: [...this.counters.values()], gauges: [...this.gauges.values()], histograms: [...this.histograms.values()] };
  }

  /** Calls `fn` with every value recorded into any histogram, existing or future (one listener; undefined removes it). */
  onHistogramSample(fn: ((h: Histogram, value: number) => void) | undefined): void {
    this.sampleListener = fn;
    for (const h of this.histograms.values()) h.onSample = fn;
  }

  /** Calls `fn` just before {@link resetCounters} zeroes the counters (sinks keep their deltas right). */
  onBeforeResetCounters(fn: () => void): void {
    this.resetListeners.push(fn);
  }

  /** Admin `/reset_counters`: every counter back to 0 (gauges and histograms are left alone, as Envoy). */
  resetCounters(): void {
    for (const fn of this.resetListeners) fn();
    for (const c of this.counters.values()) c.value = 0;
  }

  scope(prefix: string): StatsScope {
    return new PrefixScope(this, prefix);
  }

  /** Every counter and gauge value by name, for /stats?format=json and tests. */
  values(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.counters.values()) out.set(c.name, c.value);
    for (const g of this.gauges.values()) out.set(g.name, g.value);
    return out;
  }

  /**
   * Envoy's admin `/stats` text: `name: value` lines sorted by name, counters and gauges first,
   * then histograms as `name: P0(interval,cumulative) P25(...) ...` (Legate keeps no separate
   * interval, so both numbers are the cumulative quantile) or `No recorded values`.
   * `filter` is a regex, as in `/stats?filter=`; `usedOnly` mirrors `/stats?usedonly`.
   */
  textFormat(filter?: RegExp, usedOnly = false): string {
    const lines: string[] = [];
    const scalar = [...this.counters.values(), ...this.gauges.values()]
      .filter((s) => (!filter || filter.test(s.name)) && (!usedOnly || s.value !== 0))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const s of scalar) lines.push(`${s.name}: ${s.value}`);
    const hists = [...this.histograms.values()]
      .filter((h) => (!filter || filter.test(h.name)) && (!usedOnly || h.count > 0))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const h of hists) {
      if (h.count === 0) {
        lines.push(`${h.name}: No recorded values`);
        continue;
      }
      const qs = QUANTILES.map((q) => {
        const v = fmt(h.quantile(q));
        return `P${q * 100}(${v},${v})`;
      });
      lines.push(`${h.name}: ${qs.join(" ")}`);
    }
    return lines.join("\n") + (lines.length ? "\n" : "");
  }

  /**
   * Envoy's `/stats?format=json`: `{"stats":[{"name","value"}..., {"histograms":{"supported_quantiles":[...],
   * "computed_quantiles":[{"name","values":[{"interval","cumulative"}...]}]}}]}`. Legate keeps no
   * separate interval, so `interval` is null and `cumulative` carries the quantile (null when empty).
   */
  jsonFormat(filter?: RegExp, usedOnly = false): { stats: unknown[] } {
    const stats: unknown[] = [...this.counters.values(), ...this.gauges.values()]
      .filter((s) => (!filter || filter.test(s.name)) && (!usedOnly || s.value !== 0))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((s) => ({ name: s.name, value: s.value }));
    const hists = [...this.histograms.values()]
      .filter((h) => (!filter || filter.test(h.name)) && (!usedOnly || h.count > 0))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    if (hists.length) {
      stats.push({
        histograms: {
          supported_quantiles: QUANTILES.map((q) => q * 100),
          computed_quantiles: hists.map((h) => ({
            name: h.name,
            values: QUANTILES.map((q) => {
              const v = h.quantile(q);
              return { interval: null, cumulative: Number.isNaN(v) ? null : v };
            }),
          })),
        },
      });
    }
    return { stats };
  }

  /**
   * Prometheus exposition format, Envoy style: `envoy_` prefix, tags extracted into labels. `filter` (matched
   * against the Envoy stat name) and `usedOnly` select stats as for {@link textFormat}.
   */
  prometheusFormat(filter?: RegExp, usedOnly = false): string {
    const families = new Map<string, { type: string; lines: string[] }>();
    const add = (name: string, type: string, line: (metric: string, labels: string) => string[], used = true) => {
      if ((filter && !filter.test(name)) || (usedOnly && !used)) return;
      const { metric, labels } = extractTags(name);
      let fam = families.get(metric);
      if (!fam) families.set(metric, (fam = { type, lines: [] }));
      fam.lines.push(...line(metric, labels));
    };
    for (const c of this.counters.values()) add(c.name, "counter", (m, l) => [`${m}${braces(l)} ${c.value}`], c.value !== 0);
    for (const g of this.gauges.values()) add(g.name, "gauge", (m, l) => [`${m}${braces(l)} ${g.value}`], g.value !== 0);
    for (const h of this.histograms.values()) {
      add(h.name, "histogram", (m, l) => [
        ...DEFAULT_BUCKETS.map((b, i) => `${m}_bucket${braces(join(l, `le="${b}"`))} ${h.bucketCounts[i]}`),
        `${m}_bucket${braces(join(l, 'le="+Inf"'))} ${h.count}`,
        `${m}_sum${braces(l)} ${h.sum}`,
        `${m}_count${braces(l)} ${h.count}`,
      ], h.count > 0);
    }
    const out: string[] = [];
    for (const [metric, fam] of [...families.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      out.push(`# TYPE ${metric} ${fam.type}`, ...fam.lines);
    }
    return out.join("\n") + (out.length ? "\n" : "");
  }
}

class PrefixScope implements StatsScope {
  private readonly store: StatsStore;
  private readonly prefix: string;
  constructor(store: StatsStore, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }
  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }
  gauge(name: string): Gauge {
    return this.store.gauge(this.prefix + name);
  }
  histogram(name: string): Histogram {
    return this.store.histogram(this.prefix + name);
  }
  scope(prefix: string): StatsScope {
    return new PrefixScope(this.store, this.prefix + prefix);
  }
}

function fmt(v: number): string {
  return Number.isNaN(v) ? "nan" : String(Math.round(v * 1000) / 1000);
}

function braces(labels: string): string {
  return labels ? `{${labels}}` : "";
}

function join(a: string, b: string): string {
  return a ? `${a},${b}` : b;
}

/**
 * Envoy's default tag extractors for the scopes Legate emits. Each removes the tag value from the
 * name and adds a label, so `cluster.foo.upstream_rq_total` becomes
 * `envoy_cluster_upstream_rq_total{envoy_cluster_name="foo"}`.
 * Names are dotted, so a value containing dots is matched up to the known stat suffix boundary:
 * listener addresses (`0.0.0.0_10000`) are matched by shape.
 */
const TAG_RULES: { re: RegExp; tag: string }[] = [
  { re: /^cluster\.((.+?)\.)(?=[^.]+$|outlier_detection\.|circuit_breakers\.|health_check\.|lb_|upstream_|membership_|internal\.|canary\.|external\.|zone\.)/, tag: "envoy_cluster_name" },
  { re: /^listener\.(((?:\d{1,3}\.){3}\d{1,3}_\d+|\[[^\]]*\]_\d+|[^.]+)\.)/, tag: "envoy_listener_address" },
  { re: /^http\.(([^.]+)\.)/, tag: "envoy_http_conn_manager_prefix" },
  { re: /^tcp\.(([^.]+)\.)/, tag: "envoy_tcp_prefix" },
  { re: /^udp\.(([^.]+)\.)/, tag: "envoy_udp_prefix" },
  { re: /^redis\.(([^.]+)\.)/, tag: "envoy_redis_prefix" },
  { re: /^mongo\.(([^.]+)\.)/, tag: "envoy_mongo_prefix" },
  { re: /^postgres\.(([^.]+)\.)/, tag: "envoy_postgres_prefix" },
];

export function extractTags(name: string): { metric: string; labels: string } {
  const labels: string[] = [];
  let rest = name;
  for (const rule of TAG_RULES) {
    const m = rule.re.exec(rest);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    labels.push(`${rule.tag}="${m[2].replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`);
    rest = rest.slice(0, m.index + m[0].length - m[1].length) + rest.slice(m.index + m[0].length);
    break;
  }
  const metric = "envoy_" + rest.replace(/[^a-zA-Z0-9_]/g, "_");
  return { metric, labels: labels.join(",") };
}
