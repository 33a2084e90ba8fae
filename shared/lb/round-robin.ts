import type { LbContext, LbHost, LoadBalancer } from "./types.ts";

interface Entry<H> {
  host: H;
  /** Virtual time at which this host is next due. */
  deadline: number;
  /** Insertion order: breaks deadline ties so the schedule is deterministic. */
  order: number;
}

/**
 * Envoy's ROUND_ROBIN: plain rotation when all weights are equal; otherwise an earliest-deadline-first
 * schedule in which a host of weight w is due every 1/w units of virtual time, so over any window of
 * `sum(weights)` picks each host is chosen `weight` times, interleaved rather than in bursts.
 */
export class RoundRobinLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = "ROUND_ROBIN";
  private hosts: readonly H[] = [];
  private next = 0;
  private weighted = false;
  /** Min-heap by (deadline, order); used only when weights differ. */
  private heap: Entry<H>[] = [];
  private order = 0;

  build(hosts: readonly H[]): void {
    this.hosts = hosts;
    this.next = 0;
    const first = hosts[0]?.weight;
    this.weighted = hosts.some((h) => h.weight !== first);
    this.heap = [];
    this.order = 0;
    if (this.weighted) {
      for (const host of hosts) this.push({ host, deadline: 1 / host.weight, order: this.order++ });
    }
  }

  chooseHost(context?: LbContext<H>): H | undefined {
    const n = this.hosts.length;
    if (n === 0) return undefined;
    const tried = context?.triedHosts;
    if (!tried || tried.size === 0) return this.pick();
    // Each host appears once in any n consecutive unweighted picks; for weighted schedules n picks are
    // tried, then a plain scan finds an untried host.
    for (let i = 0; i < n; i++) {
      const host = this.pick();
      if (!tried.has(host)) return host;
    }
    for (let i = 0; i < n; i++) {
      const host = this.hosts[(this.next + i) % n]!;
      if (!tried.has(host)) return host;
    }
    // Every host has been tried: pick as if nothing had been.
    return this.pick();
  }

  private pick(): H {
    if (!this.weighted) {
      const host = this.hosts[this.next]!;
      this.next = (this.next + 1) % this.hosts.length;
      return host;
    }
    const top = this.heap[0]!;
    top.deadline += 1 / top.host.weight;
    top.order = this.order++;
    this.siftDown(0);
    return top.host;
  }

  private less(a: Entry<H>, b: Entry<H>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
  }

  private push(e: Entry<H>): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
