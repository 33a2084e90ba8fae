/**
 * Envoy's Redis health checker (`envoy.health_checkers.redis`) for one host: `PING`, healthy on `+PONG`;
 * or, with `key` set, `EXISTS key`, healthy on `:0` (the key is absent). Setting the key puts the host in
 * maintenance: `EXISTS` answers `:1` and the host is marked unhealthy at once (an active failure). An
 * error reply or any other answer is an active failure too; a connect failure or a connection closing
 * before the reply is a network failure. The connection is kept between checks with `reuse_connection`.
 */
import type { Socket } from "node:net";
import type { RedisHealthCheckModel } from "../../../../shared/config/model.ts";
import type { CheckResult, HostConnector, Prober } from "./types.ts";

/** The RESP command a Redis check sends, built once per config. */
export function redisCommand(model: RedisHealthCheckModel): Buffer {
  const args = model.key === undefined ? ["PING"] : ["EXISTS", model.key];
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
}

/** Longest reply line read before the check fails (a healthy reply is a few bytes). */
const MAX_REPLY = 4096;

export class RedisProber implements Prober {
  private socket: Socket | undefined;
  private ready = false;
  private buffered = "";
  private done: ((r: CheckResult) => void) | undefined;
  private readonly command: Buffer;
  private readonly expect: string;
  private readonly address: string;
  private readonly port: number;
  private readonly connector: HostConnector;
  private readonly reuseConnection: boolean;

  constructor(model: RedisHealthCheckModel, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    this.command = redisCommand(model);
    this.expect = model.key === undefined ? "+PONG" : ":0";
    this.address = address;
    this.port = port;
    this.connector = connector;
    this.reuseConnection = reuseConnection;
  }

  check(done: (result: CheckResult) => void): void {
    this.done = done;
    this.buffered = "";
    if (this.socket && this.ready) {
      this.socket.write(this.command);
      return;
    }
    const socket = this.connector.connect(this.address, this.port);
    this.socket = socket;
    this.ready = false;
    socket.setEncoding("latin1");
    socket.on("error", () => this.failed(socket));
    socket.on("close", () => this.failed(socket));
    socket.on("data", (chunk: string) => {
      if (socket !== this.socket || !this.done) return;
      this.buffered += chunk;
      const end = this.buffered.indexOf("\r\n");
      if (end < 0) {
        if (this.buffered.length > MAX_REPLY) this.finish({ ok: false, type: "ACTIVE", retriable: false }, true);
        return;
      }
      const line = this.buffered.slice(0, end);
      // Anything after the reply line (there should be nothing) would desynchronise the next check.
      const extra = this.buffered.length > end + 2;
      this.finish(line === this.expect ? { ok: true } : { ok: false, type: "ACTIVE", retriable: false }, extra);
    });
    socket.once(this.connector.readyEvent, () => {
      if (socket !== this.socket) return;
      this.ready = true;
      socket.write(this.command);
    });
  }

  private finish(r: CheckResult, dropConnection: boolean): void {
    const done = this.done;
    this.done = undefined;
    this.buffered = "";
    if (dropConnection || !this.reuseConnection) this.drop();
    done?.(r);
  }

  private failed(socket: Socket): void {
    if (socket !== this.socket) return;
    this.drop();
    const done = this.done;
    this.done = undefined;
    done?.({ ok: false, type: "NETWORK", retriable: false });
  }

  private drop(): void {
    const s = this.socket;
    this.socket = undefined;
    this.ready = false;
    s?.destroy();
  }

  abort(): void {
    this.done = undefined;
    this.drop();
  }

  close(): void {
    this.abort();
  }
}
