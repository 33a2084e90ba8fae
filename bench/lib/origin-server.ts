/**
 * The origin for edge-http (a child process, so it can be pinned): a plain Node HTTP/1.1 server on
 * 127.0.0.1 (port from argv[2], default 0) that answers `GET /small` with a short body and
 * `GET /16k` with 16 KiB, keep-alive, nothing else. Prints `listening <port>` when ready; stops on
 * SIGTERM or SIGINT.
 *
 * Run: node bench/lib/origin-server.ts [port]
 */
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";

export const SMALL_BODY = "Hello from the origin\n";
export const LARGE_BODY_BYTES = 16 * 1024;

const small = Buffer.from(SMALL_BODY);
const large = Buffer.alloc(LARGE_BODY_BYTES, "x");

function main(): void {
  const server = createServer((req, res) => {
    const body = req.url === "/small" ? small : req.url === "/16k" ? large : undefined;
    if (!body) {
      res.writeHead(404, { "content-type": "text/plain", "content-length": "10" }).end("not found\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain", "content-length": String(body.length) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`listening ${typeof address === "object" && address ? address.port : 0}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
