import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../config/compile.ts";
import type { RouteConfigModel, RouteModel, VirtualHostModel } from "../config/model.ts";
import { createStaticRuntime } from "../runtime/runtime.ts";
import { applyHeaderOps } from "./headers.ts";
import { compileRouteTable, regexLiteralPrefix, type RouteRequest, type RouteTable } from "./route-table.ts";

function route(name: string, match: { prefix?: string; path?: string; caseSensitive?: boolean }): RouteModel {
  return { name, match: { prefix: match.prefix, path: match.path, caseSensitive: match.caseSensitive ?? true }, action: { kind: "route", cluster: "c" } };
}

function vhost(name: string, domains: string[], routes: RouteModel[] = [route(`${name}-all`, { prefix: "/" })]): VirtualHostModel {
  return { name, domains, routes };
}

function table(...virtualHosts: VirtualHostModel[]) {
  const config: RouteConfigModel = { name: "rc", virtualHosts };
  return compileRouteTable(config);
}

describe("virtual host selection", () => {
  const t = table(
    vhost("catch-all", ["*"]),
    vhost("prefix-short", ["api.*"]),
    vhost("prefix-long", ["api.v2.*"]),
    vhost("suffix-short", ["*.foo.com"]),
    vhost("suffix-long", ["*-bar.foo.com"]),
    vhost("exact", ["www.foo.com", "foo.com:8080"]),
  );
  const vh = (host: string) => t.findVirtualHost(host)?.model.name;

  it("prefers an exact domain over every wildcard", () => {
    expect(vh("www.foo.com")).toBe("exact");
  });

  it("matches hosts case-insensitively", () => {
    expect(vh("WWW.Foo.COM")).toBe("exact");
    expect(vh("A.FOO.com")).toBe("suffix-short");
  });

  it("tries suffix wildcards longest first", () => {
    expect(vh("baz-bar.foo.com")).toBe("suffix-long");
    expect(vh("baz.foo.com")).toBe("suffix-short");
  });

  it("tries suffix wildcards before prefix wildcards", () => {
    expect(vh("api.foo.com")).toBe("suffix-short");
  });

  it("tries prefix wildcards longest first, then the catch-all", () => {
    expect(vh("api.v2.example.org")).toBe("prefix-long");
    expect(vh("api.example.org")).toBe("prefix-short");
    expect(vh("example.org")).toBe("catch-all");
  });

  it("never lets a wildcard match the empty string", () => {
    expect(vh(".foo.com")).toBe("catch-all");
    expect(vh("-bar.foo.com")).toBe("suffix-short");
    expect(vh("api.")).toBe("catch-all");
  });

  it("keeps the port part of the host, as Envoy does by default", () => {
    expect(vh("foo.com:8080")).toBe("exact");
    expect(vh("www.foo.com:443")).toBe("catch-all");
    expect(vh("a.foo.com:80")).toBe("catch-all");
    expect(vh("api.example.org:8443")).toBe("prefix-short");
  });

  it("finds no virtual host without a catch-all", () => {
    const t2 = table(vhost("only", ["only.example"]));
    expect(t2.findVirtualHost("other.example")).toBeUndefined();
    expect(t2.match("other.example", "/")).toBeUndefined();
  });
});

