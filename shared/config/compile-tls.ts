/**
 * Compiles TLS transport sockets (`envoy.transport_sockets.tls`): a filter chain's
 * `DownstreamTlsContext` and a cluster's `UpstreamTlsContext`, into {@link DownstreamTlsModel} and
 * {@link UpstreamTlsModel}, defaults applied. `envoy.transport_sockets.starttls` (`StartTlsConfig` on a
 * chain, `UpstreamStartTlsConfig` on a cluster) compiles to the same models with `startTls` set: its
 * `tls_socket_config` is the TLS context used once a filter switches the connection to TLS, and its
 * `cleartext_socket_config` (a RawBuffer, which has no fields) is the clear-text start. DataSources arrive inlined (the Node validator reads
 * `filename`s); PEM text is kept as is and parsed by the tcp tier when it builds its secure contexts.
 *
 * Only the tcp tier terminates or originates TLS with these settings: a Worker cannot serve its own
 * certificate (Cloudflare terminates TLS for it) nor choose the trust store, client certificate or
 * pins of its outbound `fetch`, so a transport socket on the edge listener, or on a cluster the edge
 * may route to, is refused.
 */
import { compileStringMatcher } from "./compile-route.ts";
import { type ConfigIssue, joinPath } from "./issues.ts";
import type {
  CertificateValidationModel,
  ClusterModel,
  CommonTlsModel,
  DownstreamTlsModel,
  ListenerModel,
  TlsCertificateModel,
  TlsVersionModel,
  UpstreamTlsModel,
} from "./model.ts";
import { Reader } from "./reader.ts";

type Obj = Record<string, unknown>;

const TLS_NAME = "envoy.transport_sockets.tls";
const STARTTLS_NAME = "envoy.transport_sockets.starttls";
const VERSIONS: Readonly<Record<string, TlsVersionModel | undefined>> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};
const VERSION_ORDER: readonly TlsVersionModel[] = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"];
const SAN_TYPES = ["DNS", "URI", "EMAIL", "IP_ADDRESS"] as const;

/**
 * A filter chain's `transport_socket`, as a spread for the chain model: `{ transportSocket }`, or `{}`
 * when there is none. Refused on the edge listener.
 */
export function compileDownstreamTransportSocket(r: Reader, v: unknown, path: string, edge: boolean): { transportSocket?: DownstreamTlsModel } {
  const ts = r.obj(v, path);
  if (!ts) return {};
  if (edge) {
    r.bad(path, "the edge listener cannot terminate TLS (Cloudflare does it for the Worker); transport_socket is served by the tcp tier only", "unsupported");
    return {};
  }
  const ctx = typedContext(r, ts, path, "DownstreamTlsContext");
  if (!ctx) return {};
  const { o, p, startTls } = ctx;
  const common = compileCommon(r, o.common_tls_context, joinPath(p, "common_tls_context"), "server");
  if (!common) return {};
  if (common.certificates.length === 0) {
    r.bad(joinPath(p, "common_tls_context"), "a DownstreamTlsContext needs at least one tls_certificates entry");
    return {};
  }
  const requireClientCertificate = r.bool(o.require_client_certificate, joinPath(p, "require_client_certificate")) ?? false;
  if (requireClientCertificate && !common.validation) {
    r.bad(joinPath(p, "require_client_certificate"), "require_client_certificate needs a validation_context (trusted_ca, or pins) to check the certificate against");
    return {};
  }
  return { transportSocket: { ...common, requireClientCertificate, ...(startTls ? { startTls } : {}) } };
}

/** A cluster's `transport_socket`, as a spread for the cluster model. */
export function compileUpstreamTransportSocket(r: Reader, v: unknown, path: string): { transportSocket?: UpstreamTlsModel } {
  const ts = r.obj(v, path);
  if (!ts) return {};
  const ctx = typedContext(r, ts, path, "UpstreamTlsContext");
  if (!ctx) return {};
  const { o, p, startTls } = ctx;
  const common = compileCommon(r, o.common_tls_context, joinPath(p, "common_tls_context"), "client");
  if (!common) return {};
  if (common.certificates.length > 1) {
    r.bad(joinPath(p, "common_tls_context.tls_certificates"), "an UpstreamTlsContext takes at most one client certificate (as in Envoy)");
    return {};
  }
  const sni = r.str(o.sni, joinPath(p, "sni"));
  return { transportSocket: { ...common, ...(sni ? { sni } : {}), ...(startTls ? { startTls } : {}) } };
}

