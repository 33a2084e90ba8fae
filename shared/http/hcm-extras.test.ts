/**
 * Unit tests of the pieces behind the HCM extras: Envoy's host port stripping, internal address
 * tests from internal_address_config, virtual cluster selection, and generated hash cookies.
 */
import { describe, expect, it } from "vitest";
import { xxHash64 } from "../lb/xxhash64.ts";
import { computeHashKey, type HashRequest, setCookieValue } from "../upstream/hash-policy.ts";
import { StatsStore } from "../stats/store.ts";
import { stripHostPort } from "./header-handling.ts";
import { compileInternalAddresses, createHcmHeaderPolicy } from "./headers.ts";
import { RouterClusterStats } from "./router-stats.ts";
import { compileVirtualClusters, VirtualClusterStats, withVirtualClusterStats } from "./virtual-clusters.ts";

describe("stripHostPort (Envoy's stripPortFromHost)", () => {
  it("strips any numeric port without a listener port", () => {
    expect(stripHostPort("example.com:8080", undefined)).toBe("example.com");
    expect(stripHostPort("[2001:db8::1]:443", undefined)).toBe("[2001:db8::1]");
    expect(stripHostPort("example.com", undefined)).toBe("example.com");
  });

  it("keeps a bracketed IPv6 literal without port, an empty or non-numeric port", () => {
    expect(stripHostPort("[2001:db8::1]", undefined)).toBe("[2001:db8::1]");
    expect(stripHostPort("example.com:", undefined)).toBe("example.com:");
    expect(stripHostPort("example.com:http", undefined)).toBe("example.com:http");
  });

  it("with a listener port, strips only that port", () => {
    expect(stripHostPort("example.com:8080", 8080)).toBe("example.com");
    expect(stripHostPort("example.com:9090", 8080)).toBe("example.com:9090");
  });
});

describe("internal_address_config", () => {
  it("uses Envoy's defaults without cidr_ranges", () => {
    const t = compileInternalAddresses(undefined);
    expect(["10.0.0.1", "172.16.5.5", "192.168.1.1", "127.0.0.1", "::1", "fd12::1"].map(t)).toEqual([true, true, true, true, true, true]);
    expect(["8.8.8.8", "127.0.0.2", "2001:db8::1"].map(t)).toEqual([false, false, false]);
    expect(t.unixSockets).toBe(false);
  });

  it("uses only the cidr_ranges when given (masked by prefix length)", () => {
    const t = compileInternalAddresses({ unixSockets: true, cidrRanges: [{ address: "198.51.100.77", prefixLen: 24, family: 4 }, { address: "2001:db8::", prefixLen: 32, family: 6 }] });
    expect(["198.51.100.1", "2001:db8:0:1::5"].map(t)).toEqual([true, true]);
    expect(["10.0.0.1", "198.51.101.1", "2001:db9::1"].map(t)).toEqual([false, false, false]);
    expect(t.unixSockets).toBe(true);
  });

  it("makes a Unix-socket peer internal only with unix_sockets", () => {
    const model = { useRemoteAddress: true, xffNumTrustedHops: 0, skipXffAppend: true, via: "", generateRequestId: false, preserveExternalRequestId: false, alwaysSetRequestIdInResponse: false, serverName: "envoy", serverHeaderTransformation: "OVERWRITE" as const };
    const conn = { unixSocket: true, tls: false, protocol: "HTTP/1.1" };
    const headers = () => new Headers({ "x-envoy-max-retries": "3" });
    const trusting = createHcmHeaderPolicy(model, { unixSockets: true, cidrRanges: [] });
    const h1 = headers();
    expect(trusting.decodeRequest(h1, conn).internal).toBe(true);
    expect(h1.get("x-envoy-internal")).toBe("true");
    expect(h1.get("x-envoy-max-retries")).toBe("3");
    const h2 = headers();
    expect(createHcmHeaderPolicy(model, undefined).decodeRequest(h2, conn).internal).toBe(false);
    expect(h2.get("x-envoy-max-retries")).toBeNull();
  });
});

