/**
 * Starting Legate's tcp tier for the udp, postgres, memory and redis scenarios: `bin/legate.js -c
 * <yaml>` (the tier's own Node, as users run it), one process (`--concurrency 1`, one event loop),
 * pinned to the proxy core like every peer; and a readiness probe for UDP listeners.
 */
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Child } from "./processes.ts";
import type { ScenarioContext } from "./types.ts";

/** Starts the tcp tier on `yaml` (written to the scratch directory as `<label>.yaml`). Not yet ready: wait for its port. */
export function startLegate(ctx: ScenarioContext, label: string, yaml: string): Child {
  const file = join(ctx.tmpDir, `${label}.yaml`);
  writeFileSync(file, yaml);
  return ctx.processes.start(label, process.execPath, [join(ctx.root, "bin", "legate.js"), "-c", file, "--concurrency", "1", "--log-level", "warning"], {
    cwd: ctx.root,
    ...(ctx.cores ? { cpus: ctx.cores.proxy } : {}),
  });
}

/** A UDP port that was free a moment ago (the kernel's pick for port 0, released). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

/**
 * Resolves once a datagram sent to 127.0.0.1:<port> comes back (the port is a proxy in front of an echo
 * server); rejects after `timeoutMs` or when `child` exits.
 */
export async function waitForUdpEcho(port: number, child: Child, timeoutMs = 15_000): Promise<void> {
  const s = createSocket("udp4");
  s.on("error", () => undefined);
  let answered = false;
  s.on("message", () => void (answered = true));
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  const deadline = Date.now() + timeoutMs;
  try {
    while (!answered) {
      if (!child.running) throw new Error(`${child.name} exited before answering on udp ${port}:\n${child.tail()}`);
      if (Date.now() > deadline) throw new Error(`${child.name} did not answer on udp ${port} within ${timeoutMs} ms:\n${child.tail()}`);
      s.send("probe", port, "127.0.0.1");
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    s.close();
  }
}
