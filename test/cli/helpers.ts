/**
 * Test helpers for the CLI: temp dirs, free ports, a `legate` subprocess runner, and a loopback
 * stand-in for Cloudflare's KV REST API (the real API cannot be reached from here; the stand-in
 * answers the three endpoints Legate uses with the API's status codes and JSON envelope).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../../tcp-tier/src/cli/main.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const LEGATE_BIN = join(ROOT, "bin/legate.js");

const temps: string[] = [];
export function tempDir(prefix = "legate-cli-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
export function removeTempDirs(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A port that was free a moment ago (bound to 0 and released). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** True when something accepts connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `legate` (bin/legate.js under this Node) to completion; killed after `timeoutMs`. `input` goes to its stdin. */
export function runLegate(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LEGATE_BIN, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    child.stdin.end(opts.input ?? "");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.once("error", reject);
    // 'close' comes after both the exit and the last output.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `legate <argv>` in this process ({@link runCli}) with an empty environment, capturing its output. */
export async function runCliCaptured(argv: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: {}, cwd });
  return { code, stdout, stderr };
}

export interface ApiRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

export interface CloudflareApiStandIn {
  baseUrl: string;
  /** Stored values by (decoded) key. */
  values: Map<string, string>;
  requests: ApiRequest[];
  /** Answer the next requests with this status and error instead (for error-path tests). */
  failWith?: { status: number; code: number; message: string };
  close(): Promise<void>;
}

const envelope = (success: boolean, errors: { code: number; message: string }[] = []): string =>
  JSON.stringify({ success, errors, messages: [], result: null });

/**
 * Serves `/client/v4/accounts/{account}/storage/kv/namespaces/{ns}/values/{key}` (GET, PUT, DELETE)
 * for one account and namespace, with bearer-token auth, as Cloudflare's API does.
 */
export async function startCloudflareApi(expect: { token: string; account: string; namespace: string }): Promise<CloudflareApiStandIn> {
  const values = new Map<string, string>();
  const requests: ApiRequest[] = [];
  const api: CloudflareApiStandIn = {
    baseUrl: "",
    values,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const path = req.url ?? "";
      requests.push({ method: req.method ?? "", path, authorization: req.headers.authorization, contentType: req.headers["content-type"], body });
      const send = (status: number, text: string, type = "application/json"): void => {
        res.writeHead(status, { "content-type": type });
        res.end(text);
      };
      if (req.headers.authorization !== `Bearer ${expect.token}`) {
        return send(400, envelope(false, [{ code: 6003, message: "Invalid request headers" }]));
      }
      if (api.failWith) return send(api.failWith.status, envelope(false, [{ code: api.failWith.code, message: api.failWith.message }]));
      const prefix = `/client/v4/accounts/${expect.account}/storage/kv/namespaces/`;
      if (!path.startsWith(prefix)) return send(404, envelope(false, [{ code: 7003, message: "Could not route to this path" }]));
      const rest = path.slice(prefix.length);
      const m = /^([^/]+)\/values\/([^/?]+)$/.exec(rest);
      if (!m) return send(404, envelope(false, [{ code: 7003, message: "Could not route to this path" }]));
      if (m[1] !== expect.namespace) return send(404, envelope(false, [{ code: 10013, message: "namespace not found" }]));
      const key = decodeURIComponent(m[2]!);
      switch (req.method) {
        case "GET": {
          const v = values.get(key);
          return v === undefined ? send(404, envelope(false, [{ code: 10009, message: "get: 'key not found'" }])) : send(200, v, "application/octet-stream");
        }
        case "PUT":
          values.set(key, body);
          return send(200, envelope(true));
        case "DELETE":
          values.delete(key);
          return send(200, envelope(true));
        default:
          return send(405, envelope(false, [{ code: 10000, message: "method not allowed" }]));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  api.baseUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/client/v4`;
  return api;
}
