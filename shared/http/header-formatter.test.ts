import { describe, expect, it } from "vitest";
import { compileHeaderFormat, compileTimeFormat, FormatError, type FormatContext, parseFormat } from "./header-formatter.ts";

const START = Date.UTC(2024, 1, 29, 13, 4, 5, 678);

const ctx = (extra: Partial<FormatContext> = {}): FormatContext => ({
  method: "GET",
  authority: "api.example.com",
  path: "/v1/x?y=1",
  scheme: "https",
  requestHeaders: new Headers({ "user-agent": "curl/8", "x-b3-traceid": "abc" }),
  downstreamRemoteAddress: "203.0.113.7",
  downstreamDirectRemoteAddress: "203.0.113.7",
  startTimeMs: START,
  protocol: "HTTP/2",
  hostname: "",
  ...extra,
});

const fmt = (text: string, c: FormatContext = ctx()) => compileHeaderFormat(text)(c);
const refusal = (text: string) => {
  try {
    compileHeaderFormat(text);
    return undefined;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    return e.kind;
  }
};

describe("header value format", () => {
  it("parses operators, arguments, lengths, %% and stray %", () => {
    expect(parseFormat("a%REQ(x?y):3%b%%c%d")).toEqual(["a", { name: "REQ", arg: "x?y", maxLength: 3 }, "b%c%d"]);
    expect(fmt("100%")).toBe("100%");
    expect(fmt("%%PROTOCOL%%")).toBe("%PROTOCOL%");
  });

  it("formats request headers, pseudo-headers, alternatives and lengths", () => {
    expect(fmt("%REQ(User-Agent)%")).toBe("curl/8");
    expect(fmt("%REQ(:authority)%|%REQ(:METHOD)%|%REQ(:path)%|%REQ(:scheme)%")).toBe("api.example.com|GET|/v1/x?y=1|https");
    expect(fmt("%REQ(x-missing?x-b3-traceid)%")).toBe("abc");
    expect(fmt("%REQ(x-missing)%")).toBe("");
    expect(fmt("%REQ(user-agent):4%")).toBe("curl");
  });

  it("formats response headers only when there is a response", () => {
    expect(fmt("%RESP(x-up)%")).toBe("");
    expect(fmt("%RESP(x-up)%-%RESPONSE_CODE%", ctx({ responseHeaders: new Headers({ "x-up": "u" }), responseCode: 201 }))).toBe("u-201");
  });

  it("formats the downstream address (port 0 when only the IP is known), protocol and host name", () => {
    expect(fmt("%DOWNSTREAM_REMOTE_ADDRESS%")).toBe("203.0.113.7:0");
    expect(fmt("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%")).toBe("203.0.113.7");
    expect(fmt("%DOWNSTREAM_REMOTE_ADDRESS%", ctx({ downstreamRemoteAddress: "2001:db8::1", downstreamDirectRemoteAddress: "2001:db8::1", downstreamRemotePort: 5555 }))).toBe("[2001:db8::1]:5555");
    expect(fmt("%DOWNSTREAM_REMOTE_ADDRESS%", ctx({ downstreamRemoteAddress: "198.51.100.1", downstreamRemotePort: 5555 }))).toBe("198.51.100.1:0");
    expect(fmt("%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%")).toBe("203.0.113.7");
    expect(fmt("%PROTOCOL%")).toBe("HTTP/2");
    expect(fmt("%HOSTNAME%")).toBe("");
    expect(fmt("%HOSTNAME%", ctx({ hostname: "node-1" }))).toBe("node-1");
    expect(fmt("%UPSTREAM_HOST%")).toBe("");
    expect(fmt("%UPSTREAM_HOST%", ctx({ upstreamHost: "10.0.0.1:80" }))).toBe("10.0.0.1:80");
  });

  it("formats START_TIME with Envoy's default and strftime formats", () => {
    expect(fmt("%START_TIME%")).toBe("2024-02-29T13:04:05.678Z");
    expect(fmt("%START_TIME(%s)%")).toBe(String(Math.floor(START / 1000)));
    expect(fmt("%START_TIME(%Y/%m/%d %H:%M:%S %3f %a %b %j)%")).toBe("2024/02/29 13:04:05 678 Thu Feb 060");
    expect(compileTimeFormat("%E6S|%f|%z")(START)).toBe("05.678000|678000000|+0000");
  });

  it("refuses operators Envoy has but this formatter cannot run as unsupported, unknown ones as not Envoy", () => {
    expect(refusal("%UPSTREAM_METADATA([\"a\",\"b\"])%")).toBe("unsupported");
    expect(refusal("%DYNAMIC_METADATA(x)%")).toBe("unsupported");
    expect(refusal("%NOT_AN_OPERATOR%")).toBe("not-envoy");
    expect(refusal("%REQ()%")).toBe("not-envoy");
    expect(refusal("%PROTOCOL(x)%")).toBe("not-envoy");
    expect(refusal("plain value")).toBeUndefined();
  });
});