/**
 * Refuses upstream TLS on clusters the edge may route to: the Worker's outbound requests are plain
 * `http://` to the host, and its `fetch` cannot take a trust store, client certificate or pins.
 * A route with `cluster_header` (or a weighted cluster named by header) can reach every cluster.
 */
export function checkEdgeUpstreamTls(listeners: readonly ListenerModel[], clusters: ReadonlyMap<string, ClusterModel>): ConfigIssue[] {
  const tlsClusters = [...clusters.values()].filter((c) => c.transportSocket);
  if (tlsClusters.length === 0) return [];
  const edgeListeners = listeners.filter((l) => l.edge);
  if (edgeListeners.length === 0) return [];
  const named = new Set<string>();
  let dynamic = false;
  const walk = (v: unknown, key: string, depth: number): void => {
    if (depth > 64 || v === null || typeof v !== "object") {
      if (typeof v === "string" && v !== "" && key === "cluster") named.add(v);
      return;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) walk(x, String(k), depth + 1);
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) {
        if (key === "clusters" && x && typeof x === "object" && typeof (x as Obj).name === "string") named.add((x as Obj).name as string);
        walk(x, key, depth + 1);
      }
      return;
    }
    for (const [k, x] of Object.entries(v as Obj)) {
      if (k === "clusterHeader" && typeof x === "string" && x !== "") dynamic = true;
      if (k === "clusterSpecifier" && x !== null && typeof x === "object" && (x as Obj).kind === "header") dynamic = true;
      walk(x, k, depth + 1);
    }
  };
  for (const l of edgeListeners) walk([...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])], "", 0);
  const issues: ConfigIssue[] = [];
  const index = new Map([...clusters.keys()].map((n, i) => [n, i]));
  for (const c of tlsClusters) {
    if (!dynamic && !named.has(c.name)) continue;
    issues.push({
      kind: "unsupported",
      path: joinPath(joinPath("static_resources.clusters", index.get(c.name) ?? 0), "transport_socket"),
      message: `cluster "${c.name}" has a TLS transport_socket but the edge ${dynamic ? "may route to it (a route uses cluster_header)" : "routes to it"}; upstream TLS is served by the tcp tier only`,
    });
  }
  return issues;
}

/**
 * The transport socket's TLS context object, after checking its name and `@type`: the typed_config
 * itself for `tls`, its `tls_socket_config` for `starttls` (`startTls` true).
 */
function typedContext(r: Reader, ts: Obj, path: string, message: "DownstreamTlsContext" | "UpstreamTlsContext"): { o: Obj; p: string; startTls: boolean } | undefined {
  const name = r.str(ts.name, joinPath(path, "name")) ?? "";
  const p = joinPath(path, "typed_config");
  const tc = r.obj(ts.typed_config, p);
  const startMessage = message === "DownstreamTlsContext" ? "StartTlsConfig" : "UpstreamStartTlsConfig";
  if (!tc) {
    if (name === STARTTLS_NAME) return r.bad(p, `${STARTTLS_NAME} needs a typed_config (an envoy.extensions.transport_sockets.starttls.v3.${startMessage} with tls_socket_config)`);
    if (name !== TLS_NAME && name !== "tls") return r.bad(joinPath(path, "name"), `transport socket ${JSON.stringify(name)} is not supported by Legate (only ${TLS_NAME} and ${STARTTLS_NAME})`, "unsupported");
    return { o: {}, p, startTls: false };
  }
  const url = r.str(tc["@type"], joinPath(p, "@type")) ?? "";
  const got = url.slice(url.lastIndexOf("/") + 1);
  if (got === `envoy.extensions.transport_sockets.starttls.v3.${startMessage}`) {
    r.obj(tc.cleartext_socket_config, joinPath(p, "cleartext_socket_config"));
    const sp = joinPath(p, "tls_socket_config");
    const inner = r.obj(tc.tls_socket_config, sp);
    if (!inner) return r.bad(sp, `tls_socket_config is required (the ${message} used once the connection switches to TLS)`);
    return { o: inner, p: sp, startTls: true };
  }
  if (got !== `envoy.extensions.transport_sockets.tls.v3.${message}`) {
    return r.bad(
      joinPath(p, "@type"),
      `this transport socket takes an envoy.extensions.transport_sockets.tls.v3.${message} or an envoy.extensions.transport_sockets.starttls.v3.${startMessage}, not ${got || "nothing"}`,
    );
  }
  return { o: tc, p, startTls: false };
}

