/**
 * The tcp tier's KV runtime layer: polls `legate/runtime/current` (shared/kv/layout.ts) every
 * `pollMs` and replaces a {@link RuntimeLayer}'s values when the document's version changes. The server
 * layers it between the config's static layers and the admin layer (admin/runtime-layers.ts), so every
 * consumer sees a flag within one poll interval of `legate runtime set`.
 *
 * Same rules as the edge (edge/src/kv-runtime.ts): a missing key empties the layer; a document that
 * does not parse, or a read that fails, keeps the previous values and is logged once per distinct
 * problem. One read at a time: a poll that is still running when the next is due is not doubled.
 */
import { parseRuntimeDocument, RUNTIME_KEY } from "../../../shared/kv/layout.ts";
import type { Logger } from "../../../shared/log.ts";
import { RuntimeLayer } from "../../../shared/runtime/runtime.ts";
import { PollLoop } from "./poll-loop.ts";

/** What the poller reads through: a {@link import("../cli/kv/target.ts").KvTarget} fits. */
export interface KvReader {
  readonly description: string;
  get(key: string): Promise<string | null>;
}

export const DEFAULT_KV_POLL_MS = 1000;

export class KvRuntimePoller {
  readonly layer = new RuntimeLayer("kv");
  /** The document version applied; undefined while KV holds none. */
  version: number | undefined;
  private readonly reader: KvReader;
  private readonly logger: Logger;
  private readonly loop: PollLoop;
  private lastProblem: string | undefined;
  private readonly changeListeners: (() => void)[] = [];

  constructor(reader: KvReader, logger: Logger, pollMs = DEFAULT_KV_POLL_MS) {
    this.reader = reader;
    this.logger = logger;
    this.loop = new PollLoop(pollMs, () => this.check());
  }

  /** Polls once now (awaited: the server starts with the flags KV holds), then every `pollMs`. */
  async start(): Promise<void> {
    await this.poll();
    this.loop.start();
  }

  /** One read, or the read already running. Never rejects. */
  poll(): Promise<void> {
    return this.loop.run();
  }

  /** Calls `fn` after each change of the layer's values (the primary forwards them to its workers). */
  onChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }

  /** Stops polling; waits for a read in flight. */
  close(): Promise<void> {
    return this.loop.close();
  }

  private async check(): Promise<void> {
    let text: string | null;
    try {
      text = await this.reader.get(RUNTIME_KEY);
    } catch (e) {
      this.problem(`read:${(e as Error).message}`, `reading ${RUNTIME_KEY} from ${this.reader.description} failed: ${(e as Error).message}; keeping the previous runtime values`);
      return;
    }
    if (text === null) {
      this.lastProblem = undefined;
      if (this.version !== undefined) {
        this.layer.replace(new Map());
        this.version = undefined;
        this.logger.info(`${RUNTIME_KEY} is gone: the KV runtime layer is empty`);
        this.changed();
      }
      return;
    }
    const doc = parseRuntimeDocument(text);
    if (!doc) {
      this.problem(`doc:${text}`, `${RUNTIME_KEY} is not a runtime document: ${text.slice(0, 200)}; keeping the previous runtime values`);
      return;
    }
    this.lastProblem = undefined;
    if (doc.version === this.version) return;
    this.layer.replace(new Map(Object.entries(doc.values)));
    this.version = doc.version;
    this.logger.info(`loaded KV runtime version ${doc.version} (${Object.keys(doc.values).length} keys) from ${this.reader.description}`);
    this.changed();
  }

  private problem(key: string, message: string): void {
    if (this.lastProblem === key) return;
    this.lastProblem = key;
    this.logger.error(message);
  }
}
