/**
 * TLS test fixtures: a throwaway PKI made with the `openssl` CLI in a temp dir (removed by
 * {@link Pki.remove}): two CAs, server certificates for two SNI names and for 127.0.0.1, and client
 * certificates signed by the trusted CA (two identities) and by the other CA.
 */
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

export interface Pki {
  dir: string;
  ca: CertFiles;
  otherCa: CertFiles;
  /** CN a.test, SAN DNS:a.test. */
  serverA: CertFiles;
  /** CN b.test, SAN DNS:*.b.test and DNS:b.test. */
  serverB: CertFiles;
  /** CN localhost, SAN DNS:upstream.test and IP:127.0.0.1. */
  upstream: CertFiles;
  /** Signed by `ca`: CN client, SAN URI spiffe://legate/client, DNS client.test. */
  client: CertFiles;
  /** Signed by `ca`: CN intruder, SAN URI spiffe://legate/intruder. */
  client2: CertFiles;
  /** Signed by `otherCa`: CN stranger. */
  untrustedClient: CertFiles;
  /** PEM CRL of `ca` revoking `client2`. */
  crl: string;
  remove(): void;
}

function run(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function read(dir: string, name: string): CertFiles {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8"), certPath, keyPath };
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function makeCa(dir: string, name: string, cn: string): void {
  run(["req", "-x509", ...EC, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-subj", `/CN=${cn}`, "-days", "2",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
}

function makeLeaf(dir: string, name: string, ca: string, subject: string, san: string): void {
  run(["req", "-new", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject], dir);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  run(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`], dir);
}

/** Makes the PKI (about ten openssl runs). */
export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "legate-tls-"));
  makeCa(dir, "ca", "Legate Test CA");
  makeCa(dir, "other-ca", "Other CA");
  makeLeaf(dir, "server-a", "ca", "/CN=a.test", "DNS:a.test");
  makeLeaf(dir, "server-b", "ca", "/CN=b.test", "DNS:*.b.test,DNS:b.test");
  makeLeaf(dir, "upstream", "ca", "/CN=localhost", "DNS:upstream.test,IP:127.0.0.1");
  makeLeaf(dir, "client", "ca", "/O=Legate/CN=client", "URI:spiffe://legate/client,DNS:client.test");
  makeLeaf(dir, "client2", "ca", "/CN=intruder", "URI:spiffe://legate/intruder");
  makeLeaf(dir, "stranger", "other-ca", "/CN=stranger", "URI:spiffe://legate/client");
  writeFileSync(join(dir, "ca.cnf"), "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n");
  writeFileSync(join(dir, "index.txt"), "");
  writeFileSync(join(dir, "crlnumber"), "01\n");
  run(["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt", "-revoke", "client2.crt"], dir);
  run(["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt", "-gencrl", "-out", "ca.crl"], dir);
  return {
    dir,
    ca: read(dir, "ca"),
    otherCa: read(dir, "other-ca"),
    serverA: read(dir, "server-a"),
    serverB: read(dir, "server-b"),
    upstream: read(dir, "upstream"),
    client: read(dir, "client"),
    client2: read(dir, "client2"),
    untrustedClient: read(dir, "stranger"),
    crl: readFileSync(join(dir, "ca.crl"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Lower-case hex SHA-256 of a PEM certificate's DER. */
export function certSha256(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(":", "").toLowerCase();
}

/** Base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo. */
export function certSpki(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

/** A PEM as a YAML flow scalar (JSON strings are valid YAML). */
export function yamlString(text: string): string {
  return JSON.stringify(text);
}
