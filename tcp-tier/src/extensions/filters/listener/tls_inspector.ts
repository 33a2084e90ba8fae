/**
 * `envoy.filters.listener.tls_inspector`: reads the ClientHello (tcp-tier/src/codec/tls-client-hello.ts)
 * and sets the transport protocol `tls`, the SNI and the offered ALPN for chain selection. Bytes that
 * are not TLS (or a malformed ClientHello, as BoringSSL reports it in Envoy) leave the socket as
 * `raw_buffer`; a ClientHello over 64 KiB closes it. Envoy's stats, server-wide: `tls_inspector.*`.
 */
import type { TcpListenerFilterModel } from "../../../../../shared/config/model.ts";
import type { Counter, StatsScope } from "../../../../../shared/stats/store.ts";
import { parseClientHello } from "../../../codec/tls-client-hello.ts";
import type { ListenerFilterFactory } from "../../../listener/listener-filter.ts";

type Model = Extract<TcpListenerFilterModel, { kind: "tls_inspector" }>;

const STATS = ["client_hello_too_large", "tls_found", "tls_not_found", "alpn_found", "alpn_not_found", "sni_found", "sni_not_found"] as const;

export function createTlsInspectorFactory(model: Model, stats: StatsScope): ListenerFilterFactory {
  const scope = stats.scope("tls_inspector.");
  const s = Object.fromEntries(STATS.map((n) => [n, scope.counter(n)])) as Record<(typeof STATS)[number], Counter>;
  const bytesProcessed = scope.histogram("bytes_processed");
  const max = model.maxClientHelloSize;
  return () => ({
    onAccept: () => ({ status: "more" }),
    onData(buffer, state) {
      const r = parseClientHello(buffer, max);
      switch (r.kind) {
        case "more":
          return { status: "more", need: r.need };
        case "too-large":
          s.client_hello_too_large.inc();
          return { status: "close" };
        case "not-tls":
        case "malformed":
          bytesProcessed.record(buffer.length);
          s.tls_not_found.inc();
          return { status: "continue" };
        case "hello":
          bytesProcessed.record(r.bytes);
          s.tls_found.inc();
          state.transportProtocol = "tls";
          if (r.serverName !== undefined) {
            s.sni_found.inc();
            state.requestedServerName = r.serverName;
          } else {
            s.sni_not_found.inc();
          }
          if (r.alpn.length) {
            s.alpn_found.inc();
            state.applicationProtocols = r.alpn;
          } else {
            s.alpn_not_found.inc();
          }
          return { status: "continue" };
      }
    },
  });
}
