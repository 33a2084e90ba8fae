/**
 * `legate endpoints set|add|remove|drain|undrain|get|list|delete`: the endpoints of `type: EDS`
 * clusters, one document per EDS service at `legate/endpoints/<service>` (shared/kv/endpoints.ts,
 * docs/kv-layout.md "Endpoints"). Both tiers poll these keys and follow without a restart or a
 * config push. Same targets and flags as `legate runtime` (`--local` default, `--remote`,
 * `--persist-to`, `--namespace-id`, `--wrangler-config`).
 *
 * Every write is read-modify-write of the whole document with `version` + 1, after the result passed
 * what readers will run on it: Envoy's schema for `ClusterLoadAssignment` with Legate's support table,
 * {@link checkAssignmentShape} and {@link parseEndpointsDocument}. Nothing is written otherwise. KV's one
 * write per second per key is kept as for runtime flags ({@link waitForWriteSlot}). Exit codes: 0 done
 * (including "unchanged"), 1 usage error, refused assignment, missing service or endpoint, KV failure.
 */
import { isIPv4, isIPv6 } from "node:net";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { stringify as toYaml } from "yaml";
import { formatIssue, isError } from "../../../shared/config/issues.ts";
import { parseConfigText } from "../../../shared/config/parse.ts";
import { validateAgainstSchema } from "../../../shared/config/validate.ts";
import { checkAssignmentShape, ENDPOINTS_PREFIX, endpointsKey, type EndpointsDocument, parseEndpointsDocument } from "../../../shared/kv/endpoints.ts";
import { canonicalJson } from "../../../shared/kv/layout.ts";
import { loadEnvoySchema } from "../config/envoy-schema.ts";
import { type KvArgs, kvArgsFromFlags, parseKvCommandLine } from "./args.ts";
import type { ResolvedIo } from "./io.ts";
import { startKvCommand } from "./kv/open.ts";
import { KvError, type KvTarget } from "./kv/target.ts";
import { KV_OPTIONS_USAGE, reportKvFailure, waitForWriteSlot } from "./runtime-commands.ts";

export const ENDPOINTS_USAGE = `usage: legate endpoints set <service> <file|-> [kv options]
       legate endpoints add <service> <host:port> [--weight <n>] [--priority <p>] [--region <r>]
                            [--zone <z>] [--sub-zone <s>] [--health-status <status>] [kv options]
       legate endpoints remove <service> <host:port> [kv options]
       legate endpoints drain <service> <host:port> [kv options]
       legate endpoints undrain <service> <host:port> [kv options]
       legate endpoints get <service> [--json] [kv options]
       legate endpoints list [kv options]
       legate endpoints delete <service> [kv options]

The endpoints of type: EDS clusters in Workers KV (${ENDPOINTS_PREFIX}<service>), one Envoy
ClusterLoadAssignment per EDS service (eds_cluster_config.service_name, default the cluster name).
Both tiers follow changes without a restart or a config push.

  set       replace the whole assignment with a YAML or JSON file (- reads stdin); cluster_name
            defaults to the service
  add       add an endpoint (or replace the one with that address) in the group with the same
            priority and locality (a new group when there is none); IPv6 as [::1]:8080
  remove    remove an endpoint (a group left empty is dropped)
  drain     set its health_status to DRAINING: no new requests or connections go to it
  undrain   clear its health_status (UNKNOWN: it takes traffic again)
  get       print the assignment as YAML (--json: the stored document)
  list      the services with endpoints in KV (needs --local)
  delete    delete the service's key: the cluster then has no endpoints

${KV_OPTIONS_USAGE}`;

const CLA_TYPE = "envoy.config.endpoint.v3.ClusterLoadAssignment";
/** Where the schema walk's paths are rooted in the stored document. */
const DOC_PATH = "cluster_load_assignment";
/** How many keys `list` (and `legate status`) read at most. */
const LIST_LIMIT = 1000;
/** Workers KV's limit on a key's length, in bytes. */
const KV_KEY_MAX = 512;

const ACTIONS = ["set", "add", "remove", "drain", "undrain", "get", "list", "delete"] as const;
type Action = (typeof ACTIONS)[number];
const ADDRESS_ACTIONS: readonly Action[] = ["add", "remove", "drain", "undrain"];

/** An endpoint address from the command line. */
export interface HostPort {
  host: string;
  port: number;
}

