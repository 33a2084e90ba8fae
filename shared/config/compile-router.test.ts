/**
 * Router settings in configs: Envoy's schema plus Legate's support table (the full Node pipeline),
 * then compile: defaults, virtual-host inheritance, and the refusals with their paths and kinds.
 */
import { describe, expect, it } from "vitest";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import type { ConfigIssue } from "./issues.ts";
import type { HttpConnectionManagerModel, RouterPolicyModel } from "./model.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const ROUTE = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config";

type Json = Record<string, unknown>;

function config(routes: Json[], vhost: Json = {}, routeConfig: Json = {}): Json {
  return {
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress",
          route_config: { ...routeConfig, virtual_hosts: [{ name: "all", domains: ["*"], ...vhost, routes }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
        } }] }],
      }],
      clusters: ["a", "b"].map((name) => ({ name, type: "STATIC", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } })),
    },
  };
}

async function policies(routes: Json[], vhost?: Json, routeConfig?: Json): Promise<(RouterPolicyModel | undefined)[]> {
  const r = await validateBootstrapValue(config(routes, vhost, routeConfig));
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  const hcm = r.model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
  return hcm.routeConfig.virtualHosts[0]!.routes.map((rt) => (rt.action.kind === "route" ? rt.action.router : undefined));
}

async function issues(routes: Json[], vhost?: Json): Promise<Pick<ConfigIssue, "kind" | "path">[]> {
  const r = await validateBootstrapValue(config(routes, vhost));
  if (r.ok) throw new Error("expected the config to be refused");
  return r.issues.map(({ kind, path }) => ({ kind, path }));
}

const route = (action: Json = {}, extra: Json = {}): Json => ({ match: { prefix: "/" }, ...extra, route: { cluster: "a", ...action } });

