/**
 * Routing and header configs in Envoy YAML through the whole Node loader (Envoy's schema, the support
 * table, then compile): what they compile to, and the exact issues of the ones refused.
 */
import { describe, expect, it } from "vitest";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import type { ConfigIssue } from "./issues.ts";
import type { HttpConnectionManagerModel } from "./model.ts";
import { parseConfigText } from "./parse.ts";

const HCM_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const RC = `${HCM_PATH}.route_config`;
const ROUTE0 = `${RC}.virtual_hosts[0].routes[0]`;

/** A bootstrap whose edge HCM has `hcm` (YAML lines at the HCM's indentation) and the given routes. */
function bootstrap(routes: string, hcm = "", routeConfig = ""): string {
  const indent = (text: string, n: number) => text.split("\n").filter((l) => l.trim()).map((l) => " ".repeat(n) + l).join("\n");
  return `
static_resources:
  listeners:
  - name: edge
    address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
    metadata: { filter_metadata: { legate: { edge: true } } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
${indent(hcm, 10)}
          route_config:
            name: rc
${indent(routeConfig, 12)}
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
${indent(routes, 14)}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: a
    load_assignment: { cluster_name: a, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
  - name: b
    load_assignment: { cluster_name: b, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } } }] }] }
`;
}

async function load(yaml: string) {
  const parsed = parseConfigText(yaml);
  expect(parsed.issues).toEqual([]);
  return validateBootstrapValue(parsed.value);
}

async function hcmOf(yaml: string): Promise<HttpConnectionManagerModel> {
  const r = await load(yaml);
  if (!r.ok) throw new Error(JSON.stringify(r.issues, null, 2));
  return r.model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
}

async function issues(yaml: string): Promise<ConfigIssue[]> {
  const r = await load(yaml);
  return r.ok ? r.warnings : r.issues;
}