interface EndpointsArgs extends KvArgs {
  action: Action;
  service?: string;
  /** `set`: the file, or `-` for stdin. */
  file?: string;
  address?: HostPort;
  /** `add` only. */
  weight?: number;
  priority?: number;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  healthStatus?: string;
  /** `get` only. */
  json?: boolean;
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Parses `host:port`: an IPv4 address or a host name, or `[IPv6]`; throws an Error saying what is wrong. */
export function parseHostPort(text: string): HostPort {
  const bad = (why: string): Error => new Error(`'${text}' is not an endpoint address: ${why} (host:port, IPv6 as [::1]:8080)`);
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    port = v6[2]!;
    if (!isIPv6(host)) throw bad(`'${host}' is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw bad("no port");
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) throw bad(isIPv6(host) ? "an IPv6 address goes in brackets" : "too many ':'");
    if (host === "") throw bad("no host");
    if (/^[\d.]+$/.test(host) ? !isIPv4(host) : !DNS_NAME.test(host)) throw bad(`'${host}' is neither an IPv4 address nor a host name`);
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw bad(`port '${port}' is not 1 to 65535`);
  return { host, port: Number(port) };
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function uintFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value)) throw new Error(`--${name} '${value}' is not an unsigned integer`);
  return Number(value);
}

/** Parses the arguments after `endpoints`; throws an Error with a usage message. */
export function parseEndpointsArgs(argv: readonly string[]): EndpointsArgs | "help" {
  const str = { type: "string" } as const;
  const { values, positionals } = parseKvCommandLine(argv, {
    weight: str,
    priority: str,
    region: str,
    zone: str,
    "sub-zone": str,
    "health-status": str,
    json: { type: "boolean" },
  });
  if (values.help) return "help";
  const [action, ...rest] = positionals;
  if (!(ACTIONS as readonly (string | undefined)[]).includes(action)) {
    throw new Error(action === undefined ? `needs an action: ${ACTIONS.join(", ")}` : `unknown action '${action}' (${ACTIONS.join(", ")})`);
  }
  const a = action as Action;
  const shape = a === "list" ? [] : a === "set" ? ["<service>", "<file|->"] : ADDRESS_ACTIONS.includes(a) ? ["<service>", "<host:port>"] : ["<service>"];
  if (rest.length !== shape.length) throw new Error(`'endpoints ${a}' takes ${shape.length === 0 ? "no arguments" : shape.join(" ")}`);
  const addOnly = (["weight", "priority", "region", "zone", "sub-zone", "health-status"] as const).filter((f) => values[f] !== undefined);
  if (a !== "add" && addOnly.length) throw new Error(`--${addOnly[0]} applies to 'endpoints add' only`);
  if (a !== "get" && values.json) throw new Error("--json applies to 'endpoints get' only");

  const out: EndpointsArgs = { ...kvArgsFromFlags(values), action: a };
  if (rest[0] !== undefined) {
    if (rest[0] === "") throw new Error("the service name must not be empty");
    if (new TextEncoder().encode(endpointsKey(rest[0])).length > KV_KEY_MAX) throw new Error(`the service name is too long for a KV key (${KV_KEY_MAX} bytes)`);
    out.service = rest[0];
  }
  if (a === "set") out.file = rest[1]!;
  else if (rest[1] !== undefined) out.address = parseHostPort(rest[1]);
  if (a === "get" && values.json) out.json = true;
  const weight = uintFlag(values.weight, "weight");
  if (weight !== undefined) out.weight = weight;
  const priority = uintFlag(values.priority, "priority");
  if (priority !== undefined) out.priority = priority;
  const locality: NonNullable<EndpointsArgs["locality"]> = {};
  if (values.region !== undefined) locality.region = values.region;
  if (values.zone !== undefined) locality.zone = values.zone;
  if (values["sub-zone"] !== undefined) locality.sub_zone = values["sub-zone"];
  if (Object.keys(locality).length) out.locality = locality;
  // The value is checked with the rest of the assignment (the schema walk names what is allowed).
  if (values["health-status"] !== undefined) out.healthStatus = values["health-status"].toUpperCase();
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The assignment, as canonical JSON

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);

function socketAddress(lb: Obj): Obj | undefined {
  const ep = lb.endpoint;
  const addr = isObj(ep) ? ep.address : undefined;
  const sa = isObj(addr) ? addr.socket_address : undefined;
  return isObj(sa) ? sa : undefined;
}

function sameAddress(lb: Obj, a: HostPort): boolean {
  const sa = socketAddress(lb);
  return !!sa && typeof sa.address === "string" && sa.address.toLowerCase() === a.host.toLowerCase() && sa.port_value === a.port;
}

const localityKey = (l: unknown): string => {
  const o = isObj(l) ? l : {};
  return JSON.stringify([o.region ?? "", o.zone ?? "", o.sub_zone ?? ""]);
};

/** The groups of a copy of `cla`, attached to it (so edits to them are edits to the copy). */
function groupsOf(cla: Obj): Obj[] {
  const groups = objs(cla.endpoints).map((g) => ({ ...g, lb_endpoints: objs(g.lb_endpoints) }));
  cla.endpoints = groups;
  return groups;
}

/** Removes `a` from every group; drops groups this leaves empty. Returns how many were removed. */
function removeAddress(cla: Obj, a: HostPort): number {
  let removed = 0;
  cla.endpoints = groupsOf(cla).filter((g) => {
    const before = g.lb_endpoints as Obj[];
    const after = before.filter((lb) => !sameAddress(lb, a));
    removed += before.length - after.length;
    g.lb_endpoints = after;
    return after.length > 0 || before.length === 0;
  });
  return removed;
}

/** Adds `args.address` (or replaces it) in the group with the same priority and locality. */
function addEndpoint(cla: Obj, args: EndpointsArgs): "added" | "replaced" {
  const a = args.address!;
  const lb: Obj = { endpoint: { address: { socket_address: { address: a.host, port_value: a.port } } } };
  if (args.healthStatus !== undefined) lb.health_status = args.healthStatus;
  if (args.weight !== undefined) lb.load_balancing_weight = args.weight;
  const priority = args.priority ?? 0;
  const find = (): Obj | undefined => groupsOf(cla).find((g) => (g.priority ?? 0) === priority && localityKey(g.locality) === localityKey(args.locality));
  const same = find();
  const at = same ? (same.lb_endpoints as Obj[]).findIndex((x) => sameAddress(x, a)) : -1;
  if (same && at >= 0) {
    (same.lb_endpoints as Obj[])[at] = lb;
    return "replaced";
  }
  // The address in another group moves here.
  const moved = removeAddress(cla, a) > 0;
  const group = find();
  if (group) (group.lb_endpoints as Obj[]).push(lb);
  else {
    (cla.endpoints as Obj[]).push({
      ...(args.locality ? { locality: args.locality } : {}),
      ...(priority !== 0 ? { priority } : {}),
      lb_endpoints: [lb],
    });
  }
  return moved ? "replaced" : "added";
}

/** Sets (or, with undefined, clears) the health status of every endpoint with address `a`; how many matched. */
function setHealthStatus(cla: Obj, a: HostPort, status: string | undefined): number {
  let n = 0;
  for (const g of groupsOf(cla)) {
    g.lb_endpoints = (g.lb_endpoints as Obj[]).map((lb) => {
      if (!sameAddress(lb, a)) return lb;
      n++;
      const { health_status: _, ...rest } = lb;
      return status === undefined ? rest : { ...rest, health_status: status };
    });
  }
  return n;
}

export type CheckedAssignment = { ok: true; assignment: Obj; endpoints: number } | { ok: false; errors: string[] };

/**
 * What readers will run: the schema walk (Envoy's schema, Legate's support table; paths under
 * `cluster_load_assignment`), then {@link checkAssignmentShape} and {@link parseEndpointsDocument}. The
 * assignment returned is the walk's canonical JSON with keys sorted, `cluster_name` set to the service.
 */
export async function checkAssignment(value: unknown, service: string): Promise<CheckedAssignment> {
  if (!isObj(value)) return { ok: false, errors: [`${DOC_PATH}: the assignment must be a mapping (object)`] };
  const input = { ...value, cluster_name: value.cluster_name ?? service };
  const { root } = await loadEnvoySchema();
  const walked = validateAgainstSchema(root, input, { typeName: CLA_TYPE, mode: "full" });
  const errors = walked.issues
    .filter(isError)
    .map((i) => formatIssue({ ...i, path: i.path === "" ? DOC_PATH : i.path.startsWith("[") ? DOC_PATH + i.path : `${DOC_PATH}.${i.path}` }));
  const shape = checkAssignmentShape(input, service);
  if (shape) errors.push(shape);
  if (errors.length) return { ok: false, errors };
  const assignment = JSON.parse(canonicalJson(walked.canonical)) as Obj;
  const parsed = parseEndpointsDocument(JSON.stringify({ version: 0, updated_at: "", cluster_load_assignment: assignment }), service);
  if (!parsed.ok) return { ok: false, errors: [parsed.error] };
  return { ok: true, assignment, endpoints: parsed.endpoints.length };
}

// ---------------------------------------------------------------------------------------------------------
// KV

interface Stored {
  /** The document, when it parses. */
  doc?: EndpointsDocument;
  /** Why it does not. */
  error?: string;
  /** What can be read of a document that does not parse (a write still goes on from its version and time). */
  version?: number;
  updatedAt?: string;
}

/** Reads a service's document: undefined when the key is absent. */
async function readStored(target: KvTarget, service: string): Promise<Stored | undefined> {
  const text = await target.get(endpointsKey(service));
  if (text === null) return undefined;
  const parsed = parseEndpointsDocument(text, service);
  if (parsed.ok) return { doc: parsed.document, version: parsed.document.version, updatedAt: parsed.document.updated_at };
  const out: Stored = { error: parsed.error };
  try {
    const raw = JSON.parse(text) as unknown;
    if (isObj(raw) && Number.isSafeInteger(raw.version) && (raw.version as number) >= 0) out.version = raw.version as number;
    if (isObj(raw) && typeof raw.updated_at === "string") out.updatedAt = raw.updated_at;
  } catch {
    // Nothing readable: the next write starts at version 1.
  }
  return out;
}

function badDocument(target: KvTarget, service: string, error: string): KvError {
  return new KvError("LEGATE_KV_DATA", `${endpointsKey(service)} in ${target.description} is not a valid endpoints document (${error}); replace it with 'legate endpoints set' or delete it`);
}

/** Writes `assignment` as the next version after `previous`, waiting out KV's one write per second per key. */
export async function writeEndpointsDocument(
  target: KvTarget,
  service: string,
  previous: { version?: number; updatedAt?: string } | undefined,
  assignment: Obj,
  now: () => number = Date.now,
): Promise<EndpointsDocument> {
  await waitForWriteSlot(previous?.updatedAt, now);
  const doc: EndpointsDocument = { version: (previous?.version ?? 0) + 1, updated_at: new Date(now()).toISOString(), cluster_load_assignment: assignment };
  await target.put(endpointsKey(service), JSON.stringify(doc));
  return doc;
}

/** One line per EDS document in KV (`<service>: <n> endpoints, version <v>`); undefined when the target cannot list keys. */
export async function endpointsSummary(target: KvTarget): Promise<string[] | undefined> {
  if (!target.list) return undefined;
  const keys = await target.list(ENDPOINTS_PREFIX, LIST_LIMIT);
  const lines: string[] = [];
  for (const key of keys.sort()) {
    const service = decodeURIComponent(key.slice(ENDPOINTS_PREFIX.length));
    const text = await target.get(key);
    if (text === null) continue;
    const parsed = parseEndpointsDocument(text, service);
    if (!parsed.ok) {
      lines.push(`${service}: not a valid document (${parsed.error})`);
      continue;
    }
    const n = parsed.endpoints.length;
    const draining = parsed.endpoints.filter((e) => e.healthStatus === "DRAINING").length;
    const { version, updated_at: at } = parsed.document;
    lines.push(`${service}: ${n} endpoint${n === 1 ? "" : "s"}${draining ? ` (${draining} draining)` : ""}, version ${version}, updated ${at}`);
  }
  return lines;
}

async function readInput(file: string, io: ResolvedIo): Promise<string> {
  if (file !== "-") return readFile(resolve(io.cwd, file), "utf8");
  const chunks: Uint8Array[] = [];
  for await (const c of process.stdin) chunks.push(c as Uint8Array);
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The assignment in a `set` input: the ClusterLoadAssignment itself, or a stored document (`get --json`). */
function assignmentOf(value: unknown): unknown {
  return isObj(value) && isObj(value.cluster_load_assignment) && "version" in value ? value.cluster_load_assignment : value;
}

// ---------------------------------------------------------------------------------------------------------
// The command

/** `legate endpoints ...`. */
export async function runEndpoints(argv: readonly string[], io: ResolvedIo): Promise<number> {
  const started = startKvCommand("endpoints", argv, parseEndpointsArgs, ENDPOINTS_USAGE, io);
  if (typeof started === "number") return started;
  const { args: a, target } = started;
  const service = a.service!;
  const where = `'${service}' in ${target.description}`;
  try {
    switch (a.action) {
      case "list": {
        const lines = await endpointsSummary(target);
        if (!lines) throw new KvError("LEGATE_KV_CONFIG", "listing keys needs --local (the remote target cannot list); use 'legate endpoints get <service>'");
        io.stdout(lines.length ? `endpoints in ${target.description}:\n${lines.map((l) => `  ${l}\n`).join("")}` : `no endpoints in ${target.description}\n`);
        return 0;
      }
      case "get": {
        const stored = await readStored(target, service);
        if (!stored) {
          io.stderr(`no endpoints for ${where}\n`);
          return 1;
        }
        if (!stored.doc) throw badDocument(target, service, stored.error!);
        const d = stored.doc;
        io.stdout(a.json ? `${JSON.stringify(d, null, 2)}\n` : `# endpoints of ${where}: version ${d.version}, updated ${d.updated_at}\n${toYaml(d.cluster_load_assignment)}`);
        return 0;
      }
      case "delete": {
        const stored = await readStored(target, service);
        if (!stored) {
          io.stdout(`unchanged: no endpoints for ${where}; nothing written\n`);
          return 0;
        }
        await waitForWriteSlot(stored.updatedAt);
        await target.delete(endpointsKey(service));
        io.stdout(`deleted ${endpointsKey(service)} from ${target.description}: '${service}' now has no endpoints\n`);
        return 0;
      }
      default:
        return await write(a, service, target, io);
    }
  } catch (e) {
    return reportKvFailure(e, io);
  } finally {
    await target.close().catch(() => undefined);
  }
}

