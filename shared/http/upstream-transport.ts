/**
 * The one interface every upstream HTTP attempt goes through (DESIGN.md). The edge implements it
 * with the Workers `fetch` (`redirect: "manual"`); the tcp tier with undici pools and `node:http2`.
 */
import type { ClusterModel, EndpointModel } from "../config/model.ts";

/** One attempt to one upstream host. */
export interface UpstreamRequest {
  /** `http://<address>:<port><path and query>` (IPv6 addresses in brackets). */
  url: string;
  method: string;
  /** Headers to send; the transport may change this object (it is the attempt's own copy). */
  headers: Headers;
  /** Streamed to the upstream; null when the request has no body. */
  body: ReadableStream<Uint8Array> | null;
  /**
   * The downstream Host/:authority. Envoy forwards it unchanged; a transport that cannot set Host
   * (the Workers fetch always sends the URL's host) sends it as `x-forwarded-host` instead.
   */
  authority: string;
  cluster: ClusterModel;
  host: EndpointModel;
}

export interface UpstreamTransport {
  /**
   * Sends the request and resolves with the upstream response once its headers arrive (redirects
   * are returned, never followed). Called once per attempt.
   *
   * Rejects with a ProxyError: `upstream_connect_failure` when no connection could be made (or the
   * runtime cannot tell connect failures from other failures before headers),
   * `upstream_connection_termination` when the connection was lost before response headers.
   */
  fetch(request: UpstreamRequest): Promise<Response>;
}
