/**
 * `legate status`: one place to see whether the system agrees with itself. Reads KV (the config
 * pointer, the runtime flags, the tcp tier's health reports, the EDS endpoints) and, for each
 * `--admin <url>` (an edge's `https://<host>/__legate/admin` or a tcp tier's admin address), that
 * tier's `/runtime` and `/clusters?format=json`: whether it sees the KV flags, and the health of its
 * hosts. Admin requests carry `Authorization: Bearer $LEGATE_ADMIN_TOKEN` when that variable is set.
 *
 * Exit 0 when everything could be read and every tier agrees with KV's flags; 1 otherwise.
 */
import { CONFIG_POINTER_KEY, HEALTH_PREFIX, HEALTH_STALE_MS, mergeHealthReports, parseHealthReport, type HealthReport } from "../../../shared/kv/layout.ts";
import { type KvArgs, kvArgsFromFlags, parseKvCommandLine } from "./args.ts";
import { endpointsSummary } from "./endpoints-commands.ts";
import type { ResolvedIo } from "./io.ts";
import { startKvCommand } from "./kv/open.ts";
import { KvError, type KvTarget } from "./kv/target.ts";
import { readRuntimeDocument } from "./runtime-commands.ts";

export const STATUS_USAGE = `usage: legate status [kv options] [--admin <url>]...

Shows the config version, runtime flags, health reports and EDS endpoints in KV, and for each --admin
URL (an edge's https://<host>/__legate/admin or a tcp tier's admin address) whether that tier sees the
same flags and how healthy its hosts are. LEGATE_ADMIN_TOKEN, when set, is sent as a bearer token.

kv options: --local (default), --remote, --persist-to <dir>, --namespace-id <id>, --wrangler-config <p>
`;

interface StatusArgs extends KvArgs {
  admins: string[];
}

