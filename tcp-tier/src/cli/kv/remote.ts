/**
 * The remote KV target: Workers KV through Cloudflare's REST API (v4), one request per operation:
 *
 * - `GET    {base}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}/values/{key}` → the raw value (404: missing)
 * - `PUT    .../values/{key}` with the raw value as the body
 * - `DELETE .../values/{key}`
 *
 * Keys are URL-encoded (Legate's keys contain `/`). Authenticated with `Authorization: Bearer <token>`.
 * Errors carry the API's own messages (its JSON envelope `{ success, errors: [{ code, message }] }`).
 */
import { KvError, type KvTarget } from "./target.ts";

export const DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4";

export interface RemoteKvOptions {
  apiToken: string;
  accountId: string;
  namespaceId: string;
  /** Default {@link DEFAULT_API_BASE_URL}; tests point it at a loopback stand-in. */
  baseUrl?: string;
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
}

async function apiErrors(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { errors?: { code?: number; message?: string }[] };
    const msgs = (body.errors ?? []).map((e) => `${e.message ?? "error"}${e.code !== undefined ? ` [code ${e.code}]` : ""}`);
    if (msgs.length) return msgs.join("; ");
  } catch {
    // Not the JSON envelope: fall through to the raw text.
  }
  return text.slice(0, 200) || res.statusText;
}

/** The API's error code for a GET of a key that does not exist. */
const KEY_NOT_FOUND = 10009;

function keyErrorCodes(text: string): number[] {
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown }[] };
    return (body.errors ?? []).map((e) => e.code).filter((c): c is number => typeof c === "number");
  } catch {
    return [];
  }
}

export function remoteKvTarget(opts: RemoteKvOptions): KvTarget {
  const base = (opts.baseUrl ?? DEFAULT_API_BASE_URL).replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const url = (key: string): string =>
    `${base}/accounts/${encodeURIComponent(opts.accountId)}/storage/kv/namespaces/${encodeURIComponent(opts.namespaceId)}/values/${encodeURIComponent(key)}`;

  const request = async (method: "GET" | "PUT" | "DELETE", key: string, body?: string): Promise<Response> => {
    const headers: Record<string, string> = { Authorization: `Bearer ${opts.apiToken}` };
    if (body !== undefined) headers["Content-Type"] = "text/plain;charset=UTF-8";
    try {
      return await fetch(url(key), { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new KvError("LEGATE_KV_NETWORK", `${method} ${key}: no answer from ${base}: ${cause ?? (e as Error).message}`);
    }
  };

  const fail = async (method: string, key: string, res: Response): Promise<never> => {
    throw new KvError("LEGATE_KV_HTTP", `${method} ${key}: Cloudflare API answered ${res.status}: ${await apiErrors(res)}`);
  };

  return {
    description: `remote KV (account ${opts.accountId}, namespace ${opts.namespaceId})`,
    async get(key) {
      const res = await request("GET", key);
      if (res.status === 404) {
        // 404 with code 10009 ("key not found") is a missing key; any other 404 (a wrong account or
        // namespace) is an error, or `versions` would report an empty namespace instead.
        const text = await res.text();
        const codes = keyErrorCodes(text);
        if (codes.length === 0 || codes.includes(KEY_NOT_FOUND)) return null;
        throw new KvError("LEGATE_KV_HTTP", `GET ${key}: Cloudflare API answered 404: ${await apiErrors(new Response(text))}`);
      }
      if (!res.ok) return fail("GET", key, res);
      return await res.text();
    },
    async put(key, value) {
      const res = await request("PUT", key, value);
      if (!res.ok) return fail("PUT", key, res);
      await res.body?.cancel();
    },
    async delete(key) {
      const res = await request("DELETE", key);
      // Deleting a key that is already gone is success (the API answers 200 or 404 depending on version).
      if (!res.ok && res.status !== 404) return fail("DELETE", key, res);
      await res.body?.cancel();
    },
    async close() {},
  };
}