describe("route matching", () => {
  const t = table(
    vhost("v", ["*"], [
      route("exact-ci", { path: "/Exact", caseSensitive: false }),
      route("exact", { path: "/exact/x" }),
      route("query-prefix", { prefix: "/q?mode=a" }),
      route("prefix-ci", { prefix: "/API/", caseSensitive: false }),
      route("prefix", { prefix: "/static/" }),
    ]),
  );
  const r = (path: string) => t.match("any.example", path)?.route.model.name;

  it("takes the first matching route in config order", () => {
    const t2 = table(vhost("v", ["*"], [route("first", { prefix: "/a" }), route("second", { prefix: "/a/b" })]));
    expect(t2.match("h", "/a/b/c")?.route.model.name).toBe("first");
  });

  it("matches path exactly, ignoring the query string", () => {
    expect(r("/exact/x")).toBe("exact");
    expect(r("/exact/x?a=1&b=2")).toBe("exact");
    expect(r("/exact/x/")).toBeUndefined();
    expect(r("/exact/xy")).toBeUndefined();
  });

  it("matches prefix against path and query", () => {
    expect(r("/static/app.js?v=3")).toBe("prefix");
    expect(r("/q?mode=a&x=1")).toBe("query-prefix");
    expect(r("/q?mode=b")).toBeUndefined();
  });

  it("is case sensitive by default", () => {
    expect(r("/Static/app.js")).toBeUndefined();
    expect(r("/EXACT/x")).toBeUndefined();
  });

  it("honours case_sensitive: false for prefix and path", () => {
    expect(r("/api/users")).toBe("prefix-ci");
    expect(r("/Api/users")).toBe("prefix-ci");
    expect(r("/exact")).toBe("exact-ci");
    expect(r("/EXACT?x=1")).toBe("exact-ci");
    expect(r("/EXACTLY")).toBeUndefined();
  });

  it("returns the virtual host with the route", () => {
    const m = t.match("h", "/static/x");
    expect(m?.virtualHost.model.name).toBe("v");
    expect(m?.route.model.action).toEqual({ kind: "route", cluster: "c" });
  });

  it("finds no route when none matches", () => {
    expect(r("/nothing")).toBeUndefined();
  });
});

// ---- Envoy's documented routing examples, compiled from Envoy JSON as a config would be ----

/** Compiles `virtual_hosts` (Envoy v3 JSON) through compileBootstrap, with clusters a, b, c, d defined. */
function routeConfig(virtualHosts: unknown[], extra: Record<string, unknown> = {}): RouteConfigModel {
  const cluster = (name: string) => ({ name, load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } });
  const { model, issues } = compileBootstrap({
    static_resources: {
      clusters: ["a", "b", "c", "d", "helloworld_v1", "helloworld_v2", "helloworld_v3"].map(cluster),
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 1 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "hcm", typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "t",
          route_config: { name: "rc", virtual_hosts: virtualHosts, ...extra },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        } }] }],
      }],
    },
  });
  expect(issues).toEqual([]);
  const hcm = model!.listeners[0]!.filterChains[0]!.filters[0]!;
  if (hcm.kind !== "http_connection_manager") throw new Error("no HCM");
  return hcm.routeConfig;
}

const request = (path: string, headers: Record<string, string> = {}, extra: Partial<RouteRequest> = {}): RouteRequest => ({
  method: "GET",
  authority: "example.com",
  path,
  requestHeaders: new Headers(headers),
  randomValue: 0,
  ...extra,
});

const cluster = (t: RouteTable, r: RouteRequest): string | undefined => {
  const m = t.route(r);
  return m?.route.model.action.kind === "route" ? m.route.model.action.cluster : m?.route.model.name;
};

/** How many of the random values 0..n-1 route to each cluster. */
function distribution(t: RouteTable, n: number, r: (i: number) => RouteRequest): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = cluster(t, r(i)) ?? "(none)";
    out[c] = (out[c] ?? 0) + 1;
  }
  return out;
}

describe("path specifiers", () => {
  const t = compileRouteTable(routeConfig([{ name: "v", domains: ["*"], routes: [
    { name: "regex", match: { safe_regex: { regex: "/users/[0-9]+" } }, route: { cluster: "a" } },
    { name: "separated", match: { path_separated_prefix: "/api/dev" }, route: { cluster: "b" } },
    { name: "separated-ci", match: { path_separated_prefix: "/CI", case_sensitive: false }, route: { cluster: "c" } },
  ] }]));
  const name = (p: string) => t.match("h", p)?.route.model.name;

  it("matches safe_regex against the whole path without the query", () => {
    expect(name("/users/42")).toBe("regex");
    expect(name("/users/42?x=1")).toBe("regex");
    expect(name("/users/42/x")).toBeUndefined();
    expect(name("/users/")).toBeUndefined();
  });

  it("matches path_separated_prefix as the proto documents it", () => {
    for (const p of ["/api/dev", "/api/dev/", "/api/dev/v1", "/api/dev?param=true"]) expect(name(p), p).toBe("separated");
    expect(name("/api/developer")).toBeUndefined();
    expect(name("/ci/x")).toBe("separated-ci");
  });
});

