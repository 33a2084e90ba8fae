/**
 * Workers served by workerd itself, through miniflare's API (never `wrangler dev`, whose proxy layer
 * caps near 200 requests/s here, nor miniflare's Node-side `dispatchFetch`). Each Worker gets a
 * direct socket (`unsafeDirectSockets`): workerd accepts the connection and runs the Worker's fetch
 * handler, with no miniflare entry Worker or Node code in the request path. All Workers of one host
 * run in the same workerd process, which is pinned to the proxy core when a core plan is given.
 */
import { dirname } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import type { WorkerSettings } from "./bundle.ts";
import { childPidsNamed, pinProcess } from "./cpus.ts";

export interface WorkerSpec {
  name: string;
  /** A bundled ES module (bench/lib/bundle.ts). */
  scriptPath: string;
  /** Plain-text bindings (`[vars]`). */
  bindings?: Record<string, string>;
  /** KV bindings: binding name → namespace id. */
  kvNamespaces?: Record<string, string>;
}

export interface WorkerdHost {
  /** Each Worker's direct URL (`http://127.0.0.1:<port>/`), by name. */
  urls: Map<string, string>;
  /** The workerd process (for CPU accounting); undefined when it could not be identified. */
  pid: number | undefined;
  dispose(): Promise<void>;
}

export interface WorkerdOptions {
  settings: WorkerSettings;
  /** Local resource state (KV), as `legate push --local` / `wrangler dev --persist-to` use: `<dir>/v3`. */
  persistTo?: string;
  /** `taskset -c` list for workerd. */
  cpus?: string;
  /**
   * Where workerd's own log lines go (Worker console output, uncaught exceptions). Each distinct
   * line is passed once, with the number of repeats at dispose. Default: dropped.
   */
  log?: (line: string) => void;
  /** workerd's V8 inspector on 127.0.0.1:<port> (CDP; `ws://127.0.0.1:<port>/core:user:<worker name>`), for profiles. */
  inspectorPort?: number;
}

export async function startWorkerd(workers: readonly WorkerSpec[], o: WorkerdOptions): Promise<WorkerdHost> {
  const before = new Set(childPidsNamed("workerd"));
  const seen = new Map<string, number>();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      // No Request.cf download: it would reach the internet.
      cf: false,
      // Under load a failing Worker logs the same exception thousands of times: pass each once.
      handleStructuredLogs: ({ level, message }) => {
        const line = `workerd ${level}: ${message.split("\n")[0]!.slice(0, 300)}`;
        const n = seen.get(line) ?? 0;
        seen.set(line, n + 1);
        if (n === 0) o.log?.(line);
      },
      ...(o.persistTo !== undefined ? { resourcePersistencePath: `${o.persistTo}/v3` } : {}),
      ...(o.inspectorPort !== undefined ? { inspectorPort: o.inspectorPort } : {}),
      workers: workers.map((w) => ({
        name: w.name,
        modules: true,
        scriptPath: w.scriptPath,
        // Module names are paths relative to this root; the bundle lives in the scratch directory.
        modulesRoot: dirname(w.scriptPath),
        compatibilityDate: o.settings.compatibilityDate,
        compatibilityFlags: o.settings.compatibilityFlags,
        bindings: w.bindings ?? {},
        kvNamespaces: w.kvNamespaces ?? {},
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      })),
    }),
  );
  let disposed = false;
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await mf.dispose();
    for (const [line, n] of seen) if (n > 1) o.log?.(`${line} (×${n})`);
  };
  try {
    await mf.ready;
    const urls = new Map<string, string>();
    for (const w of workers) urls.set(w.name, (await mf.unsafeGetDirectURL(w.name)).href);
    const started = childPidsNamed("workerd").filter((p) => !before.has(p));
    const pid = started.length === 1 ? started[0] : undefined;
    if (pid !== undefined && o.cpus !== undefined) pinProcess(pid, o.cpus);
    return { urls, pid, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}
