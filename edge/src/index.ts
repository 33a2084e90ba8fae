export default {
  async fetch(request: Request, env: { LEGATE_KV: KVNamespace }): Promise<Response> {
    const v = await env.LEGATE_KV.get("x");
    return new Response(`hello ${v}`);
  },
} satisfies ExportedHandler<{ LEGATE_KV: KVNamespace }>;
