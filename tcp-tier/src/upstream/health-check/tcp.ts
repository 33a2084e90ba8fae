/**
 * Envoy's TCP health checker for one host: connect (through the cluster's transport), write `send` if
 * any, then look for every `receive` block in what the host sends back, in order but not necessarily
 * next to each other. No `receive` blocks: a completed connect (and write) is a success. A connect
 * failure, or the connection closing before every block was seen, is a network failure. With
 * `reuse_connection` (the default) the connection stays open for the next check; otherwise it is closed
 * after each one.
 */
import type { Socket } from "node:net";
import type { TcpHealthCheckModel } from "../../../../shared/config/model.ts";
import { SocketProber } from "./socket-prober.ts";
import type { HostConnector } from "./types.ts";

/** The payloads decoded once per health check config. */
export interface TcpCheckPlan {
  send: Buffer | undefined;
  receive: Buffer[];
}

export function tcpCheckPlan(model: TcpHealthCheckModel): TcpCheckPlan {
  return { send: model.send ? Buffer.from(model.send, "hex") : undefined, receive: model.receive.map((h) => Buffer.from(h, "hex")) };
}

/** Whether every block of `want` occurs in `got`, in order. */
export function fuzzyMatch(got: Buffer, want: readonly Buffer[]): boolean {
  let from = 0;
  for (const block of want) {
    const at = got.indexOf(block, from);
    if (at < 0) return false;
    from = at + block.length;
  }
  return true;
}

export class TcpProber extends SocketProber {
  private buffered = Buffer.alloc(0);
  private readonly plan: TcpCheckPlan;

  constructor(plan: TcpCheckPlan, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    super(address, port, connector, reuseConnection);
    this.plan = plan;
  }

  protected reset(): void {
    this.buffered = Buffer.alloc(0);
  }

  protected request(socket: Socket): void {
    if (this.plan.send) socket.write(this.plan.send);
    if (this.plan.receive.length === 0) this.finish({ ok: true });
  }

  protected onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    if (fuzzyMatch(this.buffered, this.plan.receive)) this.finish({ ok: true });
  }
}
