/** The logger both tiers pass around; the tcp tier's writes to --log-path (default stderr). */
export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "critical" | "off";

export interface Logger {
  level: LogLevel;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "critical", "off"];

/** A logger that drops everything (tests, and callers that pass none). */
export const silentLogger: Logger = { level: "off", debug() {}, info() {}, warn() {}, error() {} };