describe("headers, query parameters, gRPC", () => {
  const t = compileRouteTable(routeConfig([{ name: "v", domains: ["*"], routes: [
    { name: "post-json", match: { prefix: "/", headers: [{ name: ":method", string_match: { exact: "POST" } }, { name: "content-type", string_match: { prefix: "application/json" } }] }, route: { cluster: "a" } },
    { name: "canary", match: { prefix: "/", headers: [{ name: "x-canary", present_match: true }, { name: "x-version", range_match: { start: 2, end: 5 } }] }, route: { cluster: "b" } },
    { name: "grpc", match: { prefix: "/", grpc: {} }, route: { cluster: "c" } },
    { name: "debug", match: { prefix: "/", query_parameters: [{ name: "debug", string_match: { exact: "1" } }, { name: "trace", present_match: true }] }, route: { cluster: "d" } },
    { name: "not-bot", match: { prefix: "/", headers: [{ name: "user-agent", string_match: { contains: "bot", ignore_case: true }, invert_match: true }] }, route: { cluster: "a" } },
    { name: "rest", match: { prefix: "/" }, direct_response: { status: 404 } },
  ] }]));
  const name = (r: RouteRequest) => t.route(r)?.route.model.name;

  it("requires every header matcher, pseudo-headers included", () => {
    expect(name(request("/", { "content-type": "application/json" }, { method: "POST" }))).toBe("post-json");
    expect(name(request("/", { "content-type": "application/json" }))).toBe("rest");
    expect(name(request("/", { "x-canary": "", "x-version": "3" }))).toBe("canary");
    expect(name(request("/", { "x-canary": "", "x-version": "5" }))).toBe("rest");
  });

  it("matches gRPC content types and query parameters", () => {
    expect(name(request("/svc/Method", { "content-type": "application/grpc+proto" }))).toBe("grpc");
    expect(name(request("/x?trace&debug=1"))).toBe("debug");
    expect(name(request("/x?debug=1"))).toBe("rest");
  });

  it("inverts a matcher but never matches a missing header", () => {
    expect(name(request("/", { "user-agent": "Mozilla" }))).toBe("not-bot");
    expect(name(request("/", { "user-agent": "GoogleBOT" }))).toBe("rest");
    expect(name(request("/"))).toBe("rest");
  });
});

describe("traffic shifting with runtime_fraction (Envoy's helloworld example)", () => {
  const config = routeConfig([{ name: "www2", domains: ["*"], routes: [
    { match: { prefix: "/", runtime_fraction: { default_value: { numerator: 50, denominator: "HUNDRED" }, runtime_key: "routing.traffic_shift.helloworld" } }, route: { cluster: "helloworld_v1" } },
    { match: { prefix: "/" }, route: { cluster: "helloworld_v2" } },
  ] }]);

  it("sends the default share to the first route, by the request's random value", () => {
    const t = compileRouteTable(config);
    expect(distribution(t, 100, (i) => request("/", {}, { randomValue: i }))).toEqual({ helloworld_v1: 50, helloworld_v2: 50 });
  });

  it("follows the runtime value of the key", () => {
    for (const [value, v1] of [[0, 0], [10, 10], [100, 100]] as const) {
      const t = compileRouteTable(config, { runtime: createStaticRuntime(new Map([["routing.traffic_shift.helloworld", value]])) });
      expect(distribution(t, 1000, (i) => request("/", {}, { randomValue: i }))["helloworld_v1"] ?? 0).toBe(v1 * 10);
    }
  });
});

