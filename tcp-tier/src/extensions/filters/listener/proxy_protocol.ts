/**
 * `envoy.filters.listener.proxy_protocol`: reads a PROXY protocol v1 or v2 header
 * (tcp-tier/src/codec/proxy-protocol.ts), consumes it (the header is never replayed), and makes its
 * source the connection's remote address and its destination the local address. `LOCAL` (v2) and
 * `UNKNOWN` (v1) headers keep the socket's own addresses. A malformed or disallowed header closes the
 * socket; no header closes it too unless `allow_requests_without_proxy_protocol`.
 * Envoy's stats: `proxy_proto.[<stat_prefix>.]versions.<v1|v2>.{found,disallowed,error}`,
 * `not_found_allowed`, `not_found_disallowed`.
 */
import type { TcpListenerFilterModel } from "../../../../../shared/config/model.ts";
import type { Counter, StatsScope } from "../../../../../shared/stats/store.ts";
import { parseProxyHeader } from "../../../codec/proxy-protocol.ts";
import type { ListenerFilterFactory } from "../../../listener/listener-filter.ts";

type Model = Extract<TcpListenerFilterModel, { kind: "proxy_protocol" }>;

export function createProxyProtocolFactory(model: Model, stats: StatsScope): ListenerFilterFactory {
  const scope = stats.scope(model.statPrefix ? `proxy_proto.${model.statPrefix}.` : "proxy_proto.");
  const version = (v: 1 | 2) => {
    const vs = scope.scope(`versions.v${v}.`);
    return { found: vs.counter("found"), disallowed: vs.counter("disallowed"), error: vs.counter("error") };
  };
  const versions: Record<1 | 2, { found: Counter; disallowed: Counter; error: Counter }> = { 1: version(1), 2: version(2) };
  const notFoundAllowed = scope.counter("not_found_allowed");
  const notFoundDisallowed = scope.counter("not_found_disallowed");
  const allowWithout = model.allowRequestsWithoutProxyProtocol;
  const disallowed = new Set(model.disallowedVersions);
  return () => ({
    onAccept: () => ({ status: "more" }),
    onData(buffer, state) {
      const r = parseProxyHeader(buffer);
      switch (r.kind) {
        case "more":
          return { status: "more", need: r.need };
        case "absent":
          if (allowWithout) {
            notFoundAllowed.inc();
            return { status: "continue" };
          }
          notFoundDisallowed.inc();
          return { status: "close" };
        case "error":
          versions[r.version].error.inc();
          return { status: "close" };
        case "header":
          if (disallowed.has(r.version)) {
            versions[r.version].disallowed.inc();
            return { status: "close" };
          }
          versions[r.version].found.inc();
          if (!r.local && r.source && r.destination) {
            state.remote = r.source;
            state.local = r.destination;
          }
          return { status: "continue", consume: r.bytes };
      }
    },
  });
}
