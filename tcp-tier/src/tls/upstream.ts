/**
 * Upstream TLS (Envoy's `envoy.transport_sockets.tls` with an `UpstreamTlsContext` on a cluster): the
 * connect function the tcp tier's cluster uses for every upstream connection. Built once per cluster
 * (secure context, verification, stats); per connection it only opens the socket.
 *
 * As in Envoy, the connection counts as connected once the TLS handshake is done and the server's
 * certificate passed the validation context; a handshake or validation failure is a connect failure.
 * The server's name is not checked against `sni` (Envoy does not either): use
 * `match_typed_subject_alt_names` for that.
 */
import { connect as netConnect, type Socket } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { tls } from "../node-builtins.ts";
import type { UpstreamTlsModel } from "../../../shared/config/model.ts";
import type { Logger } from "../../../shared/log.ts";
import type { StatsScope } from "../../../shared/stats/store.ts";
import { buildCertificateEntries, compileVerifier, toPeerCertificate } from "./context.ts";
import { setStartTls, type StartTls } from "./starttls.ts";
import { type TlsFailureStat, TlsStats } from "./stats.ts";

/** How a cluster opens its upstream connections: plaintext TCP, or TCP then TLS. */
export interface UpstreamTransport {
  /**
   * Opens a connection (half-close allowed, TCP_NODELAY). The socket emits {@link readyEvent} when it
   * is ready to carry the proxied bytes, `error` when the connect, the handshake or the check failed.
   */
  connect(host: string, port: number): Socket;
  /** `connect` for plaintext; {@link TLS_READY} (handshake done, server certificate accepted) for TLS. */
  readonly readyEvent: "connect" | typeof TLS_READY;
}

export interface UpstreamTransportContext {
  /** The cluster's scope (`cluster.<name>.`): counters are `ssl.*` under it, as Envoy's. */
  stats: StatsScope;
  logger: Logger;
}

/** An upstream TLS handshake refused by the validation context; `stat` is the `ssl.*` counter it counted. */
export class UpstreamTlsVerifyError extends Error {
  readonly code = "LEGATE_TLS_VERIFY";
  readonly stat: string;
  constructor(stat: string, message: string) {
    super(message);
    this.name = "UpstreamTlsVerifyError";
    this.stat = stat;
  }
}

const PLAINTEXT: UpstreamTransport = {
  connect: (host, port) => netConnect({ host, port, allowHalfOpen: true, noDelay: true }),
  readyEvent: "connect",
};

/**
 * The transport of a cluster: plaintext when `model` is undefined. Throws when Node refuses the client
 * certificate, key, CA, ciphers or curves.
 */
