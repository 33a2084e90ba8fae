/**
 * Config-time TLS state shared by the downstream transport socket and upstream TLS: secure contexts
 * (one per certificate, built once per config version), SNI certificate selection, and Envoy's
 * certificate validation (`CertificateValidationContext`) applied to a peer certificate after the
 * handshake.
 */
import type { X509Certificate } from "node:crypto";
import type { SecureContext, SecureContextOptions, TLSSocket } from "node:tls";
import { crypto, tls } from "../node-builtins.ts";
import type { CertificateValidationModel, CommonTlsModel, TlsCertificateModel } from "../../../shared/config/model.ts";
import { compileStringMatcher, type StringMatch } from "../../../shared/http/matchers.ts";
import type { PeerCertificate } from "../network/filter.ts";

/** Envoy's default TLS 1.2 cipher list (TLS 1.3 suites are not configurable, as in BoringSSL). */
export const ENVOY_DEFAULT_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
].join(":");

/** Envoy's default `ecdh_curves`. */
export const ENVOY_DEFAULT_CURVES = "X25519:P-256";

/** Why a peer certificate was refused; each maps to one of Envoy's `ssl.*` counters. */
export type VerifyFailure = "fail_verify_no_cert" | "fail_verify_error" | "fail_verify_san" | "fail_verify_cert_hash";

/** A certificate with its secure context and the names SNI selection matches against. */
export interface CertificateEntry {
  context: SecureContext;
  /** Lower-cased DNS SANs, or the CN when the certificate has no DNS SAN (as Envoy). */
  names: string[];
}

/** Options every secure context of one TLS context shares. */
function baseOptions(model: CommonTlsModel): SecureContextOptions {
  const options: SecureContextOptions = {
    minVersion: model.minVersion,
    maxVersion: model.maxVersion,
    ciphers: model.cipherSuites ?? ENVOY_DEFAULT_CIPHERS,
    ecdhCurve: model.ecdhCurves ?? ENVOY_DEFAULT_CURVES,
  };
  const v = model.validation;
  if (v?.trustedCaPem !== undefined) options.ca = v.trustedCaPem;
  if (v?.crlPem !== undefined) options.crl = v.crlPem;
  return options;
}

function certificateOptions(cert: TlsCertificateModel): SecureContextOptions {
  return { cert: cert.certificateChainPem, key: cert.privateKeyPem, ...(cert.password !== undefined ? { passphrase: cert.password } : {}) };
}

