import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket as WsSocket } from "ws";
import { type EchoServers, startEchoServers } from "../../test/echo-servers.ts";
import { compileBootstrap } from "../config/compile.ts";
import type { HttpConnectionManagerModel } from "../config/model.ts";
import { StatsStore } from "../stats/store.ts";
import { createHttpEngine } from "./engine.ts";
import { type MessageSocket, pumpWebSocket, upgradeAllowed } from "./websocket.ts";

describe("upgradeAllowed (Envoy's HCM/route table)", () => {
  const ws = (enabled: boolean) => [{ upgradeType: "websocket", enabled }];
  it("needs the HCM to list the type; a route that lists it decides, else the HCM does", () => {
    expect(upgradeAllowed(undefined, ws(true), "websocket")).toBe(false);
    expect(upgradeAllowed(ws(true), undefined, "websocket")).toBe(true);
    expect(upgradeAllowed(ws(true), ws(false), "websocket")).toBe(false);
    expect(upgradeAllowed(ws(false), undefined, "websocket")).toBe(false);
    expect(upgradeAllowed(ws(false), ws(true), "websocket")).toBe(true);
    expect(upgradeAllowed(ws(true), undefined, "h2c")).toBe(false);
  });
});

describe("the engine in a tier without WebSocket support", () => {
  it("refuses an HCM with upgrade_configs when it is built", () => {
    const { model } = compileBootstrap({
      static_resources: {
        listeners: [{
          name: "edge", address: { socket_address: { address: "0.0.0.0", port_value: 1 } }, metadata: { filter_metadata: { legate: { edge: true } } },
          filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "s", upgrade_configs: [{ upgrade_type: "websocket" }],
            route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
            http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          } }] }],
        }],
      },
    });
    const hcm = model!.listeners[0]!.filterChains[0]!.filters[0] as HttpConnectionManagerModel;
    expect(() => createHttpEngine({ hcm, clusters: model!.clusters, transport: { fetch: () => Promise.reject(new Error("unused")) }, stats: new StatsStore() }))
      .toThrow(/cannot proxy WebSocket upgrades/);
  });
});

describe("pumpWebSocket between real sockets", () => {
  let echo: EchoServers;
  let front: WebSocketServer;
  let frontPort: number;
  /** Server ends of connections to `front`, in arrival order. */
  const accepted: WsSocket[] = [];
  const arrivals: (() => void)[] = [];

  beforeAll(async () => {
    echo = await startEchoServers();
    front = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    front.on("connection", (s) => {
      accepted.push(s);
      arrivals.splice(0).forEach((f) => f());
    });
    await new Promise<void>((r) => front.once("listening", () => r()));
    frontPort = (front.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const c of front.clients) c.terminate();
    await new Promise<void>((r) => front.close(() => r()));
    await echo.close();
  });

  async function opened(ws: WebSocket): Promise<WebSocket> {
    if (ws.readyState !== WebSocket.OPEN) await new Promise((r) => ws.addEventListener("open", r, { once: true }));
    return ws;
  }

  /** A client connected to `front`, its server end pumped to the echo server's /ws. */
  async function proxied(key: string) {
    const upstream = await opened(new WebSocket(`ws://127.0.0.1:${echo.ports[1]}/ws?key=${key}`));
    const arrived = new Promise<void>((r) => arrivals.push(r));
    const client = await opened(new WebSocket(`ws://127.0.0.1:${frontPort}/`));
    await arrived;
    const server = accepted.shift()!;
    const counted = { rx: 0, tx: 0, ended: 0 };
    pumpWebSocket(server as unknown as MessageSocket, upstream as unknown as MessageSocket, {
      onMessage: (dir, n) => void (counted[dir] += n),
      onEnd: () => void counted.ended++,
    });
    const messages: unknown[] = [];
    const wait: (() => void)[] = [];
    client.addEventListener("message", (e) => {
      messages.push(e.data);
      wait.splice(0).forEach((f) => f());
    });
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((r) => wait.push(r));
      return messages.shift();
    };
    return { client, upstream, counted, next };
  }

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  }

  it("forwards messages both ways, counts their bytes, and passes the client's close on", async () => {
    const key = crypto.randomUUID();
    const { client, counted, next } = await proxied(key);
    client.send("héllo");
    expect(await next()).toBe("b: héllo");
    client.binaryType = "arraybuffer";
    client.send(new Uint8Array([7, 8, 9]));
    expect(new Uint8Array((await next()) as ArrayBuffer)).toEqual(new Uint8Array([7, 8, 9]));
    expect(counted).toEqual({ rx: 6 + 3, tx: 9 + 3, ended: 0 });
    client.close(4005, "done here");
    let closes: { code: number; reason: string }[] = [];
    for (let i = 0; i < 100 && closes.length === 0; i++) {
      closes = ((await (await fetch(`http://127.0.0.1:${echo.ports[0]}/__echo/ws?key=${key}`)).json()) as { closes: typeof closes }).closes;
      if (closes.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(closes).toEqual([{ code: 4005, reason: "done here" }]);
    await until(() => counted.ended === 1);
    expect(counted.ended).toBe(1);
  });

  it("passes the upstream's close on with its code and reason", async () => {
    const { client, counted } = await proxied(crypto.randomUUID());
    const closed = new Promise<{ code: number; reason: string }>((r) => client.addEventListener("close", (e) => r({ code: e.code, reason: e.reason })));
    client.send("__close 4010 upstream says bye");
    expect(await closed).toEqual({ code: 4010, reason: "upstream says bye" });
    await until(() => counted.ended === 1);
    expect(counted.ended).toBe(1);
  });
});
