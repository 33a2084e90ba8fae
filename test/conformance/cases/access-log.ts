/**
 * The HCM's access_log: Envoy's default format, format strings and typed JSON dictionaries, response
 * flags and details, filters, omit_empty_values, and the config errors for what a tier cannot do.
 */
import { describe, expect, it } from "vitest";
import { bootstrap, type Json } from "../config.ts";
import type { ConformanceContext } from "../context.ts";

const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const STDERR = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog";
const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

/** An access_log entry writing to stdout with `log_format` (none: Envoy's default format). */
function stdout(logFormat?: Json, filter?: Json): Json {
  return { name: "envoy.access_loggers.stdout", typed_config: { "@type": STDOUT, ...(logFormat ? { log_format: logFormat } : {}) }, ...(filter ? { filter } : {}) };
}

export default function accessLog(ctx: ConformanceContext): void {
  const withLog = (accessLogs: Json[], spec: Parameters<typeof bootstrap>[1] = {}) =>
    bootstrap(ctx, { ...spec, hcm: { ...spec.hcm, access_log: accessLogs } });

  async function send(url: string, init?: RequestInit): Promise<{ status: number; body: string }> {
    const res = await ctx.request(new Request(url, init));
    return { status: res.status, body: await res.text() };
  }

  describe("formats", () => {
    it("writes Envoy's default format when the logger has none", async () => {
      await ctx.loadConfig(withLog([stdout()]));
      const { body } = await send("http://front.example/logged/path?x=1", { headers: { "user-agent": "conformance/1.0" } });
      await ctx.settle();
      const lines = ctx.accessLog();
      expect(lines).toHaveLength(1);
      const port = ctx.upstreamPorts[0];
      const re = new RegExp(
        String.raw`^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET /logged/path\?x=1 [^"]*" 200 - 0 (\d+) (\d+) (\d+) "[^"]*" "conformance/1\.0" "[^"]*" "front\.example" "127\.0\.0\.1:${port}"$`,
      );
      const m = re.exec(lines[0]!);
      expect(m, lines[0]).not.toBeNull();
      expect(Number(m![1])).toBe(new TextEncoder().encode(body).byteLength);
      // %DURATION% covers the whole stream, so it is at least the upstream service time.
      expect(Number(m![2])).toBeGreaterThanOrEqual(Number(m![3]));
    });

    it("formats a text_format_source with header operators, alternatives and truncation", async () => {
      const format = "%REQ(:METHOD)% %REQ(:PATH)% %REQ(x-first?x-second)% %REQ(x-long):4% %RESP(x-upstream)% %RESP(:STATUS)% %TRAILER(grpc-status)% %REQ(x-missing)%|%RESPONSE_CODE_DETAILS% %ROUTE_NAME% %UPSTREAM_CLUSTER%\n";
      await ctx.loadConfig(withLog([stdout({ text_format_source: { inline_string: format } })], {
        virtualHosts: [{ name: "vh", domains: ["*"], routes: [{ name: "r1", match: { prefix: "/" }, route: { cluster: "a" } }] }],
      }));
      await send("http://front.example/t?q", { headers: { "x-second": "2nd", "x-long": "abcdefgh" } });
      await ctx.settle();
      expect(ctx.accessLog()).toEqual(["GET /t?q 2nd abcd a 200 - -|via_upstream r1 a"]);
    });

    it("renders json_format with typed values (numbers, and null when unset)", async () => {
      const json = {
        code: "%RESPONSE_CODE%",
        flags: "%RESPONSE_FLAGS%",
        method: "%REQ(:METHOD)%",
        received: "%BYTES_RECEIVED%",
        sent: "%BYTES_SENT%",
        duration: "%DURATION%",
        missing: "%REQ(x-missing)%",
        mixed: "code=%RESPONSE_CODE%",
        nested: { host: "%UPSTREAM_HOST%", cluster: "%UPSTREAM_CLUSTER%" },
        literal: 7,
      };
      await ctx.loadConfig(withLog([stdout({ json_format: json })]));
      const { body } = await send("http://front.example/j", { method: "POST", body: "hello", headers: { "content-length": "5" } });
      await ctx.settle();
      const lines = ctx.accessLog();
      expect(lines).toHaveLength(1);
      const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(entry).toMatchObject({
        code: 200,
        flags: "-",
        method: "POST",
        received: 5,
        sent: new TextEncoder().encode(body).byteLength,
        missing: null,
        mixed: "code=200",
        nested: { host: `127.0.0.1:${ctx.upstreamPorts[0]}`, cluster: "a" },
        literal: 7,
      });
      expect(typeof entry.duration).toBe("number");
      // Key order is not asserted: a Struct is a map (and the edge stores configs with sorted keys).
      expect(Object.keys(entry).sort()).toEqual(Object.keys(json).sort());
    });

    it("omits empty values when omit_empty_values is set", async () => {
      await ctx.loadConfig(withLog([
        stdout({ text_format: "[%REQ(x-missing)%][%RESPONSE_CODE%]\n", omit_empty_values: true }),
        stdout({ json_format: { a: "%REQ(x-missing)%", b: "%RESPONSE_CODE%" }, omit_empty_values: true }),
      ]));
      await send("http://front.example/o");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual(["[][200]", '{"b":200}']);
    });

    it("formats START_TIME with a custom format", async () => {
      await ctx.loadConfig(withLog([stdout({ text_format: "%START_TIME(%s.%3f)% %START_TIME(%Y/%m/%d)%\n" })]));
      const before = Date.now();
      await send("http://front.example/t");
      await ctx.settle();
      const [line] = ctx.accessLog();
      const m = /^(\d+)\.(\d{3}) (\d{4})\/(\d\d)\/(\d\d)$/.exec(line ?? "");
      expect(m, line).not.toBeNull();
      const epochMs = Number(m![1]) * 1000 + Number(m![2]);
      // workerd's clock only advances on I/O: allow a generous window, never a negative one.
      expect(Math.abs(epochMs - before)).toBeLessThan(60_000);
      const d = new Date(epochMs);
      expect([Number(m![3]), Number(m![4]), Number(m![5])]).toEqual([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
    });

    it("writes stdout and stderr loggers", async () => {
      await ctx.loadConfig(withLog([
        stdout({ text_format: "out %RESPONSE_CODE%\n" }),
        { name: "envoy.access_loggers.stderr", typed_config: { "@type": STDERR, log_format: { text_format: "err %RESPONSE_CODE%\n" } } },
      ]));
      await send("http://front.example/s");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual(["out 200", "err 200"]);
    });
  });

  describe("response flags and details", () => {
    const format = { text_format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_HOST%\n" };

    it("logs NR for no route and UF for a refused connection", async () => {
      await ctx.loadConfig(withLog([stdout(format)], {
        clusters: { a: [ctx.closedPort] },
        virtualHosts: [{ name: "vh", domains: ["front.example"], routes: [{ match: { prefix: "/up" }, route: { cluster: "a" } }] }],
      }));
      await send("http://front.example/nothing");
      await send("http://front.example/up");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual([
        "404 NR route_not_found -",
        `503 UF upstream_reset_before_response_started{connection_failure} 127.0.0.1:${ctx.closedPort}`,
      ]);
    });

    it("logs DC and counts the reset when the downstream goes away mid-response", async () => {
      await ctx.loadConfig(withLog([stdout(format)]));
      const id = crypto.randomUUID();
      const res = await ctx.request(new Request(`http://front.example/stream?id=${id}`));
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel();
      await (await fetch(`http://127.0.0.1:${ctx.upstreamPorts[0]}/release?id=${id}`)).text();
      await ctx.settle();
      expect(ctx.accessLog()).toEqual([`200 DC via_upstream 127.0.0.1:${ctx.upstreamPorts[0]}`]);
      expect(await ctx.stat("http.ingress_http.downstream_rq_rx_reset")).toBe(1);
      expect(await ctx.stat("http.ingress_http.rq_reset_after_downstream_response_started")).toBe(1);
      expect(await ctx.stat("http.ingress_http.downstream_rq_active")).toBe(0);
    });
  });

  describe("filters", () => {
    it("logs only what status_code_filter and duration_filter pass", async () => {
      const code = (op: string, value: number) => ({ status_code_filter: { comparison: { op, value: { default_value: value, runtime_key: "access_log.min_status" } } } });
      await ctx.loadConfig(withLog([
        stdout({ text_format: "ge400 %RESPONSE_CODE%\n" }, code("GE", 400)),
        stdout({ text_format: "eq200 %RESPONSE_CODE%\n" }, code("EQ", 200)),
        stdout({ text_format: "le299-fast %RESPONSE_CODE%\n" }, {
          and_filter: { filters: [code("LE", 299), { duration_filter: { comparison: { op: "LE", value: { default_value: 60000, runtime_key: "access_log.max_ms" } } } }] },
        }),
        stdout({ text_format: "flagged %RESPONSE_FLAGS%\n" }, { response_flag_filter: { flags: ["NR"] } }),
      ], {
        virtualHosts: [{ name: "vh", domains: ["front.example"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }],
      }));
      await send("http://front.example/ok");
      await send("http://front.example/bad", { headers: { "x-echo-status": "502" } });
      await send("http://elsewhere.example/");
      await ctx.settle();
      expect(ctx.accessLog()).toEqual([
        "eq200 200", "le299-fast 200",
        "ge400 502",
        "ge400 404", "flagged NR",
      ]);
    });
  });

  describe("config errors", () => {
    it("refuses envoy.access_loggers.file at the edge: a Worker has no files", async () => {
      const file = { name: "envoy.access_loggers.file", typed_config: { "@type": FILE, path: "/dev/stdout" } };
      await expect(ctx.loadConfig(withLog([file]))).rejects.toThrow(/envoy\.access_loggers\.file cannot run at the edge: a Worker has no files/);
    });

    it("refuses unknown and unsupported command operators", async () => {
      await expect(ctx.loadConfig(withLog([stdout({ text_format: "%NO_SUCH_THING%\n" })]))).rejects.toThrow(/unknown command operator %NO_SUCH_THING%/);
      await expect(ctx.loadConfig(withLog([stdout({ text_format: "%DYNAMIC_METADATA(x)%\n" })]))).rejects.toThrow(/%DYNAMIC_METADATA% is not supported by Legate/);
    });

    it("refuses access log filters Legate does not implement", async () => {
      await expect(ctx.loadConfig(withLog([stdout(undefined, { not_health_check_filter: {} })]))).rejects.toThrow(/not_health_check_filter/);
    });
  });
}
