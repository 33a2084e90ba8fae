import { describe, expect, it } from "vitest";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { compileBootstrap } from "./compile.ts";
import { formatIssue } from "./issues.ts";
import type { HttpConnectionManagerModel } from "./model.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function config(hcm: Record<string, unknown>, route: Record<string, unknown> = { cluster: "a" }): Record<string, unknown> {
  return {
    static_resources: {
      listeners: [{
        name: "edge",
        address: { socket_address: { address: "0.0.0.0", port_value: 10000 } },
        metadata: { filter_metadata: { legate: { edge: true } } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
          "@type": HCM,
          stat_prefix: "ingress_http",
          route_config: { virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ match: { prefix: "/" }, route }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          ...hcm,
        } }] }],
      }],
      clusters: [{ name: "a", load_assignment: { cluster_name: "a", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }] } }],
    },
  };
}

function hcmOf(value: unknown): HttpConnectionManagerModel {
  const { model, issues } = compileBootstrap(value);
  if (!model) throw new Error(issues.map(formatIssue).join("\n"));
  return model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
}

const issuesOf = (value: unknown) => compileBootstrap(value).issues.map(formatIssue);

describe("access_log and upgrade_configs in the compiled HCM", () => {
  it("compiles loggers with their formats and filters, and Envoy's default format when there is none", () => {
    const hcm = hcmOf(config({
      access_log: [
        { name: "envoy.access_loggers.stdout", typed_config: { "@type": STDOUT } },
        {
          name: "envoy.access_loggers.stderr",
          filter: { and_filter: { filters: [{ status_code_filter: { comparison: { op: "GE", value: { default_value: 500, runtime_key: "k" } } } }, { response_flag_filter: { flags: ["UF"] } }] } },
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog", log_format: { json_format: { c: "%RESPONSE_CODE%" }, omit_empty_values: true } },
        },
      ],
    }));
    expect(hcm.accessLog?.[0]).toMatchObject({ name: "envoy.access_loggers.stdout", sink: { kind: "stdout" }, format: { kind: "text", text: expect.stringMatching(/^\[%START_TIME%\] "%REQ\(:METHOD\)%/) } });
    expect(hcm.accessLog?.[1]).toEqual({
      name: "envoy.access_loggers.stderr",
      sink: { kind: "stderr" },
      format: { kind: "json", json: { c: "%RESPONSE_CODE%" }, typed: true, omitEmptyValues: true },
      filter: { kind: "and", filters: [{ kind: "status_code", op: "GE", value: 500, runtimeKey: "k" }, { kind: "response_flag", flags: ["UF"] }] },
    });
  });

  it("refuses the file logger at the edge, unknown operators, and filters Legate does not implement", () => {
    const path = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0]';
    expect(issuesOf(config({ access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE, path: "/var/log/x" } }] })))
      .toEqual([`${path}: Envoy feature not supported by Legate: envoy.access_loggers.file cannot run at the edge: a Worker has no files; use envoy.access_loggers.stdout (Workers logs, \`wrangler tail\`), or serve this listener from the tcp tier`]);
    expect(issuesOf(config({ access_log: [{ name: "x", typed_config: { "@type": STDOUT, log_format: { text_format: "%WHAT%" } } }] })))
      .toEqual([`${path}.typed_config.log_format: not valid Envoy configuration: unknown command operator %WHAT%`]);
    expect(issuesOf(config({ access_log: [{ name: "x", filter: { runtime_filter: { runtime_key: "r" } }, typed_config: { "@type": STDOUT } }] })))
      .toEqual([`${path}.filter.runtime_filter: Envoy feature not supported by Legate: \`runtime_filter\` (runtime-sampled access logs) is not supported by Legate`]);
  });

  it("compiles websocket upgrade_configs at the HCM and on routes, and refuses other upgrade types", () => {
    const hcm = hcmOf(config({ upgrade_configs: [{ upgrade_type: "WebSocket", enabled: false }] }, { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket" }] }));
    expect(hcm.upgradeConfigs).toEqual([{ upgradeType: "websocket", enabled: false }]);
    expect(hcm.routeConfig.virtualHosts[0]!.routes[0]!.upgradeConfigs).toEqual([{ upgradeType: "websocket", enabled: true }]);
    expect(issuesOf(config({ upgrade_configs: [{ upgrade_type: "CONNECT" }, { upgrade_type: "websocket", filters: [{ name: "f" }] }] }))).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.upgrade_configs[0].upgrade_type: Envoy feature not supported by Legate: CONNECT upgrades are not supported by Legate (only websocket)",
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.upgrade_configs[1].filters: Envoy feature not supported by Legate: custom filter chains for upgrades are not supported by Legate",
    ]);
  });

  it("passes Envoy's full validation in Node, and names unsupported fields there", async () => {
    const ok = await validateBootstrapValue(config({
      upgrade_configs: [{ upgrade_type: "websocket" }],
      access_log: [{
        name: "envoy.access_loggers.stdout",
        filter: { duration_filter: { comparison: { op: "GE", value: { default_value: 1000, runtime_key: "slow_ms" } } } },
        typed_config: { "@type": STDOUT, log_format: { text_format_source: { inline_string: "%RESPONSE_CODE%\n" }, content_type: "text/plain" } },
      }],
    }));
    expect(ok.ok ? [] : ok.issues.map(formatIssue)).toEqual([]);
    const bad = await validateBootstrapValue(config({ access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": STDOUT, log_format: { text_format: "x", json_format_options: { sort_properties: true } } } }] }));
    expect(bad.ok ? [] : bad.issues.map(formatIssue)).toEqual([
      "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log[0].typed_config.log_format.json_format_options: Envoy feature not supported by Legate: `json_format_options` (JSON format options) of envoy.config.core.v3.SubstitutionFormatString is not supported by Legate",
    ]);
  });
});
