/**
 * Legate's edge tier: a Cloudflare Worker serving the edge listener of the Envoy config in LEGATE_KV
 * (docs/edge.md). One handler per isolate: its config cache and stats live as long as the isolate.
 */
import type { Env } from "./env.ts";
import { createEdgeHandler } from "./handler.ts";

const handler = createEdgeHandler();

export default {
  fetch: (request, env, ctx) => handler.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