function compileCommon(r: Reader, v: unknown, path: string, side: "server" | "client"): CommonTlsModel | undefined {
  const o = r.obj(v, path) ?? {};
  const before = r.issues.length;
  const certificates = r.arr(o.tls_certificates, joinPath(path, "tls_certificates"))
    .map((c, i) => compileCertificate(r, c, joinPath(joinPath(path, "tls_certificates"), i)))
    .filter((c): c is TlsCertificateModel => c !== undefined);
  const alpnProtocols = r.arr(o.alpn_protocols, joinPath(path, "alpn_protocols")).map((a, i) => {
    const s = r.str(a, joinPath(joinPath(path, "alpn_protocols"), i)) ?? "";
    if (s === "" || s.length > 255) r.bad(joinPath(joinPath(path, "alpn_protocols"), i), "an ALPN protocol name is 1 to 255 bytes");
    return s;
  });
  const params = compileParams(r, o.tls_params, joinPath(path, "tls_params"), side);
  const validation = o.validation_context === undefined || o.validation_context === null
    ? undefined
    : compileValidation(r, o.validation_context, joinPath(path, "validation_context"));
  if (r.issues.length !== before) return undefined;
  return { certificates, alpnProtocols, ...params, ...(validation ? { validation } : {}) };
}

function compileParams(r: Reader, v: unknown, path: string, side: "server" | "client"): Pick<CommonTlsModel, "minVersion" | "maxVersion" | "cipherSuites" | "ecdhCurves"> {
  const o = r.obj(v, path) ?? {};
  const version = (key: string, dflt: TlsVersionModel): TlsVersionModel => {
    const raw = o[key];
    if (raw === undefined || raw === null) return dflt;
    if (typeof raw !== "string" || !(raw in VERSIONS)) return r.bad(joinPath(path, key), "expected TLS_AUTO, TLSv1_0, TLSv1_1, TLSv1_2 or TLSv1_3") ?? dflt;
    return VERSIONS[raw] ?? dflt;
  };
  const minVersion = version("tls_minimum_protocol_version", "TLSv1.2");
  const maxVersion = version("tls_maximum_protocol_version", side === "server" ? "TLSv1.3" : "TLSv1.2");
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) {
    r.bad(path, `tls_minimum_protocol_version (${minVersion}) is above tls_maximum_protocol_version (${maxVersion})`);
  }
  const list = (key: string, re: RegExp, what: string): string | undefined => {
    const items = r.arr(o[key], joinPath(path, key)).flatMap((x, i) => {
      const s = r.str(x, joinPath(joinPath(path, key), i)) ?? "";
      // BoringSSL's equal-preference groups `[A|B]`: OpenSSL has none, so the group's order is used.
      const names = /^\[.*\]$/.test(s) ? s.slice(1, -1).split("|") : [s];
      for (const n of names) if (!re.test(n)) r.bad(joinPath(joinPath(path, key), i), `${JSON.stringify(n)} is not ${what}`);
      return names;
    });
    return items.length > 0 ? items.join(":") : undefined;
  };
  const cipherSuites = list("cipher_suites", /^[A-Za-z0-9][A-Za-z0-9_-]*$/, "a cipher suite name");
  const ecdhCurves = list("ecdh_curves", /^[A-Za-z0-9][A-Za-z0-9_-]*$/, "a curve name");
  return { minVersion, maxVersion, ...(cipherSuites ? { cipherSuites } : {}), ...(ecdhCurves ? { ecdhCurves } : {}) };
}

