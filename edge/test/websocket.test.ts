/**
 * WebSocket upgrades proxied by the edge: HCM and route upgrade_configs decide (Envoy's table), the
 * Worker accepts the client with a WebSocketPair, connects upstream with fetch + `Upgrade: websocket`,
 * pumps messages both ways and propagates close. Upstream: the echo servers' `/ws`.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compileBootstrap } from "../../shared/config/compile.ts";
import { formatIssue } from "../../shared/config/issues.ts";
import type { HttpConnectionManagerModel } from "../../shared/config/model.ts";
import { createHttpEngine, type HttpEngine } from "../../shared/http/engine.ts";
import { StatsStore } from "../../shared/stats/store.ts";
import { fetchTransport } from "../src/upstream-transport.ts";
import { edgeWebSocket } from "../src/websocket.ts";
import { bootstrap, ports, pushConfig } from "./helpers.ts";

type Json = Record<string, unknown>;

interface Built {
  engine: HttpEngine;
  stats: StatsStore;
  logs: string[];
}

function build(hcm: Json, routes?: Json[]): Built {
  const config = bootstrap({
    hcm: {
      ...hcm,
      access_log: [{
        name: "envoy.access_loggers.stdout",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_HOST%\n" } },
      }],
    },
    ...(routes ? { virtualHosts: [{ name: "vh", domains: ["*"], routes }] } : {}),
  });
  const { model, issues } = compileBootstrap(config);
  if (!model) throw new Error(issues.map(formatIssue).join("\n"));
  const stats = new StatsStore();
  const logs: string[] = [];
  const capture = (entry: string) => void logs.push(entry.replace(/\n$/, ""));
  const engine = createHttpEngine({
    hcm: model.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel,
    clusters: model.clusters,
    transport: fetchTransport,
    stats,
    websocket: edgeWebSocket,
    accessLogSinks: { stdout: capture, stderr: capture },
  });
  return { engine, stats, logs };
}

const WS = { upgrade_configs: [{ upgrade_type: "websocket" }] };

function upgradeRequest(path: string): Request {
  return new Request(`http://front.example${path}`, { headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
}

/** Opens a proxied WebSocket: the client end, accepted. */
async function open(engine: HttpEngine, path: string): Promise<{ res: Response; ws: WebSocket }> {
  const res = await engine.handle(upgradeRequest(path));
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  expect(ws).toBeTruthy();
  ws.accept();
  return { res, ws };
}

/** Messages and close of a client socket, awaited one at a time (bounded by the test timeout). */
function inbox(ws: WebSocket) {
  const messages: (string | ArrayBuffer)[] = [];
  const waiting: (() => void)[] = [];
  let closed: { code: number; reason: string } | undefined;
  const wake = () => waiting.splice(0).forEach((w) => w());
  ws.addEventListener("message", (e) => {
    messages.push(e.data as string | ArrayBuffer);
    wake();
  });
  ws.addEventListener("close", (e) => {
    closed = { code: e.code, reason: e.reason };
    wake();
  });
  return {
    async next(): Promise<string | ArrayBuffer> {
      while (messages.length === 0) {
        if (closed) throw new Error(`closed ${closed.code}`);
        await new Promise<void>((r) => waiting.push(r));
      }
      return messages.shift()!;
    },
    async closed(): Promise<{ code: number; reason: string }> {
      while (!closed) await new Promise<void>((r) => waiting.push(r));
      return closed;
    },
  };
}

async function echoWs(key: string): Promise<{ opened: number; closes: { code: number; reason: string }[] }> {
  return (await (await fetch(`http://127.0.0.1:${ports.a}/__echo/ws?key=${key}`)).json()) as { opened: number; closes: { code: number; reason: string }[] };
}