/** set, add, remove, drain, undrain: read, change, check, write. */
async function write(a: EndpointsArgs, service: string, target: KvTarget, io: ResolvedIo): Promise<number> {
  const where = `'${service}' in ${target.description}`;
  const stored = await readStored(target, service);
  if (stored?.error !== undefined && a.action !== "set") throw badDocument(target, service, stored.error);
  const addr = a.address ? formatHostPort(a.address) : "";
  let next: unknown;
  let did: string;
  if (a.action === "set") {
    const text = await readInput(a.file!, io);
    const parsed = parseConfigText(text);
    if (parsed.issues.length) {
      // The parser is the bootstrap's; here the document is an assignment.
      const message = (m: string): string => m.replace("the bootstrap must be", "the assignment must be");
      io.stderr(`${parsed.issues.map((i) => `${a.file === "-" ? "stdin" : a.file}: ${message(i.message)}`).join("\n")}\n`);
      io.stderr(`endpoints refused: nothing was written to ${where}\n`);
      return 1;
    }
    next = assignmentOf(parsed.value);
    did = "set the endpoints of";
  } else {
    const cla = structuredClone(stored?.doc?.cluster_load_assignment ?? { cluster_name: service, endpoints: [] });
    if (a.action === "add") did = `${addEndpoint(cla, a)} ${addr} in`;
    else {
      const n = a.action === "remove" ? removeAddress(cla, a.address!) : setHealthStatus(cla, a.address!, a.action === "drain" ? "DRAINING" : undefined);
      if (n === 0) {
        io.stderr(`${addr} is not an endpoint of ${where}${stored ? "" : " (it has no endpoints)"}\n`);
        return 1;
      }
      did = `${a.action === "remove" ? "removed" : a.action === "drain" ? "drained" : "undrained"} ${addr} in`;
    }
    next = cla;
  }

  const checked = await checkAssignment(next, service);
  if (!checked.ok) {
    for (const e of checked.errors) io.stderr(`${e}\n`);
    io.stderr(`endpoints refused: nothing was written to ${where}\n`);
    return 1;
  }
  if (stored?.doc && canonicalJson(stored.doc.cluster_load_assignment) === canonicalJson(checked.assignment)) {
    io.stdout(`unchanged: the endpoints of ${where} are already so (version ${stored.doc.version}); nothing written\n`);
    return 0;
  }
  const written = await writeEndpointsDocument(target, service, stored, checked.assignment);
  const n = checked.endpoints;
  io.stdout(`${did} ${where} (endpoints version ${written.version}, ${n} endpoint${n === 1 ? "" : "s"})\n`);
  return 0;
}
