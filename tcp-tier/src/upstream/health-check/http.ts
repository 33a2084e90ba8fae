/**
 * Envoy's HTTP health checker (HTTP/1.1) for one host: `method` (default GET) `path` with `Host` set to
 * `host` or the cluster name, `User-Agent: Envoy/HC`, then `request_headers_to_remove` and
 * `request_headers_to_add` applied (values as written). The response decides, once its body has been read:
 * - a status in `expected_statuses` (default 200): healthy, unless `service_name_matcher` is set and the
 *   response's `x-envoy-upstream-healthchecked-cluster` is missing or does not match it (counted as
 *   `verify_cluster` whenever the matcher is consulted), which fails the check;
 * - `x-envoy-immediate-health-check-fail` in the response (Envoy's health-check filter sends it with a
 *   503 while the server is failing its health checks): a failure that marks the host unhealthy at once,
 *   whatever `retriable_statuses` says;
 * - a status in `retriable_statuses`: a failure counted towards `unhealthy_threshold`;
 * - any other status: a failure that marks the host unhealthy at once.
 * A connect failure, reset or a connection closed before the response ends is a network failure.
 * With `reuse_connection` (the default) one keep-alive connection is kept between checks; otherwise each
 * check opens its own.
 */
import type * as Http from "node:http";
import type { Socket } from "node:net";
import type { HttpHealthCheckModel } from "../../../../shared/config/model.ts";
import type { StringMatch } from "../../../../shared/http/matchers.ts";
import type { Counter } from "../../../../shared/stats/store.ts";
import { http } from "../../node-builtins.ts";
import type { CheckResult, HostConnector, Prober } from "./types.ts";

/** What the HTTP prober needs, computed once per health check config. */
export interface HttpCheckPlan {
  model: HttpHealthCheckModel;
  /** The request headers, in order (names lower-cased), already mutated by the config. */
  headers: [string, string][];
  serviceNameMatcher?: StringMatch;
  verifyCluster: Counter;
}

/** Builds the request headers once: Host, User-Agent, then the configured removals and additions. */
export function httpCheckHeaders(model: HttpHealthCheckModel, clusterName: string): [string, string][] {
  let headers: [string, string][] = [
    ["host", model.host ?? clusterName],
    ["user-agent", "Envoy/HC"],
  ];
  const removed = new Set(model.requestHeadersToRemove);
  headers = headers.filter(([k]) => !removed.has(k));
  for (const h of model.requestHeadersToAdd) {
    if (h.value === "" && !h.keepEmptyValue) continue;
    const exists = headers.some(([k]) => k === h.key);
    switch (h.appendAction) {
      case "APPEND_IF_EXISTS_OR_ADD":
        headers.push([h.key, h.value]);
        break;
      case "ADD_IF_ABSENT":
        if (!exists) headers.push([h.key, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        headers = headers.filter(([k]) => k !== h.key);
        headers.push([h.key, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (exists) {
          headers = headers.filter(([k]) => k !== h.key);
          headers.push([h.key, h.value]);
        }
        break;
    }
  }
  return headers;
}

const inRanges = (status: number, ranges: readonly [number, number][]) => ranges.some(([a, b]) => status >= a && status < b);

export class HttpProber implements Prober {
  private readonly agent: Http.Agent;
  private req: Http.ClientRequest | undefined;
  private readonly plan: HttpCheckPlan;
  private readonly address: string;
  private readonly port: number;

  constructor(plan: HttpCheckPlan, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    this.plan = plan;
    this.address = address;
    this.port = port;
    this.agent = new (http().Agent)({ keepAlive: reuseConnection, maxSockets: 1 });
    // Every connection goes through the cluster's transport (its upstream TLS when it has one).
    (this.agent as unknown as { createConnection: () => Socket }).createConnection = () => connector.connect(address, port);
  }

  check(done: (result: CheckResult) => void): void {
    let settled = false;
    const finish = (r: CheckResult) => {
      if (settled) return;
      settled = true;
      this.req = undefined;
      done(r);
    };
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of this.plan.headers) {
      const prev = headers[k];
      headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const req = http().request({ agent: this.agent, host: this.address, port: this.port, method: this.plan.model.method, path: this.plan.model.path, headers, setHost: false });
    this.req = req;
    req.on("error", () => finish({ ok: false, type: "NETWORK", retriable: false }));
    req.on("response", (res) => {
      res.on("error", () => finish({ ok: false, type: "NETWORK", retriable: false }));
      res.on("aborted", () => finish({ ok: false, type: "NETWORK", retriable: false }));
      res.on("end", () => finish(this.evaluate(res)));
      res.resume();
    });
    req.end();
  }

  private evaluate(res: Http.IncomingMessage): CheckResult {
    const status = res.statusCode ?? 0;
    const model = this.plan.model;
    if (res.headers["x-envoy-immediate-health-check-fail"] !== undefined) return { ok: false, type: "ACTIVE", retriable: false };
    if (inRanges(status, model.expectedStatuses)) {
      const matcher = this.plan.serviceNameMatcher;
      if (!matcher) return { ok: true };
      this.plan.verifyCluster.inc();
      const name = res.headers["x-envoy-upstream-healthchecked-cluster"];
      return typeof name === "string" && matcher(name) ? { ok: true } : { ok: false, type: "ACTIVE", retriable: false };
    }
    return { ok: false, type: "ACTIVE", retriable: inRanges(status, model.retriableStatuses) };
  }

  abort(): void {
    const req = this.req;
    this.req = undefined;
    req?.destroy();
  }

  close(): void {
    this.abort();
    this.agent.destroy();
  }
}
