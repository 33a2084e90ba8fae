/**
 * The L7 conformance suite (test/conformance/) run in workerd, through the edge Worker's handler: each
 * config is pushed to KV as `legate push` writes it and served by a fresh {@link createEdgeHandler}, so
 * requests take the same path as in production (config cache, engine, Workers fetch), with the
 * execution context's `waitUntil` (awaited by `settle()`).
 */
import { afterAll, beforeAll, vi } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { formatIssue, isError } from "../../shared/config/issues.ts";
import { parseConfigText } from "../../shared/config/parse.ts";
import type { ConformanceContext } from "../../test/conformance/context.ts";
import { registerConformanceSuite } from "../../test/conformance/suite.ts";
import { createEdgeHandler, type EdgeHandler } from "../src/handler.ts";
import { call, ports, pushConfig, settle } from "./helpers.ts";

/** The edge's stdout/stderr access loggers write with console.log / console.error; these capture them. */
const logged: string[] = [];
let spies: { mockRestore(): void }[] = [];

beforeAll(() => {
  const capture = (original: (...args: unknown[]) => void) => (...args: unknown[]) => {
    const [line] = args;
    if (typeof line === "string" && !line.startsWith("[legate] ")) logged.push(line);
    else original(...args);
  };
  // Pass-through wrappers: Legate's own log lines still reach the console; access log lines are kept.
  const log = console.log.bind(console);
  const error = console.error.bind(console);
  spies = [vi.spyOn(console, "log").mockImplementation(capture(log)), vi.spyOn(console, "error").mockImplementation(capture(error))];
});

afterAll(() => {
  for (const s of spies) s.mockRestore();
});

let handler: EdgeHandler | undefined;

function current(): EdgeHandler {
  if (!handler) throw new Error("conformance case sent a request before loadConfig");
  return handler;
}

const ctx: ConformanceContext = {
  runtime: "workerd",
  async loadConfig(config) {
    let value: unknown = config;
    if (typeof config === "string") {
      const parsed = parseConfigText(config);
      if (parsed.issues.length) throw new Error(parsed.issues.map(formatIssue).join("\n"));
      value = parsed.value;
    }
    // The edge compiles what KV holds and refuses what does not compile; report why up front.
    const { issues } = compileBootstrap(value);
    const errors = issues.filter(isError);
    if (errors.length) throw new Error(errors.map(formatIssue).join("\n"));
    await settle();
    await pushConfig(value);
    handler = createEdgeHandler();
    logged.length = 0;
    // Load it now (the first request would), so a config the edge cannot run fails here, not in a case.
    const ready = await call(handler, new Request("http://conformance.invalid/__legate/admin/ready", { headers: { authorization: "Bearer conformance" } }), { LEGATE_ADMIN_TOKEN: "conformance" });
    const state = await ready.text();
    if (ready.status !== 200) throw new Error(`the edge did not load the config (admin /ready: ${ready.status} ${state})`);
  },
  request(input, options) {
    if (options?.clientAddress === undefined) return call(current(), input);
    // Cloudflare tells a Worker the client's address in cf-connecting-ip (replacing any the client sent).
    const headers = new Headers(input.headers);
    headers.set("cf-connecting-ip", options.clientAddress);
    return call(current(), new Request(input, { headers }));
  },
  get upstreamPorts() {
    return ports.all;
  },
  get closedPort() {
    return ports.closed;
  },
  async stat(name) {
    return current().stats.values().get(name);
  },
  async settle() {
    await settle();
    // Stream completion runs when the body's last read resolves; give it the turn it needs.
    await new Promise((r) => setTimeout(r, 0));
  },
  accessLog: () => [...logged],
};

registerConformanceSuite(ctx);
