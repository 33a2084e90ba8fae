/** Errors the tcp tier throws at startup, each with a stable `code` for callers to match on. */
export type TcpTierErrorCode =
  /** A listener or the admin port could not bind its address. */
  | "LEGATE_BIND_FAILED"
  /** The config uses something the tcp tier cannot run yet (a filter, a UDP listener). */
  | "LEGATE_UNSUPPORTED_IN_TCP_TIER";

export class TcpTierError extends Error {
  readonly code: TcpTierErrorCode;
  constructor(code: TcpTierErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "TcpTierError";
  }
}
