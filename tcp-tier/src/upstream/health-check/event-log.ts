/**
 * Envoy's health-check event log (`event_log_path`): one JSON `HealthCheckEvent` per line, appended to the
 * file. Events: `eject_unhealthy_event` (a host became unhealthy), `add_healthy_event` (it became healthy;
 * `first_check` when the first check of the host decided), `health_check_failure_event` (a failure that
 * did not change the state: logged for a host's first check, or for every failure with
 * `always_log_health_check_failures`).
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { Logger } from "../../../../shared/log.ts";
import type { FailureType } from "./types.ts";

export type CheckerType = "HTTP" | "TCP" | "GRPC" | "REDIS";

export type HealthCheckEvent =
  | { eject_unhealthy_event: { failure_type: FailureType } }
  | { add_healthy_event: { first_check: boolean } }
  | { health_check_failure_event: { failure_type: FailureType; first_check: boolean } };

export class HealthCheckEventLog {
  private readonly stream: WriteStream;

  constructor(path: string, logger: Logger) {
    this.stream = createWriteStream(path, { flags: "a" });
    this.stream.on("error", (err) => logger.warn(`health check event log ${path}: ${err.message}`));
  }

  /** Appends one event about `address:port` of `cluster`. */
  log(type: CheckerType, cluster: string, address: string, port: number, event: HealthCheckEvent): void {
    const line = {
      health_checker_type: type,
      host: { socket_address: { protocol: "TCP", address, resolver_name: "", ipv4_compat: false, port_value: port } },
      cluster_name: cluster,
      ...event,
      timestamp: new Date().toISOString(),
    };
    this.stream.write(`${JSON.stringify(line)}\n`);
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(resolve));
  }
}
