import type { LbHost } from "../../../shared/lb/index.ts";

/**
 * One upstream host of a cluster. Its counters are Envoy's per-host stats, shown by the admin
 * `/clusters` endpoint rather than `/stats` (as in Envoy). Host objects survive DNS refreshes that
 * return the same address, so their counts and active connections carry over.
 */
export class Host implements LbHost {
  /** Current IP address (or name, for a STATIC endpoint written as one). LOGICAL_DNS updates it in place. */
  address: string;
  readonly port: number;
  readonly weight: number;
  /** The DNS name this host was resolved from; empty for STATIC hosts (Envoy's `hostname`). */
  readonly hostname: string;
  cxTotal = 0;
  cxActive = 0;
  cxConnectFail = 0;

  constructor(address: string, port: number, weight: number, hostname = "") {
    this.address = address;
    this.port = port;
    this.weight = weight;
    this.hostname = hostname;
  }

  /** For LEAST_REQUEST: the tcp tier counts active upstream connections. */
  get activeRequests(): number {
    return this.cxActive;
  }

  /** Envoy's `host:port` display form (IPv6 in brackets). */
  get addressString(): string {
    return this.address.includes(":") ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }

  /**
   * Envoy's health flags text for `/clusters`. Without active health checking or outlier detection
   * (not yet in the tcp tier) every host is healthy, as Envoy treats hosts of a cluster with neither.
   */
  get healthFlags(): string {
    return "healthy";
  }
}
