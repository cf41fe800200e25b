/**
 * The write pipeline: content type → decode → split by cluster → per part decide → keep the decided window →
 * fenced, idempotent write. Every expected outcome is a value; every failure leaves as an error carrying the
 * HTTP status it is answered with (codec 400/413/415, replica-without-cluster 400, everything database or lease
 * related 503).
 *
 * Invariants:
 * - nothing is answered 2xx before every stored part committed;
 * - a part whose fence fails is re-decided once with fresh lease state, then 503 (Prometheus resends; the
 *   idempotency keys keep already-committed parts of the resend from being stored twice);
 * - the in-flight bound is checked before decoding, so an overloaded instance answers 503 without the CPU cost.
 */
import { createHash } from 'node:crypto';
import { seriesTimeRange, type TimeSeries } from '@promha/codec';
import { storedSeries, type Fence } from '@promha/election';
import type { WritePipeline, WriteResult } from '../app.js';
import { IngestError } from '../errors.js';
import type { IngestMetrics } from '../metrics.js';
import type { CodecPort, ElectionPort, HaPart, SplitFn, StoreOutcome, StorePart, WriterPort } from './ports.js';

export interface PipelineOptions {
  readonly codec: CodecPort;
  readonly split: SplitFn;
  readonly election: ElectionPort;
  readonly writer: WriterPort;
  readonly metrics: IngestMetrics;
  readonly highAvailability: boolean;
  readonly clusterLabel: string;
  readonly replicaLabel: string;
  readonly maxDecodedBytes: number;
  readonly maxInFlightSamples: number;
}

interface PartOutcome {
  readonly stored: number;
  readonly deduplicated: number;
}

function unavailable(what: string, e: unknown): IngestError {
  const detail = e instanceof Error ? e.message : String(e);
  return new IngestError('PROMHA_INGEST_UNAVAILABLE', `${what}: ${detail}`, { cause: e });
}

function errorCode(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return 'unknown';
}

export class Pipeline implements WritePipeline {
  private inFlight = 0;

  constructor(private readonly o: PipelineOptions) {}

  /** Samples decoded and not yet answered. */
  inFlightSamples(): number {
    return this.inFlight;
  }

  overloaded(): boolean {
    return this.inFlight >= this.o.maxInFlightSamples;
  }

  async write(body: Buffer, contentType: string | undefined): Promise<WriteResult> {
    const { codec, metrics } = this.o;
    if (this.overloaded()) {
      throw new IngestError('PROMHA_INGEST_OVERLOADED', 'overloaded: too many samples in flight, retry later');
    }
    const version = codec.parseWriteContentType(contentType);
    const request = codec.decodeWriteRequest(body, { version, maxDecodedBytes: this.o.maxDecodedBytes });
    const written = codec.countWritten(request);
    const total = written.samples + written.histograms;
    this.inFlight += total;
    metrics.inFlightSamples.set(this.inFlight);
    try {
      const kind = await this.store(body, request.series, request.metadata, total);
      return { kind, version, written };
    } finally {
      this.inFlight -= total;
      metrics.inFlightSamples.set(this.inFlight);
    }
  }

  private async store(
    body: Buffer,
    series: readonly TimeSeries[],
    metadata: Parameters<WriterPort['upsertMetadata']>[0],
    total: number,
  ): Promise<'stored' | 'deduplicated'> {
    const { metrics } = this.o;
    let digest: string | undefined;
    const key = (suffix: string): string => {
      digest ??= createHash('sha256').update(body).digest('base64url');
      return `${digest}|${suffix}`;
    };
    {
      // Metadata bypasses the election (docs/design.md rule 10): the upsert is idempotent, so every replica may send it.
      if (metadata.length > 0) {
        await this.o.writer.upsertMetadata(metadata).catch((e: unknown) => {
          metrics.samples.inc({ outcome: 'failed' }, total);
          throw this.storageFailure('metadata upsert failed', e);
        });
      }
      if (series.length === 0) return 'stored';

      if (!this.o.highAvailability) {
        const stored = await this.writeUnfenced(series, key('all')).catch((e: unknown) => {
          metrics.samples.inc({ outcome: 'failed' }, total);
          throw e;
        });
        metrics.samples.inc({ outcome: 'stored' }, stored);
        return 'stored';
      }

      const split = this.o.split(series, { clusterLabel: this.o.clusterLabel, replicaLabel: this.o.replicaLabel });
      if (split.kind === 'invalid') {
        metrics.samples.inc({ outcome: 'rejected' }, total);
        throw new IngestError('PROMHA_INGEST_REPLICA_WITHOUT_CLUSTER', `series ${split.seriesIndex}: ${split.message}`);
      }
      const jobs: Promise<PartOutcome>[] = split.parts.map((part) => this.storePart(part, key));
      if (split.nonHa.length > 0) {
        jobs.push(
          this.writeUnfenced(split.nonHa, key('non-ha')).then((stored) => {
            metrics.haNonHa.inc(stored);
            return { stored, deduplicated: 0 };
          }),
        );
      }
      // Every part runs to its end even if another failed: a committed part must be counted, and the resend
      // after our 503 finds it by its idempotency key.
      const settled = await Promise.allSettled(jobs);
      let stored = 0;
      let deduplicated = 0;
      let failure: unknown;
      for (const r of settled) {
        if (r.status === 'fulfilled') {
          stored += r.value.stored;
          deduplicated += r.value.deduplicated;
        } else {
          failure ??= r.reason;
        }
      }
      metrics.samples.inc({ outcome: 'stored' }, stored);
      metrics.samples.inc({ outcome: 'deduplicated' }, deduplicated);
      if (failure !== undefined) {
        metrics.samples.inc({ outcome: 'failed' }, Math.max(0, total - stored - deduplicated));
        throw failure instanceof Error ? failure : unavailable('write failed', failure);
      }
      // 202 only when the request carried HA data and all of it was dropped as non-leader data.
      return stored === 0 && deduplicated > 0 ? 'deduplicated' : 'stored';
    }
  }

