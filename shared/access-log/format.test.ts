import { describe, expect, it } from "vitest";
import { compileJsonFormat, compileTextFormat, DEFAULT_FORMAT } from "./format.ts";
import type { AccessLogRecord } from "./record.ts";
import { formatResponseFlags } from "./response-flags.ts";
import { compileStartTime } from "./start-time.ts";

/** 2016-04-15T20:17:00.310Z, the instant of Envoy's documented example. */
const T = Date.UTC(2016, 3, 15, 20, 17, 0, 310);

function record(over: Partial<AccessLogRecord> = {}): AccessLogRecord {
  return {
    startTime: T,
    durationMs: 226.7,
    responseDurationMs: 99.2,
    requestDurationMs: 0,
    method: "POST",
    path: "/api/v1/locations",
    authority: "locations",
    scheme: "https",
    protocol: "HTTP/2",
    requestHeaders: new Headers({ "x-forwarded-for": "10.0.35.28", "user-agent": "nsq2http", "x-request-id": "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" }),
    responseHeaders: new Headers({ "x-envoy-upstream-service-time": "100" }),
    responseCode: 204,
    responseCodeDetails: "via_upstream",
    responseFlags: [],
    bytesReceived: 154,
    bytesSent: 0,
    upstreamHost: "10.0.2.1:80",
    upstreamCluster: "locations",
    routeName: "r",
    remoteAddress: "10.0.35.28:4711",
    localAddress: "[::1]:10000",
    ...over,
  };
}

const text = (f: string, r = record(), opts = {}) => {
  const c = compileTextFormat(f, opts);
  expect(c.issues).toEqual([]);
  return c.format(r);
};

describe("format strings", () => {
  it("renders Envoy's documented default-format example", () => {
    expect(text(DEFAULT_FORMAT)).toBe(
      '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n',
    );
  });

  it("prefers x-envoy-original-path over :path, and prints - for unset values", () => {
    const r = record({ requestHeaders: new Headers({ "x-envoy-original-path": "/before/rewrite" }), upstreamHost: undefined, protocol: undefined });
    expect(text("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL% %REQ(USER-AGENT)% %UPSTREAM_HOST% %REQUEST_DURATION% %CONNECTION_ID%", r)).toBe("/before/rewrite - - - 0 -");
  });

  it("reads pseudo-headers, Host as :authority, response headers and :status, truncates with :N", () => {
    expect(text("%REQ(:METHOD)% %REQ(:SCHEME)% %REQ(HOST)% %REQ(:AUTHORITY):3% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% %RESP(:STATUS)% %TRAILER(grpc-status)% %RESPONSE_CODE_DETAILS:3%"))
      .toBe("POST https locations loc 100 204 - via");
  });

  it("prints addresses with and without ports, and the other stream facts", () => {
    expect(text("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT%"))
      .toBe("10.0.35.28:4711 10.0.35.28 4711 ::1 10000");
    expect(text("%UPSTREAM_CLUSTER% %ROUTE_NAME% %RESPONSE_DURATION% %HOSTNAME% %REQUESTED_SERVER_NAME% %UPSTREAM_TRANSPORT_FAILURE_REASON%", record(), { hostname: "edge-1" }))
      .toBe("locations r 99 edge-1 - -");
  });

  it("prints response flags in Envoy's order, whatever order they were set in", () => {
    expect(text("%RESPONSE_FLAGS%", record({ responseFlags: ["URX", "UF", "UO"] }))).toBe("UF,UO,URX");
    expect(formatResponseFlags([])).toBe("-");
    expect(formatResponseFlags(["DC", "NR", "DC", "LEGATE"])).toBe("NR,DC,LEGATE");
  });

  it("prints empty text for unset values with omit_empty_values", () => {
    expect(text("[%REQ(x-none)%][%UPSTREAM_HOST%]", record({ upstreamHost: undefined }), { omitEmptyValues: true })).toBe("[][]");
  });

  it("reports bad formats: no operator after %, unknown and unsupported operators, missing header names", () => {
    expect(compileTextFormat("100% sure").issues).toEqual([{ kind: "not-envoy", message: 'incorrect format "100% sure": no valid command operator at position 3' }]);
    expect(compileTextFormat("%BOGUS%").issues).toEqual([{ kind: "not-envoy", message: "unknown command operator %BOGUS%" }]);
    expect(compileTextFormat("%FILTER_STATE(x)%").issues).toEqual([{ kind: "unsupported", message: "the command operator %FILTER_STATE% is not supported by Legate" }]);
    expect(compileTextFormat("%REQ%").issues[0]?.message).toMatch(/needs a header name/);
    expect(compileTextFormat("%START_TIME(%Q)%").issues[0]).toMatchObject({ kind: "unsupported" });
  });
});

describe("START_TIME", () => {
  const fmt = (f: string) => (compileStartTime(f) as (ms: number) => string)(T);

  it("formats strftime specifiers in UTC, with Envoy's %s and %Nf and absl's %E3S", () => {
    expect(fmt("%Y-%m-%dT%H:%M:%E3SZ")).toBe("2016-04-15T20:17:00.310Z");
    expect(fmt("%s.%3f %6f %f")).toBe("1460751420.310 310000 310000000");
    expect(fmt("%F %T %D %j %a %b %A %B %I%p %z %Z %y %C %e %u %w %%")).toBe("2016-04-15 20:17:00 04/15/16 106 Fri Apr Friday April 08PM +0000 UTC 16 20 15 5 5 %");
  });

  it("refuses a specifier it does not know", () => {
    expect(compileStartTime("%Q")).toEqual({ error: expect.stringMatching(/%Q is not supported/) });
  });
});

describe("format dictionaries", () => {
  const dict = { code: "%RESPONSE_CODE%", bytes: "%BYTES_SENT%", none: "%REQ(x-none)%", both: "%REQ(:METHOD)% %RESPONSE_CODE%", nested: { flags: "%RESPONSE_FLAGS%", list: ["%ROUTE_NAME%", 1] }, n: 3, b: true };

  it("keeps operator types when typed, and unset as null", () => {
    const { format, issues } = compileJsonFormat(dict, true);
    expect(issues).toEqual([]);
    expect(JSON.parse(format(record()))).toEqual({ code: 204, bytes: 0, none: null, both: "POST 204", nested: { flags: "-", list: ["r", 1] }, n: 3, b: true });
    expect(format(record()).endsWith("}\n")).toBe(true);
  });

  it("renders every operator as a string when untyped (the legacy FileAccessLog.json_format)", () => {
    const { format } = compileJsonFormat(dict, false);
    expect(JSON.parse(format(record()))).toMatchObject({ code: "204", bytes: "0", none: "-" });
  });

  it("leaves unset values out with omit_empty_values", () => {
    const { format } = compileJsonFormat({ a: "%REQ(x-none)%", b: "%RESPONSE_CODE%" }, true, { omitEmptyValues: true });
    expect(format(record())).toBe('{"b":204}\n');
  });

  it("collects the issues of every value", () => {
    expect(compileJsonFormat({ a: "%NOPE%", b: { c: "%CEL(x)%" } }, true).issues.map((i) => i.kind)).toEqual(["not-envoy", "unsupported"]);
  });
});