describe("router settings in configs", () => {
  it("applies Envoy's defaults", async () => {
    const [p] = await policies([route()]);
    expect(p).toEqual({
      timeoutMs: 15_000,
      hedgeOnPerTryTimeout: false,
      mirrorPolicies: [],
      includeRequestAttemptCount: false,
      includeAttemptCountInResponse: false,
      includeIsTimeoutRetryHeader: false,
    });
  });

  it("compiles a full retry policy", async () => {
    const [p] = await policies([route({
      timeout: "2s",
      idle_timeout: "1s",
      max_stream_duration: { max_stream_duration: "30s" },
      retry_policy: {
        retry_on: "5xx, reset,unavailable",
        num_retries: 3,
        per_try_timeout: "0.25s",
        per_try_idle_timeout: "0.1s",
        retry_back_off: { base_interval: "0.01s" },
        rate_limited_retry_back_off: { reset_headers: [{ name: "Retry-After" }, { name: "X-RateLimit-Reset", format: "UNIX_TIMESTAMP" }] },
        retriable_status_codes: [409, 418],
        retriable_headers: [{ name: "x-retry", present_match: true }],
        retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate" } }],
        host_selection_retry_max_attempts: 5,
      },
      hedge_policy: { hedge_on_per_try_timeout: true },
      request_mirror_policies: [{ cluster: "b", runtime_fraction: { default_value: { numerator: 50 }, runtime_key: "mirror.b" } }, { cluster_header: "X-Mirror" }],
    }, { per_request_buffer_limit_bytes: 4096 })]);
    expect(p).toEqual({
      timeoutMs: 2000,
      idleTimeoutMs: 1000,
      maxStreamDurationMs: 30_000,
      retryPolicy: {
        retryOn: ["5xx", "reset", "unavailable"],
        numRetries: 3,
        perTryTimeoutMs: 250,
        perTryIdleTimeoutMs: 100,
        backOff: { baseMs: 10, maxMs: 100 },
        rateLimitedBackOff: { resetHeaders: [{ name: "retry-after", format: "SECONDS" }, { name: "x-ratelimit-reset", format: "UNIX_TIMESTAMP" }], maxMs: 300_000 },
        retriableStatusCodes: [409, 418],
        retriableHeaders: [{ name: "x-retry", match: { kind: "present", present: true }, invertMatch: false, treatMissingHeaderAsEmpty: false }],
        retriableRequestHeaders: [],
        previousHosts: true,
        hostSelectionRetryMaxAttempts: 5,
      },
      hedgeOnPerTryTimeout: true,
      mirrorPolicies: [
        { cluster: "b", runtimeFraction: { defaultValue: { numerator: 50, denominator: "HUNDRED" }, runtimeKey: "mirror.b" }, disableShadowHostSuffixAppend: false },
        { clusterHeader: "x-mirror", disableShadowHostSuffixAppend: false },
      ],
      perRequestBufferLimitBytes: 4096,
      includeRequestAttemptCount: false,
      includeAttemptCountInResponse: false,
      includeIsTimeoutRetryHeader: false,
    });
  });

  it("gives routes the virtual host's settings where they have none (never merging the two)", async () => {
    const vhost = {
      retry_policy: { retry_on: "gateway-error", num_retries: 4 },
      hedge_policy: { hedge_on_per_try_timeout: true },
      request_mirror_policies: [{ cluster: "b" }],
      per_request_buffer_limit_bytes: 100,
      include_request_attempt_count: true,
      include_attempt_count_in_response: true,
      include_is_timeout_retry_header: true,
    };
    const [inherits, overrides] = await policies([route(), route({ retry_policy: { retry_on: "reset" }, hedge_policy: {}, request_mirror_policies: [{ cluster: "a" }] }, { per_request_buffer_limit_bytes: 7 })], vhost);
    expect(inherits!.retryPolicy!.retryOn).toEqual(["gateway-error"]);
    expect(inherits!.retryPolicy!.numRetries).toBe(4);
    expect(inherits!.hedgeOnPerTryTimeout).toBe(true);
    expect(inherits!.mirrorPolicies.map((m) => m.cluster)).toEqual(["b"]);
    expect(inherits!.perRequestBufferLimitBytes).toBe(100);
    expect([inherits!.includeRequestAttemptCount, inherits!.includeAttemptCountInResponse, inherits!.includeIsTimeoutRetryHeader]).toEqual([true, true, true]);
    expect(overrides!.retryPolicy).toMatchObject({ retryOn: ["reset"], numRetries: 1 });
    expect(overrides!.hedgeOnPerTryTimeout).toBe(false);
    expect(overrides!.mirrorPolicies.map((m) => m.cluster)).toEqual(["a"]);
    expect(overrides!.perRequestBufferLimitBytes).toBe(7);
  });

  it("takes the route configuration's mirror policies when neither route nor virtual host has any", async () => {
    const [p] = await policies([route()], {}, { request_mirror_policies: [{ cluster: "b" }] });
    expect(p!.mirrorPolicies.map((m) => m.cluster)).toEqual(["b"]);
  });

  it("refuses unknown and unsupported retry conditions, unsupported predicates and hedging modes", async () => {
    const rp = `${ROUTE}.virtual_hosts[0].routes[0].route`;
    expect(await issues([route({ retry_policy: { retry_on: "5xx,5x" } })])).toEqual([{ kind: "not-envoy", path: `${rp}.retry_policy.retry_on` }]);
    expect(await issues([route({ retry_policy: { retry_on: "http3-post-connect-failure" } })])).toEqual([{ kind: "unsupported", path: `${rp}.retry_policy.retry_on` }]);
    expect(await issues([route({ retry_policy: { retry_on: "5xx", retry_host_predicate: [{ name: "envoy.retry_host_predicates.omit_canary_hosts", typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate" } }] } })]))
      .toEqual([{ kind: "unsupported", path: `${rp}.retry_policy.retry_host_predicate[0]` }]);
    expect(await issues([route({ hedge_policy: { initial_requests: 2 } })])).toEqual([{ kind: "unsupported", path: `${rp}.hedge_policy.initial_requests` }]);
    expect(await issues([route({ hedge_policy: { additional_request_chance: { numerator: 5 } } })])).toEqual([{ kind: "unsupported", path: `${rp}.hedge_policy.additional_request_chance` }]);
    expect(await issues([route({ retry_policy: { retry_on: "5xx", retry_priority: { name: "envoy.retry_priorities.previous_priorities" } } })])).toEqual([{ kind: "unsupported", path: `${rp}.retry_policy.retry_priority` }]);
    expect(await issues([route({ max_stream_duration: { grpc_timeout_header_max: "1s" } })])).toEqual([{ kind: "unsupported", path: `${rp}.max_stream_duration.grpc_timeout_header_max` }]);
  });

  it("refuses broken back-offs and mirror policies", async () => {
    const rp = `${ROUTE}.virtual_hosts[0].routes[0].route`;
    expect(await issues([route({ retry_policy: { retry_on: "5xx", retry_back_off: { base_interval: "1s", max_interval: "0.5s" } } })]))
      .toEqual([{ kind: "not-envoy", path: `${rp}.retry_policy.retry_back_off.max_interval` }]);
    expect(await issues([route({ request_mirror_policies: [{ cluster: "nowhere" }] })])).toEqual([{ kind: "invalid-reference", path: `${rp}.request_mirror_policies[0].cluster` }]);
    expect(await issues([route({ request_mirror_policies: [{ runtime_fraction: { default_value: { numerator: 1 } } }] })])).toEqual([{ kind: "not-envoy", path: `${rp}.request_mirror_policies[0]` }]);
  });

  it("moves retriable_headers issues under the retry policy's path", async () => {
    const rp = `${ROUTE}.virtual_hosts[0].routes[0].route.retry_policy`;
    expect(await issues([route({ retry_policy: { retry_on: "retriable-headers", retriable_headers: [{ name: "x", safe_regex_match: { regex: "(?<!a)b" } }] } })]))
      .toEqual([{ kind: "not-envoy", path: `${rp}.retriable_headers[0].safe_regex_match.regex` }]);
  });
});
