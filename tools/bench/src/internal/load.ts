/**
 * The end-to-end load: fast senders modelled on the simulator's replicas. Several clusters, each an HA pair
 * (two replicas sending the same data, differing only in the replica label), each replica split into shards
 * (as Prometheus' remote-write queue does) that own disjoint sets of series. Every request carries 500-2,000
 * series with one sample each at the request's data time; series carry 10 labels (`__name__`, `cluster`,
 * `__replica__` and 7 more). Bodies are remote-write 1.0 protobuf + snappy, encoded before timing.
 *
 * Both replicas' bodies of one request hold identical samples (same series after the replica label is removed,
 * same timestamps and values), so a deduplicating receiver stores exactly one replica's stream.
 */
import type { Label, TimeSeries } from '@promha/codec';
import { writeBody } from '@promha/ingest/testing';

/** A float series with one sample; labels sorted by name as remote write requires (names here are ASCII). */
function series(name: string, labels: Readonly<Record<string, string>>, timestamp: number, value: number): TimeSeries {
  const all: Label[] = [{ name: '__name__', value: name }];
  for (const [n, v] of Object.entries(labels)) all.push({ name: n, value: v });
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { labels: all, samples: [{ timestamp, value }], histograms: [], exemplars: [] };
}

export interface LoadShape {
  readonly clusters: number;
  readonly replicas: number;
  readonly shards: number;
  /** Series owned by one shard (the request windows rotate over them, so series repeat as in real scrapes). */
  readonly seriesPerShard: number;
  readonly minSamplesPerRequest: number;
  readonly maxSamplesPerRequest: number;
  /** Data time between a shard's consecutive requests. */
  readonly stepMs: number;
}

export const DEFAULT_SHAPE: LoadShape = {
  clusters: 4,
  replicas: 2,
  shards: 2,
  seriesPerShard: 5_000,
  minSamplesPerRequest: 500,
  maxSamplesPerRequest: 2_000,
  stepMs: 1_000,
};

/** One sender's pre-encoded requests for a round: a (cluster, replica, shard) stream. */
export interface SenderBatch {
  readonly cluster: number;
  readonly replica: number;
  readonly shard: number;
  readonly bodies: readonly Buffer[];
  /** Samples in each body (the same for every replica of a cluster). */
  readonly samples: readonly number[];
}

export interface Round {
  /**
   * Every stream of replica 0, then every stream of replica 1, and so on. Whoever spreads connections in turn (the
   * bench's `k mod n` over instances, node:cluster's primary over workers in the order connections open) then gives
   * each instance a share of every replica's streams, as when a replica's shard connections open together. Ordered
   * stream by stream with the replicas interleaved, `k mod 2` was the replica: every leader on one instance.
   */
  readonly senders: readonly SenderBatch[];
  /** Samples of one replica's stream (what a deduplicating receiver stores). */
  readonly uniqueSamples: number;
  /** Samples sent by all replicas. */
  readonly offeredSamples: number;
  readonly requests: number;
}

/** Mulberry32: a small seeded PRNG so every run sends the same request sizes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODES = ['user', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'nice'];

/** The labels of series `s` of a shard, without the replica label; values are stable across rounds. */
function baseLabels(cluster: number, shard: number, s: number): Record<string, string> {
  return {
    cluster: `bench-${cluster}`,
    job: 'node',
    instance: `host-${shard}-${s % 250}:9100`,
    cpu: String(s % 32),
    mode: MODES[s % MODES.length]!,
    region: `region-${cluster % 3}`,
    env: 'prod',
    team: `team-${s % 7}`,
  };
}

/**
 * A load generator with a cursor per shard, so consecutive rounds continue the same streams with later data
 * time. `requestsPerSender` requests per (cluster, replica, shard) per round.
 */
export class Load {
  private readonly next: number[];
  private readonly cursor: number[];
  private readonly random: () => number;
  private readonly names: string[][][];
  private total = 0;

  constructor(
    readonly shape: LoadShape,
    private readonly baseTime: number,
    seed = 1,
  ) {
    const streams = shape.clusters * shape.shards;
    this.next = new Array<number>(streams).fill(0);
    this.cursor = new Array<number>(streams).fill(0);
    this.random = prng(seed);
    this.names = [];
    for (let c = 0; c < shape.clusters; c++) {
      const perShard: string[][] = [];
      for (let h = 0; h < shape.shards; h++) {
        perShard.push(Array.from({ length: shape.seriesPerShard }, (_, s) => `bench_metric_${s % 40}`));
      }
      this.names.push(perShard);
    }
  }

  /** Samples of one replica's stream generated so far. */
  sent(): number {
    return this.total;
  }

  /** Builds and encodes the next `requestsPerSender` requests of every sender. */
  round(requestsPerSender: number): Round {
    const { clusters, replicas, shards, seriesPerShard, minSamplesPerRequest, maxSamplesPerRequest, stepMs } = this.shape;
    // Replica by replica (see Round.senders).
    const byReplica: SenderBatch[][] = Array.from({ length: replicas }, () => []);
    let unique = 0;
    let requests = 0;
    for (let c = 0; c < clusters; c++) {
      for (let h = 0; h < shards; h++) {
        const stream = c * shards + h;
        const perReplica: Buffer[][] = Array.from({ length: replicas }, () => []);
        const samples: number[] = [];
        for (let k = 0; k < requestsPerSender; k++) {
          const i = this.next[stream]!++;
          const t = this.baseTime + i * stepMs;
          const n = minSamplesPerRequest + Math.floor(this.random() * (maxSamplesPerRequest - minSamplesPerRequest + 1));
          const start = this.cursor[stream]!;
          this.cursor[stream] = (start + n) % seriesPerShard;
          for (let r = 0; r < replicas; r++) {
            const ts: TimeSeries[] = [];
            for (let j = 0; j < n; j++) {
              const s = (start + j) % seriesPerShard;
              const labels = baseLabels(c, h, s);
              labels['__replica__'] = `replica-${r}`;
              ts.push(series(this.names[c]![h]![s]!, labels, t, (i * 31 + s) % 1000));
            }
            perReplica[r]!.push(writeBody(ts));
          }
          samples.push(n);
          unique += n;
          requests += replicas;
        }
        for (let r = 0; r < replicas; r++) byReplica[r]!.push({ cluster: c, replica: r, shard: h, bodies: perReplica[r]!, samples });
      }
    }
    this.total += unique;
    return { senders: byReplica.flat(), uniqueSamples: unique, offeredSamples: unique * replicas, requests };
  }
}
