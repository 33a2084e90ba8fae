/**
 * The L7 conformance suite (test/conformance/) run in Node: each config goes through the Node loader
 * (full validation against Envoy's schema, then compile), and requests through the shared engine with a
 * Node transport (Node's fetch, redirects returned) and the access log written to captured sinks.
 */
import { afterAll, beforeAll } from "vitest";
import { formatIssue } from "../../shared/config/issues.ts";
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { createHttpEngine, type HttpEngine } from "../../shared/http/engine.ts";
import { ProxyError } from "../../shared/http/errors.ts";
import type { UpstreamRequest, UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import type { AccessLogSinks } from "../../shared/access-log/sinks.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { type EchoServers, startEchoServers } from "../echo-servers.ts";
import type { ConformanceContext } from "./context.ts";
import { registerConformanceSuite } from "./suite.ts";

/**
 * Node's fetch as an UpstreamTransport. Like the Workers fetch it sends the URL's host as Host, so the
 * downstream Host travels as x-forwarded-host, as at the edge. Unlike it, Node tells a refused
 * connection (UF) from one lost before response headers (UC).
 */
const nodeFetchTransport: UpstreamTransport = {
  async fetch(req: UpstreamRequest): Promise<Response> {
    const headers = req.headers;
    headers.delete("host");
    const forwarded = headers.get("x-forwarded-host");
    headers.set("x-forwarded-host", forwarded ? `${forwarded}, ${req.authority}` : req.authority);
    try {
      return await fetch(req.url, { method: req.method, headers, body: req.body, redirect: "manual", duplex: "half" } as RequestInit);
    } catch (e) {
      const code = (e as { cause?: { code?: string } }).cause?.code;
      const message = `${req.method} ${req.url}: ${(e as Error).message}${code ? ` (${code})` : ""}`;
      const refused = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "UND_ERR_CONNECT_TIMEOUT" || code === "EHOSTUNREACH";
      throw new ProxyError(refused ? "upstream_connect_failure" : "upstream_connection_termination", message, { cause: e });
    }
  },
};

let echo: EchoServers | undefined;
let engine: HttpEngine | undefined;
let stats = new StatsStore();
const logged: string[] = [];
const pending: Promise<unknown>[] = [];

/** The access log's stdout/stderr sinks, captured (the tcp tier writes them to the process streams). */
const capture = (entry: string) => void logged.push(entry.endsWith("\n") ? entry.slice(0, -1) : entry);
const sinks: AccessLogSinks = { stdout: capture, stderr: capture };

beforeAll(async () => {
  echo = await startEchoServers();
});

afterAll(async () => {
  await Promise.allSettled(pending.splice(0));
  await echo?.close();
});

function servers(): EchoServers {
  if (!echo) throw new Error("the echo servers are not started yet (use ctx inside tests or hooks)");
  return echo;
}

const ctx: ConformanceContext = {
  runtime: "node",
  async loadConfig(config) {
    let value: unknown = config;
    if (typeof config === "string") {
      const parsed = parseConfigText(config);
      if (parsed.issues.length) throw new Error(parsed.issues.map(formatIssue).join("\n"));
      value = parsed.value;
    }
    const loaded = await validateBootstrapValue(value);
    if (!loaded.ok) throw new Error(loaded.issues.map(formatIssue).join("\n"));
    const listener = loaded.model.listeners.find((l) => l.edge);
    if (!listener) throw new Error("the conformance config has no listener marked for the edge");
    await Promise.allSettled(pending.splice(0));
    stats = new StatsStore();
    logged.length = 0;
    engine = createHttpEngine({
      hcm: listener.filterChains.concat(listener.defaultFilterChain ?? [])[0]!.filters[0] as HttpConnectionManagerModel,
      clusters: loaded.model.clusters,
      transport: nodeFetchTransport,
      stats,
      accessLogSinks: sinks,
    });
  },
  async request(input) {
    if (!engine) throw new Error("conformance case sent a request before loadConfig");
    return engine.handle(input);
  },
  get upstreamPorts() {
    return servers().ports;
  },
  get closedPort() {
    return servers().closedPort;
  },
  async stat(name) {
    return stats.values().get(name);
  },
  async settle() {
    await Promise.allSettled(pending.splice(0));
    await new Promise((r) => setTimeout(r, 0));
  },
  accessLog: () => [...logged],
};

registerConformanceSuite(ctx);
