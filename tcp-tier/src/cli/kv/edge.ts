/**
 * The edge KV target (`LEGATE_KV=edge`): the tcp tier reads KV through the edge Worker's admin API
 * (edge/src/admin.ts, `/__legate/admin/kv`) with the admin token, instead of holding a Cloudflare API
 * token. One request per operation:
 *
 * - `GET    {base}/kv/{key}`: the value (404 with `x-legate-kv: missing`: no such key)
 * - `PUT    {base}/kv/{key}` with the value as the body; `DELETE {base}/kv/{key}` (the edge allows
 *   both under `legate/health/` only: what the tcp tier writes)
 * - `GET    {base}/kv?prefix=&limit=&cursor=`: `{ keys, list_complete, cursor? }`
 *
 * `{base}` is `LEGATE_KV_EDGE_URL` (e.g. `https://edge.example.com/__legate/admin`); keys are
 * URL-encoded. What it reads is what that edge location reads (the same `cacheTtl`).
 */
import { KvError, type KvTarget } from "./target.ts";

export interface EdgeKvOptions {
  /** The edge's admin API base, `.../__legate/admin` (no trailing slash needed). */
  baseUrl: string;
  /** The edge's `LEGATE_ADMIN_TOKEN`. */
  token: string;
  /** Per-request timeout in ms (default 10 s). */
  timeoutMs?: number;
}

/** The header the edge sets on a 404 that means "no such key" (edge/src/admin.ts). */
const MISSING_HEADER = "x-legate-kv";
/** The edge's largest list page. */
const PAGE = 1000;

/**
 * The options from the environment: `LEGATE_KV_EDGE_URL` (an http(s) URL with the admin path) and
 * `LEGATE_KV_EDGE_TOKEN`. Throws {@link KvError} `LEGATE_KV_CONFIG` naming the variable at fault.
 */
export function edgeKvOptionsFromEnv(env: Record<string, string | undefined>): EdgeKvOptions {
  const raw = env.LEGATE_KV_EDGE_URL;
  if (!raw) throw new KvError("LEGATE_KV_CONFIG", "LEGATE_KV=edge needs LEGATE_KV_EDGE_URL: the edge's admin API base, e.g. https://edge.example.com/__legate/admin");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new KvError("LEGATE_KV_CONFIG", `LEGATE_KV_EDGE_URL='${raw}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new KvError("LEGATE_KV_CONFIG", `LEGATE_KV_EDGE_URL='${raw}' is not an http(s) URL`);
  if (url.pathname === "/" || url.pathname === "") {
    throw new KvError("LEGATE_KV_CONFIG", `LEGATE_KV_EDGE_URL='${raw}' has no path: give the admin API base, ${url.origin}/__legate/admin`);
  }
  if (url.search !== "" || url.hash !== "") throw new KvError("LEGATE_KV_CONFIG", `LEGATE_KV_EDGE_URL='${raw}' must not carry a query or fragment`);
  const token = env.LEGATE_KV_EDGE_TOKEN;
  if (!token) throw new KvError("LEGATE_KV_CONFIG", "LEGATE_KV=edge needs LEGATE_KV_EDGE_TOKEN: the edge's LEGATE_ADMIN_TOKEN");
  return { baseUrl: url.href.replace(/\/+$/, ""), token };
}

export function edgeKvTarget(opts: EdgeKvOptions): KvTarget {
  const base = opts.baseUrl.replace(/\/+$/, "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const keyUrl = (key: string): string => `${base}/kv/${encodeURIComponent(key)}`;

  const request = async (method: "GET" | "PUT" | "DELETE", url: string, body?: string): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}` };
    if (body !== undefined) headers["content-type"] = "text/plain;charset=UTF-8";
    try {
      return await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: "error" });
    } catch (e) {
      const err = e as Error & { cause?: { message?: string; code?: string } };
      const why = err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new KvError("LEGATE_KV_NETWORK", `${method} ${url}: ${why}`);
    }
  };

  const fail = async (method: string, url: string, res: Response): Promise<never> => {
    const text = (await res.text().catch(() => "")).trim().slice(0, 300);
    const hint =
      res.status === 401
        ? " (LEGATE_KV_EDGE_TOKEN is not the edge's LEGATE_ADMIN_TOKEN)"
        : res.status === 404
          ? " (no admin API there: is LEGATE_KV_EDGE_URL the edge's .../__legate/admin, and is LEGATE_ADMIN_TOKEN set on the edge?)"
          : "";
    throw new KvError("LEGATE_KV_HTTP", `${method} ${url}: the edge answered ${res.status}${hint}${text ? `: ${text}` : ""}`);
  };

  return {
    description: `edge KV (${base})`,
    async get(key) {
      const url = keyUrl(key);
      const res = await request("GET", url);
      if (res.status === 404 && res.headers.get(MISSING_HEADER) === "missing") {
        await res.body?.cancel();
        return null;
      }
      if (res.status !== 200) return fail("GET", url, res);
      return await res.text();
    },
    async put(key, value) {
      const url = keyUrl(key);
      const res = await request("PUT", url, value);
      if (!res.ok) return fail("PUT", url, res);
      await res.body?.cancel();
    },
    async delete(key) {
      const url = keyUrl(key);
      const res = await request("DELETE", url);
      if (!res.ok) return fail("DELETE", url, res);
      await res.body?.cancel();
    },
    async list(prefix, limit) {
      const names: string[] = [];
      let cursor: string | undefined;
      while (names.length < limit) {
        const q = new URLSearchParams({ prefix, limit: String(Math.min(PAGE, limit - names.length)) });
        if (cursor !== undefined) q.set("cursor", cursor);
        const url = `${base}/kv?${q}`;
        const res = await request("GET", url);
        if (res.status !== 200) return fail("GET", url, res);
        const text = await res.text();
        let page: { keys?: unknown; list_complete?: unknown; cursor?: unknown };
        try {
          page = JSON.parse(text) as typeof page;
        } catch {
          throw new KvError("LEGATE_KV_DATA", `GET ${url}: the edge answered 200 with a body that is not JSON: ${text.slice(0, 100)}`);
        }
        if (!Array.isArray(page.keys) || !page.keys.every((k) => typeof k === "string")) {
          throw new KvError("LEGATE_KV_DATA", `GET ${url}: the edge answered 200 without a key list`);
        }
        names.push(...(page.keys as string[]));
        if (page.list_complete !== false || typeof page.cursor !== "string" || page.cursor === "") break;
        cursor = page.cursor;
      }
      return names.slice(0, limit);
    },
    async close() {},
  };
}
