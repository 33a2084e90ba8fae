/**
 * Command-line parsing for `legate`: Envoy's flags for the tcp tier (`-c`, `--config-yaml`, `--mode`,
 * `--log-level`, `--log-path`, `--concurrency`, `--version`, `--help`) and Legate's own subcommands
 * (`push`, `versions`, `rollback`). Pure: no I/O, so every rule here is unit-tested directly.
 *
 * Accepted forms, as Envoy's parser accepts them: `-c x`, `-c=x`, `--config-path x`, `--config-path=x`.
 * Every option may be given at most once (Envoy refuses a repeated option too). A bad command line
 * throws {@link UsageError}; the caller prints it with the usage text and exits 1.
 */
import { parseArgs as parseNodeArgs, type ParseArgsOptionsConfig } from "node:util";
import type { LogLevel } from "../../../shared/log.ts";

export type Mode = "serve" | "validate" | "init_only";
/** `edge` (the edge's admin API, LEGATE_KV=edge) is the tcp tier's only: the CLI's flags give local or remote. */
export type KvTargetKind = "local" | "remote" | "edge";

/** `legate [Envoy flags]`: serve, validate or init_only, like `envoy`. */
export interface EnvoyArgs {
  command: "envoy";
  configPath?: string;
  configYaml?: string;
  /** Default `serve`. */
  mode: Mode;
  /** Default `info`, as Envoy. */
  logLevel: LogLevel;
  logPath?: string;
  /** Given only when `--concurrency` was (Envoy clamps 0 to 1, so does Legate). */
  concurrency?: number;
  /** `--drain-time-s`, given only when set (the server's default is Envoy's 600 s). */
  drainTimeS?: number;
  /** Legate's addition: the listener the edge Worker serves (skipped by the tcp tier). */
  edgeListener?: string;
  /** Legate's addition: serve the config pushed to KV (LEGATE_KV) and follow each push, instead of a file. */
  configFromKv?: boolean;
}

/** Where `push`, `versions` and `rollback` read and write. */
export interface KvArgs {
  /** Default `local`. */
  target: KvTargetKind;
  /** Local state directory (as `wrangler dev --persist-to`); default `.wrangler/state` beside wrangler.toml. */
  persistTo?: string;
  /** Overrides the LEGATE_KV binding's id from the wrangler config. */
  namespaceId?: string;
  /** Path to wrangler.toml / wrangler.json(c); default: searched upward from the working directory. */
  wranglerConfig?: string;
}

/**
 * The kv options of the subcommands that parse their own arguments with node:util's parseArgs
 * (`runtime`, `endpoints`, `status`): the option table and the checks, shared so each states them once.
 */
export const KV_FLAG_OPTIONS = {
  local: { type: "boolean" },
  remote: { type: "boolean" },
  "persist-to": { type: "string" },
  "namespace-id": { type: "string" },
  "wrangler-config": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** node:util's parseArgs (strict, with positionals) over {@link KV_FLAG_OPTIONS} and a command's own `options`. */
export function parseKvCommandLine<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O) {
  return parseNodeArgs({ args: [...argv], allowPositionals: true, strict: true, options: { ...KV_FLAG_OPTIONS, ...options } });
}

/** {@link KvArgs} from parsed {@link KV_FLAG_OPTIONS}; throws an Error with a usage message. */
export function kvArgsFromFlags(values: { local?: boolean; remote?: boolean; "persist-to"?: string; "namespace-id"?: string; "wrangler-config"?: string }): KvArgs {
  if (values.local && values.remote) throw new Error("--local and --remote exclude each other");
  const kv: KvArgs = { target: values.remote ? "remote" : "local" };
  if (values["persist-to"] !== undefined) {
    if (kv.target === "remote") throw new Error("--persist-to applies to --local only");
    kv.persistTo = values["persist-to"];
  }
  if (values["namespace-id"] !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(values["namespace-id"])) throw new Error(`'${values["namespace-id"]}' is not a namespace id`);
    kv.namespaceId = values["namespace-id"];
  }
  if (values["wrangler-config"] !== undefined) kv.wranglerConfig = values["wrangler-config"];
  return kv;
}

export interface PushArgs extends KvArgs {
  command: "push";
  configPath?: string;
  configYaml?: string;
  dryRun: boolean;
  edgeListener?: string;
}

export interface VersionsArgs extends KvArgs {
  command: "versions";
}

