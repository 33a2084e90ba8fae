/**
 * `legate endpoints set|add|remove|drain|undrain|get|list|delete` against the local state
 * `wrangler dev` reads: every stored document is read back with a second miniflare and must be one
 * that `parseEndpointsDocument` (what both tiers run) accepts; every refusal must leave KV as it was.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { endpointsKey, type EndpointsDocument, parseEndpointsDocument } from "../../shared/kv/endpoints.ts";
import { parseEndpointsArgs, parseHostPort } from "../../tcp-tier/src/cli/endpoints-commands.ts";
import { localKvTarget } from "../../tcp-tier/src/cli/kv/local.ts";
import { removeTempDirs, runCliCaptured, runLegate, tempDir } from "./helpers.ts";

const NS = "00000000000000000000000000000000";

afterAll(() => removeTempDirs());

const legate = (dir: string, ...argv: string[]): ReturnType<typeof runCliCaptured> => runCliCaptured([...argv, "--persist-to", dir, "--namespace-id", NS], dir);

async function kv<T>(dir: string, f: (t: ReturnType<typeof localKvTarget>) => Promise<T>): Promise<T> {
  const t = localKvTarget({ persistTo: dir, namespaceId: NS });
  try {
    return await f(t);
  } finally {
    await t.close();
  }
}

const rawDoc = (dir: string, service: string): Promise<string | null> => kv(dir, (t) => t.get(endpointsKey(service)));

/** The stored document, which the tiers' parser must accept. */
async function stored(dir: string, service: string): Promise<{ doc: EndpointsDocument; addresses: string[] }> {
  const text = await rawDoc(dir, service);
  expect(text).not.toBeNull();
  const parsed = parseEndpointsDocument(text!, service);
  if (!parsed.ok) throw new Error(`stored document refused: ${parsed.error}`);
  const addresses = parsed.endpoints.map((e) => `${e.address}:${e.port} p${e.priority ?? 0} w${e.weight}${e.locality ? ` ${e.locality.region}/${e.locality.zone}/${e.locality.subZone}` : ""}${e.healthStatus ? ` ${e.healthStatus}` : ""}`);
  return { doc: parsed.document, addresses };
}

const sa = (address: string, port: number): Record<string, unknown> => ({ endpoint: { address: { socket_address: { address, port_value: port } } } });

const YAML = `# two hosts in one zone
endpoints:
- locality: { region: eu-west, zone: a }
  lb_endpoints:
  - endpoint: { address: { socket_address: { address: 10.0.0.1, port_value: 8080 } } }
  - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 8080 } } }
    load_balancing_weight: 3
policy: { overprovisioning_factor: 120 }
`;