/** Polls the echo server (bounded) until it saw a close for `key`. */
async function upstreamCloses(key: string): Promise<{ code: number; reason: string }[]> {
  for (let i = 0; i < 100; i++) {
    const seen = await echoWs(key);
    if (seen.closes.length) return seen.closes;
    await new Promise((r) => setTimeout(r, 10));
  }
  return [];
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe("WebSocket through the edge", () => {
  it("proxies text and binary messages both ways and the client's close to the upstream", async () => {
    const { engine, stats, logs } = build(WS);
    const key = crypto.randomUUID();
    const { ws } = await open(engine, `/ws?key=${key}`);
    const box = inbox(ws);
    ws.send("hello");
    expect(await box.next()).toBe("a: hello");
    ws.send(new Uint8Array([1, 2, 3]));
    const bin = await box.next();
    expect(new Uint8Array(bin as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    ws.send("__headers");
    const upstreamHeaders = JSON.parse((await box.next()) as string) as Record<string, string>;
    expect(upstreamHeaders.upgrade?.toLowerCase()).toBe("websocket");
    expect(upstreamHeaders["x-forwarded-host"]).toBe("front.example");
    expect(upstreamHeaders["x-legate-upgrade-stream"]).toBeUndefined();
    expect(stats.values().get("http.ingress_http.downstream_cx_upgrades_total")).toBe(1);
    expect(stats.values().get("http.ingress_http.downstream_cx_upgrades_active")).toBe(1);
    expect(stats.values().get("cluster.a.upstream_rq_101")).toBe(1);

    ws.close(4001, "bye");
    expect(await upstreamCloses(key)).toEqual([{ code: 4001, reason: "bye" }]);
    await until(() => logs.length > 0);
    expect(stats.values().get("http.ingress_http.downstream_cx_upgrades_active")).toBe(0);
    expect(stats.values().get("http.ingress_http.downstream_rq_1xx")).toBe(1);
    // rx: "hello" (5) + 3 bytes + "__headers" (9); tx: "a: hello" (8) + 3 bytes + the headers JSON.
    const [code, flags, rx, tx, host] = logs[0]!.split(" ");
    expect([code, flags, rx, host]).toEqual(["101", "-", "17", `127.0.0.1:${ports.a}`]);
    expect(Number(tx)).toBeGreaterThan(11);
  });

  it("hands back the subprotocol the upstream chose, without the upstream's own handshake headers", async () => {
    const { engine } = build(WS);
    const req = upgradeRequest("/ws");
    req.headers.set("sec-websocket-protocol", "chat, superchat");
    const res = await engine.handle(req);
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("chat");
    expect(res.headers.get("sec-websocket-accept")).toBeNull();
    res.webSocket!.accept();
    res.webSocket!.close(1000);
  });

  it("propagates the upstream's close, with its code and reason, to the client", async () => {
    const { engine } = build(WS);
    const { ws } = await open(engine, "/ws");
    const box = inbox(ws);
    ws.send("__close 4002 done");
    expect(await box.closed()).toEqual({ code: 4002, reason: "done" });
  });

  it("answers 403 upgrade_failed, as Envoy, when the HCM has no upgrade_configs", async () => {
    const { engine, stats, logs } = build({});
    const res = await engine.handle(upgradeRequest("/ws"));
    expect(res.status).toBe(403);
    expect(await res.text()).toBe("");
    expect(stats.values().get("http.ingress_http.downstream_rq_ws_on_non_ws_route")).toBe(1);
    expect(logs).toEqual(["403 - 0 0 -"]);
  });

  it("lets a route disable an upgrade the HCM enables, and enable one the HCM disables", async () => {
    const routes = [
      { match: { prefix: "/off" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "websocket", enabled: false }] } },
      { match: { prefix: "/on" }, route: { cluster: "a", upgrade_configs: [{ upgrade_type: "WebSocket" }] } },
      { match: { prefix: "/" }, route: { cluster: "a" } },
    ];
    const enabled = build(WS, routes);
    expect((await enabled.engine.handle(upgradeRequest("/off/ws"))).status).toBe(403);
    const viaDefault = await open(enabled.engine, "/ws");
    viaDefault.ws.close(1000);

    const disabled = build({ upgrade_configs: [{ upgrade_type: "websocket", enabled: false }] }, routes);
    expect((await disabled.engine.handle(upgradeRequest("/ws"))).status).toBe(403);
    // The echo server answers /on/ws with 404 (its WebSocket path is /ws), which the proxy passes on.
    const onRes = await disabled.engine.handle(upgradeRequest("/on/ws"));
    expect(onRes.status).toBe(404);
    await onRes.arrayBuffer();
  });

  it("passes a refused upgrade (a non-101 answer) through as a plain response", async () => {
    const { engine, stats } = build(WS);
    const res = await engine.handle(upgradeRequest("/not-ws"));
    expect(res.status).toBe(404);
    await res.arrayBuffer();
    await until(() => stats.values().get("http.ingress_http.downstream_cx_upgrades_active") === 0);
    expect(stats.values().get("http.ingress_http.downstream_cx_upgrades_active")).toBe(0);
  });
});

describe("WebSocket through the deployed Worker", () => {
  it("upgrades through the Worker's own handler when the HCM has upgrade_configs", async () => {
    await pushConfig(bootstrap({ hcm: WS }));
    const res = await SELF.fetch(upgradeRequest("/ws"));
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const box = inbox(ws);
    ws.send("via SELF");
    expect(await box.next()).toBe("a: via SELF");
    ws.close(1000, "done");
  });
});
