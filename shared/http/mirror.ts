/**
 * Request mirroring (`request_mirror_policies`): a shadow copy of the request sent to another cluster,
 * fire-and-forget. Envoy's rules:
 * - each policy names its cluster (`cluster`, or `cluster_header`: the request header's first value;
 *   no shadow when the header is absent or names no cluster);
 * - `runtime_fraction` (default: every request) decides per request, with the runtime's override of
 *   its key;
 * - the shadow's Host/:authority gets `-shadow` appended to the host part (`foo.com:8080` →
 *   `foo.com-shadow:8080`) unless `disable_shadow_host_suffix_append`; at the edge the Host travels as
 *   `x-forwarded-host`, which therefore carries the suffix;
 * - the shadow goes out once the request is complete, once per request (not per retry); its response
 *   is read and dropped; its failures, timeouts and status never touch the primary response. It is
 *   bounded by the route timeout.
 * - it is charged to the shadow cluster like any request (`upstream_rq_total`, `upstream_rq_<code>`,
 *   `upstream_rq_timeout`, circuit breakers, outlier detection).
 * A body larger than the buffer limit cannot be copied: the request is then not mirrored (the router
 * counts `retry_or_shadow_abandoned`).
 */
import type { RequestMirrorPolicyModel } from "../config/model.ts";
import type { Runtime } from "../runtime/runtime.ts";
import type { ClusterRuntime } from "../upstream/cluster.ts";
import type { RouterBody } from "./body-buffer.ts";
import { toProxyError } from "./errors.ts";
import type { RouterClusterStats } from "./router-stats.ts";
import { type AttemptRequest, bytesStream, shadowAuthority, urlAuthority } from "./upstream-request.ts";
import type { UpstreamTransport } from "./upstream-transport.ts";

export interface ShadowOptions {
  policies: readonly RequestMirrorPolicyModel[];
  /** The cluster runtime (and router stats) of a cluster name; undefined when the config has none. */
  cluster(name: string): { runtime: ClusterRuntime; stats: RouterClusterStats } | undefined;
  transport: UpstreamTransport;
  runtime: Runtime;
  random: () => number;
  method: string;
  path: string;
  authority: string;
  /** The request headers as the primary goes upstream (copied per shadow). */
  headers: Headers;
  /** Buffered or none: a streamed body cannot be mirrored. */
  body: RouterBody;
  /** The route timeout; 0: none. */
  timeoutMs: number;
}

/**
 * Sends the shadows the policies call for. Returns a promise that settles (never rejects) when every
 * shadow is done, for the runtime's `waitUntil`; undefined when no shadow was sent. Called at most
 * once per request.
 */
export function sendShadows(o: ShadowOptions): Promise<unknown> | undefined {
  let pending: Promise<void>[] | undefined;
  for (const policy of o.policies) {
    const name = policy.cluster ?? firstValue(o.headers.get(policy.clusterHeader ?? ""));
    if (!name) continue;
    const target = o.cluster(name);
    if (!target) continue;
    const f = policy.runtimeFraction;
    if (f && !o.runtime.featureEnabled(f.runtimeKey, f.defaultValue, Math.floor(o.random() * 2 ** 53))) continue;
    const shadow = sendOne(o, policy, target.runtime, target.stats);
    if (shadow) (pending ??= []).push(shadow);
  }
  return pending && Promise.all(pending);
}

function sendOne(o: ShadowOptions, policy: RequestMirrorPolicyModel, cluster: ClusterRuntime, stats: RouterClusterStats): Promise<void> | undefined {
  const host = cluster.chooseHost();
  if (!host) {
    cluster.cxNoneHealthy.inc();
    return undefined;
  }
  const attempt = cluster.startAttempt(host);
  if (!attempt) return undefined;
  // The shadow path is off the hot path (mirrored routes only): an AbortController bounds it.
  const controller = new AbortController();
  let timedOut = false;
  let reading = false;
  const timer = o.timeoutMs > 0
    ? setTimeout(() => {
        timedOut = true;
        if (!reading) controller.abort();
      }, o.timeoutMs)
    : undefined;
  const body = o.body;
  const request: AttemptRequest = {
    url: `http://${urlAuthority(host.address, host.port)}${o.path}`,
    method: o.method,
    headers: new Headers(o.headers),
    body: body.kind === "buffered" ? bytesStream(body.bytes) : null,
    bodyBytes: body.kind === "buffered" ? body.bytes : undefined,
    authority: policy.disableShadowHostSuffixAppend ? o.authority : shadowAuthority(o.authority),
    cluster: cluster.model,
    host: host.endpoint,
    signal: controller.signal,
  };
  const run = async (): Promise<void> => {
    let response: Response;
    try {
      response = await o.transport.fetch(request);
    } catch (e) {
      if (timedOut) {
        stats.timeout.inc();
        cluster.chargeCode(504);
        attempt.onFailure({ kind: "timeout" });
        return;
      }
      const err = toProxyError(e);
      if (err.code === "upstream_connect_failure") cluster.cxConnectFail.inc();
      cluster.chargeCode(err.spec.status);
      attempt.onFailure(err.code === "upstream_connect_failure" ? { kind: "connect_failure" } : { kind: "reset" });
      return;
    }
    cluster.rqTotal.inc();
    attempt.onHeaders(response.status);
    // From here the timer no longer aborts (see drain); it only marks the shadow as timed out.
    reading = true;
    try {
      if (await drain(response.body, () => timedOut)) cluster.chargeCode(response.status);
      else {
        stats.timeout.inc();
        stats.txReset.inc();
        cluster.chargeCode(504);
      }
    } catch {
      stats.rxReset.inc();
    } finally {
      attempt.end();
    }
  };
  return run()
    .catch(() => {})
    .finally(() => {
      if (timer !== undefined) clearTimeout(timer);
    });
}

/**
 * Reads a body to its end, keeping nothing; false when `stop()` turned true first (the body is then
 * cancelled between reads: workerd reports a native read interrupted by cancel or abort as an
 * unhandled rejection, so a stalled shadow is dropped when its next chunk arrives, or with the request).
 */
async function drain(body: ReadableStream<Uint8Array> | null, stop: () => boolean): Promise<boolean> {
  if (!body) return true;
  const reader = body.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return true;
    if (stop()) {
      void reader.cancel().catch(() => {});
      return false;
    }
  }
}

function firstValue(v: string | null): string | undefined {
  if (v === null) return undefined;
  const i = v.indexOf(",");
  const first = (i < 0 ? v : v.slice(0, i)).trim();
  return first || undefined;
}