  private storageFailure(what: string, e: unknown): IngestError {
    this.o.metrics.writeErrors.inc({ code: errorCode(e) });
    return unavailable(what, e);
  }

  private async timedWrite(part: StorePart): Promise<StoreOutcome> {
    const { metrics } = this.o;
    const t0 = process.hrtime.bigint();
    let outcome: StoreOutcome;
    try {
      outcome = await this.o.writer.write(part);
    } catch (e: unknown) {
      throw this.storageFailure('database write failed', e);
    }
    if (outcome.kind === 'stored') {
      metrics.writeBatchDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
      metrics.writeBatchSize.observe(outcome.samples + outcome.histograms);
    }
    return outcome;
  }

  private async writeUnfenced(series: readonly TimeSeries[], idempotencyKey: string): Promise<number> {
    const outcome = await this.timedWrite({ series, idempotencyKey });
    if (outcome.kind !== 'stored') {
      // An unfenced write has nothing to fail on; a store that says otherwise is broken.
      throw new IngestError('PROMHA_INGEST_UNAVAILABLE', 'storage reported a fence failure for an unfenced write');
    }
    return outcome.samples + outcome.histograms;
  }

  private async storePart(part: HaPart, key: (suffix: string) => string): Promise<PartOutcome> {
    const { metrics, election } = this.o;
    const count = part.samples;
    for (let attempt = 0; attempt < 2; attempt++) {
      let decision;
      try {
        decision = await election.decide({
          cluster: part.cluster,
          replica: part.replica,
          minTime: part.minTime,
          maxTime: part.maxTime,
        });
      } catch (e: unknown) {
        throw unavailable(`lease decision for cluster ${JSON.stringify(part.cluster)} failed`, e);
      }
      if (decision.kind === 'dedupe') {
        metrics.haDeduplicated.inc({ cluster: part.cluster }, count);
        return { stored: 0, deduplicated: count };
      }
      if (decision.kind === 'retry') {
        metrics.haUnled.inc({ cluster: part.cluster }, count);
        throw new IngestError(
          'PROMHA_INGEST_UNAVAILABLE',
          `no leader for cluster ${JSON.stringify(part.cluster)}: ${decision.reason}`,
        );
      }
      // Only now, and only for what is kept, the replica label comes off (rule 3): dropped parts are never copied.
      const { series: kept, kept: keptCount, dropped } = storedSeries(part.series, decision.from, decision.until, this.o.replicaLabel);
      if (keptCount === 0) {
        metrics.haDeduplicated.inc({ cluster: part.cluster }, count);
        return { stored: 0, deduplicated: count };
      }
      // The fence covers exactly the data written; it lies inside what the election decided.
      const range = dropped === 0 ? { minTime: decision.fence.minTime, maxTime: decision.fence.maxTime } : seriesTimeRange(kept);
      const fence: Fence = { ...decision.fence, ...range };
      let outcome: StoreOutcome;
      try {
        outcome = await this.timedWrite({
          series: kept,
          fence,
          idempotencyKey: key(`${part.cluster}|${part.replica}|${decision.from}|${decision.until}`),
        });
      } catch (e: unknown) {
        // The lease extension this write carried may not have committed: the election must not trust it.
        election.onWriteFailed(fence);
        throw e;
      }
      if (outcome.kind === 'stored') {
        if (dropped > 0) metrics.haDeduplicated.inc({ cluster: part.cluster }, dropped);
        return { stored: outcome.samples + outcome.histograms, deduplicated: dropped };
      }
      // The election counts the fence failure (promha_ha_fence_failures_total) and forgets the stale lease.
      election.onFenceFailure(outcome);
    }
    throw new IngestError(
      'PROMHA_INGEST_UNAVAILABLE',
      `lease of cluster ${JSON.stringify(part.cluster)} moved during the write twice; retry`,
    );
  }
}
