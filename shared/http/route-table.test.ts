import { describe, expect, it } from "vitest";
import type { RouteConfigModel, RouteModel, VirtualHostModel } from "../config/model.ts";
import { compileRouteTable } from "./route-table.ts";

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