export interface RollbackArgs extends KvArgs {
  command: "rollback";
  /** A full version, or a prefix of at least {@link MIN_VERSION_PREFIX} hex digits naming one kept version. */
  version: string;
  dryRun: boolean;
  edgeListener?: string;
}

export interface HelpArgs {
  command: "help";
  /** The subcommand whose help was asked for; undefined for the main help. */
  topic?: "push" | "versions" | "rollback";
}

export interface VersionArgs {
  command: "version";
}

export type ParsedArgs = EnvoyArgs | PushArgs | VersionsArgs | RollbackArgs | HelpArgs | VersionArgs;

export const MIN_VERSION_PREFIX = 8;

/** A command line that cannot be run. `arg` names the offending argument when there is one. */
export class UsageError extends Error {
  readonly code = "LEGATE_USAGE";
  readonly arg: string | undefined;
  /** The subcommand whose usage applies (undefined: the main usage). */
  readonly topic: HelpArgs["topic"];
  constructor(message: string, arg?: string, topic?: HelpArgs["topic"]) {
    super(message);
    this.name = "UsageError";
    this.arg = arg;
    this.topic = topic;
  }
}

/** Envoy's log level names (spdlog's), plus `warn`, which Envoy also accepts for `warning`. */
export function parseLogLevel(value: string): LogLevel | undefined {
  switch (value) {
    case "trace":
    case "debug":
    case "info":
    case "warning":
    case "error":
    case "critical":
    case "off":
      return value;
    case "warn":
      return "warning";
    default:
      return undefined;
  }
}

type OptionKind = "value" | "switch";
interface OptionSpec {
  long: string;
  short?: string;
  kind: OptionKind;
}

const ENVOY_OPTIONS: readonly OptionSpec[] = [
  { long: "config-path", short: "c", kind: "value" },
  { long: "config-yaml", kind: "value" },
  { long: "mode", kind: "value" },
  { long: "log-level", short: "l", kind: "value" },
  { long: "log-path", kind: "value" },
  { long: "concurrency", kind: "value" },
  { long: "drain-time-s", kind: "value" },
  { long: "edge-listener", kind: "value" },
  { long: "config-from-kv", kind: "switch" },
  { long: "version", kind: "switch" },
  { long: "help", short: "h", kind: "switch" },
];

const KV_OPTIONS: readonly OptionSpec[] = [
  { long: "local", kind: "switch" },
  { long: "remote", kind: "switch" },
  { long: "persist-to", kind: "value" },
  { long: "namespace-id", kind: "value" },
  { long: "wrangler-config", kind: "value" },
  { long: "help", short: "h", kind: "switch" },
];

const PUSH_OPTIONS: readonly OptionSpec[] = [
  ...KV_OPTIONS,
  { long: "config-path", short: "c", kind: "value" },
  { long: "config-yaml", kind: "value" },
  { long: "dry-run", kind: "switch" },
  { long: "edge-listener", kind: "value" },
];

const ROLLBACK_OPTIONS: readonly OptionSpec[] = [
  ...KV_OPTIONS,
  { long: "dry-run", kind: "switch" },
  { long: "edge-listener", kind: "value" },
];

/**
 * Envoy options Legate knows but does not implement: refused by name, so an operator moving a
 * command line over from Envoy learns which flag to drop rather than seeing "unknown option".
 */
const UNSUPPORTED_ENVOY_OPTIONS = new Set([
  "base-id",
  "use-dynamic-base-id",
  "base-id-path",
  "allow-unknown-static-fields",
  "reject-unknown-dynamic-fields",
  "ignore-unknown-dynamic-fields",
  "admin-address-path",
  "local-address-ip-version",
  "component-log-level",
  "log-format",
  "log-format-escaped",
  "log-format-prefix-with-location",
  "enable-fine-grain-logging",
  "restart-epoch",
  "hot-restart-version",
  "service-cluster",
  "service-node",
  "service-zone",
  "file-flush-interval-msec",
  "drain-strategy",
  "parent-shutdown-time-s",
  "disable-hot-restart",
  "enable-mutex-tracing",
  "cpuset-threads",
  "disable-extensions",
  "enable-core-dump",
  "socket-path",
  "socket-mode",
  "stats-tag",
  "skip-hot-restart-on-no-parent",
  "skip-hot-restart-parent-stats",
  "bootstrap-version",
]);

