/**
 * The downstream TLS transport socket (Envoy's `envoy.transport_sockets.tls` with a
 * `DownstreamTlsContext`): terminates TLS on an accepted socket after the listener filters ran and a
 * filter chain with a `transport_socket` was chosen.
 *
 * Everything that can be done once per config is done in {@link createDownstreamTransportSocket}:
 * secure contexts (one per certificate), the SNI index, the TLSSocket options and the compiled
 * validation. Per connection it wraps the socket's native handle in a `TLSSocket` (no JS stream in the
 * middle), replays the bytes the listener filters already read, and checks the peer after the
 * handshake.
 */
import type { Socket } from "node:net";
import type { SecureContext, TLSSocket, TLSSocketOptions } from "node:tls";
import { tls as nodeTls } from "../node-builtins.ts";
import type { DownstreamTlsModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { StatsScope } from "../../../shared/stats/store.ts";
import type { ConnectionInfo } from "../network/filter.ts";
import { buildCertificateEntries, chainError, compileVerifier, sniSelector, toPeerCertificate, type VerifyFailure } from "./context.ts";
import { TlsStats } from "./stats.ts";

export interface DownstreamTransportSocketContext {
  /** The listener's scope (`listener.<address>_<port>.`): counters are `ssl.*` under it, as Envoy's. */
  stats: StatsScope;
  logger: Logger;
}

/** Called once per accepted connection: `err` set when the handshake or the peer check failed. */
export type TransportSocketDone = (err: Error | undefined, tls?: TLSSocket) => void;

export interface DownstreamTransportSocket {
  /**
   * Runs the TLS handshake on `socket` and calls `done` once. `socket` must be paused with no `data`
   * listener (the listener filters are finished with it); `head` is what the listener filters read
   * from it (usually the ClientHello), replayed to TLS first, byte for byte.
   *
   * On success `info.tls` is set (version, cipher, negotiated ALPN, peer certificate),
   * `info.requestedServerName` is filled from the handshake if no listener filter set it, and `done`
   * gets the TLSSocket to read and write plaintext through. On failure (handshake error, the peer
   * closing during the handshake, a client certificate that is missing when required or refused by
   * the validation context) the socket is destroyed, the failure counted, and `done(err)` called.
   */
  accept(socket: Socket, head: Uint8Array, info: ConnectionInfo, done: TransportSocketDone): void;
}

/** An error of the downstream TLS handshake or peer check, with the `ssl.*` counter it was counted as. */
export class TlsHandshakeError extends Error {
  readonly code: "LEGATE_TLS_HANDSHAKE" | "LEGATE_TLS_VERIFY";
  readonly stat: VerifyFailure | "connection_error";
  constructor(stat: VerifyFailure | "connection_error", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TlsHandshakeError";
    this.stat = stat;
    this.code = stat === "connection_error" ? "LEGATE_TLS_HANDSHAKE" : "LEGATE_TLS_VERIFY";
  }
}

/** Node's code for OpenSSL's "peer did not return a certificate" (SSL_VERIFY_FAIL_IF_NO_PEER_CERT). */
const NO_CLIENT_CERTIFICATE = "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE";

/**
 * Builds the transport socket of one filter chain. Throws when Node refuses the certificates, key,
 * ciphers or curves (config load fails with that message).
 */
export function createDownstreamTransportSocket(model: DownstreamTlsModel, context: DownstreamTransportSocketContext): DownstreamTransportSocket {
  const entries = buildCertificateEntries(model);
  const select = sniSelector(entries);
  const stats = new TlsStats(context.stats);
  const logger = context.logger;
  const requestCert = model.requireClientCertificate || model.validation !== undefined;
  const verify = compileVerifier(model.validation, model.requireClientCertificate);
  const serverAlpn = new Set(model.alpnProtocols);
  const common: TLSSocketOptions = {
    isServer: true,
    secureContext: entries[0]!.context,
    requestCert,
    // With require_client_certificate, OpenSSL ends a handshake without a client certificate (the client
    // gets Envoy's `certificate required` alert). Node's verify callback accepts every chain during the
    // handshake, so the chain, SANs and pins are checked right after it (compileVerifier).
    rejectUnauthorized: model.requireClientCertificate,
  };
  if (entries.length > 1) {
    common.SNICallback = (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => cb(null, select(name));
  }
  const withAlpn: TLSSocketOptions = model.alpnProtocols.length > 0 ? { ...common, ALPNProtocols: model.alpnProtocols } : common;
  // Node fails the handshake when the client's ALPN list shares nothing with the server's; Envoy goes
  // on without ALPN. When the TLS inspector saw the client's list, no overlap means no ALPN offered.
  const chooseOptions = (info: ConnectionInfo): TLSSocketOptions => {
    if (withAlpn === common || info.transportProtocol !== "tls" || info.applicationProtocols.length === 0) return withAlpn;
    return info.applicationProtocols.some((p) => serverAlpn.has(p)) ? withAlpn : common;
  };

  return {
    accept(socket, head, info, done) {
      if (head.byteLength > 0) socket.unshift(Buffer.from(head.buffer, head.byteOffset, head.byteLength));
      let settled = false;
      // Listeners are attached below, in this same tick: the TLSSocket starts reading on the next one.
      const tls = new (nodeTls().TLSSocket)(socket, chooseOptions(info));
      const fail = (err: TlsHandshakeError) => {
        if (settled) return;
        settled = true;
        cleanup();
        stats.count(err.stat);
        logger.debug(`tls: handshake from ${socket.remoteAddress}:${socket.remotePort} failed: ${err.message}`);
        tls.destroy();
        socket.destroy();
        done(err);
      };
      const onError = (err: Error & { code?: string }) =>
        fail(err.code === NO_CLIENT_CERTIFICATE
          ? new TlsHandshakeError("fail_verify_no_cert", "client certificate required but not sent", { cause: err })
          : new TlsHandshakeError("connection_error", `TLS handshake failed: ${err.message}`, { cause: err }));
      const onClose = () => fail(new TlsHandshakeError("connection_error", "connection closed during the TLS handshake"));
      // A FIN before the handshake is done: it cannot finish (Node would wait for it forever).
      const onEnd = () => fail(new TlsHandshakeError("connection_error", "connection half-closed during the TLS handshake"));
      const onSecure = () => {
        if (settled) return;
        const x509 = tls.getPeerX509Certificate();
        const peer = x509 ? toPeerCertificate(x509) : undefined;
        const failure = verify(tls, x509, peer);
        if (failure) {
          const detail = failure === "fail_verify_error" ? `: ${chainError(tls)}` : "";
          fail(new TlsHandshakeError(failure, `client certificate refused (${failure})${detail}`));
          return;
        }
        settled = true;
        cleanup();
        const cipher = tls.getCipher();
        const version = tls.getProtocol() ?? "unknown";
        stats.onHandshake(version, cipher.name, peer === undefined, tls.isSessionReused());
        info.tls = {
          version,
          cipher: cipher.name,
          ...(typeof tls.alpnProtocol === "string" ? { alpn: tls.alpnProtocol } : {}),
          ...(peer ? { peerCertificate: peer } : {}),
        };
        const sni = (tls as TLSSocket & { servername?: string | false }).servername;
        if (info.requestedServerName === undefined && typeof sni === "string" && sni !== "") info.requestedServerName = sni;
        done(undefined, tls);
      };
      const cleanup = () => {
        tls.off("error", onError);
        tls.off("close", onClose);
        tls.off("end", onEnd);
        tls.off("secure", onSecure);
      };
      tls.on("error", onError);
      tls.once("close", onClose);
      tls.once("end", onEnd);
      tls.once("secure", onSecure);
    },
  };
}
