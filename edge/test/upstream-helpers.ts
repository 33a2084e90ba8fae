/** Shared pieces of the edge's upstream admin tests: cluster settings on top of helpers.ts's bootstrap, admin calls. */
import type { EdgeHandler } from "../src/handler.ts";
import { bootstrap, call, type BootstrapSpec } from "./helpers.ts";

export const TOKEN = "upstream-test-token";
export const ADMIN = "http://front.example/__legate/admin";
export const withToken = { LEGATE_ADMIN_TOKEN: TOKEN, LEGATE_CONFIG_POLL_MS: "0" };

type Json = Record<string, unknown>;

/** helpers.ts's bootstrap with extra fields merged into named clusters (e.g. `circuit_breakers`). */
export function bootstrapWith(spec: BootstrapSpec, clusterExtras: Record<string, Json>): Json {
  const config = bootstrap(spec) as { static_resources: { clusters: Json[] } };
  for (const c of config.static_resources.clusters) Object.assign(c, clusterExtras[c.name as string] ?? {});
  return config;
}

/** `GET /__legate/admin/<path>` through the handler, with the token. */
export async function admin(handler: EdgeHandler, path: string): Promise<Response> {
  return call(handler, new Request(`${ADMIN}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }), withToken);
}

/** The `/clusters` text lines of one host (`cluster::host:port::` stripped). */
export function hostLines(text: string, cluster: string, hostPort: string): string[] {
  const prefix = `${cluster}::${hostPort}::`;
  return text.split("\n").filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