describe("virtual clusters", () => {
  const vh = {
    name: "vh",
    domains: ["*"],
    routes: [],
    virtualClusters: [
      { name: "gets", headers: [{ name: ":method", match: { kind: "string" as const, matcher: { kind: "exact" as const, value: "GET", ignoreCase: false } }, invertMatch: false, treatMissingHeaderAsEmpty: false }] },
      { name: "all", headers: [] },
    ],
  };
  const req = (method: string) => ({ method, authority: "x", path: "/", requestHeaders: new Headers() });

  it("picks the first match and names it in its stat prefix", () => {
    const select = compileVirtualClusters(vh as never)!;
    expect(select(req("GET"))).toMatchObject({ name: "gets", statPrefix: "vhost.vh.vcluster.gets." });
    expect(select(req("PUT")).name).toBe("all");
  });

  it("falls back to `other`, and has no selector without virtual clusters", () => {
    const select = compileVirtualClusters({ ...vh, virtualClusters: [vh.virtualClusters[0]!] } as never)!;
    expect(select(req("PUT"))).toEqual({ name: "other", statPrefix: "vhost.vh.vcluster.other." });
    expect(compileVirtualClusters({ ...vh, virtualClusters: undefined } as never)).toBeUndefined();
  });

  it("counts router stats into both the cluster and the virtual cluster", () => {
    const store = new StatsStore();
    const cluster = new RouterClusterStats(store.scope("cluster.c."));
    const vc = new VirtualClusterStats(store.scope("vhost.vh.vcluster.gets."));
    const both = withVirtualClusterStats(cluster, vc);
    both.retry.inc();
    both.timeout.inc();
    both.retryOverflow!.inc();
    both.rxReset.inc();
    vc.chargeCode(503);
    const value = (name: string) => store.scope("").counter(name).value;
    expect(value("cluster.c.upstream_rq_retry")).toBe(1);
    expect(value("vhost.vh.vcluster.gets.upstream_rq_retry")).toBe(1);
    expect(value("vhost.vh.vcluster.gets.upstream_rq_timeout")).toBe(1);
    expect(value("cluster.c.upstream_rq_timeout")).toBe(1);
    expect(value("vhost.vh.vcluster.gets.upstream_rq_retry_overflow")).toBe(1);
    expect(value("cluster.c.upstream_rq_rx_reset")).toBe(1);
    expect(value("vhost.vh.vcluster.gets.upstream_rq_503")).toBe(1);
    expect(value("vhost.vh.vcluster.gets.upstream_rq_5xx")).toBe(1);
    expect(cluster.retryOverflow).toBeUndefined();
  });
});

describe("generated hash cookies", () => {
  const policy = { kind: "cookie" as const, name: "lb", terminal: false, generate: { ttlSeconds: 30, path: "/p", attributes: [{ name: "Secure", value: "" }] } };

  it("generates, hashes and collects a Set-Cookie when the cookie is absent or empty", () => {
    for (const cookie of [undefined, "lb="]) {
      const setCookies: string[] = [];
      const request: HashRequest = { headers: new Headers(cookie ? { cookie } : {}), path: "/", connectionKey: "192.0.2.1:5555", setCookies };
      const value = xxHash64("192.0.2.1:5555").toString(16).padStart(16, "0");
      expect(computeHashKey([policy], request)).toBe(xxHash64(value));
      expect(setCookies).toEqual([`lb="${value}"; Max-Age=30; Path=/p; Secure; HttpOnly`]);
    }
  });

  it("hashes an existing cookie and sets nothing", () => {
    const setCookies: string[] = [];
    expect(computeHashKey([policy], { headers: new Headers({ cookie: 'lb="abc"' }), path: "/", setCookies })).toBe(xxHash64("abc"));
    expect(setCookies).toEqual([]);
  });

  it("without ttl, an absent or empty cookie gives no hash", () => {
    const plain = { kind: "cookie" as const, name: "lb", terminal: false };
    expect(computeHashKey([plain], { headers: new Headers({ cookie: "lb=" }), path: "/", setCookies: [] })).toBeUndefined();
  });

  it("formats Set-Cookie as Envoy's makeSetCookieValue", () => {
    expect(setCookieValue("n", "v", "", 0, [])).toBe('n="v"; HttpOnly');
    expect(setCookieValue("n", "v", "/", 10, [{ name: "SameSite", value: "Lax" }])).toBe('n="v"; Max-Age=10; Path=/; SameSite=Lax; HttpOnly');
  });
});