export function parseStatusArgs(argv: readonly string[]): StatusArgs | "help" {
  const { values, positionals } = parseKvCommandLine(argv, { admin: { type: "string", multiple: true } });
  if (values.help) return "help";
  if (positionals.length) throw new Error(`unexpected argument '${positionals[0]}'`);
  const out: StatusArgs = { ...kvArgsFromFlags(values), admins: [] };
  for (const a of values.admin ?? []) {
    if (!/^https?:\/\//.test(a)) throw new Error(`--admin '${a}' is not an http(s) URL`);
    out.admins.push(a.replace(/\/+$/, ""));
  }
  return out;
}

const age = (iso: string, now: number): string => `${Math.max(0, Math.round((now - Date.parse(iso)) / 1000))} s ago`;

async function healthReports(target: KvTarget): Promise<HealthReport[] | undefined> {
  if (!target.list) return undefined;
  const keys = await target.list(HEALTH_PREFIX, 1000);
  const texts = await Promise.all(keys.map((k) => target.get(k)));
  return texts.flatMap((t) => {
    const r = t === null ? undefined : parseHealthReport(t);
    return r ? [r] : [];
  });
}

/** `legate status`. */
export async function runStatus(argv: readonly string[], io: ResolvedIo): Promise<number> {
  const started = startKvCommand("status", argv, parseStatusArgs, STATUS_USAGE, io);
  if (typeof started === "number") return started;
  const { args: a, target } = started;
  let ok = true;
  const now = Date.now();
  let flags: Record<string, string> = {};
  try {
    io.stdout(`${target.description}\n`);
    const pointerText = await target.get(CONFIG_POINTER_KEY);
    const pointer = pointerText === null ? undefined : (JSON.parse(pointerText) as { version?: string; pushed_at?: string; source?: string });
    io.stdout(pointer?.version ? `  config: ${pointer.version} (pushed ${pointer.pushed_at ?? "?"}${pointer.source ? ` from ${pointer.source}` : ""})\n` : "  config: none pushed\n");
    const doc = await readRuntimeDocument(target);
    flags = doc?.values ?? {};
    const keys = Object.keys(flags).sort();
    io.stdout(doc ? `  runtime: version ${doc.version}, ${keys.length} flag${keys.length === 1 ? "" : "s"}\n` : "  runtime: no flags\n");
    for (const k of keys) io.stdout(`    ${k}=${flags[k]}\n`);
    const reports = await healthReports(target);
    if (!reports) io.stdout("  health: not listed (listing keys needs --local)\n");
    else if (reports.length === 0) io.stdout("  health: no reports\n");
    else {
      const byCluster = new Map<string, HealthReport[]>();
      for (const r of reports) byCluster.set(r.cluster, [...(byCluster.get(r.cluster) ?? []), r]);
      for (const [cluster, rs] of [...byCluster].sort(([x], [y]) => (x < y ? -1 : 1))) {
        const merged = mergeHealthReports(rs, now, HEALTH_STALE_MS);
        io.stdout(`  health: cluster ${cluster}: ${rs.map((r) => `${r.node} ${age(r.reported_at, now)}${now - Date.parse(r.reported_at) > HEALTH_STALE_MS ? " (stale)" : ""}`).join(", ")}\n`);
        for (const [host, healthy] of [...merged].sort(([x], [y]) => (x < y ? -1 : 1))) io.stdout(`    ${host} ${healthy ? "healthy" : "unhealthy"}\n`);
      }
    }
    const eds = await endpointsSummary(target);
    if (!eds) io.stdout("  endpoints: not listed (listing keys needs --local)\n");
    else if (eds.length === 0) io.stdout("  endpoints: no EDS documents\n");
    for (const line of eds ?? []) io.stdout(`  endpoints: ${line}\n`);
  } catch (e) {
    const code = e instanceof KvError ? ` [${e.code}]` : "";
    io.stderr(`error: ${(e as Error).message}${code}\n`);
    ok = false;
  } finally {
    await target.close().catch(() => undefined);
  }

  const headers: Record<string, string> = io.env.LEGATE_ADMIN_TOKEN ? { authorization: `Bearer ${io.env.LEGATE_ADMIN_TOKEN}` } : {};
  for (const base of a.admins) {
    io.stdout(`${base}\n`);
    try {
      const get = async (path: string): Promise<unknown> => {
        const res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`${path} answered ${res.status}`);
        return res.json();
      };
      const rt = (await get("/runtime")) as { layers: string[]; entries: Record<string, { final_value: string }> };
      const differ = Object.keys(flags).sort().filter((k) => rt.entries[k]?.final_value !== flags[k]);
      if (differ.length === 0) io.stdout(`  runtime: sees the KV flags (layers: ${rt.layers.join(" < ")})\n`);
      else {
        ok = false;
        for (const k of differ) io.stdout(`  runtime: ${k} is '${rt.entries[k]?.final_value ?? "(unset)"}' here, '${flags[k]}' in KV\n`);
      }
      const clusters = (await get("/clusters?format=json")) as { cluster_statuses: { name: string; host_statuses?: { address: { socket_address: { address: string; port_value: number } }; health_status: Record<string, unknown> }[] }[] };
      for (const c of clusters.cluster_statuses) {
        const hosts = (c.host_statuses ?? []).map((h) => {
          const eds = h.health_status.eds_health_status;
          const flagsOf = Object.keys(h.health_status).filter((k) => k !== "eds_health_status");
          // An EDS status other than HEALTHY (DRAINING, ...) is shown as it is.
          if (typeof eds === "string" && eds !== "HEALTHY") flagsOf.unshift(eds);
          return `${h.address.socket_address.address}:${h.address.socket_address.port_value} ${flagsOf.length ? flagsOf.join(",") : "healthy"}`;
        });
        io.stdout(`  cluster ${c.name}: ${hosts.join("; ") || "(no hosts)"}\n`);
      }
    } catch (e) {
      ok = false;
      io.stdout(`  unreachable: ${(e as Error).message}\n`);
    }
  }
  return ok ? 0 : 1;
}
