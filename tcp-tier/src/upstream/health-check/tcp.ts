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
import type { CheckResult, HostConnector, Prober } from "./types.ts";

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

export class TcpProber implements Prober {
  private socket: Socket | undefined;
  private ready = false;
  private buffered = Buffer.alloc(0);
  private done: ((r: CheckResult) => void) | undefined;
  private readonly plan: TcpCheckPlan;
  private readonly address: string;
  private readonly port: number;
  private readonly connector: HostConnector;
  private readonly reuseConnection: boolean;

  constructor(plan: TcpCheckPlan, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    this.plan = plan;
    this.address = address;
    this.port = port;
    this.connector = connector;
    this.reuseConnection = reuseConnection;
  }

  check(done: (result: CheckResult) => void): void {
    this.done = done;
    this.buffered = Buffer.alloc(0);
    if (this.socket && this.ready) {
      this.sendPayload();
      return;
    }
    const socket = this.connector.connect(this.address, this.port);
    this.socket = socket;
    this.ready = false;
    socket.on("error", () => this.failed(socket));
    socket.on("close", () => this.failed(socket));
    socket.on("data", (chunk: Buffer) => {
      if (socket !== this.socket || !this.done) return;
      this.buffered = Buffer.concat([this.buffered, chunk]);
      if (fuzzyMatch(this.buffered, this.plan.receive)) this.succeed();
    });
    socket.once(this.connector.readyEvent, () => {
      if (socket !== this.socket) return;
      this.ready = true;
      this.sendPayload();
    });
  }

  private sendPayload(): void {
    if (this.plan.send) this.socket!.write(this.plan.send);
    if (this.plan.receive.length === 0) this.succeed();
  }

  private succeed(): void {
    const done = this.done;
    this.done = undefined;
    this.buffered = Buffer.alloc(0);
    if (!this.reuseConnection) this.drop();
    done?.({ ok: true });
  }

  /** The socket failed or closed: a network failure for a check in progress; the next check reconnects. */
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
