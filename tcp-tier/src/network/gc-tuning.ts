/**
 * V8 tuning for a process that moves bytes between sockets (imported once, by connection.ts).
 *
 * Every socket read gives Node a fresh 64 KiB buffer whose memory lives outside the JS heap, while the
 * JS objects allocated per read are small. Once request/response traffic has grown V8's young generation
 * to its maximum (16 MiB semi-spaces), a bulk transfer frees its read buffers only at the next scavenge,
 * hundreds of MiB later, and RSS grows by what they hold.
 *
 * `--minor-gc-task-trigger` (default 80) is the fill level of the young generation, in percent, at which
 * V8 schedules a scavenge as a task between event-loop turns. It is a run-time flag: set here, after
 * start-up, it takes effect at once. Measured A/B on one build (docs/performance.md, tcp-bulk), after
 * redis-benchmark -P 16 then 1 GiB through tcp_proxy:
 * - 80 (default): peak RSS 144–147 MiB, and 144–147 MiB idle afterwards;
 * - 10: peak 86–88 MiB, 77–82 afterwards; proxy CPU per request as at 80 (tcp_proxy PING -P 1 19.5–20.0
 *   µs against 20.2–22.4; redis_proxy MGET of 10 keys over 3 shards, -P 16: 12.9–15.3 against 13.1–13.3);
 * - 1 (what this was until the serving process lost Envoy's schema): peak 77, but the frequent scavenges
 *   cost request/response work that allocates (MGET -P 16: 16.7–17.1 µs; PING -P 1: 21.8–24.5 µs).
 */
import { setFlagsFromString } from "node:v8";

let applied = false;

/** Applies the flag once per process. */
export function tuneGcForProxying(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString("--minor-gc-task-trigger=10");
}
