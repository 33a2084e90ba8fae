/**
 * Envoy's listener filter contract (Network::ListenerFilter), for a runtime that cannot peek: the
 * listener reads the first bytes of an accepted socket into a buffer, hands that buffer to its listener
 * filters in config order, and when every filter is done replays what is left (byte-exact, in order)
 * to the connection that the chosen filter chain builds. A filter may consume bytes from the front (the
 * PROXY protocol header), which are then never replayed.
 */
import type { Socket } from "node:net";

/** What listener filters learn about an accepted socket; read by chain selection and the connection. */
export interface ListenerFilterState {
  readonly socket: Socket;
  /** `raw_buffer` until the TLS inspector sees a ClientHello. */
  transportProtocol: string;
  requestedServerName?: string;
  applicationProtocols: string[];
  /** The source a PROXY header carried (the connection's remote address). */
  remote?: { address: string; port: number };
  /** The destination a PROXY header carried (the connection's local address). */
  local?: { address: string; port: number };
}

/**
 * What a filter says:
 * - `continue`: done; `consume` bytes are dropped from the front of the buffer first.
 * - `more`: call `onData` again when at least `need` bytes are buffered (default: any new byte).
 * - `close`: the socket is closed (the filter counted why).
 */
export type ListenerFilterResult = { status: "continue"; consume?: number } | { status: "more"; need?: number } | { status: "close" };

/** One accepted socket's instance of a listener filter. */
export interface ListenerFilter {
  /** Called first. `continue` skips `onData` (nothing to inspect); `more` asks for bytes. */
  onAccept(state: ListenerFilterState): ListenerFilterResult;
  /** Called with every byte buffered and not consumed yet (never empty). Synchronous. */
  onData(buffer: Uint8Array, state: ListenerFilterState): ListenerFilterResult;
  /**
   * The peer half-closed before the filter was done. Envoy closes the socket then; a filter may count
   * it first (e.g. `proxy_proto` errors). Optional.
   */
  onPeerClosed?(state: ListenerFilterState): void;
}

/** Config-time factory: built once per listener, called once per accepted socket. */
export type ListenerFilterFactory = () => ListenerFilter;
