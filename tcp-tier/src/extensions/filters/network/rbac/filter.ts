/**
 * The per-connection network RBAC filter. Decides on `onData` (as Envoy does, so that what listener
 * filters and the TLS handshake learned is known): with ONE_TIME_ON_FIRST_BYTE once per connection, with
 * CONTINUOUS on every read. A denied connection is closed without flushing and its bytes go no further.
 */
import type { Logger } from "../../../../../../shared/log.ts";
import type { FilterStatus, ReadFilter, ReadFilterCallbacks } from "../../../../network/filter.ts";
import type { RbacConfig } from "./config.ts";

export class RbacFilter implements ReadFilter {
  private callbacks!: ReadFilterCallbacks;
  private readonly config: RbacConfig;
  private readonly logger: Logger;
  /** The enforced decision, once made (ONE_TIME_ON_FIRST_BYTE keeps it; CONTINUOUS remakes it per read). */
  private decided: "allowed" | "denied" | undefined;
  private shadowDone = false;

  constructor(config: RbacConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  onNewConnection(): FilterStatus {
    return "continue";
  }

  onData(): FilterStatus {
    const { engine, shadowEngine, stats, model } = this.config;
    const conn = this.callbacks.connection;
    if (!this.shadowDone && shadowEngine) {
      this.shadowDone = true;
      (shadowEngine(conn) ? stats.shadow_allowed : stats.shadow_denied).inc();
    }
    if (!engine) return "continue";
    if (this.decided === undefined || model.enforcementType === "CONTINUOUS") {
      this.decided = engine(conn) ? "allowed" : "denied";
      stats[this.decided].inc();
    }
    if (this.decided === "allowed") return "continue";
    this.logger.debug(`rbac ${model.statPrefix}: connection ${conn.id} from ${conn.remoteAddress}:${conn.remotePort} denied`);
    conn.close("no-flush");
    return "stop";
  }
}