/** The names a certificate serves: DNS SANs, else the subject CN. */
function certificateNames(pem: string): string[] {
  const x = new (crypto().X509Certificate)(pem);
  const dns = parseSans(x.subjectAltName).dns;
  if (dns.length > 0) return dns.map((n) => n.toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/**
 * Builds the secure contexts of a TLS context: one per `tls_certificates` entry (each with the shared
 * parameters and trusted CA), or a single one without a certificate (a client that presents none).
 * Throws when Node refuses the PEM, ciphers or curves (the config is then refused at load).
 */
export function buildCertificateEntries(model: CommonTlsModel): CertificateEntry[] {
  if (model.cipherSuites !== undefined) {
    // OpenSSL skips unknown names in a list; Envoy (BoringSSL) refuses them, so check each one.
    const known = new Set(tls().getCiphers().map((c) => c.toUpperCase()));
    const unknown = model.cipherSuites.split(":").filter((c) => !known.has(c.toUpperCase()));
    if (unknown.length > 0) throw new Error(`TLS: unknown cipher suite(s) ${unknown.join(", ")}`);
  }
  const base = baseOptions(model);
  const build = (options: SecureContextOptions, what: string): SecureContext => {
    try {
      return tls().createSecureContext(options);
    } catch (err) {
      throw new Error(`TLS: cannot load ${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (model.certificates.length === 0) return [{ context: build(base, "the TLS parameters or trusted CA"), names: [] }];
  return model.certificates.map((cert, i) => ({
    context: build({ ...base, ...certificateOptions(cert) }, `tls_certificates[${i}]`),
    names: certificateNames(cert.certificateChainPem),
  }));
}

/**
 * Picks the certificate for an SNI name the way Envoy does: an exact name match, else a wildcard
 * (`*.example.com` matches one label), else the first certificate. Returned as a function over a
 * prebuilt index so that per-handshake work is a map lookup.
 */
export function sniSelector(entries: CertificateEntry[]): (serverName: string | undefined) => SecureContext {
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  for (const e of entries) {
    for (const n of e.names) {
      if (n.startsWith("*.")) {
        if (!wildcard.has(n.slice(1))) wildcard.set(n.slice(1), e.context);
      } else if (!exact.has(n)) exact.set(n, e.context);
    }
  }
  const fallback = entries[0]!.context;
  return (serverName) => {
    if (!serverName) return fallback;
    const name = serverName.toLowerCase();
    const hit = exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf(".");
    return (dot > 0 ? wildcard.get(name.slice(dot)) : undefined) ?? fallback;
  };
}

/** Splits Node's `subjectAltName` string (`DNS:a, IP Address:1.2.3.4, URI:x, email:y`). */
export function parseSans(subjectAltName: string | undefined): PeerCertificate["sans"] {
  const sans: PeerCertificate["sans"] = { dns: [], uri: [], email: [], ip: [] };
  if (!subjectAltName) return sans;
  // Node quotes values that contain a comma or quote as JSON strings.
  const re = /(DNS|URI|email|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (let m = re.exec(subjectAltName); m; m = re.exec(subjectAltName)) {
    const raw = m[2]!;
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (m[1] === "DNS") sans.dns.push(value);
    else if (m[1] === "URI") sans.uri.push(value);
    else if (m[1] === "email") sans.email.push(value);
    else sans.ip.push(value);
  }
  return sans;
}

/** RFC 2253 order (most significant last in Node's newline form, reversed and comma-joined). */
function rfc2253(name: string): string {
  return name.split("\n").filter((s) => s !== "").reverse().join(",");
}

/** The peer certificate as filters and access logs read it. */
export function toPeerCertificate(x: X509Certificate): PeerCertificate {
  return {
    subject: rfc2253(x.subject),
    issuer: rfc2253(x.issuer),
    sans: parseSans(x.subjectAltName),
    sha256: x.fingerprint256.replaceAll(":", "").toLowerCase(),
    serialNumber: x.serialNumber.toLowerCase(),
    validFrom: x.validFrom,
    validTo: x.validTo,
    pem: x.toString(),
  };
}

/**
 * A compiled `CertificateValidationContext`: call it after the handshake with the peer certificate
 * (or undefined) to get the failure to count, or undefined when the peer is accepted.
 */
export type PeerVerifier = (socket: TLSSocket, cert: X509Certificate | undefined, peer: PeerCertificate | undefined) => VerifyFailure | undefined;

/**
 * Compiles the validation context once per config. Order as Envoy's default validator: trust chain
 * (when `trusted_ca` is set and `ACCEPT_UNTRUSTED` is not), then SAN matchers, then the pins
 * (a certificate passes when it matches any `verify_certificate_hash` or any `verify_certificate_spki`).
 */
export function compileVerifier(v: CertificateValidationModel | undefined, requireCertificate: boolean): PeerVerifier {
  const checkChain = v?.trustedCaPem !== undefined && !v.acceptUntrusted;
  const sanMatchers: { type: keyof PeerCertificate["sans"]; match: StringMatch }[] = (v?.subjectAltNames ?? []).map((s) => {
    const match = compileStringMatcher(s.matcher);
    if (s.type !== "DNS") return { type: s.type === "URI" ? "uri" : s.type === "EMAIL" ? "email" : "ip", match };
    // As Envoy: an exact DNS matcher also accepts a wildcard SAN (`*.example.com`) covering the name.
    const exact = s.matcher.kind === "exact" ? s.matcher.value.toLowerCase() : undefined;
    return { type: "dns", match: exact === undefined ? match : (san: string) => match(san) || wildcardCovers(san, exact) };
  });
  const hashes = new Set(v?.certificateHashes ?? []);
  const spkis = new Set(v?.spkiPins ?? []);
  const pinned = hashes.size > 0 || spkis.size > 0;
  return (socket, cert, peer) => {
    if (!cert || !peer) return requireCertificate ? "fail_verify_no_cert" : undefined;
    if (checkChain && !chainVerified(socket)) return "fail_verify_error";
    if (sanMatchers.length > 0 && !sanMatchers.some((m) => peer.sans[m.type].some((s) => m.match(s)))) return "fail_verify_san";
    if (pinned) {
      if (hashes.has(peer.sha256)) return undefined;
      if (spkis.size > 0 && spkis.has(spkiHash(cert))) return undefined;
      return "fail_verify_cert_hash";
    }
    return undefined;
  };
}

/**
 * Whether OpenSSL verified the peer's chain against the trusted CA. A client socket has `authorized`;
 * a server TLSSocket made outside a tls.Server does not get it set, so this asks the TLS handle the
 * way Node's own tls.Server does (`verifyError()`), failing closed if that is not there.
 */
export function chainVerified(socket: TLSSocket): boolean {
  if (socket.authorized) return true;
  const handle = (socket as TLSSocket & { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== "function") return false;
  return handle.verifyError() === null;
}

/** The chain error OpenSSL reported (e.g. `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`), for logs. */
export function chainError(socket: TLSSocket): string {
  if (socket.authorizationError) return String(socket.authorizationError);
  const handle = (socket as TLSSocket & { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  const err = typeof handle?.verifyError === "function" ? handle.verifyError() : null;
  return err ? (err.code ?? err.message) : "unknown";
}

/** Whether a wildcard SAN `*.example.com` covers `name` (exactly one label in place of the `*`). */
function wildcardCovers(san: string, name: string): boolean {
  if (!san.startsWith("*.")) return false;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot).toLowerCase() === san.slice(1).toLowerCase();
}

/** Base64 SHA-256 of the certificate's DER SubjectPublicKeyInfo (Envoy's `verify_certificate_spki`). */
export function spkiHash(cert: X509Certificate): string {
  const der = cert.publicKey.export({ type: "spki", format: "der" });
  return crypto().createHash("sha256").update(der).digest("base64");
}
