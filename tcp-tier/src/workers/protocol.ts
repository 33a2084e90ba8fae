/**
 * The messages between the primary process and its worker processes (`--concurrency N`, N > 1), over
 * node:cluster's IPC channel (JSON). The compiled model holds functions and regexes, so the primary sends
 * the validated canonical config and each worker compiles it itself.
 */
import type { LogLevel } from "../../../shared/log.ts";
import type { RuntimeValue } from "../../../shared/runtime/runtime.ts";
import type { EdsAssignment, EdsUpdate } from "../kv/endpoints-poller.ts";

/** The runtime layers the primary owns (KV, admin), sent whole on every change (admin/runtime-layers.ts). */
export interface RuntimeValues {
  kv: [string, RuntimeValue][];
  admin: [string, string][];
}

/** One upstream host's connection counts, as a worker reports them for /clusters. */
export interface HostReport {
  /** `address:port` as health keys name it (kv/health-publisher.ts). */
  hostPort: string;
  address: string;
  port: number;
  addressString: string;
  hostname: string;
  healthFlags: string;
  weight: number;
  cxActive: number;
  cxConnectFail: number;
  cxTotal: number;
  failedActiveHc: boolean;
  failedOutlierCheck: boolean;
  /** The endpoint's `health_status` (EDS or config), absent for UNKNOWN. */
  edsHealthStatus?: string;
  priority: number;
  locality: { region: string; zone: string; subZone: string };
}

/** One histogram's change since the worker's previous report. */
export interface HistogramDelta {
  name: string;
  count: number;
  sum: number;
  /** Per bucket of DEFAULT_BUCKETS: how many more samples fall at or below the bound. */
  buckets: number[];
  /** The samples themselves (at most {@link MAX_SAMPLES_PER_REPORT}), for quantiles and statsd timers. */
  samples: number[];
}

/** At most this many samples per histogram travel per report; the rest count in buckets, count and sum only. */
export const MAX_SAMPLES_PER_REPORT = 2000;

export interface StatsReport {
  t: "report";
  /** The `collect` request answered, absent for the periodic report. */
  id?: number;
  /** Every counter and gauge the worker has, by name, with its current value (counters: the worker's total). */
  counters: [string, number][];
  gauges: [string, number][];
  histograms: HistogramDelta[];
  clusters: { name: string; hosts: HostReport[] }[];
  /** The address each accepting listener has bound, by listener name. */
  listeners: [string, string, number][];
  memory: { heapUsed: number; heapTotal: number; rss: number };
}

export interface StartMessage {
  t: "start";
  canonical: Record<string, unknown>;
  /** 0-based; worker 0 also runs the UDP listeners. */
  index: number;
  drainTimeMs: number;
  logLevel: LogLevel;
  logPath?: string;
  edgeListener?: string;
  /** The primary's KV and admin runtime values when the worker starts. */
  runtime: RuntimeValues;
  /** The primary's EDS assignments (LEGATE_KV) when the worker starts, by service: null when the key is absent. */
  eds: [string, EdsAssignment | null][];
}

export type ToWorker =
  | StartMessage
  | { t: "reload"; id: number; canonical: Record<string, unknown> }
  | { t: "collect"; id: number }
  | { t: "drain_listeners"; graceful: boolean; inboundOnly: boolean }
  | { t: "healthcheck"; failed: boolean }
  | { t: "log_level"; level: LogLevel }
  | { t: "runtime"; values: RuntimeValues }
  /** One EDS service's update, as the primary's poller read it (kv/endpoints-poller.ts). */
  | { t: "eds"; service: string; update: EdsUpdate }
  | { t: "drain" }
  | { t: "close" };

export type FromWorker =
  | { t: "hello" }
  | { t: "ready" }
  | { t: "start_failed"; error: string }
  | { t: "reloaded"; id: number; ok: true; added: string[]; modified: string[]; removed: string[]; kept: string[] }
  | { t: "reloaded"; id: number; ok: false; error: string }
  | StatsReport;