describe("traffic splitting with weighted_clusters (Envoy's helloworld example)", () => {
  const config = routeConfig([{ name: "app", domains: ["*"], routes: [
    { match: { prefix: "/" }, route: { weighted_clusters: { runtime_key_prefix: "routing.traffic_split.helloworld", clusters: [
      { name: "helloworld_v1", weight: 33 },
      { name: "helloworld_v2", weight: 33 },
      { name: "helloworld_v3", weight: 34 },
    ] } } },
  ] }]);

  it("splits by weight over the sum of the weights", () => {
    const t = compileRouteTable(config);
    expect(distribution(t, 100, (i) => request("/", {}, { randomValue: i }))).toEqual({ helloworld_v1: 33, helloworld_v2: 33, helloworld_v3: 34 });
    expect(distribution(t, 300, (i) => request("/", {}, { randomValue: i * 7919 }))).toEqual({ helloworld_v1: 99, helloworld_v2: 99, helloworld_v3: 102 });
  });

  it("takes weights from the runtime under runtime_key_prefix", () => {
    const runtime = createStaticRuntime(new Map([["routing.traffic_split.helloworld.helloworld_v1", 0], ["routing.traffic_split.helloworld.helloworld_v3", 66]]));
    const t = compileRouteTable(config, { runtime });
    expect(distribution(t, 99, (i) => request("/", {}, { randomValue: i }))).toEqual({ helloworld_v2: 33, helloworld_v3: 66 });
  });

  it("routes nowhere when runtime weights sum to zero", () => {
    const runtime = createStaticRuntime(new Map(["helloworld_v1", "helloworld_v2", "helloworld_v3"].map((c) => [`routing.traffic_split.helloworld.${c}`, 0])));
    expect(compileRouteTable(config, { runtime }).route(request("/"))).toBeUndefined();
  });

  it("uses the header_name header's value when it holds one uint64, for consistent picks", () => {
    const t = compileRouteTable(routeConfig([{ name: "app", domains: ["*"], routes: [
      { match: { prefix: "/" }, route: { weighted_clusters: { header_name: "x-pick", clusters: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }] } } },
    ] }]));
    expect(cluster(t, request("/", { "x-pick": "18446744073709551615" }, { randomValue: 0 }))).toBe("b");
    expect(cluster(t, request("/", { "x-pick": "2" }, { randomValue: 1 }))).toBe("a");
    expect(cluster(t, request("/", { "x-pick": "junk" }, { randomValue: 1 }))).toBe("b");
  });

  it("gives each weighted cluster its own header mutations, before the route's", () => {
    const t = compileRouteTable(routeConfig([{ name: "app", domains: ["*"], request_headers_to_add: [{ header: { key: "x-level", value: "vhost" } }], routes: [
      { match: { prefix: "/" }, request_headers_to_add: [{ header: { key: "x-level", value: "route" } }], route: { weighted_clusters: { clusters: [
        { name: "a", weight: 1, request_headers_to_add: [{ header: { key: "x-level", value: "cluster-a" } }] },
        { weight: 1, cluster_header: "x-cluster" },
      ] } } },
    ] }]));
    const m = t.route(request("/", {}, { randomValue: 0 }))!;
    const h = new Headers();
    applyHeaderOps(h, m.route.requestHeaderOps, { method: "GET", authority: "h", path: "/", scheme: "http", requestHeaders: h, startTimeMs: 0, protocol: "HTTP/1.1", hostname: "" });
    expect(h.get("x-level")).toBe("cluster-a, route, vhost");
    expect(cluster(t, request("/", { "x-cluster": "c" }, { randomValue: 1 }))).toBe("c");
  });
});

describe("cluster_header", () => {
  const t = compileRouteTable(routeConfig([{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster_header: "x-target" } }] }]));

  it("routes to the cluster the header names, or to \"\" when it is absent (the router then answers NC)", () => {
    expect(cluster(t, request("/", { "x-target": "b" }))).toBe("b");
    expect(cluster(t, request("/", { "x-target": "nowhere" }))).toBe("nowhere");
    expect(cluster(t, request("/"))).toBe("");
  });
});

