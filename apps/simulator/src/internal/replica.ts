import type { AckRecord, SentSample } from './checkers.js';
import type { Prng } from './prng.js';
import type { Scenario } from './scenario.js';
import { clusterName, encodeValue, METRIC_NAME, replicaName } from './values.js';
import type { WireSeries } from './wire.js';

/** Sim-time source and timers, injected so that tests can drive a replica deterministically. */
export interface Timers {
  /** Milliseconds of sim time since the start of the run. */
  now(): number;
  /** Calls `fn` after `ms` of sim time; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export type SendResult =
  { readonly kind: 'answer'; readonly status: number } | { readonly kind: 'network-error'; readonly message: string };

/** One remote-write request on its way out. */
export interface OutgoingWrite {
  readonly cluster: number;
  readonly replica: number;
  readonly body: Uint8Array;
}

export interface Transport {
  send(request: OutgoingWrite): Promise<SendResult>;
}

export interface ReplicaOptions {
  readonly scenario: Scenario;
  readonly cluster: number;
  readonly replica: number;
  readonly skewMs: number;
  /** Epoch milliseconds that sim time 0 corresponds to on a clock without skew. */
  readonly dataBaseMs: number;
  readonly rng: Prng;
  readonly timers: Timers;
  readonly transport: Transport;
  /** Wire bytes of a batch (protobuf, then snappy), as the ingest expects them. */
  readonly encode: (series: readonly WireSeries[]) => Uint8Array;
  readonly onAnswer: (record: AckRecord) => void;
}

interface Pending {
  readonly series: number;
  readonly t: number;
  readonly value: number;
}

interface Shard {
  pending: Pending[];
  inFlight: boolean;
  cancelDeadline: (() => void) | undefined;
}

/**
 * A fake Prometheus replica: it scrapes the cluster's series set on its own skewed clock, with jitter, and
 * sends remote write the way Prometheus 2.42's queue manager does. Samples are sharded by series; a shard sends
 * when it holds `maxSamplesPerSend` samples or when the batch deadline passes, one request in flight per shard;
 * 5xx answers and network errors are retried with the identical body after an exponential backoff; 4xx answers
 * (429 included, as 2.42 does by default) drop the batch. A crash loses everything queued.
 */
export class FakeReplica {
  private readonly o: ReplicaOptions;
  private readonly shards: Shard[];
  private readonly seriesLabels: WireSeries['labels'][];
  private incarnation = 0;
  private running = false;
  private scraping = false;
  private seq = 0;
  private jumpMs = 0;
  private cancelScrape: (() => void) | undefined;
  private readonly inFlight = new Set<{
    incarnation: number;
    samples: readonly Pending[];
    sentAtMs: number;
    attempts: number;
  }>();
  private queued = 0;
  /** Counters for the progress display. */
  scraped = 0;
  answered = 0;

  constructor(options: ReplicaOptions) {
    this.o = options;
    this.shards = Array.from({ length: options.scenario.shards }, () => ({
      pending: [],
      inFlight: false,
      cancelDeadline: undefined,
    }));
    this.seriesLabels = Array.from({ length: options.scenario.seriesPerReplica }, (_, i) =>
      sortLabels([
        { name: '__name__', value: METRIC_NAME },
        { name: 'cluster', value: clusterName(options.cluster) },
        { name: '__replica__', value: replicaName(options.replica) },
        { name: 'series', value: `s${i}` },
      ]),
    );
  }

  /** The replica's own clock: data time of a scrape now. */
  dataNow(): number {
    return this.o.dataBaseMs + this.o.timers.now() + this.o.skewMs + this.jumpMs;
  }

  get isRunning(): boolean {
    return this.running;
  }

  get queuedSamples(): number {
    return this.queued;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.scraping = true;
    const phase = this.o.rng.int(0, this.o.scenario.scrapeIntervalMs - 1);
    this.scheduleScrape(phase);
  }

  /** Stops scraping; what is queued keeps being sent. */
  stopScraping(): void {
    this.scraping = false;
    this.cancelScrape?.();
    this.cancelScrape = undefined;
  }

  /** Crash: scraping stops and every queued or in-flight sample is lost. */
  crash(): void {
    this.stopScraping();
    this.running = false;
    this.dropQueues();
  }

  jumpClock(ms: number): void {
    this.jumpMs += ms;
  }

  private dropQueues(): void {
    this.incarnation++;
    const now = this.o.timers.now();
    for (const f of this.inFlight) {
      this.o.onAnswer(this.record(f.samples, 0, f.attempts, f.sentAtMs, now));
    }
    this.inFlight.clear();
    for (const shard of this.shards) {
      shard.cancelDeadline?.();
      if (shard.pending.length > 0) this.o.onAnswer(this.record(shard.pending, 0, 0, now, now));
      shard.pending = [];
      shard.inFlight = false;
      shard.cancelDeadline = undefined;
    }
    this.queued = 0;
  }

