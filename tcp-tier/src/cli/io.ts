/** Where the CLI's output goes and what environment it sees; tests substitute all of it. */
export interface CliIo {
  /** Results (`configuration '...' OK`, push summaries, version listings). Default: process.stdout. */
  stdout?: (s: string) => void;
  /** Issues, usage errors and (without --log-path) logs. Default: process.stderr. */
  stderr?: (s: string) => void;
  /** Environment (CLOUDFLARE_*, LEGATE_EDGE_LISTENER). Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Base for relative paths. Default: process.cwd(). */
  cwd?: string;
}

export interface ResolvedIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

export function resolveIo(io: CliIo = {}): ResolvedIo {
  return {
    stdout: io.stdout ?? ((s) => void process.stdout.write(s)),
    stderr: io.stderr ?? ((s) => void process.stderr.write(s)),
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
  };
}
