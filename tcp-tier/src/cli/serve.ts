/**
 * `--mode serve` (the default) and `--mode init_only`: load the config, start the tcp tier, and
 * (serve) run until SIGINT/SIGTERM or until the server finishes on its own (admin /quitquitquit);
 * (init_only) initialize everything and exit 0 at once, as Envoy's init_only mode does.
 *
 * Log lines follow Envoy's: `caught SIGTERM`, `shutting down server instance`, `exiting`.
 *
 * While serving: a change of the `-c` file (watched) or SIGHUP reloads the config (validate, compile,
 * swap; a bad config is refused and the running one keeps serving). SIGTERM and SIGINT drain (listeners
 * stop accepting, connections get up to `--drain-time-s` to finish) and exit; a second signal exits at once.
 *
 * `--concurrency N` with N > 1 (the default is the CPU count) runs a primary process and N worker
 * processes (tcp-tier/src/workers/); everything above works the same, the primary forwarding to the
 * workers. With LEGATE_KV the primary polls the runtime flags (forwarding each change to the workers)
 * and publishes the workers' merged health verdicts.
 *
 * `type: EDS` clusters need LEGATE_KV: their endpoints are polled from KV (tcp-tier/src/kv/endpoints-poller.ts;
 * by the primary with workers, which forwards every change); without it such a config is refused at
 * startup and on reload.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { formatIssue, isError } from "../../../shared/config/issues.ts";
import { healthNodeId, type KvControl, openKvFromEnv, startKvControl, withoutKvSignalHandlers } from "../kv/control.ts";
import { type KvConfig, KvConfigPoller, readKvConfig } from "../kv/config-poller.ts";
import type { LoadResult } from "../config/load.ts";
import { loadBootstrapIsolated, validateValueIsolated } from "../config/load-isolated.ts";
import { edsServices, edsWithoutKvError } from "../kv/endpoints-poller.ts";
import type { HealthSourceCluster } from "../kv/health-publisher.ts";
import { ConfigFileWatcher } from "../reload/watch.ts";
import { startServer } from "../server.ts";
import type { EnvoyArgs } from "./args.ts";
import type { ResolvedIo } from "./io.ts";
import type { CliLogger } from "./logger.ts";
import { type ConfigSource, loadOptionsFor } from "./config-source.ts";
import { versionString } from "./version.ts";

/**
 * `--concurrency` when not given: the CPU count (`os.availableParallelism()`), as Envoy's; 1 on a
 * one-CPU machine is the single-process path.
 */
export function defaultConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** Envoy's /server_info `command_line_options`, with Envoy's field names and enum spellings. */
export function commandLineOptions(args: EnvoyArgs): Record<string, unknown> {
  const out: Record<string, unknown> = {
    config_path: args.configPath ?? "",
    config_yaml: args.configYaml ?? "",
    log_level: args.logLevel,
    log_path: args.logPath ?? "",
    mode: args.mode === "serve" ? "Serve" : args.mode === "validate" ? "Validate" : "InitOnly",
  };
  if (args.concurrency !== undefined) out.concurrency = args.concurrency;
  if (args.drainTimeS !== undefined) out.drain_time = `${args.drainTimeS}s`;
  return out;
}

/**
 * Loads the `-c`/`--config-yaml` config for serving: validated in a short-lived child process, so Envoy's
 * schema never lives in the serving process (tcp-tier/src/config/load-isolated.ts).
 */
function loadForServe(src: ConfigSource, io: ResolvedIo): Promise<LoadResult> {
  return loadBootstrapIsolated(loadOptionsFor(src, io.cwd));
}

