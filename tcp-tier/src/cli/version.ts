/**
 * Legate's version string, shaped like Envoy's (`<revision>/<version>/<status>/<build type>/<ssl>`),
 * e.g. `3e7429b.../0.1.0/Clean/RELEASE/OpenSSL`. `--version` prints it as Envoy does
 * (`legate  version: ...`, two spaces, between blank lines); the admin /server_info reports it too.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The project root (where package.json is), with a trailing separator: the nearest folder above this
 * module holding a package.json, which works from the sources (tcp-tier/src/cli/) and from the bundle
 * (node_modules/.cache/legate/<build>/, bin/bundle.js), whose chunks have another depth. (No
 * `new URL(…)` here: the edge's type check sees this file too, with the Workers URL type.)
 */
export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && !dir.split(sep).includes("node_modules")) return dir.endsWith(sep) ? dir : dir + sep;
    if (dirname(dir) === dir) return join(from, "..", "..", "..") + sep;
  }
}

export interface VersionInfo {
  /** package.json's version. */
  version: string;
  /** Git commit of the checkout, or `unknown` outside a git checkout. */
  revision: string;
  /** `Clean`, `Modified` (tracked files changed), or `unknown`, as Envoy's revision status. */
  status: "Clean" | "Modified" | "unknown";
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

let cached: VersionInfo | undefined;

/** Reads the version once per process (runs `git` twice, the first time only). */
export function versionInfo(): VersionInfo {
  if (cached) return cached;
  let version = "unknown";
  try {
    version = (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    // A broken install still answers --version.
  }
  const rev = git(["rev-parse", "HEAD"])?.trim();
  const revision = rev && /^[0-9a-f]{40,64}$/.test(rev) ? rev : "unknown";
  let status: VersionInfo["status"] = "unknown";
  if (revision !== "unknown") {
    const porcelain = git(["status", "--porcelain", "--untracked-files=no"]);
    if (porcelain !== undefined) status = porcelain.trim() === "" ? "Clean" : "Modified";
  }
  cached = { version, revision, status };
  return cached;
}

/** `<revision>/<version>/<status>/RELEASE/OpenSSL`, Envoy's field order. */
export function versionString(info: VersionInfo = versionInfo()): string {
  return `${info.revision}/${info.version}/${info.status}/RELEASE/OpenSSL`;
}

/** What `legate --version` prints on stdout (Envoy's layout, Legate's name). */
export function versionBanner(info: VersionInfo = versionInfo()): string {
  return `\nlegate  version: ${versionString(info)}\n\n`;
}
