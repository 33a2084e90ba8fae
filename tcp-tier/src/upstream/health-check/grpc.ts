/**
 * Envoy's gRPC health checker for one host: `grpc.health.v1.Health/Check` with `service_name` over HTTP/2
 * (`:authority` is `authority` or the cluster name), through the cluster's transport. Healthy when the
 * answer is HTTP 200 with a gRPC content type, `grpc-status: 0` and `status: SERVING`; any other answer is
 * an active failure (the host is marked unhealthy at once); a connect failure, reset or GOAWAY before the
 * answer is a network failure. With `reuse_connection` the HTTP/2 connection is kept between checks.
 */
import type * as Http2 from "node:http2";
import { http2 } from "../../node-builtins.ts";
import type { GrpcHealthCheckModel } from "../../../../shared/config/model.ts";
import type { CheckResult, HostConnector, Prober } from "./types.ts";

/** The length-prefixed `HealthCheckRequest { service = 1 }`, built once per config. */
export function grpcHealthRequest(serviceName: string): Buffer {
  const name = Buffer.from(serviceName);
  const msg = name.length ? Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]) : Buffer.alloc(0);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** `HealthCheckResponse.status` (field 1, varint) from one gRPC message; undefined when malformed. */
export function grpcServingStatus(body: Buffer): number | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) return undefined;
  const msg = body.subarray(5, 5 + len);
  let i = 0;
  let status = 0;
  while (i < msg.length) {
    const tag = msg[i++]!;
    const wire = tag & 7;
    if (wire === 0) {
      let v = 0;
      let shift = 0;
      let b: number;
      do {
        if (i >= msg.length) return undefined;
        b = msg[i++]!;
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80);
      if (tag >> 3 === 1) status = v;
    } else if (wire === 2) {
      if (i >= msg.length) return undefined;
      const n = msg[i++]!;
      if (n & 0x80) return undefined;
      i += n;
    } else {
      return undefined;
    }
  }
  return status;
}

const SERVING = 1;

export class GrpcProber implements Prober {
  private session: Http2.ClientHttp2Session | undefined;
  private stream: Http2.ClientHttp2Stream | undefined;
  private readonly request: Buffer;
  private readonly authority: string;
  private readonly address: string;
  private readonly port: number;
  private readonly connector: HostConnector;
  private readonly reuseConnection: boolean;

  constructor(model: GrpcHealthCheckModel, clusterName: string, address: string, port: number, connector: HostConnector, reuseConnection: boolean) {
    this.request = grpcHealthRequest(model.serviceName);
    this.authority = model.authority ?? clusterName;
    this.address = address;
    this.port = port;
    this.connector = connector;
    this.reuseConnection = reuseConnection;
  }

  check(done: (result: CheckResult) => void): void {
    let settled = false;
    const finish = (r: CheckResult) => {
      if (settled) return;
      settled = true;
      this.stream = undefined;
      if (!this.reuseConnection) this.dropSession();
      done(r);
    };
    const network = () => finish({ ok: false, type: "NETWORK", retriable: false });
    let session = this.session;
    if (!session || session.closed || session.destroyed) {
      session = http2().connect(`http://${this.authority}`, { createConnection: () => this.connector.connect(this.address, this.port) });
      this.session = session;
      const s = session;
      s.on("error", () => {
        if (this.session === s) this.session = undefined;
      });
      s.on("close", () => {
        if (this.session === s) this.session = undefined;
      });
    }
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      ":authority": this.authority,
      "content-type": "application/grpc",
      te: "trailers",
    });
    this.stream = stream;
    let status = 0;
    let contentType = "";
    let grpcStatus: string | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
      contentType = String(headers["content-type"] ?? "");
      if (headers["grpc-status"] !== undefined) grpcStatus = String(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      if (trailers["grpc-status"] !== undefined) grpcStatus = String(trailers["grpc-status"]);
    });
    stream.on("data", (d: Buffer) => {
      if (chunks.reduce((n, c) => n + c.length, 0) < 65536) chunks.push(d);
    });
    stream.on("error", network);
    stream.on("close", () => {
      if (status === 0) return network();
      const ok = status === 200 && contentType.startsWith("application/grpc") && grpcStatus === "0" && grpcServingStatus(Buffer.concat(chunks)) === SERVING;
      finish(ok ? { ok: true } : { ok: false, type: "ACTIVE", retriable: false });
    });
    stream.end(this.request);
  }

  private dropSession(): void {
    const s = this.session;
    this.session = undefined;
    s?.destroy();
  }

  abort(): void {
    const st = this.stream;
    this.stream = undefined;
    st?.destroy();
    this.dropSession();
  }

  close(): void {
    this.abort();
  }
}