describe("header mutation order", () => {
  const levels = (mostSpecificWins: boolean) => {
    const op = (v: string) => [{ header: { key: "x-who", value: v }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" }, { header: { key: "x-all", value: v } }];
    const t = compileRouteTable(routeConfig(
      [{ name: "v", domains: ["*"], request_headers_to_add: op("vhost"), response_headers_to_add: op("vhost"), routes: [
        { match: { prefix: "/" }, request_headers_to_add: op("route"), response_headers_to_add: op("route"), route: { cluster: "a" } },
      ] }],
      { request_headers_to_add: op("config"), response_headers_to_add: op("config"), ...(mostSpecificWins ? { most_specific_header_mutations_wins: true } : {}) },
    ));
    const m = t.route(request("/"))!;
    const ctx = (h: Headers) => ({ method: "GET", authority: "h", path: "/", scheme: "http", requestHeaders: h, startTimeMs: 0, protocol: "HTTP/1.1", hostname: "" });
    const req = new Headers();
    applyHeaderOps(req, m.route.requestHeaderOps, ctx(req));
    const res = new Headers();
    applyHeaderOps(res, m.route.responseHeaderOps, ctx(req));
    return { req: Object.fromEntries(req), res: Object.fromEntries(res) };
  };

  it("applies route, then virtual host, then route configuration: the least specific wins by default", () => {
    expect(levels(false)).toEqual({ req: { "x-who": "config", "x-all": "route, vhost, config" }, res: { "x-who": "config", "x-all": "route, vhost, config" } });
  });

  it("reverses the order with most_specific_header_mutations_wins", () => {
    expect(levels(true)).toEqual({ req: { "x-who": "route", "x-all": "config, vhost, route" }, res: { "x-who": "route", "x-all": "config, vhost, route" } });
  });
});

describe("regexLiteralPrefix", () => {
  it("reads the leading literal, escaped punctuation included", () => {
    expect(regexLiteralPrefix("/api/v1/items/[0-9]+")).toBe("/api/v1/items/");
    expect(regexLiteralPrefix("/file\\.json")).toBe("/file.json");
    expect(regexLiteralPrefix("/users/[^/]+/orders(/[0-9]+)?")).toBe("/users/");
    expect(regexLiteralPrefix("/api/(v1|v2)/.*")).toBe("/api/");
  });

  it("drops a character a quantifier makes optional or repeatable", () => {
    expect(regexLiteralPrefix("/abc?")).toBe("/ab");
    expect(regexLiteralPrefix("/abc*/x")).toBe("/ab");
    expect(regexLiteralPrefix("/ab\\.+")).toBe("/ab");
    expect(regexLiteralPrefix("/ab{2}")).toBe("/a");
  });

  it("gives no literal for a top-level alternation, a leading group, flag or anchor, or what it cannot read", () => {
    expect(regexLiteralPrefix("/a.*|/b")).toBe("");
    expect(regexLiteralPrefix("(?i)/api/.*")).toBe("");
    expect(regexLiteralPrefix("^/a")).toBe("");
    expect(regexLiteralPrefix("/a[]|]")).toBe("");
    expect(regexLiteralPrefix("/a[[:alpha:]]|b")).toBe("");
    expect(regexLiteralPrefix("/a\\Q|\\E")).toBe("");
    expect(regexLiteralPrefix("/a\\d+")).toBe("/a");
    expect(regexLiteralPrefix("/é/x")).toBe("/");
  });
});

describe("indexed lookup", () => {
  /** mulberry32: a small seeded PRNG, so a failure reproduces. */
  const prng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Overlapping literals, letters in both cases, and non-ASCII text whose lower case is ASCII (K, the Kelvin sign) or longer (İ),
  // at the start of a segment and inside one.
  const LITERALS = ["", "/", "/a", "/A", "/ab", "/aB", "/api", "/API", "/api/", "/api/v1", "/api/v1/users", "/b", "/b/c", "/x-y", "/k", "/K", "/\u212a", "/\u0130", "/i", "/\u017f", "/s", "/\u00e9", "/a.b", "/a?b", "/Σ", "/desk", "/DESK", "/des\u212a", "/ak", "/a\u212a"];
  const TAILS = ["", "/", "/123", "/users/7/orders", "?q=1", "?x=2&q", "#frag", "X", "s", ".json", "/v2/x", "/\u00c9", "/\u212a"];
  const REGEX_TAILS = [".*", "[0-9]+", "(/[a-z]+)?", "|/b.*", "x?", "\\.json", "s*", "/(v1|v2)/.*", "(/.*)?", "[^/]+/orders"];
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

  function generateRoutes(rand: () => number, count: number): RouteModel[] {
    const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const routes: RouteModel[] = [];
    for (let i = 0; i < count; i++) {
      // Few catch-alls ("", "/"), so that late routes get selected too.
      const literal = (rand() < 0.03 ? pickOf(["", "/"]) : pickOf(LITERALS.slice(2))) + (rand() < 0.3 ? pickOf(TAILS.filter((t) => !t.startsWith("?") && !t.startsWith("#"))) : "");
      const caseSensitive = rand() < 0.6;
      const kind = rand();
      const match: RouteModel["match"] = { caseSensitive };
      if (kind < 0.35) match.prefix = literal;
      else if (kind < 0.55) match.path = literal;
      else if (kind < 0.7) match.pathSeparatedPrefix = literal;
      else {
        const lead = rand();
        match.safeRegex = lead < 0.1 ? `(?i)${escape(literal)}.*` : lead < 0.2 ? `.*${escape(literal)}` : escape(literal) + pickOf(REGEX_TAILS);
      }
      // A catch-all is guarded by a header, else the routes after it would never be selected.
      const guard = literal === "" || literal === "/" || (match.safeRegex?.startsWith(".*") ?? false);
      if (guard || rand() < 0.2) match.headers = [{ name: "x-role", match: { kind: "string", matcher: { kind: "exact", value: "admin", ignoreCase: false } }, invertMatch: !guard && rand() < 0.3, treatMissingHeaderAsEmpty: false }];
      if (rand() < 0.1) match.queryParameters = [{ name: "q" }];
      if (rand() < 0.1) match.runtimeFraction = { defaultValue: { numerator: 50, denominator: "HUNDRED" }, runtimeKey: "" };
      if (rand() < 0.05) match.grpc = true;
      routes.push({ name: `r${i}`, match, action: { kind: "route", cluster: "c" } });
    }
    return routes;
  }

  function generatePath(rand: () => number): string {
    const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let path = "";
    const parts = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < parts; i++) path += pickOf(LITERALS.filter((l) => l !== "")) + (rand() < 0.5 ? pickOf(TAILS) : "");
    if (rand() < 0.3) path = [...path].map((c) => (rand() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join("");
    if (rand() < 0.05) path = path.slice(0, Math.floor(rand() * path.length));
    return path;
  }

  for (const seed of [1, 7, 2026]) {
    it(`selects the route an in-order scan selects (seed ${seed})`, () => {
      const rand = prng(seed);
      const t = compileRouteTable({ name: "rc", virtualHosts: [{ name: "v", domains: ["*"], routes: generateRoutes(rand, 300) }] });
      const routes = t.findVirtualHost("example.com")!.routes;
      let hits = 0;
      const selected = new Set<string>();
      for (let i = 0; i < 2000; i++) {
        const headers: Record<string, string> = {};
        if (rand() < 0.5) headers["x-role"] = rand() < 0.5 ? "admin" : "user";
        if (rand() < 0.2) headers["content-type"] = "application/grpc";
        const r = request(generatePath(rand), headers, { randomValue: Math.floor(rand() * 1000) });
        const naive = routes.find((route) => route.matches(r))?.model.name;
        const indexed = t.route(r)?.route.model.name;
        if (indexed !== naive) expect({ path: r.path, headers, randomValue: r.randomValue, indexed }).toEqual({ path: r.path, headers, randomValue: r.randomValue, indexed: naive });
        if (naive !== undefined) hits++;
        if (naive !== undefined) selected.add(naive);
      }
      // The generator must exercise both hits and misses.
      expect(hits).toBeGreaterThan(200);
      expect(hits).toBeLessThan(1990);
      expect(selected.size).toBeGreaterThan(40);
    });
  }
});
