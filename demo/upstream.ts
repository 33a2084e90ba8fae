/**
 * The demo's upstream: a tiny HTTP server on 127.0.0.1 that says who answered and what it was asked.
 * scripts/demo.ts starts it in-process; `node demo/upstream.ts [port]` runs it alone.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export const DEMO_UPSTREAM_PORT = 18080;

/** The first line of every answer; the self-test looks for it. */
export const UPSTREAM_GREETING = "Hello from the Legate demo upstream";

export interface DemoUpstream {
  port: number;
  /** Requests answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`port` (0 for any free port). Rejects with an error whose code is `EADDRINUSE`
 * when the port is taken.
 */
export async function startUpstream(port = DEMO_UPSTREAM_PORT): Promise<DemoUpstream> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const body = `${UPSTREAM_GREETING}: ${req.method} ${req.url} (host ${req.headers.host ?? "-"})\n`;
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-demo-upstream": "1", "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (import.meta.main) {
  const port = Number(process.argv[2] ?? DEMO_UPSTREAM_PORT);
  const up = await startUpstream(port);
  process.stdout.write(`demo upstream listening on http://127.0.0.1:${up.port}/\n`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void up.close().then(() => process.exit(0)));
}
