/**
 * Runtime `upstream.maintenance_mode.<cluster>` in the tcp tier (issue 6's runtime flags, read by both
 * tiers): the share of new tcp_proxy connections it names is closed at once with flag UO and counted in
 * `cluster.<name>.upstream_rq_maintenance_mode`, without a restart; connections already open are left
 * alone. Set here through the admin layer (`/runtime_modify`), which sits on the same layered runtime as
 * the KV layer.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ServerHandle } from "../src/server.ts";
import { echoServer, proxyPort, startYaml, stat, tcpProxyYaml, tryEcho } from "./helpers.ts";

let handle: ServerHandle | undefined;
let upstream: Awaited<ReturnType<typeof echoServer>> | undefined;
afterEach(async () => {
  await handle?.close();
  await upstream?.close();
  handle = upstream = undefined;
});

describe("upstream.maintenance_mode.<cluster> in the tcp tier", () => {
  it("refuses new connections while set (100 %), leaves open ones alone, and follows the runtime without a restart", async () => {
    upstream = await echoServer();
    handle = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${upstream.port}`], admin: true }));
    const port = proxyPort(handle);
    const admin = (path: string) => fetch(`http://127.0.0.1:${handle!.adminAddress!.port}${path}`, { method: "POST" }).then((r) => r.text());
    expect(await tryEcho(port, "before")).toBe("before");

    // A connection opened before the flag keeps working after it.
    const open = connect({ host: "127.0.0.1", port });
    await new Promise((r) => open.once("connect", r));
    open.write("x");
    await new Promise((r) => open.once("data", r));

    expect(await admin("/runtime_modify?upstream.maintenance_mode.up=100")).toBe("OK\n");
    expect(await tryEcho(port, "during")).toBe("");
    expect(await tryEcho(port, "during")).toBe("");
    expect(stat(handle, "cluster.up.upstream_rq_maintenance_mode")).toBe(2);
    const echoed = new Promise<string>((r) => open.once("data", (d: Buffer) => r(d.toString())));
    open.write("still");
    expect(await echoed).toBe("still");
    open.destroy();

    // 50 %: both outcomes over 40 connections (each missing with probability 2^-40).
    await admin("/runtime_modify?upstream.maintenance_mode.up=50");
    const outcomes = new Set<string>();
    for (let i = 0; i < 40; i++) outcomes.add(await tryEcho(port, "half"));
    expect(outcomes).toEqual(new Set(["half", ""]));

    await admin("/runtime_modify?upstream.maintenance_mode.up=");
    expect(await tryEcho(port, "after")).toBe("after");
  });

  it("circuit breaker limits follow the runtime too (circuit_breakers.<cluster>.default.max_pending_requests)", async () => {
    upstream = await echoServer();
    handle = await startYaml(tcpProxyYaml({ endpoints: [`127.0.0.1:${upstream.port}`], admin: true }));
    const port = proxyPort(handle);
    const admin = (path: string) => fetch(`http://127.0.0.1:${handle!.adminAddress!.port}${path}`, { method: "POST" }).then((r) => r.text());
    await admin("/runtime_modify?circuit_breakers.up.default.max_pending_requests=0");
    expect(await tryEcho(port, "refused")).toBe("");
    expect(stat(handle, "cluster.up.upstream_rq_pending_overflow")).toBe(1);
    await admin("/runtime_modify?circuit_breakers.up.default.max_pending_requests=");
    expect(await tryEcho(port, "back")).toBe("back");
  });
});
