/**
 * What an access log entry is formatted from: one finished HTTP stream (or, for the tcp tier, one
 * connection), filled in by whoever ran it. Runtime-neutral plain data; a field left undefined renders
 * as Envoy renders an unset value (`-` in text, `null` in typed JSON).
 */

/** Facts about the downstream side that only the tier knows (connection, TLS, protocol). */
export interface DownstreamInfo {
  /** `%PROTOCOL%`: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2` or `HTTP/3`. */
  protocol?: string;
  /** `%DOWNSTREAM_REMOTE_ADDRESS%`: `ip:port` (IPv6 in brackets). */
  remoteAddress?: string;
  /** `%DOWNSTREAM_LOCAL_ADDRESS%`: `ip:port`. */
  localAddress?: string;
  /** `%REQUESTED_SERVER_NAME%`: the TLS SNI. */
  requestedServerName?: string;
  /** `%DOWNSTREAM_PEER_SUBJECT%`: the client certificate's subject (RFC 2253), after a TLS handshake with one. */
  downstreamPeerSubject?: string;
  /** `%CONNECTION_ID%`: the downstream connection's id. */
  connectionId?: number;
}

export interface AccessLogRecord extends DownstreamInfo {
  /**
   * `%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%`: the peer's own address, when `remoteAddress` was replaced by
   * the address X-Forwarded-For processing trusted (as Envoy's downstream remote address is).
   */
  directRemoteAddress?: string;
  /** Wall-clock start (ms since the Unix epoch): `%START_TIME%`. */
  startTime: number;
  /** `%DURATION%`: start to the last byte sent downstream, ms. */
  durationMs?: number;
  /** `%REQUEST_DURATION%`: start to the last byte of the request received, ms. */
  requestDurationMs?: number;
  /** `%RESPONSE_DURATION%`: start to the first byte (headers) received from the upstream, ms. */
  responseDurationMs?: number;
  /** `:method` (HTTP only). */
  method?: string;
  /** `:path`: path and query (HTTP only). */
  path?: string;
  /** `:authority` (HTTP only). */
  authority?: string;
  /** `:scheme` (HTTP only). */
  scheme?: string;
  /** Request headers as they were sent upstream (after the filters), without pseudo-headers. */
  requestHeaders?: Headers;
  /** Response headers as sent downstream. */
  responseHeaders?: Headers;
  /** Response trailers (none at the edge: a Worker cannot see trailers). */
  responseTrailers?: Headers;
  /** `%RESPONSE_CODE%`: 0 when no response headers were sent. */
  responseCode?: number;
  /** `%RESPONSE_CODE_DETAILS%`. */
  responseCodeDetails?: string;
  /** Envoy response flags set on the stream, in any order (`%RESPONSE_FLAGS%` orders them). */
  responseFlags: readonly string[];
  /** `%BYTES_RECEIVED%`: request body bytes (HTTP) or downstream bytes read (TCP). */
  bytesReceived: number;
  /** `%BYTES_SENT%`: response body bytes (HTTP) or downstream bytes written (TCP). */
  bytesSent: number;
  /** `%UPSTREAM_HOST%`: `ip:port` of the upstream host. */
  upstreamHost?: string;
  /** `%UPSTREAM_CLUSTER%`. */
  upstreamCluster?: string;
  /** `%ROUTE_NAME%`. */
  routeName?: string;
  /** `%VIRTUAL_CLUSTER_NAME%`: the request's virtual cluster (`other` when its virtual host's match none). */
  virtualClusterName?: string;
  /** `%UPSTREAM_TRANSPORT_FAILURE_REASON%`. */
  upstreamTransportFailureReason?: string;
}
