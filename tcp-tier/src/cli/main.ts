/**
 * The `legate` command: Envoy's command line for the tcp tier, plus `push`, `versions`, `rollback`.
 * bin/legate.js → tcp-tier/src/main.ts → {@link runCli}. docs/cli.md documents every flag.
 */
import { resolve } from "node:path";
import { parseArgs, UsageError } from "./args.ts";
import { type CliIo, resolveIo } from "./io.ts";
import { createLogger } from "./logger.ts";
import { formatUsageError, helpText } from "./usage.ts";
import { versionBanner } from "./version.ts";

export type { CliIo } from "./io.ts";

/**
 * Runs one `legate` command line in this process and resolves to its exit code (0 success, 1 any
 * failure). `argv` holds the arguments after the program name (`process.argv.slice(2)`).
 *
 * Serve mode runs until SIGINT/SIGTERM (handlers are installed for its duration only) or until the
 * server stops by itself. Every other command returns as soon as it is done. Output goes to `io`
 * (defaults: the process's stdout, stderr, environment and working directory).
 */
export async function runCli(argv: string[], io?: CliIo): Promise<number> {
  const out = resolveIo(io);
  // KV control-plane commands parse their own arguments (runtime-commands.ts).
  if (argv[0] === "runtime") return (await import("./runtime-commands.ts")).runRuntime(argv.slice(1), out);
  if (argv[0] === "endpoints") return (await import("./endpoints-commands.ts")).runEndpoints(argv.slice(1), out);
  if (argv[0] === "status") return (await import("./status-command.ts")).runStatus(argv.slice(1), out);
  let args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      out.stderr(formatUsageError(e));
      return 1;
    }
    throw e;
  }

  switch (args.command) {
    case "help":
      out.stdout(helpText(args.topic));
      return 0;
    case "version":
      out.stdout(versionBanner());
      return 0;
    // Loaded on demand: `--version` and `--help` need neither the config loader, the server nor miniflare.
    case "push":
      return (await import("./kv-commands.ts")).runPush(args, out);
    case "versions":
      return (await import("./kv-commands.ts")).runVersions(args, out);
    case "rollback":
      return (await import("./kv-commands.ts")).runRollback(args, out);
    case "envoy":
      break;
  }

  if (args.mode === "validate") return (await import("./validate.ts")).runValidate(args, out);

  let logger;
  try {
    logger = createLogger({
      level: args.logLevel,
      ...(args.logPath !== undefined ? { path: resolve(out.cwd, args.logPath) } : {}),
      write: out.stderr,
    });
  } catch (e) {
    out.stderr(`error: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const { runServe } = await import("./serve.ts");
    return await runServe(args, out, logger);
  } finally {
    logger.close();
  }
}