const SUBCOMMANDS = ["push", "versions", "rollback"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

interface RawParse {
  values: Map<string, string>;
  switches: Set<string>;
  positionals: string[];
}

/** Splits argv into options (validated against `specs`) and positionals. */
function scan(argv: readonly string[], specs: readonly OptionSpec[], topic: HelpArgs["topic"]): RawParse {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      const name = eq < 0 ? token.slice(2) : token.slice(2, eq);
      inline = eq < 0 ? undefined : token.slice(eq + 1);
      shown = `--${name}`;
      spec = byLong.get(name);
      if (!spec) {
        if (topic === undefined && UNSUPPORTED_ENVOY_OPTIONS.has(name)) {
          throw new UsageError("is an Envoy option that Legate does not support", shown, topic);
        }
        throw new UsageError("unknown option", shown, topic);
      }
    } else if (token.startsWith("-") && token.length > 1) {
      const letter = token[1]!;
      shown = `-${letter}`;
      spec = byShort.get(letter);
      if (!spec) throw new UsageError("unknown option", token, topic);
      if (token.length > 2) {
        // `-c=x` (Envoy's parser accepts it) and `-cx`.
        inline = token[2] === "=" ? token.slice(3) : token.slice(2);
      }
    } else {
      positionals.push(token);
      continue;
    }

    if (values.has(spec.long) || switches.has(spec.long)) {
      throw new UsageError("given more than once (each option may appear at most once)", shown, topic);
    }
    if (spec.kind === "switch") {
      if (inline !== undefined) throw new UsageError("takes no value", shown, topic);
      switches.add(spec.long);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // --config-yaml takes the next word as is: inline YAML may well start with `---` or `-`.
      if (next === undefined || (spec.long !== "config-yaml" && next.startsWith("-") && next !== "-")) {
        throw new UsageError("requires a value", shown, topic);
      }
      value = next;
      i++;
    }
    values.set(spec.long, value);
  }
  return { values, switches, positionals };
}

function parseKv(raw: RawParse, topic: Subcommand): KvArgs {
  if (raw.switches.has("local") && raw.switches.has("remote")) {
    throw new UsageError("--local and --remote exclude each other", "--remote", topic);
  }
  const kv: KvArgs = { target: raw.switches.has("remote") ? "remote" : "local" };
  const persistTo = raw.values.get("persist-to");
  if (persistTo !== undefined) {
    if (kv.target === "remote") throw new UsageError("applies to --local only", "--persist-to", topic);
    kv.persistTo = persistTo;
  }
  const ns = raw.values.get("namespace-id");
  if (ns !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(ns)) throw new UsageError(`'${ns}' is not a namespace id`, "--namespace-id", topic);
    kv.namespaceId = ns;
  }
  const wc = raw.values.get("wrangler-config");
  if (wc !== undefined) kv.wranglerConfig = wc;
  return kv;
}

function nonEmpty(value: string | undefined, name: string, topic: HelpArgs["topic"]): string | undefined {
  if (value === "") throw new UsageError("must not be empty", name, topic);
  return value;
}

