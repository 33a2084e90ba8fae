/** What the probers of tcp-tier/src/upstream/health-check/ share with the session state machine. */
import type { Socket } from "node:net";

/**
 * Envoy's `HealthCheckFailureType`: ACTIVE (the host answered, and the answer is unhealthy), NETWORK (connect
 * failure, reset, closed early), NETWORK_TIMEOUT (no answer within `timeout`).
 */
export type FailureType = "ACTIVE" | "NETWORK" | "NETWORK_TIMEOUT";

/** The outcome of one check. */
export type CheckResult =
  | { ok: true }
  | {
      ok: false;
      type: FailureType;
      /** A retriable status: counts towards `unhealthy_threshold` instead of failing the host at once. */
      retriable: boolean;
    };

/** Opens a connection to a host through the cluster's transport (plaintext or its upstream TLS). */
export interface HostConnector {
  connect(address: string, port: number): Socket;
  /** The socket event after which the connection can carry bytes (`connect`, or the TLS-ready event). */
  readonly readyEvent: string;
}

/** One host's checker of one kind (HTTP, TCP): runs one check at a time. */
export interface Prober {
  /** Starts a check; `done` is called once, unless {@link abort} is called first. */
  check(done: (result: CheckResult) => void): void;
  /** The check timed out: drop its connection; its `done` is not called. */
  abort(): void;
  /** Stops for good (host removed, cluster closed): closes any connection. */
  close(): void;
}
