/**
 * The edge's {@link UpstreamTransport}: the Workers `fetch`, redirects returned as they are.
 *
 * Host: the Workers runtime always sends the URL's host as `Host` (a `Host` header given to `fetch`
 * is replaced, locally in workerd and in production), so Envoy's "forward the downstream Host
 * unchanged" cannot be kept. The downstream Host is sent as `x-forwarded-host` instead (appended to
 * an existing value, as Envoy's `append_x_forwarded_host` does). See docs/edge.md.
 *
 * Body: a buffered body (the router's `bodyBytes`, for requests that may be retried or mirrored) is
 * sent as bytes, so the upstream gets its Content-Length; a streamed body goes as it comes.
 *
 * Cancellation: the router's `signal` (hedged attempts only) is passed to `fetch`, which aborts the
 * upstream request.
 *
 * Errors: `fetch` rejects with the same kind of error for a refused connection, a DNS failure and a
 * connection lost before headers, so every rejection is `upstream_connect_failure` (Envoy's UF).
 */
import { ProxyError } from "../../shared/http/errors.ts";
import type { AttemptRequest } from "../../shared/http/upstream-request.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";

export const fetchTransport: UpstreamTransport = {
  async fetch(req: AttemptRequest): Promise<Response> {
    const headers = req.headers;
    headers.delete("host");
    const forwarded = headers.get("x-forwarded-host");
    headers.set("x-forwarded-host", forwarded ? `${forwarded}, ${req.authority}` : req.authority);
    const body = req.bodyBytes ?? req.body;
    try {
      return await fetch(req.url, { method: req.method, headers, body, redirect: "manual", signal: req.signal });
    } catch (e) {
      if (req.signal?.aborted) throw e;
      throw new ProxyError("upstream_connect_failure", `${req.method} ${req.url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  },
};