/**
 * Parses the arguments after the program name. Throws {@link UsageError} for anything that cannot run.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const first = argv[0];
  if (first !== undefined && (SUBCOMMANDS as readonly string[]).includes(first)) {
    return parseSubcommand(first as Subcommand, argv.slice(1));
  }
  if (first === "help") {
    const topic = argv[1];
    if (topic === undefined) return { command: "help" };
    if ((SUBCOMMANDS as readonly string[]).includes(topic)) return { command: "help", topic: topic as Subcommand };
    throw new UsageError("unknown command", topic);
  }

  const raw = scan(argv, ENVOY_OPTIONS, undefined);
  if (raw.switches.has("help")) return { command: "help" };
  if (raw.switches.has("version")) return { command: "version" };
  if (raw.positionals.length > 0) {
    const word = raw.positionals[0]!;
    throw new UsageError(
      /^[a-z]+$/.test(word)
        ? "unknown command (commands: push, versions, rollback; the config file is given with -c)"
        : "unexpected argument (the config file is given with -c / --config-path)",
      word,
    );
  }

  const args: EnvoyArgs = { command: "envoy", mode: "serve", logLevel: "info" };
  const mode = raw.values.get("mode");
  if (mode !== undefined) {
    if (mode !== "serve" && mode !== "validate" && mode !== "init_only") {
      throw new UsageError(`unknown mode '${mode}' (expected serve, validate or init_only)`, "--mode");
    }
    args.mode = mode;
  }
  const level = raw.values.get("log-level");
  if (level !== undefined) {
    const parsed = parseLogLevel(level);
    if (!parsed) {
      throw new UsageError(
        `invalid log level '${level}' (expected trace, debug, info, warning, warn, error, critical or off)`,
        "--log-level",
      );
    }
    args.logLevel = parsed;
  }
  const concurrency = raw.values.get("concurrency");
  if (concurrency !== undefined) {
    if (!/^\d+$/.test(concurrency) || Number(concurrency) > 0xffffffff) {
      throw new UsageError(`'${concurrency}' is not an unsigned integer`, "--concurrency");
    }
    args.concurrency = Math.max(1, Number(concurrency));
  }
  const drain = raw.values.get("drain-time-s");
  if (drain !== undefined) {
    if (!/^\d+$/.test(drain) || Number(drain) > 0xffffffff) throw new UsageError(`'${drain}' is not an unsigned integer`, "--drain-time-s");
    args.drainTimeS = Number(drain);
  }
  const configPath = nonEmpty(raw.values.get("config-path"), "--config-path", undefined);
  if (configPath !== undefined) args.configPath = configPath;
  const configYaml = raw.values.get("config-yaml");
  if (configYaml !== undefined) args.configYaml = configYaml;
  const logPath = nonEmpty(raw.values.get("log-path"), "--log-path", undefined);
  if (logPath !== undefined) args.logPath = logPath;
  const edge = nonEmpty(raw.values.get("edge-listener"), "--edge-listener", undefined);
  if (edge !== undefined) args.edgeListener = edge;
  if (raw.switches.has("config-from-kv")) {
    if (args.configPath !== undefined || args.configYaml !== undefined) {
      throw new UsageError("give either --config-from-kv or a config (-c / --config-yaml), not both", "--config-from-kv");
    }
    if (args.mode === "validate") {
      throw new UsageError("--mode validate checks a file; KV only ever holds configs `legate push` validated", "--config-from-kv");
    }
    args.configFromKv = true;
  } else if (args.configPath === undefined && args.configYaml === undefined) {
    throw new UsageError("no configuration: give -c <path> and/or --config-yaml <yaml> (or --config-from-kv with LEGATE_KV)", "--config-path");
  }
  return args;
}

function parseSubcommand(cmd: Subcommand, argv: readonly string[]): ParsedArgs {
  const specs = cmd === "push" ? PUSH_OPTIONS : cmd === "rollback" ? ROLLBACK_OPTIONS : KV_OPTIONS;
  const raw = scan(argv, specs, cmd);
  if (raw.switches.has("help")) return { command: "help", topic: cmd };
  const kv = parseKv(raw, cmd);

  if (cmd === "versions") {
    if (raw.positionals.length > 0) throw new UsageError("unexpected argument", raw.positionals[0], cmd);
    return { command: "versions", ...kv };
  }

  const edge = nonEmpty(raw.values.get("edge-listener"), "--edge-listener", cmd);
  const dryRun = raw.switches.has("dry-run");

  if (cmd === "rollback") {
    if (raw.positionals.length === 0) throw new UsageError("needs the version to roll back to", undefined, cmd);
    if (raw.positionals.length > 1) throw new UsageError("unexpected argument", raw.positionals[1], cmd);
    const version = raw.positionals[0]!.toLowerCase();
    if (!/^[0-9a-f]+$/.test(version) || version.length < MIN_VERSION_PREFIX || version.length > 64) {
      throw new UsageError(
        `'${raw.positionals[0]}' is not a version (64 hex digits, or a prefix of at least ${MIN_VERSION_PREFIX})`,
        undefined,
        cmd,
      );
    }
    return { command: "rollback", ...kv, version, dryRun, ...(edge !== undefined ? { edgeListener: edge } : {}) };
  }

  // push
  let configPath = nonEmpty(raw.values.get("config-path"), "--config-path", cmd);
  if (raw.positionals.length > 1) throw new UsageError("unexpected argument", raw.positionals[1], cmd);
  const positional = raw.positionals[0];
  if (positional !== undefined) {
    if (configPath !== undefined) throw new UsageError("give the config file once (as <file> or with -c)", positional, cmd);
    configPath = nonEmpty(positional, "<file>", cmd);
  }
  const configYaml = raw.values.get("config-yaml");
  if (configPath === undefined && configYaml === undefined) {
    throw new UsageError("no configuration: give <file> (or -c <file>) and/or --config-yaml <yaml>", undefined, cmd);
  }
  const out: PushArgs = { command: "push", ...kv, dryRun };
  if (configPath !== undefined) out.configPath = configPath;
  if (configYaml !== undefined) out.configYaml = configYaml;
  if (edge !== undefined) out.edgeListener = edge;
  return out;
}
