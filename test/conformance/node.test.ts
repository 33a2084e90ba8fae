/**
 * The L7 conformance suite (test/conformance/) run in Node: each config goes through the Node loader
 * (full validation against Envoy's schema, then compile), and requests through the shared engine with a
 * Node transport (Node's fetch, redirects returned) and the access log written to captured sinks.
 * Background work the engine hands to `waitUntil` (shadow requests) is collected and awaited by
 * `settle()`, as the Workers runtime keeps it alive at the edge.
 */
import { afterAll, beforeAll } from "vitest";
import { formatIssue } from "../../shared/config/issues.ts";
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import { createHttpEngine, type HttpEngine } from "../../shared/http/engine.ts";
import { ProxyError } from "../../shared/http/errors.ts";
import type { AttemptRequest } from "../../shared/http/upstream-request.ts";
import type { UpstreamTransport } from "../../shared/http/upstream-transport.ts";
import { requestDownstreamInfo } from "../../shared/access-log/downstream.ts";
import type { DownstreamInfo } from "../../shared/access-log/record.ts";
import type { AccessLogSinks } from "../../shared/access-log/sinks.ts";
import { createStaticRuntime } from "../../shared/runtime/runtime.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { validateBootstrapValue } from "../../tcp-tier/src/config/load.ts";
import { type EchoServers, startEchoServers } from "../echo-servers.ts";
import type { ConformanceContext } from "./context.ts";
import { registerConformanceSuite } from "./suite.ts";

/**
 * Node's fetch as an UpstreamTransport. Like the Workers fetch it sends the URL's host as Host, so the
 * downstream Host travels as x-forwarded-host, as at the edge; like the edge's transport it sends a
 * buffered body as bytes (with its length) and honours the attempt's abort signal (hedging's losers).
 * Unlike the Workers fetch, Node tells a refused connection (UF) from one lost before response headers (UC).
 */
const nodeFetchTransport: UpstreamTransport = {
  async fetch(req: AttemptRequest): Promise<Response> {
    const headers = req.headers;
    headers.delete("host");
    const forwarded = headers.get("x-forwarded-host");
    headers.set("x-forwarded-host", forwarded ? `${forwarded}, ${req.authority}` : req.authority);
    const body = req.bodyBytes ?? req.body;
    try {
      return await fetch(req.url, { method: req.method, headers, body, redirect: "manual", duplex: "half", signal: req.signal } as RequestInit);
    } catch (e) {
      if (req.signal?.aborted) throw e;
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

/** The client address of each request sent with `clientAddress` (what a socket's peer would tell). */
const clientAddresses = new WeakMap<Request, string>();

/**
 * Downstream facts as a tier that owns the connection learns them: the peer's address from the socket
 * (here: the case's `clientAddress`, port unknown), never from a request header such as the edge's
 * `cf-connecting-ip`.
 */
function nodeDownstreamInfo(request: Request): DownstreamInfo {
  const { remoteAddress: _fromHeader, ...info } = requestDownstreamInfo(request);
  const ip = clientAddresses.get(request);
  return ip === undefined ? info : { ...info, remoteAddress: ip.includes(":") ? `[${ip}]:0` : `${ip}:0` };
}

/** Collects the engine's `waitUntil` work, which `settle()` awaits. */
const waitUntil = (promise: Promise<unknown>): void => void pending.push(promise);

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
      downstreamInfo: nodeDownstreamInfo,
      connectionBufferLimitBytes: listener.perConnectionBufferLimitBytes,
      runtime: createStaticRuntime(loaded.model.runtime),
    });
  },
  async request(input, options) {
    if (!engine) throw new Error("conformance case sent a request before loadConfig");
    if (options?.clientAddress !== undefined) clientAddresses.set(input, options.clientAddress);
    return engine.handle(input, { waitUntil });
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
    // Work may hand more work to waitUntil while it runs; a few rounds drain it.
    for (let round = 0; round < 10 && pending.length > 0; round++) await Promise.allSettled(pending.splice(0));
    // Stream completion runs when the body's last read resolves; give it the turn it needs.
    await new Promise((r) => setTimeout(r, 0));
  },
  accessLog: () => [...logged],
};

registerConformanceSuite(ctx);
