/**
 * The naive Node TCP proxy issue 7 measures Legate against (tcp-rr's "node-pipe" reference): every
 * accepted connection opens one to the upstream and the two are joined with `.pipe()` both ways, Nagle
 * off on both. No config, filters, stats or timeouts: what Node's own socket and stream path costs per
 * request, the floor any tcp tier written on Node's `net` starts from.
 *
 *   node bench/lib/node-pipe-relay.ts <listen port> <upstream port>   (both on 127.0.0.1)
 */
import { connect, createServer } from "node:net";

const [listen, upstream] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listen) || !Number.isInteger(upstream)) throw new Error("usage: node-pipe-relay.ts <listen port> <upstream port>");

createServer({ noDelay: true }, (client) => {
  const server = connect({ host: "127.0.0.1", port: upstream!, noDelay: true });
  client.pipe(server);
  server.pipe(client);
  const close = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on("error", close).on("close", close);
  server.on("error", close).on("close", close);
}).listen(listen, "127.0.0.1", () => console.log(`listening ${listen}`));
