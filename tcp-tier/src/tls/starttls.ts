/**
 * Envoy's `envoy.transport_sockets.starttls`, the seam: a socket that starts in clear text and is
 * switched to TLS mid-stream when a network filter asks (postgres_proxy: `terminate_ssl` downstream,
 * `upstream_ssl` upstream).
 *
 * Whoever creates such a socket (the listener for a chain with a `StartTlsConfig`, a cluster's transport
 * for an `UpstreamStartTlsConfig`) registers how to switch it with {@link setStartTls}; the connection
 * over it looks the switch up only when a filter calls `startSecureTransport()` (network/connection.ts).
 * Connections over sockets without one never touch this module: nothing is added to their hot paths.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";

/**
 * Runs the TLS handshake over `socket` (paused, no `data` listener) and calls `done` once: with the
 * TLS socket to read and write plaintext through, or with the error (the socket is destroyed then, the
 * failure counted under `ssl.*`). `head`: bytes already read from the socket that belong to the
 * handshake, replayed to TLS first.
 */
export type StartTls = (socket: Socket, head: Uint8Array, done: (err: Error | undefined, tls?: TLSSocket) => void) => void;

const switches = new WeakMap<Socket, StartTls>();

/** Marks `socket` as a starttls socket that `upgrade` can switch to TLS. */
export function setStartTls(socket: Socket, upgrade: StartTls): void {
  switches.set(socket, upgrade);
}

/** The switch registered for `socket`, if it is a starttls socket. */
export function startTlsFor(socket: Socket): StartTls | undefined {
  return switches.get(socket);
}
