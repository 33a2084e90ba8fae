/**
 * Envoy's TLS statistics (`ssl.*`), under a listener's scope for downstream TLS and a cluster's scope
 * for upstream TLS. Fixed counters are looked up once per config; per-cipher and per-version counters
 * once per distinct name.
 */
import type { Counter, StatsScope } from "../../../shared/stats/store.ts";
import type { VerifyFailure } from "./context.ts";

export type TlsFailureStat = VerifyFailure | "connection_error";

export class TlsStats {
  private readonly scope: StatsScope;
  private readonly handshake: Counter;
  private readonly sessionReused: Counter;
  private readonly noCertificate: Counter;
  private readonly failures: Record<TlsFailureStat, Counter>;
  private readonly dynamic = new Map<string, Counter>();

  constructor(scope: StatsScope) {
    this.scope = scope;
    this.handshake = scope.counter("ssl.handshake");
    this.sessionReused = scope.counter("ssl.session_reused");
    this.noCertificate = scope.counter("ssl.no_certificate");
    this.failures = {
      connection_error: scope.counter("ssl.connection_error"),
      fail_verify_no_cert: scope.counter("ssl.fail_verify_no_cert"),
      fail_verify_error: scope.counter("ssl.fail_verify_error"),
      fail_verify_san: scope.counter("ssl.fail_verify_san"),
      fail_verify_cert_hash: scope.counter("ssl.fail_verify_cert_hash"),
    };
  }

  /** A refused handshake; as Envoy's, `connection_error` does not include failed certificate verifications. */
  count(stat: TlsFailureStat): void {
    this.failures[stat].inc();
  }

  /** A completed handshake: `ssl.handshake`, `ssl.versions.<v>`, `ssl.ciphers.<c>`, `ssl.no_certificate`, `ssl.session_reused`. */
  onHandshake(version: string, cipher: string, noPeerCertificate: boolean, reused: boolean): void {
    this.handshake.inc();
    this.named(`ssl.versions.${version}`).inc();
    this.named(`ssl.ciphers.${cipher}`).inc();
    if (noPeerCertificate) this.noCertificate.inc();
    if (reused) this.sessionReused.inc();
  }

  private named(name: string): Counter {
    let c = this.dynamic.get(name);
    if (!c) this.dynamic.set(name, (c = this.scope.counter(name)));
    return c;
  }
}
