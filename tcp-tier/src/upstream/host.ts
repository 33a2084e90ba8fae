import type { EndpointModel } from "../../../shared/config/model.ts";
import { UpstreamHost } from "../../../shared/upstream/host.ts";

/**
 * One upstream host of a tcp-tier cluster: shared/upstream's host (priority, locality, weight, health
 * from outlier detection) plus the connection counters Envoy keeps per host, shown by the admin
 * `/clusters` endpoint rather than `/stats` (as in Envoy). Host objects survive DNS refreshes that
 * return the same address, so their counts and active connections carry over.
 */
export class Host extends UpstreamHost {
  /** The DNS name this host was resolved from; empty for STATIC hosts (Envoy's `hostname`). */
  readonly hostname: string;
  cxTotal = 0;
  cxActive = 0;

  /** `endpoint.address` is the host's IP address (or, for a STATIC endpoint written as one, a name). */
  constructor(endpoint: EndpointModel, hostname = "") {
    super(endpoint);
    this.hostname = hostname;
  }

  /** Envoy's `host:port` display form (IPv6 in brackets). */
  get addressString(): string {
    return this.hostPort;
  }
}
