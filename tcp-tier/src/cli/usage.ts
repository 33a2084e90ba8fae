/**
 * Help and usage texts. A bad command line prints {@link formatUsageError} on stderr (shaped like
 * Envoy's: `PARSE ERROR: Argument: ...`, a brief usage, and where to find the full help).
 */
import type { HelpArgs, UsageError } from "./args.ts";

const BRIEF_MAIN = `   legate [-c <path>] [--config-yaml <yaml>] [--mode <serve|validate|init_only>]
          [-l <level>] [--log-path <path>] [--concurrency <n>] [--drain-time-s <s>]
          [--edge-listener <name>] [--version] [-h]
   legate push [--local | --remote] [--dry-run] [--persist-to <dir>] [--edge-listener <name>] <file>
   legate versions [--local | --remote]
   legate rollback [--local | --remote] [--dry-run] <version>`;

const KV_OPTIONS_HELP = `   --local                  Write the local state that \`wrangler dev\` reads (default)
   --remote                 Write Workers KV through Cloudflare's API
                            (CLOUDFLARE_API_TOKEN; CLOUDFLARE_ACCOUNT_ID or account_id in the
                            wrangler config; CLOUDFLARE_API_BASE_URL overrides the API address)
   --persist-to <dir>       Local state directory, as \`wrangler dev --persist-to\`
                            (default: .wrangler/state beside the wrangler config)
   --namespace-id <id>      KV namespace id (default: the LEGATE_KV binding in the wrangler config)
   --wrangler-config <path> wrangler.toml / wrangler.json(c) to read (default: searched upward
                            from the working directory)
   -h, --help               This help`;

const HELP: Record<"main" | NonNullable<HelpArgs["topic"]>, string> = {
  main: `USAGE:

${BRIEF_MAIN}

Runs Legate's tcp tier from an Envoy v3 bootstrap, as \`envoy\` does, or pushes the config to
Workers KV for the edge tier.

Where:
   -c <path>, --config-path <path>
                            Path to the Envoy bootstrap (YAML or JSON)
   --config-yaml <yaml>     Inline YAML bootstrap, merged over the contents of --config-path
   --mode <mode>            serve (default): validate, then serve traffic
                            validate: validate the config and exit (binds no port, sends no traffic)
                            init_only: validate, initialize everything, then exit
   -l <level>, --log-level <level>
                            trace, debug, info (default), warning (or warn), error, critical, off
   --log-path <path>        Append logs to this file (default: stderr)
   --concurrency <n>        Worker processes sharing the listeners (default: the CPU count;
                            1: one process; n > 1: a primary process and n workers; 0 means 1)
   --drain-time-s <s>       How long draining listeners keep their connections (default: 600)
   --edge-listener <name>   The listener the edge Worker serves (besides any listener with
                            metadata filter_metadata.legate.edge: true); the tcp tier skips it
                            (default: $LEGATE_EDGE_LISTENER)
   --version                Print the version and exit
   -h, --help               Print this help and exit

Commands:
   push       Validate a config and write it to Workers KV (see \`legate push --help\`)
   versions   List the config versions kept in KV, marking the current one
   rollback   Point KV back at a kept version (see \`legate rollback --help\`)
   runtime    Set, get, list or unset runtime flags in KV (see \`legate runtime --help\`)
   endpoints  Set, add, remove, drain or list the endpoints of EDS clusters in KV
              (see \`legate endpoints --help\`)
   status     Show KV's config, flags and health, and what each tier sees (see \`legate status --help\`)

Exit codes: 0 success; 1 invalid config, bad command line, or failure.
`,
  push: `USAGE:

   legate push [--local | --remote] [--dry-run] [--persist-to <dir>] [--namespace-id <id>]
               [--edge-listener <name>] [--wrangler-config <path>] [--config-yaml <yaml>]
               (<file> | -c <file>)

Validates the config (every issue is printed; nothing is written unless it is valid), then writes
it to the LEGATE_KV namespace: the config body under its content version, the history, and last the
pointer the edge reads. Pushing the current version again writes nothing ("unchanged").

Where:
   <file>, -c <file>, --config-path <file>
                            The Envoy bootstrap to push
   --config-yaml <yaml>     Inline YAML merged over the file (or the whole config without one)
   --dry-run                Print what would change (versions, keys, listeners/clusters/routes)
                            and write nothing
   --edge-listener <name>   The listener the edge serves (default: LEGATE_EDGE_LISTENER from the
                            wrangler config's [vars])
${KV_OPTIONS_HELP}
`,
  versions: `USAGE:

   legate versions [--local | --remote] [--persist-to <dir>] [--namespace-id <id>]
                   [--wrangler-config <path>]

Lists the kept config versions, newest first; \`*\` marks the current one.

Where:
${KV_OPTIONS_HELP}
`,
  rollback: `USAGE:

   legate rollback [--local | --remote] [--dry-run] [--persist-to <dir>] [--namespace-id <id>]
                   [--edge-listener <name>] [--wrangler-config <path>] <version>

Re-validates a kept version's config and points KV back at it. <version> is the full version
or a unique prefix of at least 8 hex digits (see \`legate versions\`).

Where:
   --dry-run                Print what would change and write nothing
   --edge-listener <name>   As for push
${KV_OPTIONS_HELP}
`,
};

export function helpText(topic?: HelpArgs["topic"]): string {
  return HELP[topic ?? "main"];
}

/** The stderr text for a bad command line. */
export function formatUsageError(err: UsageError): string {
  const where = err.arg !== undefined ? `Argument: ${err.arg}\n             ${err.message}` : err.message;
  const cmd = err.topic ? `legate ${err.topic} --help` : "legate --help";
  const brief = err.topic ? HELP[err.topic].split("\n\n")[1]! : BRIEF_MAIN;
  return `PARSE ERROR: ${where}\n\nBrief USAGE:\n${brief}\n\nFor complete USAGE and HELP type:\n   ${cmd}\n`;
}
