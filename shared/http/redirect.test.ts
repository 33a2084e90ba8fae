import { describe, expect, it } from "vitest";
import type { RedirectModel, RouteMatchModel } from "../config/model.ts";
import { compilePathRewrite, compileRedirectUri } from "./redirect.ts";

const redirect = (r: Partial<RedirectModel>, req: { authority?: string; path?: string; scheme?: string } = {}) =>
  compileRedirectUri({ responseCode: 301, stripQuery: false, ...r })({ authority: req.authority ?? "www.example.com", path: req.path ?? "/a/b?q=1", scheme: req.scheme ?? "http" });

describe("redirect URLs (RedirectAction)", () => {
  it("keeps what is not configured", () => {
    expect(redirect({})).toBe("http://www.example.com/a/b?q=1");
  });

  it("swaps the scheme; drops the old scheme's default port only", () => {
    expect(redirect({ scheme: "https" })).toBe("https://www.example.com/a/b?q=1");
    expect(redirect({ scheme: "https" }, { authority: "www.example.com:80" })).toBe("https://www.example.com/a/b?q=1");
    expect(redirect({ scheme: "https" }, { authority: "www.example.com:8080" })).toBe("https://www.example.com:8080/a/b?q=1");
    expect(redirect({ scheme: "http" }, { authority: "[::1]:443", scheme: "https" })).toBe("http://[::1]/a/b?q=1");
    expect(redirect({ scheme: "https" }, { authority: "www.example.com:443", scheme: "https" })).toBe("https://www.example.com:443/a/b?q=1");
  });

  it("swaps host and port; a port_redirect replaces the request's port", () => {
    expect(redirect({ host: "other.example" })).toBe("http://other.example/a/b?q=1");
    expect(redirect({ port: 8443 }, { authority: "www.example.com:8080" })).toBe("http://www.example.com:8443/a/b?q=1");
    expect(redirect({ host: "other.example", port: 8443, scheme: "https" })).toBe("https://other.example:8443/a/b?q=1");
  });

  it("follows the documented path_redirect and strip_query cases", () => {
    expect(redirect({ pathRedirect: "/new-path-1" }, { path: "/old-path-1?bar=1" })).toBe("http://www.example.com/new-path-1?bar=1");
    expect(redirect({ pathRedirect: "/new-path-2", stripQuery: true }, { path: "/old-path-2?bar=1" })).toBe("http://www.example.com/new-path-2");
    expect(redirect({ pathRedirect: "/new-path-3?foo=1", stripQuery: true }, { path: "/old-path-3?bar=1" })).toBe("http://www.example.com/new-path-3?foo=1");
    expect(redirect({ stripQuery: true })).toBe("http://www.example.com/a/b");
    expect(redirect({ pathRedirect: "relative" }, { path: "/x" })).toBe("http://www.example.com/relative");
  });
});

describe("path rewrites", () => {
  const match = (m: Partial<RouteMatchModel>): RouteMatchModel => ({ caseSensitive: true, ...m });

  it("replaces the matched prefix and keeps the rest and the query", () => {
    expect(compilePathRewrite(match({ prefix: "/prefix/" }), "/", undefined)!("/prefix/etc?x=1")).toBe("/etc?x=1");
    expect(compilePathRewrite(match({ prefix: "/prefix" }), "/", undefined)!("/prefix")).toBe("/");
    expect(compilePathRewrite(match({ prefix: "/API", caseSensitive: false }), "/v2", undefined)!("/api/users")).toBe("/v2/users");
    expect(compilePathRewrite(match({ pathSeparatedPrefix: "/api" }), "/v2", undefined)!("/api/x")).toBe("/v2/x");
  });

  it("replaces the whole path (not the query) for path and safe_regex matches", () => {
    expect(compilePathRewrite(match({ path: "/old" }), "/new", undefined)!("/old?x=1")).toBe("/new?x=1");
    expect(compilePathRewrite(match({ safeRegex: "/v[0-9]+/.*" }), "/latest", undefined)!("/v1/a?x")).toBe("/latest?x");
  });

  it("rewrites by regex, keeping the query", () => {
    const rw = compilePathRewrite(match({ prefix: "/" }), undefined, { regex: "^/service/([^/]+)(/.*)$", substitution: "\\2/instance/\\1" })!;
    expect(rw("/service/foo/v1/api?x=1")).toBe("/v1/api/instance/foo?x=1");
  });

  it("is absent when nothing is configured", () => {
    expect(compilePathRewrite(match({ prefix: "/" }), undefined, undefined)).toBeUndefined();
  });
});
