/**
 * The upstream of the udp scenario (a child process, so it can be pinned): a datagram socket on
 * 127.0.0.1 that sends every datagram back to where it came from. Prints `listening <port>` when ready.
 *
 * Run: node bench/lib/udp-echo.ts
 */
import { createSocket } from "node:dgram";

const socket = createSocket("udp4");
socket.on("message", (msg, from) => socket.send(msg, from.port, from.address));
// A full socket buffer or a vanished client loses a datagram; that is the measurement, not an error.
socket.on("error", () => undefined);
socket.bind(0, "127.0.0.1", () => process.stdout.write(`listening ${socket.address().port}\n`));
const stop = (): void => void socket.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
