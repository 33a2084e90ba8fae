/**
 * `legate --config-from-kv`: the tcp tier serves the config `legate push` wrote to KV and follows each
 * push, as the edge does (docs/kv-layout.md, "The tcp tier and KV").
 *
 * Every `pollMs` the pointer `legate/config/current` is read; when it names a version other than the
 * one running, that version's body is read and handed to `apply` (which validates it with Envoy's
 * schema and hot-reloads it: tcp-tier/src/cli/serve.ts). Same rules as the edge's config cache
 * (edge/src/config-cache.ts): a missing pointer or body, a failed read, or a body that is not JSON
 * keeps the running config, logged once per distinct problem; a version that `apply` refused is not
 * tried again (versions are content hashes: the same text fails the same way); a missing body is
 * retried (KV may not have propagated it yet). One check at a time.
 */
import { CONFIG_POINTER_KEY, configVersionKey, parseConfigPointer } from "../../../shared/kv/layout.ts";
import type { Logger } from "../../../shared/log.ts";
import { PollLoop } from "./poll-loop.ts";
import type { KvReader } from "./runtime-poller.ts";

/** One config version read from KV. */
export interface KvConfig {
  version: string;
  /** The canonical JSON, parsed. */
  value: unknown;
  /** Where it came from, for logs (`<version> pushed <time> from <source>`). */
  describe: string;
}

/** Reads the current config from KV. Throws with an operator-facing message when there is none to read. */
export async function readKvConfig(reader: KvReader): Promise<KvConfig> {
  const pointerText = await reader.get(CONFIG_POINTER_KEY);
  if (pointerText === null) throw new Error(`no config in ${reader.description} (${CONFIG_POINTER_KEY} is missing): push one with \`legate push\``);
  const pointer = parseConfigPointer(pointerText);
  if (!pointer) throw new Error(`${CONFIG_POINTER_KEY} is not a config pointer: ${pointerText.slice(0, 200)}`);
  const text = await reader.get(configVersionKey(pointer.version));
  if (text === null) throw new Error(`config version ${pointer.version} is named by ${CONFIG_POINTER_KEY} but its body is missing`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`config version ${pointer.version} is not JSON: ${(e as Error).message}`);
  }
  const from = pointer.source ? ` from ${pointer.source}` : "";
  return { version: pointer.version, value, describe: `version ${pointer.version} (pushed ${pointer.pushed_at || "at an unknown time"}${from})` };
}

export class KvConfigPoller {
  private readonly reader: KvReader;
  private readonly logger: Logger;
  /** Validates and applies a new version; resolves true when it now runs, false when it was refused. */
  private readonly apply: (config: KvConfig) => Promise<boolean>;
  private running: string | undefined;
  private refused: string | undefined;
  private lastProblem: string | undefined;
  private readonly loop: PollLoop;

  constructor(reader: KvReader, logger: Logger, pollMs: number, runningVersion: string, apply: (config: KvConfig) => Promise<boolean>) {
    this.reader = reader;
    this.logger = logger;
    this.running = runningVersion;
    this.apply = apply;
    this.loop = new PollLoop(pollMs, () =>
      this.check().catch((e: unknown) => this.problem(`unexpected:${String(e)}`, `checking ${CONFIG_POINTER_KEY} failed: ${String(e)}`)),
    );
  }

  /** The version running now. */
  get version(): string | undefined {
    return this.running;
  }

  start(): void {
    this.loop.start();
  }

  /** One check, or the one already running. Never rejects. */
  poll(): Promise<void> {
    return this.loop.run();
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async check(): Promise<void> {
    let pointerText: string | null;
    try {
      pointerText = await this.reader.get(CONFIG_POINTER_KEY);
    } catch (e) {
      this.problem(`read:${(e as Error).message}`, `reading ${CONFIG_POINTER_KEY} from ${this.reader.description} failed: ${(e as Error).message}; the running config keeps serving`);
      return;
    }
    const pointer = pointerText === null ? undefined : parseConfigPointer(pointerText);
    if (!pointer) {
      this.problem(`pointer:${pointerText}`, pointerText === null
        ? `${CONFIG_POINTER_KEY} is gone from ${this.reader.description}; the running config keeps serving`
        : `${CONFIG_POINTER_KEY} is not a config pointer: ${pointerText.slice(0, 200)}; the running config keeps serving`);
      return;
    }
    if (pointer.version === this.running || pointer.version === this.refused) return;
    let config: KvConfig;
    try {
      config = await readKvConfig(this.reader);
    } catch (e) {
      this.problem(`body:${pointer.version}:${(e as Error).message}`, `${(e as Error).message}; the running config keeps serving`);
      return;
    }
    // The pointer may have moved between the two reads: apply what the second read found.
    if (config.version === this.running || config.version === this.refused) return;
    this.lastProblem = undefined;
    this.logger.info(`KV names config ${config.describe}; reloading`);
    if (await this.apply(config)) this.running = config.version;
    else this.refused = config.version;
  }

  private problem(key: string, message: string): void {
    if (this.lastProblem === key) return;
    this.lastProblem = key;
    this.logger.error(message);
  }
}
