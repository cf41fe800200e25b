import type { BalancerStats, LinkState } from '../lb.js';
import type { Prng } from '../prng.js';
import type { OutgoingWrite, SendResult, Transport } from '../replica.js';

/** Where the virtual network delivers a request: an ingest instance, or nothing when it is down. */
export interface VirtualEndpoint {
  /** Status of the ingest's answer; 502 when the instance crashed while handling it. */
  write(body: Uint8Array): Promise<number>;
}

export interface VirtualNetworkOptions {
  /** The live instances, in balancer order (undefined: down, skipped like a refused connection). */
  readonly endpoints: () => readonly (VirtualEndpoint | undefined)[];
  readonly link: (cluster: number, replica: number) => LinkState;
  readonly rng: Prng;
  readonly sleep: (ms: number) => Promise<void>;
  /** Virtual one-way latency of a hop, drawn per hop. */
  readonly hopMs: () => number;
}

/**
 * The load balancer and the links of the real-process mode (lb.ts), played in virtual time: round robin over
 * the instances, a down instance skipped, cut links reset, slow links delay, lossy links lose the request or its
 * answer (after the instance processed it), duplicate deliveries go to two instances at once.
 */
export class VirtualNetwork implements Transport {
  private next = 0;
  readonly stats: BalancerStats = { requests: 0, cut: 0, lostBefore: 0, lostAfter: 0, duplicated: 0, noBackend: 0 };

  constructor(private readonly o: VirtualNetworkOptions) {}

  async send(w: OutgoingWrite): Promise<SendResult> {
    const { o } = this;
    this.stats.requests++;
    const link = o.link(w.cluster, w.replica);
    await o.sleep(o.hopMs() + link.delayMs);
    if (link.cut) {
      this.stats.cut++;
      return { kind: 'network-error', message: 'connection reset (link cut)' };
    }
    const lose = link.lossProbability > 0 && o.rng.chance(link.lossProbability);
    if (lose && o.rng.chance(0.5)) {
      this.stats.lostBefore++;
      return { kind: 'network-error', message: 'request lost' };
    }
    const duplicate = link.duplicateProbability > 0 && o.rng.chance(link.duplicateProbability);
    const first = this.forward(w.body);
    if (duplicate) {
      this.stats.duplicated++;
      void this.forward(w.body);
    }
    const status = await first;
    await o.sleep(o.hopMs());
    if (lose) {
      this.stats.lostAfter++;
      return { kind: 'network-error', message: 'answer lost' };
    }
    if (status === undefined) {
      this.stats.noBackend++;
      return { kind: 'answer', status: 502 };
    }
    return { kind: 'answer', status };
  }

  private async forward(body: Uint8Array): Promise<number | undefined> {
    const endpoints = this.o.endpoints();
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[this.next++ % endpoints.length];
      if (e !== undefined) return e.write(body);
    }
    return undefined;
  }
}
