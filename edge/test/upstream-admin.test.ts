import { describe, expect, it } from "vitest";
import { createEdgeHandler } from "../src/handler.ts";
import { call, ports, pushConfig, settle } from "./helpers.ts";
import { admin, bootstrapWith, hostLines, sleep, withToken } from "./upstream-helpers.ts";

describe("/__legate/admin/clusters", () => {
  it("lists every cluster with Envoy's breaker lines and its hosts with locality, priority and health", async () => {
    const config = bootstrapWith({ clusters: { a: [ports.a, ports.b], spare: [ports.c] } }, {
      a: {
        circuit_breakers: { thresholds: [{ max_requests: 7, track_remaining: true }, { priority: "HIGH", max_retries: 9 }] },
        outlier_detection: {},
        load_assignment: {
          cluster_name: "a",
          endpoints: [
            { locality: { region: "eu", zone: "eu-1" }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.a } } }, load_balancing_weight: 3 }] },
            { priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.b } } } }] },
          ],
        },
      },
    });
    await pushConfig(config);
    const handler = createEdgeHandler();
    const res = await admin(handler, "/clusters");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const text = await res.text();
    const lines = text.split("\n");
    expect(lines.slice(0, 10)).toEqual([
      "a::observability_name::a",
      "a::default_priority::max_connections::1024",
      "a::default_priority::max_pending_requests::1024",
      "a::default_priority::max_requests::7",
      "a::default_priority::max_retries::3",
      "a::high_priority::max_connections::1024",
      "a::high_priority::max_pending_requests::1024",
      "a::high_priority::max_requests::1024",
      "a::high_priority::max_retries::9",
      "a::added_via_api::false",
    ]);
    expect(lines).toContain("a::outlier::success_rate_average::-1");
    expect(lines).toContain("spare::observability_name::spare");
    const hostA = hostLines(text, "a", `127.0.0.1:${ports.a}`);
    expect(hostA).toEqual(expect.arrayContaining(["health_flags::healthy", "weight::3", "region::eu", "zone::eu-1", "sub_zone::", "priority::0", "success_rate::-1"]));
    expect(hostLines(text, "a", `127.0.0.1:${ports.b}`)).toContain("priority::1");
    expect(hostLines(text, "spare", `127.0.0.1:${ports.c}`)).toContain("rq_total::0");

    const json = (await (await admin(handler, "/clusters?format=json")).json()) as { cluster_statuses: { name: string; host_statuses: { address: unknown; priority: number }[]; circuit_breakers: unknown }[] };
    expect(json.cluster_statuses.map((c) => c.name)).toEqual(["a", "spare"]);
    expect(json.cluster_statuses[0]!.host_statuses.map((h) => [h.address, h.priority])).toEqual([
      [{ socket_address: { address: "127.0.0.1", port_value: ports.a } }, 0],
      [{ socket_address: { address: "127.0.0.1", port_value: ports.b } }, 1],
    ]);
    expect(json.cluster_statuses[0]!.circuit_breakers).toEqual({
      thresholds: [
        { max_connections: 1024, max_pending_requests: 1024, max_requests: 7, max_retries: 3 },
        { priority: "HIGH", max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 9 },
      ],
    });
    expect((await admin(handler, "/clusters?format=xml")).status).toBe(400);
  });

  it("counts requests per host live, in this isolate", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a, ports.b] } }, {}));
    const handler = createEdgeHandler();
    for (let i = 0; i < 4; i++) {
      const res = await call(handler, new Request("http://front.example/x"), withToken);
      expect(res.status).toBe(200);
      await res.text();
    }
    await settle();
    const text = await (await admin(handler, "/clusters")).text();
    for (const port of [ports.a, ports.b]) {
      expect(hostLines(text, "a", `127.0.0.1:${port}`)).toEqual(expect.arrayContaining(["rq_total::2", "rq_success::2", "rq_active::0", "health_flags::healthy"]));
    }
    expect(text).toContain("a::default_priority::rq_active::0\n");
  });

  // Breakers and outlier detection themselves are in the conformance suite (circuit-breakers, outlier-detection);
  // these check what /clusters shows of them while they act.
  it("shows a breaker's open requests live", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, { a: { circuit_breakers: { thresholds: [{ max_requests: 1 }] } } }));
    const handler = createEdgeHandler();
    const id = `admin-cb-${crypto.randomUUID()}`;
    const held = await call(handler, new Request(`http://front.example/stream?id=${id}`), withToken);
    const reader = held.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first\n");
    expect(await (await admin(handler, "/clusters")).text()).toContain("a::default_priority::rq_open::1\n");
    await (await fetch(`http://127.0.0.1:${ports.a}/release?id=${id}`)).text();
    let rest = "";
    for (let i = 0; i < 10; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe("second\n");
    await settle();
    expect(await (await admin(handler, "/clusters")).text()).toContain("a::default_priority::rq_open::0\n");
  });

  it("marks an ejected host failed_outlier_check, and healthy again once base_ejection_time has passed", async () => {
    await pushConfig(bootstrapWith({ clusters: { a: [ports.a] } }, {
      a: { outlier_detection: { consecutive_5xx: 2, interval: "0.1s", base_ejection_time: "0.2s", max_ejection_percent: 100 } },
    }));
    const handler = createEdgeHandler();
    const host = `127.0.0.1:${ports.a}`;
    for (const status of ["502", "503"]) {
      const res = await call(handler, new Request("http://front.example/od", { headers: { "x-echo-status": status } }), withToken);
      await res.text();
    }
    await settle();
    expect(hostLines(await (await admin(handler, "/clusters")).text(), "a", host)).toContain("health_flags::/failed_outlier_check");
    // The sweep that returns it runs on traffic (every 0.1 s); the ejected only host still serves (panic).
    let healthy = false;
    for (let i = 0; i < 40 && !healthy; i++) {
      await sleep(25);
      const res = await call(handler, new Request("http://front.example/od"), withToken);
      await res.text();
      await settle();
      healthy = hostLines(await (await admin(handler, "/clusters")).text(), "a", host).includes("health_flags::healthy");
    }
    expect(healthy).toBe(true);
  });
});