describe("routing configs that load", () => {
  it("compiles every match and action field", async () => {
    const hcm = await hcmOf(bootstrap(`
- name: regex
  match:
    safe_regex: { google_re2: {}, regex: "/api/v[0-9]+/.*" }
    headers:
    - { name: ":method", string_match: { exact: GET } }
    - { name: x-version, range_match: { start: 1, end: 3 }, invert_match: true }
    - { name: x-legacy, exact_match: "yes" }
    - { name: x-flag, present_match: true }
    query_parameters:
    - { name: debug, string_match: { prefix: "1", ignore_case: true } }
    runtime_fraction: { default_value: { numerator: 25, denominator: TEN_THOUSAND }, runtime_key: shift }
    grpc: {}
  route:
    weighted_clusters:
      runtime_key_prefix: split
      header_name: x-pick
      clusters:
      - { name: a, weight: 1, request_headers_to_add: [{ header: { key: x-c, value: a } }] }
      - { cluster_header: x-target, weight: 2 }
    regex_rewrite: { pattern: { regex: "^/api/(.*)$" }, substitution: "/\\\\1" }
    host_rewrite_literal: api.internal
- name: sep
  match: { path_separated_prefix: /app, case_sensitive: false }
  route: { cluster_header: x-cluster, prefix_rewrite: /, host_rewrite_header: x-host }
- name: moved
  match: { path: /old }
  redirect: { https_redirect: true, host_redirect: new.example, port_redirect: 8443, path_redirect: /new, response_code: PERMANENT_REDIRECT, strip_query: true }
  response_headers_to_add: [{ header: { key: x-moved, value: "1" }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }]
`));
    const [regex, sep, moved] = hcm.routeConfig.virtualHosts[0]!.routes;
    expect(regex!.match).toEqual({
      prefix: undefined,
      path: undefined,
      caseSensitive: true,
      safeRegex: "/api/v[0-9]+/.*",
      headers: [
        { name: ":method", match: { kind: "string", matcher: { kind: "exact", value: "GET", ignoreCase: false } }, invertMatch: false, treatMissingHeaderAsEmpty: false },
        { name: "x-version", match: { kind: "range", start: "1", end: "3" }, invertMatch: true, treatMissingHeaderAsEmpty: false },
        { name: "x-legacy", match: { kind: "string", matcher: { kind: "exact", value: "yes", ignoreCase: false } }, invertMatch: false, treatMissingHeaderAsEmpty: false },
        { name: "x-flag", match: { kind: "present", present: true }, invertMatch: false, treatMissingHeaderAsEmpty: false },
      ],
      queryParameters: [{ name: "debug", matcher: { kind: "prefix", value: "1", ignoreCase: true } }],
      runtimeFraction: { defaultValue: { numerator: 25, denominator: "TEN_THOUSAND" }, runtimeKey: "shift" },
      grpc: true,
    });
    expect(regex!.action).toMatchObject({
      kind: "route",
      cluster: "",
      clusterSpecifier: {
        kind: "weighted",
        runtimeKeyPrefix: "split",
        headerName: "x-pick",
        clusters: [
          { name: "a", weight: 1, headerMutations: { requestHeadersToAdd: [{ key: "x-c", value: "a", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false }], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] } },
          { name: "", clusterHeader: "x-target", weight: 2 },
        ],
      },
      rewrite: { regexRewrite: { regex: "^/api/(.*)$", substitution: "/\\1" }, hostRewriteLiteral: "api.internal" },
    });
    expect(sep!.match).toMatchObject({ pathSeparatedPrefix: "/app", caseSensitive: false });
    expect(sep!.action).toMatchObject({ kind: "route", cluster: "", clusterSpecifier: { kind: "header", header: "x-cluster" }, rewrite: { prefixRewrite: "/", hostRewriteHeader: "x-host" } });
    expect(moved!.action).toEqual({
      kind: "direct_response",
      status: 308,
      redirect: { scheme: "https", host: "new.example", port: 8443, pathRedirect: "/new", responseCode: 308, stripQuery: true },
    });
    expect(moved!.headerMutations?.responseHeadersToAdd).toEqual([{ key: "x-moved", value: "1", appendAction: "OVERWRITE_IF_EXISTS_OR_ADD", keepEmptyValue: false }]);
  });

  it("compiles header mutations at every level and the HCM's header settings", async () => {
    const hcm = await hcmOf(bootstrap(
      `
- match: { prefix: / }
  route: { cluster: a }
  request_headers_to_add:
  - { header: { key: X-Client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }, append: false }
  - { header: { key: x-raw, raw_value: "aGk=" }, keep_empty_value: true }
  request_headers_to_remove: [X-Drop]
`,
      `
use_remote_address: true
xff_num_trusted_hops: 1
skip_xff_append: true
via: legate
generate_request_id: false
preserve_external_request_id: true
always_set_request_id_in_response: true
server_name: legate
server_header_transformation: APPEND_IF_ABSENT
`,
      `
most_specific_header_mutations_wins: true
internal_only_headers: [X-Internal-Secret]
response_headers_to_add: [{ header: { key: x-served-by, value: "%HOSTNAME%" } }]
response_headers_to_remove: [x-powered-by]
`,
    ));
    expect(hcm.headerPolicy).toEqual({
      useRemoteAddress: true,
      xffNumTrustedHops: 1,
      skipXffAppend: true,
      via: "legate",
      generateRequestId: false,
      preserveExternalRequestId: true,
      alwaysSetRequestIdInResponse: true,
      serverName: "legate",
      serverHeaderTransformation: "APPEND_IF_ABSENT",
    });
    const rc = hcm.routeConfig;
    expect(rc.mostSpecificHeaderMutationsWins).toBe(true);
    expect(rc.internalOnlyHeaders).toEqual(["x-internal-secret"]);
    expect(rc.headerMutations).toEqual({
      requestHeadersToAdd: [],
      requestHeadersToRemove: [],
      responseHeadersToAdd: [{ key: "x-served-by", value: "%HOSTNAME%", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false }],
      responseHeadersToRemove: ["x-powered-by"],
    });
    expect(rc.virtualHosts[0]!.routes[0]!.headerMutations).toEqual({
      requestHeadersToAdd: [
        { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", appendAction: "OVERWRITE_IF_EXISTS_OR_ADD", keepEmptyValue: false },
        { key: "x-raw", value: "hi", appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: true },
      ],
      requestHeadersToRemove: ["x-drop"],
      responseHeadersToAdd: [],
      responseHeadersToRemove: [],
    });
  });

  it("leaves the header policy out when every setting is Envoy's default", async () => {
    const hcm = await hcmOf(bootstrap("- { match: { prefix: / }, route: { cluster: a } }", "generate_request_id: true\nserver_name: envoy"));
    expect(hcm.headerPolicy).toBeUndefined();
  });
});

