/**
 * The route-match fixture: a realistic 1,000-route Envoy route_config (an API gateway's shape) and
 * the request mix timed against it. Runtime-neutral (Node and the bench Worker in workerd import it).
 *
 * The table (Envoy v3 JSON, compiled by the real pipeline):
 * - `api.example.com` (exact domain): 35 services × 20 routes = 700, service after service: exact
 *   paths with direct responses, `safe_regex` item and order paths, prefixes guarded by `:method`,
 *   `x-role` and `content-type` header matchers, a `query_parameters` match, `path_separated_prefix`,
 *   a case-insensitive prefix, a redirect, a 90/10 `weighted_clusters` canary, and each service's
 *   catch-all prefix last. No catch-all for the host: an unknown path is a full scan and a 404.
 * - `*.svc.cluster.local` (suffix wildcard): 40 services × 5 = 200 (gRPC, metrics, a canary header,
 *   a versioned regex, the service prefix).
 * - `static.*` / `cdn.*` (prefix wildcards): 50 asset prefixes.
 * - `*` (catch-all host): 50 routes (health, robots, ACME, 47 campaign redirects), no catch-all route.
 *
 * The mix ({@link ROUTE_MIX}) hits early, in the middle and at the end of the big host, exercises every
 * matcher kind, and misses (full scans). Each entry names the route it must select, so a bench never
 * times a table that routes differently from what it claims.
 */

export type Json = Record<string, unknown>;

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

const API_SERVICES = 35;
const INTERNAL_SERVICES = 40;
const SHARED_CLUSTERS = ["admin", "batch", "docs", "uploads", "canary", "static", "default"];

const svc = (i: number): string => `svc-${String(i).padStart(2, "0")}`;

/** A STATIC cluster on loopback (Envoy JSON). Route matching never connects to it. */
export function staticCluster(name: string, port: number): Json {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    lb_policy: "ROUND_ROBIN",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
    },
  };
}