export function createUpstreamTransport(model: UpstreamTlsModel | undefined, context: UpstreamTransportContext): UpstreamTransport {
  if (!model) return PLAINTEXT;
  const [entry] = buildCertificateEntries(model);
  const stats = new TlsStats(context.stats);
  const verify = compileVerifier(model.validation, true);
  const checkChain = model.validation?.trustedCaPem !== undefined && !model.validation.acceptUntrusted;
  const needsPeerCheck = model.validation !== undefined;
  // tls.connect passes allowHalfOpen to the TLSSocket and noDelay to net's connect; the types omit both.
  const base: ConnectionOptions & { allowHalfOpen: boolean; noDelay: boolean } = {
    secureContext: entry!.context,
    allowHalfOpen: true,
    noDelay: true,
    // With a trusted CA, OpenSSL checks the chain during the handshake (the server gets an alert);
    // SAN matchers and pins are checked on `secureConnect`, before the connection is handed over.
    rejectUnauthorized: checkChain,
    // Envoy does not check the server's name against the SNI; match_typed_subject_alt_names does that.
    checkServerIdentity: () => undefined,
    ...(model.sni ? { servername: model.sni } : {}),
    ...(model.alpnProtocols.length > 0 ? { ALPNProtocols: model.alpnProtocols } : {}),
  };
  if (model.startTls) {
    // envoy.transport_sockets.starttls: connected in clear text; a filter (postgres_proxy upstream_ssl)
    // switches the connection to TLS with these settings through startSecureTransport().
    const upgrade: StartTls = (plain, head, done) => {
      if (head.byteLength > 0) plain.unshift(Buffer.from(head.buffer, head.byteOffset, head.byteLength));
      const socket = tls().connect({ ...base, socket: plain });
      let settled = false;
      const fail = (err: Error, stat: TlsFailureStat) => {
        if (settled) return;
        settled = true;
        stats.count(stat);
        context.logger.debug(`tls: upstream starttls handshake with ${plain.remoteAddress}:${plain.remotePort} failed: ${err.message}`);
        socket.destroy();
        plain.destroy();
        done(err);
      };
      socket.once("secureConnect", () => {
        if (needsPeerCheck) {
          const x509 = socket.getPeerX509Certificate();
          const failure = verify(AUTHORIZED, x509, x509 ? toPeerCertificate(x509) : undefined);
          if (failure) return fail(new UpstreamTlsVerifyError(`ssl.${failure}`, `upstream certificate refused (${failure})`), failure);
        }
        if (settled) return;
        settled = true;
        socket.off("error", onError);
        socket.off("close", onClose);
        socket.off("end", onClose);
        const cipher = socket.getCipher();
        stats.onHandshake(socket.getProtocol() ?? "unknown", cipher.name, false, socket.isSessionReused());
        done(undefined, socket);
      });
      const onError = (err: Error & { code?: string }) => fail(err, checkChain && isChainError(err) ? "fail_verify_error" : "connection_error");
      const onClose = () => fail(new Error("connection closed during the TLS handshake"), "connection_error");
      socket.on("error", onError);
      socket.once("close", onClose);
      socket.once("end", onClose);
    };
    return {
      readyEvent: "connect",
      connect(host, port) {
        const socket = PLAINTEXT.connect(host, port);
        setStartTls(socket, upgrade);
        return socket;
      },
    };
  }
  return {
    readyEvent: TLS_READY,
    connect(host, port) {
      const socket = tls().connect({ ...base, host, port });
      let tcpConnected = false;
      socket.once("connect", () => {
        tcpConnected = true;
      });
      socket.once("secureConnect", () => {
        if (needsPeerCheck) {
          const x509 = socket.getPeerX509Certificate();
          const failure = verify(AUTHORIZED, x509, x509 ? toPeerCertificate(x509) : undefined);
          if (failure) {
            stats.count(failure);
            socket.destroy(new UpstreamTlsVerifyError(`ssl.${failure}`, `upstream certificate refused (${failure})`));
            return;
          }
        }
        const cipher = socket.getCipher();
        stats.onHandshake(socket.getProtocol() ?? "unknown", cipher.name, false, socket.isSessionReused());
        socket.emit(TLS_READY);
      });
      socket.once("error", (err: Error & { code?: string }) => {
        if (err instanceof UpstreamTlsVerifyError || !tcpConnected) return;
        // OpenSSL's chain errors (rejectUnauthorized) are Envoy's fail_verify_error; the rest are handshake errors.
        stats.count(checkChain && isChainError(err) ? "fail_verify_error" : "connection_error");
      });
      return socket;
    },
  };
}

/** Emitted by an upstream TLS socket once the handshake is done and the server's certificate accepted. */
export const TLS_READY = "legate:tls-ready";

/** Stand-in for the socket in {@link compileVerifier}: the chain is OpenSSL's job upstream. */
const AUTHORIZED = { authorized: true } as Parameters<ReturnType<typeof compileVerifier>>[0];

const CHAIN_ERRORS = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "INVALID_CA",
  "UNABLE_TO_GET_CRL",
  "CRL_HAS_EXPIRED",
]);

function isChainError(err: Error & { code?: string }): boolean {
  return err.code !== undefined && CHAIN_ERRORS.has(err.code);
}
