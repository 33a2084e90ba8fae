/**
 * V8 tuning for a process that moves bytes between sockets (imported once, by connection.ts).
 *
 * Every socket read gives Node a fresh 64 KiB buffer whose memory lives outside the JS heap, while the
 * JS objects allocated per read are small. The tcp tier's start-up (loading its TypeScript, compiling the
 * config) grows V8's young generation to its maximum, so on a bulk transfer a scavenge, which is what
 * frees short-lived buffers, comes only after hundreds of MiB; long before that the external memory
 * they hold makes V8 run full mark-compact collections of the whole (~27 MiB) old generation, about 20
 * per GiB. Measured on a 1 GiB tcp_proxy transfer: ~0.9 s of user CPU, most of it in those collections,
 * against ~0.1 s for a bare `socket.pipe()` proxy (whose young generation never grew).
 *
 * `--minor-gc-task-trigger` (default 80) is the fill level of the young generation, in percent, at
 * which V8 schedules a scavenge as a task between event-loop turns. At 1 the young generation is
 * scavenged about as often as a small one would be: read buffers are freed while still young, full
 * collections stop (2–3 per GiB) and the user CPU of the same transfer drops to ~0.1 s. It is a
 * run-time flag: setting it here, after start-up, takes effect at once. Scavenges of a young
 * generation holding little that survives cost tens of microseconds.
 */
import { setFlagsFromString } from "node:v8";

let applied = false;

/** Applies the flag once per process. */
export function tuneGcForProxying(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString("--minor-gc-task-trigger=1");
}
