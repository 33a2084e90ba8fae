/**
 * The load generator of the udp scenario (a child process, so it can be pinned):
 *
 *   node bench/lib/udp-load.ts <port> <sockets> <datagrams> <window> <bytes>
 *
 * Opens `sockets` datagram sockets on 127.0.0.1 (each its own source port, so a proxy sees that many
 * clients) aimed at 127.0.0.1:<port>, which is expected to echo. First each socket sends one datagram and
 * waits for its echo (retried, bounded), so every proxy has its sessions before the clock starts. Then
 * `datagrams` datagrams of `bytes` bytes are sent in total, each socket keeping up to `window` of them
 * unanswered (a closed loop: a reply lets the next one go). When no reply arrives for STALL_MS, what is
 * outstanding is written off as lost and the windows refill, so a loss never stalls the run. Ends when
 * everything sent is answered or written off, and prints one line:
 *
 *   result <sent> <received> <milliseconds from the first timed send to the last reply>
 */
import { createSocket, type Socket } from "node:dgram";

const STALL_MS = 100;
const PRIME_TIMEOUT_MS = 10_000;

const [port, sockets, total, window, bytes] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
if (![port, sockets, total, window, bytes].every((v) => Number.isInteger(v) && v > 0)) {
  process.stderr.write("usage: udp-load.ts <port> <sockets> <datagrams> <window> <bytes>\n");
  process.exit(2);
}
const payload = Buffer.alloc(bytes, 0x61);

interface Client {
  socket: Socket;
  outstanding: number;
  primed: boolean;
}

let timed = false;
let sent = 0;
let received = 0;
let lastReply = 0;
let start = 0;

function refill(c: Client): void {
  while (c.outstanding < window && sent < total) {
    c.outstanding++;
    sent++;
    c.socket.send(payload, port, "127.0.0.1");
  }
}

async function open(): Promise<Client> {
  const socket = createSocket("udp4");
  const c: Client = { socket, outstanding: 0, primed: false };
  socket.on("error", () => undefined);
  socket.on("message", () => {
    if (!timed) {
      c.primed = true;
      return;
    }
    received++;
    lastReply = performance.now();
    if (c.outstanding > 0) c.outstanding--;
    refill(c);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return c;
}

const clients: Client[] = [];
for (let i = 0; i < sockets; i++) clients.push(await open());

// Priming: one echoed datagram per socket (resent every 100 ms until answered).
const primeDeadline = performance.now() + PRIME_TIMEOUT_MS;
while (clients.some((c) => !c.primed)) {
  if (performance.now() > primeDeadline) {
    process.stderr.write(`only ${clients.filter((c) => c.primed).length} of ${sockets} sockets got an echo\n`);
    process.exit(1);
  }
  for (const c of clients) if (!c.primed) c.socket.send(payload, port, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 100));
}
// Let late echoes of the resends arrive before the clock starts.
await new Promise((r) => setTimeout(r, 50));

timed = true;
start = performance.now();
lastReply = start;
for (const c of clients) refill(c);
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const now = performance.now();
    if (received === sent && sent === total) {
      clearInterval(timer);
      resolve();
    } else if (now - lastReply > STALL_MS) {
      if (sent === total) {
        clearInterval(timer);
        resolve();
        return;
      }
      // Write off what is outstanding, carry on sending.
      for (const c of clients) c.outstanding = 0;
      lastReply = now;
      for (const c of clients) refill(c);
    }
  }, 10);
});
const ms = Math.max(lastReply - start, 0.001);
process.stdout.write(`result ${sent} ${received} ${ms.toFixed(3)}\n`);
for (const c of clients) c.socket.close();