describe("legate endpoints", () => {
  it("parses its arguments and refuses bad ones", () => {
    expect(parseEndpointsArgs(["add", "svc", "10.0.0.1:80", "--weight", "2", "--priority", "1", "--region", "r", "--sub-zone", "s", "--remote"])).toEqual({
      target: "remote",
      action: "add",
      service: "svc",
      address: { host: "10.0.0.1", port: 80 },
      weight: 2,
      priority: 1,
      locality: { region: "r", sub_zone: "s" },
    });
    expect(parseEndpointsArgs(["set", "svc", "-"])).toEqual({ target: "local", action: "set", service: "svc", file: "-" });
    expect(parseEndpointsArgs(["get", "svc", "--json"])).toEqual({ target: "local", action: "get", service: "svc", json: true });
    expect(parseEndpointsArgs(["add", "svc", "h:1", "--health-status", "draining"])).toMatchObject({ healthStatus: "DRAINING" });
    expect(parseEndpointsArgs(["--help"])).toBe("help");
    expect(() => parseEndpointsArgs(["set", "svc"])).toThrow(/<service> <file\|->/);
    expect(() => parseEndpointsArgs(["list", "svc"])).toThrow(/no arguments/);
    expect(() => parseEndpointsArgs(["frob"])).toThrow(/unknown action 'frob'/);
    expect(() => parseEndpointsArgs([])).toThrow(/needs an action/);
    expect(() => parseEndpointsArgs(["remove", "svc", "h:1", "--weight", "2"])).toThrow(/--weight applies to 'endpoints add' only/);
    expect(() => parseEndpointsArgs(["list", "--json"])).toThrow(/--json applies/);
    expect(() => parseEndpointsArgs(["add", "svc", "h:1", "--weight", "-1"])).toThrow();
    expect(() => parseEndpointsArgs(["add", "svc", "h:1", "--weight", "x"])).toThrow(/not an unsigned integer/);
    expect(() => parseEndpointsArgs(["get", ""])).toThrow(/must not be empty/);
    expect(() => parseEndpointsArgs(["get", "x".repeat(600)])).toThrow(/too long/);
    expect(() => parseEndpointsArgs(["list", "--local", "--remote"])).toThrow(/exclude/);
  });

  it("parses endpoint addresses: IPv4, host names, bracketed IPv6", () => {
    expect(parseHostPort("10.0.0.1:8080")).toEqual({ host: "10.0.0.1", port: 8080 });
    expect(parseHostPort("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
    expect(parseHostPort("[2001:db8::5]:443")).toEqual({ host: "2001:db8::5", port: 443 });
    expect(parseHostPort("api-1.internal.example:9000")).toEqual({ host: "api-1.internal.example", port: 9000 });
    expect(() => parseHostPort("::1:8080")).toThrow(/IPv6 address goes in brackets/);
    expect(() => parseHostPort("10.0.0.1")).toThrow(/no port/);
    expect(() => parseHostPort("10.0.0.1:0")).toThrow(/port '0' is not 1 to 65535/);
    expect(() => parseHostPort("10.0.0.1:65536")).toThrow(/port/);
    expect(() => parseHostPort("10.0.0.256:80")).toThrow(/neither an IPv4 address nor a host name/);
    expect(() => parseHostPort("bad_host:80")).toThrow(/neither/);
    expect(() => parseHostPort(":80")).toThrow(/no host/);
    expect(() => parseHostPort("[10.0.0.1]:80")).toThrow(/not an IPv6 address/);
  });

  it("set from YAML, JSON and stdin stores canonical documents the tiers accept", async () => {
    const dir = tempDir("legate-eds-set-");
    writeFileSync(join(dir, "a.yaml"), YAML);
    const set1 = await legate(dir, "endpoints", "set", "api", "a.yaml");
    expect(set1).toMatchObject({ code: 0, stderr: "" });
    expect(set1.stdout).toMatch(/^set the endpoints of 'api' in local KV .*\(endpoints version 1, 2 endpoints\)\n$/);
    const first = await stored(dir, "api");
    expect(first.doc.version).toBe(1);
    expect(first.doc.cluster_load_assignment.cluster_name).toBe("api");
    expect(first.doc.cluster_load_assignment.policy).toEqual({ overprovisioning_factor: 120 });
    expect(first.addresses).toEqual(["10.0.0.1:8080 p0 w1 eu-west/a/", "10.0.0.2:8080 p0 w3 eu-west/a/"]);

    // The same assignment as JSON (lowerCamel names, as protobuf's JSON mapping allows): nothing to write.
    const json = { clusterName: "api", endpoints: [{ locality: { zone: "a", region: "eu-west" }, lbEndpoints: [sa("10.0.0.1", 8080), { ...sa("10.0.0.2", 8080), loadBalancingWeight: 3 }] }], policy: { overprovisioningFactor: 120 } };
    writeFileSync(join(dir, "a.json"), JSON.stringify(json));
    const same = await legate(dir, "endpoints", "set", "api", "a.json");
    expect(same).toMatchObject({ code: 0, stderr: "" });
    expect(same.stdout).toMatch(/^unchanged: .*version 1.*nothing written/);

    json.endpoints[0]!.lbEndpoints.pop();
    writeFileSync(join(dir, "a.json"), JSON.stringify(json));
    expect((await legate(dir, "endpoints", "set", "api", "a.json")).stdout).toMatch(/endpoints version 2, 1 endpoint\)/);
    const second = await stored(dir, "api");
    expect(second.addresses).toEqual(["10.0.0.1:8080 p0 w1 eu-west/a/"]);
    // KV's one write per second per key.
    expect(Date.parse(second.doc.updated_at) - Date.parse(first.doc.updated_at)).toBeGreaterThanOrEqual(1000);

    // stdin, through the real executable.
    const input = "endpoints:\n- lb_endpoints:\n  - endpoint: { address: { socket_address: { address: '::1', port_value: 9000 } } }\n";
    const piped = await runLegate(["endpoints", "set", "api", "-", "--persist-to", dir, "--namespace-id", NS], { cwd: dir, input });
    expect(piped).toMatchObject({ code: 0, stderr: "" });
    expect(piped.stdout).toMatch(/endpoints version 3, 1 endpoint\)/);
    expect((await stored(dir, "api")).addresses).toEqual(["::1:9000 p0 w1"]);

    // get --json prints the stored document, and set takes it back (nothing changes).
    const got = await legate(dir, "endpoints", "get", "api", "--json");
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual(JSON.parse((await rawDoc(dir, "api"))!));
    writeFileSync(join(dir, "doc.json"), got.stdout);
    expect((await legate(dir, "endpoints", "set", "api", "doc.json")).stdout).toMatch(/^unchanged/);
    // get prints YAML with a header comment; as input to set it is the same assignment.
    const yaml = await legate(dir, "endpoints", "get", "api");
    expect(yaml.stdout).toMatch(/^# endpoints of 'api' in local KV .*: version 3, updated \d{4}-/);
    expect(yaml.stdout).toContain("port_value: 9000");
    writeFileSync(join(dir, "got.yaml"), yaml.stdout);
    expect((await legate(dir, "endpoints", "set", "api", "got.yaml")).stdout).toMatch(/^unchanged/);

    const missing = await legate(dir, "endpoints", "get", "nope");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no endpoints for 'nope'/);
  }, 60_000);

  it("add, replace, remove, drain, undrain, list and delete edit one versioned document", async () => {
    const dir = tempDir("legate-eds-edit-");
    // add creates the document.
    const add1 = await legate(dir, "endpoints", "add", "web", "10.0.0.1:80");
    expect(add1).toMatchObject({ code: 0, stderr: "" });
    expect(add1.stdout).toMatch(/^added 10\.0\.0\.1:80 in 'web' in local KV .*\(endpoints version 1, 1 endpoint\)/);
    // Same priority and locality (none): the same group.
    await legate(dir, "endpoints", "add", "web", "10.0.0.2:80", "--weight", "5");
    // Another locality, and another priority: new groups.
    await legate(dir, "endpoints", "add", "web", "10.0.1.1:80", "--region", "us", "--zone", "b");
    await legate(dir, "endpoints", "add", "web", "[::1]:80", "--priority", "1");
    await legate(dir, "endpoints", "add", "web", "10.0.1.2:80", "--region", "us", "--zone", "b");
    let s = await stored(dir, "web");
    expect(s.doc.version).toBe(5);
    expect(s.addresses).toEqual(["10.0.0.1:80 p0 w1", "10.0.0.2:80 p0 w5", "10.0.1.1:80 p0 w1 us/b/", "10.0.1.2:80 p0 w1 us/b/", "::1:80 p1 w1"]);
    const groups = s.doc.cluster_load_assignment.endpoints as { lb_endpoints: unknown[] }[];
    expect(groups.map((g) => g.lb_endpoints.length)).toEqual([2, 2, 1]);

    // The same address again replaces it in place; with other priority/locality it moves there.
    const replace = await legate(dir, "endpoints", "add", "web", "10.0.0.2:80", "--weight", "7");
    expect(replace.stdout).toMatch(/^replaced 10\.0\.0\.2:80 in 'web'.*version 6, 5 endpoints/);
    expect((await legate(dir, "endpoints", "add", "web", "10.0.0.2:80", "--weight", "7")).stdout).toMatch(/^unchanged/);
    await legate(dir, "endpoints", "add", "web", "10.0.0.1:80", "--region", "us", "--zone", "b");
    s = await stored(dir, "web");
    expect(s.doc.version).toBe(7);
    expect(s.addresses).toEqual(["10.0.0.2:80 p0 w7", "10.0.1.1:80 p0 w1 us/b/", "10.0.1.2:80 p0 w1 us/b/", "10.0.0.1:80 p0 w1 us/b/", "::1:80 p1 w1"]);

    // drain / undrain.
    const drain = await legate(dir, "endpoints", "drain", "web", "10.0.1.1:80");
    expect(drain.stdout).toMatch(/^drained 10\.0\.1\.1:80 in 'web'.*version 8/);
    expect((await stored(dir, "web")).addresses).toContain("10.0.1.1:80 p0 w1 us/b/ DRAINING");
    expect((await legate(dir, "endpoints", "drain", "web", "10.0.1.1:80")).stdout).toMatch(/^unchanged/);
    const list = await legate(dir, "endpoints", "list");
    expect(list.stdout).toMatch(/^endpoints in local KV .*:\n {2}web: 5 endpoints \(1 draining\), version 8, updated \d{4}-.*\n$/);
    expect((await legate(dir, "endpoints", "undrain", "web", "10.0.1.1:80")).stdout).toMatch(/^undrained .*version 9/);
    s = await stored(dir, "web");
    expect(s.addresses.filter((x) => x.includes("DRAINING"))).toEqual([]);
    expect(JSON.stringify(s.doc.cluster_load_assignment)).not.toContain("health_status");
    // add --health-status.
    await legate(dir, "endpoints", "add", "web", "10.0.0.9:80", "--health-status", "unhealthy");
    expect((await stored(dir, "web")).addresses).toContain("10.0.0.9:80 p0 w1 UNHEALTHY");

    // remove; the priority-1 group, left empty, is dropped.
    expect((await legate(dir, "endpoints", "remove", "web", "[::1]:80")).stdout).toMatch(/^removed \[::1\]:80 in 'web'.*version 11/);
    s = await stored(dir, "web");
    expect(s.addresses.some((x) => x.startsWith("::1"))).toBe(false);
    expect((s.doc.cluster_load_assignment.endpoints as unknown[]).length).toBe(2);
    const absent = await legate(dir, "endpoints", "remove", "web", "[::1]:80");
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/\[::1\]:80 is not an endpoint of 'web'/);
    expect((await legate(dir, "endpoints", "drain", "other", "10.0.0.1:80")).stderr).toMatch(/not an endpoint of 'other'.*has no endpoints/);
    expect((await stored(dir, "web")).doc.version).toBe(11);

    // Several services: list shows each.
    await legate(dir, "endpoints", "add", "a b/c", "10.9.9.9:1");
    expect(await rawDoc(dir, "a b/c")).not.toBeNull();
    expect((await legate(dir, "endpoints", "list")).stdout).toMatch(/\n {2}a b\/c: 1 endpoint, version 1, .*\n {2}web: 5 endpoints, version 11, /);

    // delete removes the key; again is "unchanged".
    const del = await legate(dir, "endpoints", "delete", "web");
    expect(del).toMatchObject({ code: 0, stderr: "" });
    expect(del.stdout).toMatch(/^deleted legate\/endpoints\/web from local KV .*'web' now has no endpoints/);
    expect(await rawDoc(dir, "web")).toBeNull();
    expect((await legate(dir, "endpoints", "delete", "web")).stdout).toMatch(/^unchanged: no endpoints for 'web'/);
    expect((await legate(dir, "endpoints", "list")).stdout).not.toContain("web");
  }, 90_000);

  it("refuses invalid assignments and addresses, naming the path, and writes nothing", async () => {
    const dir = tempDir("legate-eds-refuse-");
    writeFileSync(join(dir, "a.yaml"), YAML);
    await legate(dir, "endpoints", "set", "api", "a.yaml");
    const before = await rawDoc(dir, "api");
    expect(before).not.toBeNull();

    const refuse = async (argv: string[], message: RegExp): Promise<void> => {
      const r = await legate(dir, ...argv);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(message);
      expect(await rawDoc(dir, "api")).toBe(before);
    };
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return name;
    };

    await refuse(["endpoints", "add", "api", "10.0.0.1"], /'10\.0\.0\.1' is not an endpoint address: no port/);
    await refuse(["endpoints", "add", "api", "::1:80"], /IPv6 address goes in brackets/);
    await refuse(
      ["endpoints", "set", "api", file("degraded.yaml", YAML.replace("load_balancing_weight: 3", "health_status: DEGRADED"))],
      /^cluster_load_assignment\.endpoints\[0\]\.lb_endpoints\[1\]\.health_status: Envoy feature not supported by Legate: DEGRADED .*\nendpoints refused: nothing was written to 'api'/,
    );
    await refuse(["endpoints", "add", "api", "10.0.0.1:8080", "--region", "eu-west", "--zone", "a", "--health-status", "DEGRADED"], /^cluster_load_assignment\.endpoints\[0\]\.lb_endpoints\[0\]\.health_status: .*DEGRADED/);
    await refuse(["endpoints", "set", "api", file("name.yaml", `cluster_name: other\n${YAML}`)], /cluster_load_assignment\.cluster_name is "other", expected the EDS service name "api"/);
    await refuse(["endpoints", "set", "api", file("unknown.yaml", YAML.replace("load_balancing_weight: 3", "frobnicate: 3"))], /cluster_load_assignment\.endpoints\[0\]\.lb_endpoints\[1\]\.frobnicate: not valid Envoy configuration: unknown field `frobnicate`/);
    await refuse(["endpoints", "set", "api", file("named.yaml", "endpoints:\n- lb_endpoints:\n  - endpoint_name: x\n")], /cluster_load_assignment\.endpoints\[0\]\.lb_endpoints\[0\]\.endpoint_name: .*named endpoints/);
    await refuse(["endpoints", "set", "api", file("drop.yaml", "policy: { drop_overloads: [{ category: lb, drop_percentage: { numerator: 1 } }] }\n")], /cluster_load_assignment\.policy\.drop_overloads: .*not supported by Legate/);
    await refuse(["endpoints", "add", "api", "10.0.0.7:80", "--weight", "0"], /load_balancing_weight/);
    await refuse(["endpoints", "add", "api", "10.0.0.7:80", "--priority", "129"], /priority/);
    await refuse(["endpoints", "set", "api", file("bad.yaml", "endpoints: [\n")], /bad\.yaml: cannot parse as YAML or JSON/);
    await refuse(["endpoints", "set", "api", file("list.yaml", "- 1\n")], /^list\.yaml: the assignment must be a mapping/);
    await refuse(["endpoints", "set", "api", "missing.yaml"], /^error: .*missing\.yaml/);
    await refuse(["endpoints", "frob"], /unknown action 'frob'/);
  }, 90_000);

  it("a stored document that does not parse: edits are refused, set replaces it with the next version", async () => {
    const dir = tempDir("legate-eds-bad-");
    await kv(dir, (t) => t.put(endpointsKey("api"), JSON.stringify({ version: 4, updated_at: "2026-01-01T00:00:00.000Z", cluster_load_assignment: { cluster_name: "other" } })));
    const add = await legate(dir, "endpoints", "add", "api", "10.0.0.1:80");
    expect(add.code).toBe(1);
    expect(add.stderr).toMatch(/legate\/endpoints\/api in local KV .* is not a valid endpoints document .*cluster_name.*LEGATE_KV_DATA/);
    expect((await legate(dir, "endpoints", "get", "api")).stderr).toMatch(/LEGATE_KV_DATA/);
    expect((await legate(dir, "endpoints", "list")).stdout).toMatch(/api: not a valid document/);
    writeFileSync(join(dir, "a.yaml"), YAML);
    expect((await legate(dir, "endpoints", "set", "api", "a.yaml")).stdout).toMatch(/endpoints version 5, 2 endpoints/);
    expect((await stored(dir, "api")).doc.version).toBe(5);
  }, 60_000);

  it("legate status lists the EDS documents", async () => {
    const dir = tempDir("legate-eds-status-");
    expect((await legate(dir, "status")).stdout).toContain("  endpoints: no EDS documents\n");
    await legate(dir, "endpoints", "add", "svc", "10.0.0.1:80");
    await legate(dir, "endpoints", "add", "svc", "10.0.0.2:80", "--health-status", "DRAINING");
    expect((await legate(dir, "status")).stdout).toMatch(/\n {2}endpoints: svc: 2 endpoints \(1 draining\), version 2, updated /);
  }, 60_000);
});