/** Runs serve or init_only. Returns the exit code. */
export async function runServe(args: EnvoyArgs, io: ResolvedIo, logger: CliLogger): Promise<number> {
  const version = versionString();
  const configName = args.configPath ?? "";
  logger.info(`initializing legate version ${version} (mode ${args.mode}, pid ${process.pid})`);

  const edgeListener = args.edgeListener ?? (io.env.LEGATE_EDGE_LISTENER || undefined);
  // --config-from-kv: the config `legate push` wrote, read through the KV target the pollers use too.
  let kvOpened: ReturnType<typeof openKvFromEnv>;
  let kvConfig: KvConfig | undefined;
  if (args.configFromKv) {
    try {
      kvOpened = openKvFromEnv(io.env, io.cwd);
      if (!kvOpened) throw new Error("--config-from-kv needs LEGATE_KV=local, remote or edge in the environment (docs/kv-layout.md)");
      const target = kvOpened.target;
      kvConfig = await withoutKvSignalHandlers(() => readKvConfig(target));
    } catch (e) {
      await kvOpened?.target.close().catch(() => undefined);
      logger.critical(`error initializing configuration from KV: ${(e as Error).message}`);
      logger.info("exiting");
      return 1;
    }
    logger.info(`serving config ${kvConfig.describe} from ${kvOpened.target.description}`);
  }
  const loadOptions = { edgeListener, baseDir: io.cwd };
  const loaded = kvConfig ? await validateValueIsolated(kvConfig.value, loadOptions) : await loadForServe({ ...args, ...(edgeListener !== undefined ? { edgeListener } : {}) }, io);
  if (!loaded.ok) {
    await kvOpened?.target.close().catch(() => undefined);
    for (const issue of loaded.issues) {
      if (isError(issue)) logger.critical(`error initializing configuration '${configName}': ${formatIssue(issue)}`);
      else logger.warn(formatIssue(issue));
    }
    logger.info("exiting");
    return 1;
  }
  for (const w of loaded.warnings) logger.warn(formatIssue(w));

  let handle: Awaited<ReturnType<typeof startServer>>;
  const concurrency = args.concurrency ?? defaultConcurrency();
  let kvControl: KvControl | undefined;
  try {
    // LEGATE_KV=local|remote: runtime flags from KV, layered under the admin layer (tcp-tier/src/kv/control.ts).
    // With EDS clusters: their endpoints too, first read before the listeners start.
    kvControl = await startKvControl(io.env, io.cwd, logger, edsServices(loaded.model).values(), kvOpened);
    const edsProblem = kvControl ? undefined : edsWithoutKvError(loaded.model);
    if (edsProblem) throw new Error(edsProblem);
    const serverOptions = {
      ...(kvControl ? { kvRuntime: kvControl.runtime.layer, eds: kvControl.eds } : {}),
      canonical: loaded.canonical,
      model: loaded.model,
      logger,
      version,
      commandLineOptions: commandLineOptions(args),
      concurrency,
      ...(args.drainTimeS !== undefined ? { drainTimeMs: args.drainTimeS * 1000 } : {}),
      ...(io.env.LEGATE_ADMIN_TOKEN ? { adminToken: io.env.LEGATE_ADMIN_TOKEN } : {}),
    };
    // --concurrency 1: one process, no workers (tcp-tier/src/workers/ is the N > 1 case).
    let healthSources: () => Iterable<HealthSourceCluster>;
    if (concurrency > 1) {
      // Loaded only here: node:cluster and the primary are not needed by one process.
      const { startPrimary } = await import("../workers/primary.ts");
      const primary = await startPrimary({
        ...serverOptions,
        concurrency,
        ...(args.logPath !== undefined ? { logPath: resolve(io.cwd, args.logPath) } : {}),
        ...(edgeListener !== undefined ? { edgeListener } : {}),
      });
      handle = primary;
      // The workers' verdicts, merged in the primary (tcp-tier/src/workers/aggregate.ts).
      healthSources = () => primary.healthSources();
    } else {
      handle = await startServer(serverOptions);
      // The live cluster set (it follows reloads); Cluster objects carry their model and health verdicts.
      const liveClusters = handle.adminContext.clusters;
      healthSources = () => liveClusters.all() as unknown as Iterable<HealthSourceCluster>;
    }
    // KV runtime changes reach every consumer (with workers: the primary forwards them).
    const runtimeLayers = handle.adminContext.runtime;
    kvControl?.runtime.onChange(() => runtimeLayers.kvChanged());
    if (kvControl) kvControl.startHealth(healthSources, healthNodeId(io.env, loaded.model.node.id || undefined));
  } catch (e) {
    await kvControl?.close();
    if (!kvControl) await kvOpened?.target.close().catch(() => undefined);
    logger.critical(`error initializing configuration '${configName}': ${(e as Error).message}`);
    logger.info("exiting");
    return 1;
  }

  if (args.mode === "init_only") {
    logger.info("init_only mode: initialization complete, shutting down server instance");
    await handle.close();
    await kvControl?.close();
    logger.info("exiting");
    return 0;
  }

  // One reload at a time, load included, so an older config is never applied after a newer one.
  // Resolves true when the new config runs, false when it was refused (the running one keeps serving).
  let reloads: Promise<unknown> = Promise.resolve();
  const reload = (why: string, load: () => Promise<LoadResult>): Promise<boolean> => {
    const next = reloads.then(() => reloadOnce(why, load)).catch((e: unknown) => {
      logger.error(`config reload failed: ${(e as Error).message}`);
      return false;
    });
    reloads = next;
    return next;
  };
  const loadFile = () => loadForServe({ ...args, ...(edgeListener !== undefined ? { edgeListener } : {}) }, io);
  const reloadOnce = async (why: string, load: () => Promise<LoadResult>): Promise<boolean> => {
    logger.info(`reloading the configuration (${why})`);
    const next = await load();
    if (!next.ok) {
      handle.rejectReload(next.issues.filter(isError).map(formatIssue).join("; "));
      return false;
    }
    for (const w of next.warnings) logger.warn(formatIssue(w));
    const edsProblem = kvControl ? undefined : edsWithoutKvError(next.model);
    if (edsProblem) {
      handle.rejectReload(edsProblem);
      return false;
    }
    // The new config's EDS services are read now, so its new clusters start with their endpoints.
    const running = () => edsServices(handle.adminContext.model).values();
    await kvControl?.endpoints.setServices([...running(), ...edsServices(next.model).values()]);
    // A rejection is counted, logged and shown by /server_info inside reload().
    const ok = await handle.reload({ model: next.model, canonical: next.canonical }).then(() => true, () => false);
    await kvControl?.endpoints.setServices(running());
    return ok;
  };
  const watcher = args.configPath !== undefined ? new ConfigFileWatcher(resolve(io.cwd, args.configPath), () => void reload("config file changed", loadFile)) : undefined;
  // --config-from-kv: every push (a new version behind the pointer) is validated and hot-reloaded.
  const kvFollower = kvConfig && kvControl
    ? new KvConfigPoller(kvControl.target, logger, kvControl.pollMs, kvConfig.version, (c) => reload(`KV names config ${c.describe}`, () => validateValueIsolated(c.value, loadOptions)))
    : undefined;
  kvFollower?.start();
  const onHup = (): void => {
    logger.warn("caught SIGHUP");
    if (kvFollower) void kvFollower.poll();
    else void reload("SIGHUP", loadFile);
  };
  process.on("SIGHUP", onHup);

  let signals = 0;
  let forced: ((code: number) => void) | undefined;
  const forcedExit = new Promise<number>((r) => (forced = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    logger.warn(`caught ${sig}`);
    if (signals === 1) {
      logger.info("shutting down server instance");
      handle.drainAndClose().catch((e: unknown) => logger.error(`error while shutting down: ${(e as Error).message}`));
    } else {
      // A second signal while draining: stop waiting.
      forced?.(1);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const code = await Promise.race([handle.done.then(() => 0), forcedExit]);
    logger.info("exiting");
    return code;
  } catch (e) {
    logger.critical(`server failed: ${(e as Error).message}`);
    return 1;
  } finally {
    await kvFollower?.close();
    await kvControl?.close();
    watcher?.close();
    process.off("SIGHUP", onHup);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