/** A bootstrap with one edge listener holding one HCM with `routeConfig`, and `clusters`. */
export function edgeBootstrap(routeConfig: Json, clusters: Json[], hcmExtra: Json = {}): Json {
  return {
    static_resources: {
      listeners: [
        {
          name: "edge_http",
          address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
          metadata: { filter_metadata: { legate: { edge: true } } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": HCM_TYPE,
                    stat_prefix: "ingress_http",
                    route_config: routeConfig,
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
                    ...hcmExtra,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters,
    },
  };
}

const exact = (name: string, value: string): Json => ({ name, string_match: { exact: value } });

function apiRoutes(i: number): Json[] {
  const s = svc(i);
  const base = `/api/v1/${s}`;
  const to = (cluster: string): Json => ({ cluster });
  return [
    { name: `${s}-health`, match: { path: `${base}/health` }, direct_response: { status: 200, body: { inline_string: "ok\n" } } },
    { name: `${s}-ready`, match: { path: `${base}/ready` }, direct_response: { status: 200, body: { inline_string: "ready\n" } } },
    { name: `${s}-item`, match: { safe_regex: { regex: `${base}/items/[0-9]+` } }, route: to(s) },
    { name: `${s}-item-history`, match: { safe_regex: { regex: `${base}/items/[0-9]+/history` } }, route: to(s) },
    { name: `${s}-items-read`, match: { prefix: `${base}/items/`, headers: [exact(":method", "GET")] }, route: { cluster: s, timeout: "5s" } },
    { name: `${s}-items-write`, match: { prefix: `${base}/items/` }, route: { cluster: s, timeout: "30s" } },
    { name: `${s}-admin`, match: { prefix: `${base}/admin/`, headers: [exact("x-role", "admin")] }, route: to("admin") },
    { name: `${s}-admin-denied`, match: { prefix: `${base}/admin/` }, direct_response: { status: 403, body: { inline_string: "forbidden\n" } } },
    { name: `${s}-search`, match: { path_separated_prefix: `${base}/search` }, route: to(s) },
    { name: `${s}-export-csv`, match: { prefix: `${base}/export`, query_parameters: [{ name: "format", string_match: { exact: "csv" } }] }, route: to("batch") },
    { name: `${s}-export`, match: { prefix: `${base}/export` }, route: to(s) },
    { name: `${s}-docs`, match: { prefix: `${base}/docs`, case_sensitive: false }, route: { cluster: "docs", prefix_rewrite: "/" } },
    { name: `${s}-legacy`, match: { prefix: `${base}/legacy/` }, redirect: { prefix_rewrite: `/api/v2/${s}/`, response_code: "PERMANENT_REDIRECT" } },
    { name: `${s}-orders`, match: { safe_regex: { regex: `${base}/users/[^/]+/orders(/[0-9]+)?` } }, route: to(s) },
    { name: `${s}-events`, match: { prefix: `${base}/events`, headers: [exact("accept", "text/event-stream")] }, route: { cluster: s, timeout: "0s" } },
    { name: `${s}-upload`, match: { prefix: `${base}/upload`, headers: [{ name: "content-type", string_match: { prefix: "multipart/" } }] }, route: to("uploads") },
    { name: `${s}-internal`, match: { prefix: `${base}/internal/`, headers: [{ name: "x-internal", present_match: true }] }, route: to(s) },
    { name: `${s}-internal-hidden`, match: { prefix: `${base}/internal/` }, direct_response: { status: 404 } },
    {
      name: `${s}-v2`,
      match: { prefix: `/api/v2/${s}/` },
      route: { weighted_clusters: { clusters: [{ name: s, weight: 90 }, { name: "canary", weight: 10 }] } },
    },
    { name: `${s}-default`, match: { prefix: `${base}/` }, route: to(s) },
  ];
}

function internalRoutes(i: number): Json[] {
  const s = svc(i);
  return [
    { name: `int-${s}-grpc`, match: { prefix: `/${s}/grpc/`, grpc: {} }, route: { cluster: s, timeout: "0s" } },
    { name: `int-${s}-metrics`, match: { path: `/${s}/metrics` }, route: { cluster: s } },
    { name: `int-${s}-canary`, match: { prefix: `/${s}/`, headers: [{ name: "x-canary", present_match: true }] }, route: { cluster: "canary" } },
    { name: `int-${s}-versioned`, match: { safe_regex: { regex: `/${s}/v[0-9]+/.*` } }, route: { cluster: s } },
    { name: `int-${s}`, match: { prefix: `/${s}/` }, route: { cluster: s } },
  ];
}

/** The 1,000-route table's `route_config` (Envoy JSON). */
export function thousandRouteConfig(): Json {
  const api = Array.from({ length: API_SERVICES }, (_, i) => apiRoutes(i)).flat();
  const internal = Array.from({ length: INTERNAL_SERVICES }, (_, i) => internalRoutes(i)).flat();
  const assets = Array.from({ length: 50 }, (_, n) => ({ name: `static-${n}`, match: { prefix: `/assets/${n}/` }, route: { cluster: "static" } }));
  const promos = Array.from({ length: 47 }, (_, n) => ({ name: `promo-${n}`, match: { prefix: `/promo/${n}` }, redirect: { host_redirect: "www.example.com", path_redirect: `/campaign/${n}` } }));
  return {
    name: "gateway",
    virtual_hosts: [
      { name: "api", domains: ["api.example.com", "api.example.com:443"], routes: api },
      { name: "internal", domains: ["*.svc.cluster.local"], routes: internal },
      { name: "static", domains: ["static.*", "cdn.*"], routes: assets },
      {
        name: "default",
        domains: ["*"],
        routes: [
          { name: "healthz", match: { path: "/healthz" }, direct_response: { status: 200, body: { inline_string: "ok\n" } } },
          { name: "robots", match: { path: "/robots.txt" }, direct_response: { status: 200, body: { inline_string: "User-agent: *\nDisallow: /\n" } } },
          { name: "acme", match: { prefix: "/.well-known/acme-challenge/" }, route: { cluster: "default" } },
          ...promos,
        ],
      },
    ],
  };
}

/** Number of routes in {@link thousandRouteConfig}. */
export const ROUTE_COUNT = API_SERVICES * 20 + INTERNAL_SERVICES * 5 + 50 + 50;

/** The bootstrap holding the 1,000-route table (clusters on unused loopback ports: nothing connects). */
export function thousandRouteBootstrap(): Json {
  const names = [...Array.from({ length: INTERNAL_SERVICES }, (_, i) => svc(i)), ...SHARED_CLUSTERS];
  return edgeBootstrap(thousandRouteConfig(), names.map((n, i) => staticCluster(n, 20000 + i)));
}

/** Where in the table a request lands, for the per-group figures. */
export type MixGroup = "early hit" | "late hit" | "matchers" | "miss";

export interface MixRequest {
  group: MixGroup;
  method: string;
  authority: string;
  path: string;
  headers: readonly (readonly [string, string])[];
  /** The route name it must select; null: no route (Envoy's 404 NR). */
  expect: string | null;
}

/** Headers a browser or SDK sends on every request (header lookups cost more with more headers). */
const COMMON: readonly (readonly [string, string])[] = [
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"],
  ["accept", "application/json"],
  ["accept-encoding", "gzip, deflate, br"],
  ["accept-language", "en-GB,en;q=0.9"],
  ["cookie", "session=6a1f0c2e9b; theme=dark"],
  ["x-forwarded-proto", "https"],
];

const req = (group: MixGroup, method: string, authority: string, path: string, expect: string | null, extra: (readonly [string, string])[] = []): MixRequest => ({
  group,
  method,
  authority,
  path,
  headers: [...COMMON.filter(([k]) => !extra.some(([e]) => e === k)), ...extra],
  expect,
});

/** The timed request mix, 16 requests, cycled in this order. */
export const ROUTE_MIX: readonly MixRequest[] = [
  req("early hit", "GET", "api.example.com", "/api/v1/svc-00/items/42", "svc-00-item"),
  req("early hit", "GET", "api.example.com", "/api/v1/svc-02/health", "svc-02-health"),
  req("late hit", "GET", "api.example.com", "/api/v1/svc-17/profile/me", "svc-17-default"),
  req("late hit", "GET", "api.example.com", "/api/v1/svc-34/items/77/history", "svc-34-item-history"),
  req("late hit", "GET", "api.example.com", "/api/v1/svc-34/profile", "svc-34-default"),
  req("matchers", "GET", "api.example.com", "/api/v1/svc-20/admin/users", "svc-20-admin", [["x-role", "admin"]]),
  req("matchers", "POST", "api.example.com", "/api/v1/svc-20/items/abc", "svc-20-items-write", [["content-type", "application/json"]]),
  req("matchers", "GET", "api.example.com", "/api/v1/svc-10/export?format=csv", "svc-10-export-csv"),
  req("matchers", "GET", "api.example.com", "/api/v1/svc-05/DOCS/intro", "svc-05-docs"),
  req("matchers", "GET", "api.example.com", "/api/v2/svc-12/things", "svc-12-v2"),
  req("miss", "GET", "api.example.com", "/nope/whatever", null),
  req("matchers", "POST", "payments.svc.cluster.local", "/svc-25/grpc/pay.Payments/Charge", "int-svc-25-grpc", [["content-type", "application/grpc"], ["te", "trailers"]]),
  req("late hit", "GET", "orders.svc.cluster.local", "/svc-39/metrics", "int-svc-39-metrics"),
  req("matchers", "GET", "static.example.com", "/assets/30/app.js", "static-30", [["accept", "*/*"]]),
  req("early hit", "GET", "www.example.org", "/healthz", "healthz"),
  req("miss", "GET", "www.example.org", "/unknown/page", null),
];

/** What RouteTable.route() reads (shared/http/route-table.ts RouteRequest), built once per request. */
export interface BuiltRouteRequest {
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly scheme: string;
  readonly requestHeaders: Headers;
  /** Fixed, as the engine's stream sets one per request (Envoy's stream random value). */
  readonly randomValue: number;
}

/** Builds the request objects (Headers included) once; the timed loop only calls route(). */
export function buildRouteRequests(mix: readonly MixRequest[]): BuiltRouteRequest[] {
  return mix.map((m, i) => ({
    method: m.method,
    authority: m.authority,
    path: m.path,
    scheme: "https",
    requestHeaders: new Headers(m.headers.map(([k, v]): [string, string] => [k, v])),
    randomValue: 0x9e3779b9 * (i + 1),
  }));
}
