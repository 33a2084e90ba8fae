/**
 * The connection handling the TCP and Redis checkers share: one connection to the host (through the
 * cluster's transport), kept between checks with `reuse_connection` and dropped otherwise; a connect
 * failure, or the connection failing or closing during a check, is a network failure; the next check
 * reconnects. A subclass writes its request and reads the answer.
 */
import type { Socket } from "node:net";
import type { CheckResult, HostConnector, Prober } from "./types.ts";

export abstract class SocketProber implements Prober {
  private socket: Socket | undefined;
  private ready = false;
  private done: ((r: CheckResult) => void) | undefined;
  private readonly address: string;
  private readonly port: number;
  private readonly connector: HostConnector;
  private readonly reuseConnection: boolean;

  constructor(address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    this.address = address;
    this.port = port;
    this.connector = connector;
    this.reuseConnection = reuseConnection;
  }

  /** Clears what the previous check read. */
  protected abstract reset(): void;
  /** Writes this check's request on a connection that can carry bytes. */
  protected abstract request(socket: Socket): void;
  /** Bytes from the host while a check is in progress. */
  protected abstract onData(chunk: Buffer): void;

  check(done: (result: CheckResult) => void): void {
    this.done = done;
    this.reset();
    if (this.socket && this.ready) {
      this.request(this.socket);
      return;
    }
    const socket = this.connector.connect(this.address, this.port);
    this.socket = socket;
    this.ready = false;
    socket.on("error", () => this.failed(socket));
    socket.on("close", () => this.failed(socket));
    socket.on("data", (chunk: Buffer) => {
      if (socket === this.socket && this.done) this.onData(chunk);
    });
    socket.once(this.connector.readyEvent, () => {
      if (socket !== this.socket) return;
      this.ready = true;
      this.request(socket);
    });
  }

  /** Ends the check in progress; the connection is dropped when asked or without `reuse_connection`. */
  protected finish(r: CheckResult, dropConnection = false): void {
    const done = this.done;
    this.done = undefined;
    this.reset();
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
