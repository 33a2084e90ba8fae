import { describe, expect, it } from "vitest";
import type { HcmHeaderPolicyModel, HeaderValueOptionModel } from "../config/model.ts";
import type { FormatContext } from "./header-formatter.ts";
import { applyHeaderOps, compileHeaderLevel, createHcmHeaderPolicy, type DownstreamConnection, isInternalAddress, lastAddressFromXff, parseIp, stripHopByHop } from "./headers.ts";

const ctx = (requestHeaders = new Headers()): FormatContext => ({
  method: "GET",
  authority: "h",
  path: "/",
  scheme: "http",
  requestHeaders,
  startTimeMs: 0,
  protocol: "HTTP/1.1",
  hostname: "",
});

const add = (key: string, value: string, appendAction: HeaderValueOptionModel["appendAction"] = "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue = false): HeaderValueOptionModel => ({ key, value, appendAction, keepEmptyValue });

describe("header mutations (HeaderParser semantics)", () => {
  it("applies each append action", () => {
    const h = new Headers({ a: "1", b: "1", c: "1" });
    const level = compileHeaderLevel([
      add("a", "2"),
      add("b", "2", "ADD_IF_ABSENT"),
      add("new-absent", "x", "ADD_IF_ABSENT"),
      add("c", "2", "OVERWRITE_IF_EXISTS_OR_ADD"),
      add("new-overwrite", "y", "OVERWRITE_IF_EXISTS_OR_ADD"),
      add("c", "3", "OVERWRITE_IF_EXISTS"),
      add("missing", "z", "OVERWRITE_IF_EXISTS"),
    ], [])!;
    applyHeaderOps(h, [level], ctx());
    expect(Object.fromEntries(h)).toEqual({ a: "1, 2", b: "1", c: "3", "new-absent": "x", "new-overwrite": "y" });
  });

  it("removes before it adds, skips empty values unless keep_empty_value, and looks at the headers as they were", () => {
    const h = new Headers({ gone: "1", kept: "1" });
    const level = compileHeaderLevel([
      add("gone", "again"),
      add("empty", "%REQ(x-none)%"),
      add("kept-empty", "%REQ(x-none)%", "APPEND_IF_EXISTS_OR_ADD", true),
      add("twice", "1", "ADD_IF_ABSENT"),
      add("twice", "2", "ADD_IF_ABSENT"),
    ], ["gone"])!;
    applyHeaderOps(h, [level], ctx(h));
    expect(Object.fromEntries(h)).toEqual({ gone: "again", kept: "1", "kept-empty": "", twice: "1, 2" });
  });

  it("applies levels in order, so a later level's overwrite wins", () => {
    const h = new Headers();
    const route = compileHeaderLevel([add("x-level", "route", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-list", "route")], [])!;
    const vhost = compileHeaderLevel([add("x-level", "vhost", "OVERWRITE_IF_EXISTS_OR_ADD"), add("x-list", "vhost")], [])!;
    applyHeaderOps(h, [route, vhost], ctx());
    expect(h.get("x-level")).toBe("vhost");
    expect(h.get("x-list")).toBe("route, vhost");
  });

  it("formats values with the request", () => {
    const h = new Headers({ "x-in": "v" });
    applyHeaderOps(h, [compileHeaderLevel([add("x-out", "<%REQ(x-in)%>")], [])!], ctx(h));
    expect(h.get("x-out")).toBe("<v>");
  });
});

const conn = (remoteAddress: string | undefined, extra: Partial<DownstreamConnection> = {}): DownstreamConnection => ({ remoteAddress, tls: false, protocol: "HTTP/1.1", ...extra });
const policy = (p: Partial<HcmHeaderPolicyModel> = {}) =>
  createHcmHeaderPolicy({
    useRemoteAddress: false,
    xffNumTrustedHops: 0,
    skipXffAppend: false,
    via: "",
    generateRequestId: true,
    preserveExternalRequestId: false,
    alwaysSetRequestIdInResponse: false,
    serverName: "envoy",
    serverHeaderTransformation: "OVERWRITE",
    ...p,
  });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("HCM request headers", () => {
  it("with use_remote_address: appends the peer to XFF, sets XFP and x-envoy-external-address, and strips x-envoy controls", () => {
    const h = new Headers({ "x-forwarded-for": "198.51.100.9", "x-forwarded-proto": "https", "x-envoy-retry-on": "5xx", "x-envoy-max-retries": "3", "x-envoy-upstream-rq-timeout-ms": "1", "x-envoy-decorator-operation": "op", "x-envoy-internal": "true" });
    const o = policy({ useRemoteAddress: true }).decodeRequest(h, conn("203.0.113.7"));
    expect(o).toEqual({ remoteAddress: "203.0.113.7", internal: false, edge: true });
    expect(h.get("x-forwarded-for")).toBe("198.51.100.9, 203.0.113.7");
    expect(h.get("x-forwarded-proto")).toBe("http");
    expect(h.get("x-envoy-external-address")).toBe("203.0.113.7");
    for (const gone of ["x-envoy-retry-on", "x-envoy-max-retries", "x-envoy-upstream-rq-timeout-ms", "x-envoy-decorator-operation", "x-envoy-internal"]) expect(h.has(gone), gone).toBe(false);
  });

  it("with use_remote_address and trusted hops: takes the client from XFF and keeps a trusted XFP", () => {
    const h = new Headers({ "x-forwarded-for": "198.51.100.9, 192.0.2.1", "x-forwarded-proto": "https" });
    const o = policy({ useRemoteAddress: true, xffNumTrustedHops: 1 }).decodeRequest(h, conn("203.0.113.7"));
    expect(o.remoteAddress).toBe("192.0.2.1");
    expect(h.get("x-forwarded-for")).toBe("198.51.100.9, 192.0.2.1, 203.0.113.7");
    expect(h.get("x-forwarded-proto")).toBe("https");
    expect(h.get("x-envoy-external-address")).toBe("192.0.2.1");
  });

  it("treats an internal peer with no XFF as internal: x-envoy-internal set, controls kept", () => {
    const h = new Headers({ "x-envoy-retry-on": "5xx" });
    const o = policy({ useRemoteAddress: true }).decodeRequest(h, conn("10.1.2.3"));
    expect(o).toEqual({ remoteAddress: "10.1.2.3", internal: true, edge: false });
    expect(h.get("x-envoy-internal")).toBe("true");
    expect(h.get("x-envoy-retry-on")).toBe("5xx");
    expect(h.has("x-envoy-external-address")).toBe(false);
    expect(h.get("x-forwarded-for")).toBe("10.1.2.3");
  });

  it("without use_remote_address: reads the client from a single-entry XFF, appends nothing", () => {
    const internal = new Headers({ "x-forwarded-for": "192.168.0.5", "x-envoy-max-retries": "2" });
    expect(policy().decodeRequest(internal, conn("203.0.113.7"))).toEqual({ remoteAddress: "192.168.0.5", internal: true, edge: false });
    expect(internal.get("x-forwarded-for")).toBe("192.168.0.5");
    expect(internal.get("x-envoy-max-retries")).toBe("2");
    expect(internal.get("x-forwarded-proto")).toBe("http");

    const twoHops = new Headers({ "x-forwarded-for": "192.168.0.5, 10.0.0.1", "x-envoy-max-retries": "2", "x-forwarded-proto": "https" });
    expect(policy().decodeRequest(twoHops, conn("203.0.113.7"))).toEqual({ remoteAddress: "10.0.0.1", internal: false, edge: false });
    expect(twoHops.has("x-envoy-max-retries")).toBe(false);
    expect(twoHops.get("x-forwarded-proto")).toBe("https");

    const none = new Headers();
    expect(policy().decodeRequest(none, conn("203.0.113.7"))).toEqual({ remoteAddress: "203.0.113.7", internal: false, edge: false });
    expect(none.has("x-forwarded-for")).toBe(false);
  });

  it("removes internal_only_headers from external requests only", () => {
    const ext = new Headers({ "x-secret": "1" });
    policy({ useRemoteAddress: true }).decodeRequest(ext, conn("203.0.113.7"), ["x-secret"]);
    expect(ext.has("x-secret")).toBe(false);
    const int = new Headers({ "x-secret": "1" });
    policy({ useRemoteAddress: true }).decodeRequest(int, conn("127.0.0.1"), ["x-secret"]);
    expect(int.get("x-secret")).toBe("1");
  });

  it("generates x-request-id when absent, on edge requests unless preserved, never when disabled", () => {
    const absent = new Headers();
    policy().decodeRequest(absent, conn("203.0.113.7"));
    expect(absent.get("x-request-id")).toMatch(UUID);

    const kept = new Headers({ "x-request-id": "mine" });
    policy().decodeRequest(kept, conn("203.0.113.7"));
    expect(kept.get("x-request-id")).toBe("mine");

    const edge = new Headers({ "x-request-id": "mine" });
    policy({ useRemoteAddress: true }).decodeRequest(edge, conn("203.0.113.7"));
    expect(edge.get("x-request-id")).toMatch(UUID);

    const preserved = new Headers({ "x-request-id": "mine" });
    policy({ useRemoteAddress: true, preserveExternalRequestId: true }).decodeRequest(preserved, conn("203.0.113.7"));
    expect(preserved.get("x-request-id")).toBe("mine");

    const off = new Headers();
    policy({ generateRequestId: false }).decodeRequest(off, conn("203.0.113.7"));
    expect(off.has("x-request-id")).toBe(false);
  });

  it("strips hop-by-hop headers and those Connection names, keeps te: trailers and upgrades", () => {
    const h = new Headers({ connection: "keep-alive, x-hop", "keep-alive": "timeout=5", "x-hop": "1", "proxy-connection": "x", "transfer-encoding": "chunked", upgrade: "h2c", te: "trailers, deflate", "x-end": "1" });
    policy().decodeRequest(h, conn(undefined));
    expect([...h.keys()].filter((k) => k !== "x-request-id" && k !== "x-forwarded-proto")).toEqual(["te", "x-end"]);
    expect(h.get("te")).toBe("trailers");

    const ws = new Headers({ connection: "Upgrade", upgrade: "websocket", "x-end": "1" });
    policy().decodeRequest(ws, conn(undefined));
    expect(ws.get("connection")).toBe("upgrade");
    expect(ws.get("upgrade")).toBe("websocket");

    const te = new Headers({ te: "gzip" });
    stripHopByHop(te);
    policy().decodeRequest(te, conn(undefined));
    expect(te.has("te")).toBe(false);
  });

  it("appends via", () => {
    const h = new Headers({ via: "1.1 other" });
    policy({ via: "legate" }).decodeRequest(h, conn(undefined));
    expect(h.get("via")).toBe("1.1 other, legate");
  });
});

describe("HCM response headers", () => {
  it("sets server per server_header_transformation, strips hop-by-hop, copies x-request-id when asked", () => {
    const req = new Headers({ "x-request-id": "rid" });
    const over = new Headers({ server: "upstream", connection: "close", "keep-alive": "1", "transfer-encoding": "chunked" });
    policy({ alwaysSetRequestIdInResponse: true }).encodeResponse(over, 200, req);
    expect(Object.fromEntries(over)).toEqual({ server: "envoy", "x-request-id": "rid" });

    const ifAbsent = new Headers({ server: "upstream" });
    policy({ serverHeaderTransformation: "APPEND_IF_ABSENT", serverName: "legate" }).encodeResponse(ifAbsent, 200, req);
    expect(ifAbsent.get("server")).toBe("upstream");
    const absent = new Headers();
    policy({ serverHeaderTransformation: "APPEND_IF_ABSENT", serverName: "legate" }).encodeResponse(absent, 200, req);
    expect(absent.get("server")).toBe("legate");
    const pass = new Headers();
    policy({ serverHeaderTransformation: "PASS_THROUGH" }).encodeResponse(pass, 200, req);
    expect(pass.has("server")).toBe(false);
    expect(pass.has("x-request-id")).toBe(false);
  });
});

describe("addresses", () => {
  it("reads XFF from the right, skipping trusted hops", () => {
    expect(lastAddressFromXff("1.1.1.1", 0)).toEqual({ address: "1.1.1.1", single: true });
    expect(lastAddressFromXff("1.1.1.1, 2.2.2.2 ", 0)).toEqual({ address: "2.2.2.2", single: false });
    expect(lastAddressFromXff("1.1.1.1,2.2.2.2", 1)).toEqual({ address: "1.1.1.1", single: false });
    expect(lastAddressFromXff("1.1.1.1", 1)).toEqual({ single: false });
    expect(lastAddressFromXff("not-an-ip", 0)).toEqual({ single: false });
    expect(lastAddressFromXff(null, 0)).toEqual({ single: false });
  });

  it("parses IPs and knows Envoy's default internal ranges", () => {
    expect(parseIp("2001:DB8::1")).toBe("2001:db8::1");
    expect(parseIp("256.1.1.1")).toBeUndefined();
    expect(parseIp("01.1.1.1")).toBeUndefined();
    for (const ip of ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "127.0.0.1", "::1", "fd00::1", "fdab:1::2"]) expect(isInternalAddress(ip), ip).toBe(true);
    for (const ip of ["172.32.0.1", "8.8.8.8", "127.0.0.2", "fc00::1", "fd::1", "2001:db8::1"]) expect(isInternalAddress(ip), ip).toBe(false);
  });
});
