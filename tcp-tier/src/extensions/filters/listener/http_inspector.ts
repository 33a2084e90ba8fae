/**
 * `envoy.filters.listener.http_inspector`: on a connection that is not TLS, tells HTTP/1.0, HTTP/1.1 and
 * h2c (prior knowledge) apart from the first bytes (tcp-tier/src/codec/http-inspect.ts) and sets the
 * application protocol (`http/1.0`, `http/1.1`, `h2c`) for chain selection. Anything else passes with no
 * protocol set. Envoy's stats, server-wide: `http_inspector.*`.
 */
import type { TcpListenerFilterModel } from "../../../../../shared/config/model.ts";
import type { StatsScope } from "../../../../../shared/stats/store.ts";
import { inspectHttp } from "../../../codec/http-inspect.ts";
import type { ListenerFilterFactory } from "../../../listener/listener-filter.ts";

type Model = Extract<TcpListenerFilterModel, { kind: "http_inspector" }>;

export function createHttpInspectorFactory(_model: Model, stats: StatsScope): ListenerFilterFactory {
  const scope = stats.scope("http_inspector.");
  const http10 = scope.counter("http10_found");
  const http11 = scope.counter("http11_found");
  const http2 = scope.counter("http2_found");
  const notFound = scope.counter("http_not_found");
  return () => ({
    // Envoy's inspector skips a connection a TLS inspector already recognised.
    onAccept: (state) => (state.transportProtocol !== "raw_buffer" && state.transportProtocol !== "" ? { status: "continue" } : { status: "more" }),
    onData(buffer, state) {
      const r = inspectHttp(buffer);
      if (r.kind === "more") return { status: "more" };
      if (r.kind === "not-http") {
        notFound.inc();
        return { status: "continue" };
      }
      (r.protocol === "h2c" ? http2 : r.protocol === "http/1.1" ? http11 : http10).inc();
      state.applicationProtocols = [r.protocol];
      return { status: "continue" };
    },
  });
}
