/**
 * Loading a config for the CLI, and `--mode validate`.
 *
 * Validate mode prints what Envoy prints: `configuration '<path>' OK` on stdout and exit 0 (the path
 * as given; empty when the config came from `--config-yaml` alone, as Envoy), or every issue, one per
 * line, on stderr and exit 1. Warnings (skipped optional extensions) are printed and do not fail.
 * Nothing is bound and no traffic is sent.
 */
import { type ConfigIssue, formatIssue } from "../../../shared/config/issues.ts";
import { loadBootstrap, type LoadResult } from "../config/load.ts";
import type { EnvoyArgs } from "./args.ts";
import { type ConfigSource, loadOptionsFor } from "./config-source.ts";
import type { ResolvedIo } from "./io.ts";

/**
 * Runs the loader with paths resolved against the CLI's working directory. A loader that throws
 * (it should not) becomes a failed result with one `not-envoy` issue, so callers handle one shape.
 */
export async function loadForCli(src: ConfigSource, io: ResolvedIo): Promise<LoadResult> {
  try {
    return await loadBootstrap(loadOptionsFor(src, io.cwd));
  } catch (e) {
    return { ok: false, issues: [{ kind: "not-envoy", path: "", message: `cannot load the configuration: ${(e as Error).message}` }] };
  }
}

/** Prints every issue (errors and warnings), one per line, on stderr. */
export function printIssues(issues: readonly ConfigIssue[], io: ResolvedIo): void {
  for (const issue of issues) io.stderr(`${formatIssue(issue)}\n`);
}

/** `--mode validate`. Returns the exit code. */
export async function runValidate(args: EnvoyArgs, io: ResolvedIo): Promise<number> {
  const result = await loadForCli(args, io);
  if (!result.ok) {
    printIssues(result.issues, io);
    return 1;
  }
  printIssues(result.warnings, io);
  // Envoy prints its configPath option as given; with only --config-yaml that is ''.
  io.stdout(`configuration '${args.configPath ?? ""}' OK\n`);
  return 0;
}
