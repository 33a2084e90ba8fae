/**
 * The demo's upstreams: tiny HTTP servers on 127.0.0.1, each answering with its own name and what it
 * was asked (`GET /healthz` answers `ok`, for the tcp tier's health check). scripts/demo.ts starts
 * them in-process, with a control server that stops and restarts them by name, so the demo can show a
 * host going down and coming back; `node demo/upstream.ts [port]` runs one alone.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** The demo's upstreams by name, and their ports (demo/envoy-demo.yaml names the same ports). */
export const DEMO_UPSTREAMS: Readonly<Record<string, number>> = {
  "web-a": 18081,
  "web-b": 18082,
  canary: 18083,
  "api-1": 18084,
  "api-2": 18085,
};

/** The control server: `GET /upstreams`, `POST /upstreams/<name>/stop`, `POST /upstreams/<name>/start`. */
export const DEMO_CONTROL_PORT = 18090;

/** The start of every answer; the self-test looks for it (and the name after it). */
export const UPSTREAM_GREETING = "Hello from demo upstream";

export interface DemoUpstream {
  readonly name: string;
  port: number;
  /** Requests answered so far (health checks included). */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`port` (0 for any free port). Rejects with an error whose code is `EADDRINUSE`
 * when the port is taken.
 */
export async function startUpstream(name: string, port: number): Promise<DemoUpstream> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const body = req.url === "/healthz" ? "ok\n" : `${UPSTREAM_GREETING} ${name}: ${req.method} ${req.url} (host ${req.headers.host ?? "-"})\n`;
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-demo-upstream": name, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await listen(server, port);
  return {
    name,
    port: (server.address() as AddressInfo).port,
    get requests() {
      return requests;
    },
    close: () => closeServer(server),
  };
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Every demo upstream, plus the control server that stops and starts them. */
export interface DemoUpstreams {
  /** Names of the upstreams running now. */
  running(): string[];
  stop(name: string): Promise<boolean>;
  start(name: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startDemoUpstreams(controlPort = DEMO_CONTROL_PORT): Promise<DemoUpstreams> {
  const live = new Map<string, DemoUpstream>();
  const start = async (name: string): Promise<boolean> => {
    const port = DEMO_UPSTREAMS[name];
    if (port === undefined || live.has(name)) return false;
    live.set(name, await startUpstream(name, port));
    return true;
  };
  const stop = async (name: string): Promise<boolean> => {
    const up = live.get(name);
    if (!up) return false;
    live.delete(name);
    await up.close();
    return true;
  };
  const control = http.createServer((req, res) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${text}\n`);
    };
    const m = /^\/upstreams\/([a-z0-9-]+)\/(stop|start)$/.exec(req.url ?? "");
    if (req.method === "GET" && req.url === "/upstreams") {
      return reply(200, Object.entries(DEMO_UPSTREAMS).map(([n, p]) => `${n.padEnd(8)} 127.0.0.1:${p}  ${live.has(n) ? "running" : "stopped"}`).join("\n"));
    }
    if (req.method !== "POST" || !m) return reply(404, "GET /upstreams, POST /upstreams/<name>/stop, POST /upstreams/<name>/start");
    const [, name, verb] = m as unknown as [string, string, "stop" | "start"];
    if (DEMO_UPSTREAMS[name] === undefined) return reply(404, `no upstream ${name}`);
    (verb === "stop" ? stop(name) : start(name)).then(
      (changed) => reply(200, `${name} ${changed ? (verb === "stop" ? "stopped" : "started") : `already ${verb === "stop" ? "stopped" : "running"}`}`),
      (e: unknown) => reply(500, `${verb} ${name} failed: ${(e as Error).message}`),
    );
  });
  try {
    for (const name of Object.keys(DEMO_UPSTREAMS)) await start(name);
    await listen(control, controlPort);
  } catch (e) {
    await Promise.all([...live.keys()].map(stop));
    throw e;
  }
  return {
    running: () => [...live.keys()],
    stop,
    start,
    close: async () => {
      await Promise.all([...live.keys()].map(stop));
      await closeServer(control);
    },
  };
}

if (import.meta.main) {
  const port = Number(process.argv[2] ?? DEMO_UPSTREAMS["web-a"]);
  const up = await startUpstream(`port-${port}`, port);
  process.stdout.write(`demo upstream listening on http://127.0.0.1:${up.port}/\n`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void up.close().then(() => process.exit(0)));
}
