/**
 * The receiving end of tcp-bulk (a child process, so it can be pinned): a TCP server on 127.0.0.1 that
 * discards what it reads and, when a connection that carried bytes half-closes, prints
 * `done <bytes> <milliseconds from first byte to FIN>` and closes. Prints `listening <port>` when ready.
 *
 * Run: node bench/lib/bulk-sink.ts
 */
import { createServer } from "node:net";

const server = createServer((socket) => {
  let bytes = 0;
  let first = 0;
  socket.on("data", (chunk: Buffer) => {
    if (bytes === 0) first = performance.now();
    bytes += chunk.length;
  });
  socket.on("end", () => {
    // Connections that carried nothing are the harness's readiness probes through each proxy.
    if (bytes > 0) process.stdout.write(`done ${bytes} ${(performance.now() - first).toFixed(3)}\n`);
    socket.end();
  });
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === "object" && a ? a.port : 0}\n`);
});
const stop = (): void => void server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
