/**
 * Envoy's Redis health checker (`envoy.health_checkers.redis`) for one host: `PING`, healthy on `+PONG`;
 * or, with `key` set, `EXISTS key`, healthy on `:0` (the key is absent). Setting the key puts the host in
 * maintenance: `EXISTS` answers `:1` and the host is marked unhealthy at once (an active failure). An
 * error reply or any other answer is an active failure too; a connect failure or a connection closing
 * before the reply is a network failure. The connection is kept between checks with `reuse_connection`.
 */
import type { Socket } from "node:net";
import type { RedisHealthCheckModel } from "../../../../shared/config/model.ts";
import { SocketProber } from "./socket-prober.ts";
import type { HostConnector } from "./types.ts";

/** The RESP command a Redis check sends, built once per config. */
export function redisCommand(model: RedisHealthCheckModel): Buffer {
  const args = model.key === undefined ? ["PING"] : ["EXISTS", model.key];
  return Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
}

/** Longest reply line read before the check fails (a healthy reply is a few bytes). */
const MAX_REPLY = 4096;

export class RedisProber extends SocketProber {
  private buffered = "";
  private readonly command: Buffer;
  private readonly expect: string;

  constructor(model: RedisHealthCheckModel, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    super(address, port, connector, reuseConnection);
    this.command = redisCommand(model);
    this.expect = model.key === undefined ? "+PONG" : ":0";
  }

  protected reset(): void {
    this.buffered = "";
  }

  protected request(socket: Socket): void {
    socket.write(this.command);
  }

  protected onData(chunk: Buffer): void {
    this.buffered += chunk.toString("latin1");
    const end = this.buffered.indexOf("\r\n");
    if (end < 0) {
      if (this.buffered.length > MAX_REPLY) this.finish({ ok: false, type: "ACTIVE", retriable: false }, true);
      return;
    }
    const line = this.buffered.slice(0, end);
    // Anything after the reply line (there should be nothing) would desynchronise the next check.
    const extra = this.buffered.length > end + 2;
    this.finish(line === this.expect ? { ok: true } : { ok: false, type: "ACTIVE", retriable: false }, extra);
  }
}