describe("routing configs that are refused", () => {
  it("refuses regexes RE2 refuses as not Envoy, and RE2 JavaScript cannot run as unsupported", async () => {
    expect(await issues(bootstrap(`
- { match: { safe_regex: { regex: "/(?=admin).*" } }, route: { cluster: a } }
- { match: { prefix: /, headers: [{ name: x, string_match: { safe_regex: { regex: "(a)\\\\1" } } }] }, route: { cluster: a } }
- { match: { safe_regex: { regex: "/\\\\C" } }, route: { cluster: a } }
- { match: { prefix: / }, route: { cluster: a, regex_rewrite: { pattern: { regex: "^/(.*)$" }, substitution: "/\\\\2" } } }
`))).toEqual([
      { kind: "not-envoy", path: `${ROUTE0}.match.safe_regex.regex`, message: 'regex "/(?=admin).*": lookahead assertions are not RE2 syntax (Envoy\'s regex engine refuses them)' },
      { kind: "not-envoy", path: `${RC}.virtual_hosts[0].routes[1].match.headers[0].string_match.safe_regex.regex`, message: 'regex "(a)\\\\1": backreferences (\\1) are not RE2 syntax' },
      { kind: "unsupported", path: `${RC}.virtual_hosts[0].routes[2].match.safe_regex.regex`, message: 'regex "/\\\\C": \\C (any byte) has no JavaScript equivalent' },
      { kind: "not-envoy", path: `${RC}.virtual_hosts[0].routes[3].route.regex_rewrite.substitution`, message: "the substitution uses \\2, but the pattern has only 1 capture group(s)" },
    ]);
  });

  it("refuses header values with unknown or unsupported operators, and changes to pseudo-headers or host", async () => {
    expect(await issues(bootstrap(`
- match: { prefix: / }
  route: { cluster: a }
  request_headers_to_add:
  - { header: { key: x-a, value: "%NO_SUCH_THING%" } }
  - { header: { key: x-b, value: "%UPSTREAM_METADATA([\\"a\\", \\"b\\"])%" } }
  - { header: { key: x-c, value: v }, append: true, append_action: ADD_IF_ABSENT }
  - { header: { key: ":path", value: /x } }
  request_headers_to_remove: [host]
`))).toEqual([
      { kind: "not-envoy", path: `${ROUTE0}.request_headers_to_add[0].header.value`, message: "%NO_SUCH_THING% is not an Envoy format operator" },
      { kind: "unsupported", path: `${ROUTE0}.request_headers_to_add[1].header.value`, message: "%UPSTREAM_METADATA% is not supported in header values by Legate" },
      { kind: "not-envoy", path: `${ROUTE0}.request_headers_to_add[2]`, message: "both append and append_action are set; use append_action only" },
      { kind: "not-envoy", path: `${ROUTE0}.request_headers_to_add[3].header.key`, message: ":path may not be modified: pseudo-headers and host cannot be added or changed" },
      { kind: "not-envoy", path: `${ROUTE0}.request_headers_to_remove[0]`, message: "host may not be removed: pseudo-headers and host cannot be removed" },
    ]);
  });

  it("checks weighted clusters and rewrites", async () => {
    expect(await issues(bootstrap(`
- match: { prefix: / }
  route:
    weighted_clusters: { clusters: [{ name: a, weight: 0 }, { name: nowhere, weight: 0 }] }
- match: { prefix: / }
  route: { cluster: a, prefix_rewrite: /x, regex_rewrite: { pattern: { regex: a }, substitution: b } }
`))).toEqual([
      { kind: "invalid-reference", path: `${ROUTE0}.route.weighted_clusters.clusters[1].name`, message: 'unknown cluster "nowhere"' },
      { kind: "not-envoy", path: `${ROUTE0}.route.weighted_clusters.clusters`, message: "the sum of the cluster weights must be greater than 0" },
      { kind: "not-envoy", path: `${RC}.virtual_hosts[0].routes[1].route`, message: "only one of prefix_rewrite and regex_rewrite may be set" },
    ]);
  });

  it("still names the routing features Legate does not implement", async () => {
    expect(await issues(bootstrap(`
- { match: { prefix: /, tls_context: { presented: true } }, route: { cluster: a, host_rewrite_path_regex: { pattern: { regex: x }, substitution: y } } }
`, "", "internal_only_headers: [x]\nvalidate_clusters: true"))).toEqual([
      { kind: "unsupported", path: `${RC}.validate_clusters`, message: "`validate_clusters` (cluster validation settings) of envoy.config.route.v3.RouteConfiguration is not supported by Legate" },
      { kind: "unsupported", path: `${ROUTE0}.match.tls_context`, message: "`tls_context` (TLS context matching) of envoy.config.route.v3.RouteMatch is not supported by Legate" },
      { kind: "unsupported", path: `${ROUTE0}.route.host_rewrite_path_regex`, message: "`host_rewrite_path_regex` (host rewrites from the path) of envoy.config.route.v3.RouteAction is not supported by Legate" },
    ]);
  });
});