function compileCertificate(r: Reader, v: unknown, path: string): TlsCertificateModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const chain = dataSource(r, o.certificate_chain, joinPath(path, "certificate_chain"));
  const key = dataSource(r, o.private_key, joinPath(path, "private_key"));
  if (chain === undefined) return r.bad(joinPath(path, "certificate_chain"), "certificate_chain is required");
  if (key === undefined) return r.bad(joinPath(path, "private_key"), "private_key is required");
  if (!chain.includes("-----BEGIN CERTIFICATE-----")) return r.bad(joinPath(path, "certificate_chain"), "expected PEM certificates (-----BEGIN CERTIFICATE-----)");
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) return r.bad(joinPath(path, "private_key"), "expected a PEM private key");
  const password = dataSource(r, o.password, joinPath(path, "password"));
  return { certificateChainPem: chain, privateKeyPem: key, ...(password !== undefined ? { password } : {}) };
}

function compileValidation(r: Reader, v: unknown, path: string): CertificateValidationModel | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  const trustedCaPem = dataSource(r, o.trusted_ca, joinPath(path, "trusted_ca"));
  if (trustedCaPem !== undefined && !trustedCaPem.includes("-----BEGIN CERTIFICATE-----")) r.bad(joinPath(path, "trusted_ca"), "expected PEM certificates (-----BEGIN CERTIFICATE-----)");
  const crlPem = dataSource(r, o.crl, joinPath(path, "crl"));
  if (crlPem !== undefined && trustedCaPem === undefined) r.bad(joinPath(path, "crl"), "crl needs trusted_ca");
  if (crlPem !== undefined && !crlPem.includes("-----BEGIN X509 CRL-----")) r.bad(joinPath(path, "crl"), "expected a PEM CRL (-----BEGIN X509 CRL-----)");
  const sp = joinPath(path, "match_typed_subject_alt_names");
  const subjectAltNames = r.arr(o.match_typed_subject_alt_names, sp).flatMap((m, i) => {
    const mp = joinPath(sp, i);
    const mo = r.obj(m, mp) ?? {};
    const type = r.str(mo.san_type, joinPath(mp, "san_type"));
    const t = SAN_TYPES.find((x) => x === type);
    if (!t) return r.bad(joinPath(mp, "san_type"), `san_type ${type ?? "(unset)"} is not supported (supported: ${SAN_TYPES.join(", ")})`, "unsupported") ?? [];
    const matcher = compileStringMatcher(r, mo.matcher, joinPath(mp, "matcher"));
    return matcher ? [{ type: t, matcher }] : [];
  });
  const hp = joinPath(path, "verify_certificate_hash");
  const certificateHashes = r.arr(o.verify_certificate_hash, hp).map((h, i) => {
    const s = (r.str(h, joinPath(hp, i)) ?? "").replaceAll(":", "").toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(s)) r.bad(joinPath(hp, i), "expected a hex SHA-256 (64 digits, colons allowed)");
    return s;
  });
  const kp = joinPath(path, "verify_certificate_spki");
  const spkiPins = r.arr(o.verify_certificate_spki, kp).map((h, i) => {
    const s = r.str(h, joinPath(kp, i)) ?? "";
    if (!/^[A-Za-z0-9+/]{43}=$/.test(s)) r.bad(joinPath(kp, i), "expected a base64 SHA-256 of the SubjectPublicKeyInfo (44 characters)");
    return s;
  });
  const trust = r.str(o.trust_chain_verification, joinPath(path, "trust_chain_verification")) ?? "VERIFY_TRUST_CHAIN";
  return {
    ...(trustedCaPem !== undefined ? { trustedCaPem } : {}),
    ...(crlPem !== undefined ? { crlPem } : {}),
    subjectAltNames,
    spkiPins,
    certificateHashes,
    acceptUntrusted: trust === "ACCEPT_UNTRUSTED",
  };
}

/** A DataSource's text: `inline_string`, or `inline_bytes` (base64). A `filename` left unread is an issue. */
function dataSource(r: Reader, v: unknown, path: string): string | undefined {
  const o = r.obj(v, path);
  if (!o) return undefined;
  if (typeof o.inline_string === "string") return o.inline_string;
  if (typeof o.inline_bytes === "string") {
    try {
      const bin = atob(o.inline_bytes);
      const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
      return new TextDecoder().decode(bytes);
    } catch {
      return r.bad(joinPath(path, "inline_bytes"), "expected base64");
    }
  }
  if (typeof o.filename === "string") return r.bad(joinPath(path, "filename"), "file data sources must be inlined by the validator (legate validate / push) before compiling");
  return r.bad(path, "expected inline_string, inline_bytes or filename");
}