  private scheduleScrape(delay: number): void {
    const jitter = this.o.scenario.jitterMs === 0 ? 0 : this.o.rng.int(0, this.o.scenario.jitterMs);
    const nominal = this.o.timers.now() + delay;
    this.cancelScrape = this.o.timers.after(delay + jitter, () => {
      if (!this.scraping) return;
      this.scrape();
      // The next scrape is due one interval after the nominal time of this one, so jitter does not accumulate.
      this.scheduleScrape(Math.max(0, nominal + this.o.scenario.scrapeIntervalMs - this.o.timers.now()));
    });
  }

  private scrape(): void {
    const t = Math.round(this.dataNow());
    const value = encodeValue({
      cluster: this.o.cluster,
      replica: this.o.replica,
      seq: this.seq++,
    });
    for (let s = 0; s < this.o.scenario.seriesPerReplica; s++) {
      if (this.queued >= this.o.scenario.queueCapacity) break;
      const shard = this.shards[s % this.shards.length]!;
      shard.pending.push({ series: s, t, value });
      this.queued++;
      this.scraped++;
    }
    for (const shard of this.shards) this.maybeSend(shard);
  }

  private maybeSend(shard: Shard): void {
    if (shard.inFlight || shard.pending.length === 0) return;
    if (shard.pending.length >= this.o.scenario.maxSamplesPerSend) {
      this.flush(shard);
      return;
    }
    if (shard.cancelDeadline === undefined) {
      shard.cancelDeadline = this.o.timers.after(this.o.scenario.batchDeadlineMs, () => {
        shard.cancelDeadline = undefined;
        if (!shard.inFlight) this.flush(shard);
      });
    }
  }

  private flush(shard: Shard): void {
    shard.cancelDeadline?.();
    shard.cancelDeadline = undefined;
    if (shard.pending.length === 0) return;
    const batch = shard.pending.slice(0, this.o.scenario.maxSamplesPerSend);
    shard.pending = shard.pending.slice(batch.length);
    shard.inFlight = true;
    void this.sendWithRetry(shard, batch);
  }

  private async sendWithRetry(shard: Shard, batch: readonly Pending[]): Promise<void> {
    const incarnation = this.incarnation;
    const body = this.o.encode(this.toSeries(batch));
    const flight = {
      incarnation,
      samples: batch,
      sentAtMs: this.o.timers.now(),
      attempts: 0,
    };
    this.inFlight.add(flight);
    let backoff = this.o.scenario.minBackoffMs;
    for (;;) {
      flight.attempts++;
      const result = await this.o.transport.send({
        cluster: this.o.cluster,
        replica: this.o.replica,
        body,
      });
      if (incarnation !== this.incarnation) return;
      if (result.kind === 'answer' && result.status < 500) {
        this.inFlight.delete(flight);
        this.queued -= batch.length;
        this.answered += batch.length;
        this.o.onAnswer(this.record(batch, result.status, flight.attempts, flight.sentAtMs, this.o.timers.now()));
        shard.inFlight = false;
        this.maybeSend(shard);
        return;
      }
      await new Promise<void>((resolve) => this.o.timers.after(backoff, resolve));
      if (incarnation !== this.incarnation) return;
      backoff = Math.min(2 * backoff, this.o.scenario.maxBackoffMs);
    }
  }

  private toSeries(batch: readonly Pending[]): WireSeries[] {
    const bySeries = new Map<number, { value: number; timestamp: number }[]>();
    for (const p of batch) {
      let list = bySeries.get(p.series);
      if (list === undefined) bySeries.set(p.series, (list = []));
      list.push({ value: p.value, timestamp: p.t });
    }
    return [...bySeries].map(([s, samples]) => ({
      labels: this.seriesLabels[s]!,
      samples,
    }));
  }

  private record(
    batch: readonly Pending[],
    status: number,
    attempts: number,
    sentAtMs: number,
    answeredAtMs: number,
  ): AckRecord {
    const samples: SentSample[] = batch.map((p) => ({
      series: seriesKey(this.o.cluster, p.series),
      t: p.t,
      value: p.value,
    }));
    return {
      cluster: this.o.cluster,
      replica: this.o.replica,
      status,
      attempts,
      samples,
      sentAtMs,
      answeredAtMs,
    };
  }
}

/** The key the checkers use for a series: its labels without the replica label, as the ingest stores them. */
export function seriesKey(cluster: number, series: number): string {
  return `${clusterName(cluster)}/s${series}`;
}

function sortLabels<T extends { readonly name: string }>(labels: T[]): T[] {
  // Prometheus sorts label names by byte order; all names here are ASCII, where that equals code-unit order.
  return labels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
