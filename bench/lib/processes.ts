/**
 * Child processes of a bench run: each in its own process group (so whatever it starts goes with it),
 * optionally pinned to cores with `taskset -c`, its output kept (a bounded tail) for error messages,
 * and stopped by {@link Processes.stopAll} on every way out of a scenario: SIGTERM to the group, then
 * SIGKILL after a bounded wait.
 */
import { type ChildProcess, spawn } from "node:child_process";

const TAIL_LINES = 40;
const STOP_GRACE_MS = 3_000;

export interface StartOptions {
  /** `taskset -c` list (e.g. `"0"`, `"1-3"`); absent: not pinned. */
  cpus?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout so far (for tools whose output is parsed, like wrk). */
  stdout(): string;
  /** The last lines of stdout and stderr, for error messages. */
  tail(): string;
  /** Resolves when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
}

export class Processes {
  private readonly children = new Set<ChildImpl>();

  /** Starts `command args` (through `taskset -c <cpus>` when pinned). Throws when it cannot be spawned. */
  start(name: string, command: string, args: readonly string[], options: StartOptions = {}): Child {
    const [cmd, argv] = options.cpus !== undefined ? ["taskset", ["-c", options.cpus, command, ...args]] : [command, [...args]];
    const proc = spawn(cmd, argv, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    if (proc.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
    const child = new ChildImpl(name, proc, proc.pid);
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Runs a command to completion (bounded by `timeoutMs`); rejects on a non-zero exit or the timeout. */
  async run(name: string, command: string, args: readonly string[], timeoutMs: number, options: StartOptions = {}): Promise<string> {
    const child = this.start(name, command, args, options);
    const timer = setTimeout(() => void this.stop(child), timeoutMs);
    try {
      const { code, signal } = await child.exited;
      if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}${signal ? `, timeout ${timeoutMs} ms` : ""}):\n${child.tail()}`);
      return child.stdout();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops one child and its process group: SIGTERM, then SIGKILL after a grace period. */
  async stop(child: Child): Promise<void> {
    if (!child.running) return;
    signalGroup(child.pid, "SIGTERM");
    const killed = setTimeout(() => signalGroup(child.pid, "SIGKILL"), STOP_GRACE_MS);
    await child.exited;
    clearTimeout(killed);
    // The leader is gone; anything left in its group is stopped too.
    signalGroup(child.pid, "SIGKILL");
  }

  /** Stops every child still running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
  }

  /** Synchronous last resort for process exit handlers: SIGKILL to every group still running. */
  killAllNow(): void {
    for (const c of this.children) if (c.running) signalGroup(c.pid, "SIGKILL");
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

class ChildImpl implements Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running = true;
  private out = "";
  private readonly lines: string[] = [];

  constructor(name: string, proc: ChildProcess, pid: number) {
    this.name = name;
    this.proc = proc;
    this.pid = pid;
    proc.stdout!.setEncoding("utf8").on("data", (s: string) => {
      this.out += s;
      this.keep(s);
    });
    proc.stderr!.setEncoding("utf8").on("data", (s: string) => this.keep(s));
    this.exited = new Promise((resolve) => {
      proc.on("error", (e) => {
        this.keep(`spawn error: ${e.message}\n`);
        this.running = false;
        resolve({ code: -1, signal: null });
      });
      proc.on("exit", (code, signal) => {
        this.running = false;
        resolve({ code, signal });
      });
    });
  }

  private keep(s: string): void {
    for (const line of s.split("\n")) if (line.trim() !== "") this.lines.push(line);
    if (this.lines.length > TAIL_LINES) this.lines.splice(0, this.lines.length - TAIL_LINES);
  }

  stdout(): string {
    return this.out;
  }

  tail(): string {
    return this.lines.map((l) => `  ${this.name}: ${l}`).join("\n");
  }

  /** Waits (bounded) for a stdout line matching `re`; returns the match. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.out.match(re);
      if (m) return m;
      if (!this.running) throw new Error(`${this.name} exited before it was ready:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.tail()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Waits (bounded) for a stdout line of `child` matching `re`. */
export function waitForOutput(child: Child, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return (child as ChildImpl).waitFor(re, timeoutMs);
}
