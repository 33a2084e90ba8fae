/**
 * A reference Worker for edge-http: the least a Worker must do per request to proxy the way Envoy's
 * router does with its defaults, hand-written with no config, routing table, filters or stats. It
 * shows what part of the bare Worker's throughput Envoy's semantics themselves cost in workerd,
 * before any engine:
 *
 * - request: a copy of the headers without the hop-by-hop ones; `x-forwarded-proto`, the client
 *   appended to `x-forwarded-for`, `x-request-id` when absent (a UUID), `x-envoy-expected-rq-timeout-ms`;
 * - the route timeout (15 s): one timer armed before the upstream call and cleared when the body has
 *   been handed over;
 * - response: the upstream body passed through natively, its headers copied without the hop-by-hop
 *   ones, `server: envoy` and `x-envoy-upstream-service-time` set.
 */
interface Env {
  /** The origin's base URL, e.g. `http://127.0.0.1:41234`. */
  UPSTREAM: string;
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"];
const ROUTE_TIMEOUT_MS = 15_000;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const start = Date.now();
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    const headers = new Headers(request.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    headers.set("x-forwarded-proto", url.startsWith("https:") ? "https" : "http");
    const client = request.headers.get("cf-connecting-ip") ?? "127.0.0.1";
    const xff = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", xff ? `${xff}, ${client}` : client);
    if (!headers.has("x-request-id")) headers.set("x-request-id", crypto.randomUUID());
    headers.set("x-envoy-expected-rq-timeout-ms", String(ROUTE_TIMEOUT_MS));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ROUTE_TIMEOUT_MS);
    try {
      const upstream = await fetch(env.UPSTREAM + path, { method: request.method, headers, body: request.body, signal: abort.signal });
      const out = new Headers(upstream.headers);
      for (const h of HOP_BY_HOP) out.delete(h);
      out.set("server", "envoy");
      out.set("x-envoy-upstream-service-time", String(Date.now() - start));
      return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: out });
    } catch {
      return new Response("upstream connect error or disconnect/reset before headers\n", { status: 503 });
    } finally {
      clearTimeout(timer);
    }
  },
};
