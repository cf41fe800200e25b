/**
 * The write pipeline: content type → decode → split by cluster → per part decide → keep the decided window →
 * fenced, idempotent write. Every expected outcome is a value; every failure leaves as an error carrying the
 * HTTP status it is answered with (codec 400/413/415, replica-without-cluster 400; storage errors by who can fix
 * them: data the database refuses 400, the database's trouble 503, a bug 500).
 *
 * Invariants:
 * - nothing is answered 2xx before every stored part committed;
 * - a part whose fence fails is re-decided once with fresh lease state, then 503 (Prometheus resends; the
 *   idempotency keys keep already-committed parts of the resend from being stored twice);
 * - the in-flight bound is checked before decoding, so an overloaded instance answers 503 without the CPU cost; it
 *   counts series as well as samples (a request of many empty series still costs interning);
 * - samples further in the future than the grace are taken out before the split, so the election never sees them
 *   (they would extend a lease far ahead and block every failover); the rest is stored and the answer is 400
 *   naming the series;
 * - a part's idempotency key depends only on the body and the data range kept (idempotency.ts);
 * - with HA on, a request is first peeked (each series' HA labels and time range, nothing else decoded) and its
 *   (cluster, replica) parts decided; a request whose parts all follow a leader is answered 202 without a full
 *   decode (it is checked for framing, timestamps and its HA labels only). Otherwise it is decoded in full and
 *   each part goes on with the decision already made, so no part is decided twice. Nothing is decided on the
 *   peek when a sample lies beyond the future grace or an HA value is too long: those take the full path. A
 *   request from a sender (connection) whose last request was stored skips the peek: it is most likely the
 *   leader's again, and the full path decides it the same way.
 */
import { seriesTimeRange, type TimeSeries, type WriteLimits, type WritePeek, type WriteRequest } from '@promha/codec';
import { storedSeries, type Clock, type Fence } from '@promha/election';
import type { WritePipeline, WriteResult } from '../app.js';
import { fromStorage, IngestError } from '../errors.js';
import type { IngestMetrics } from '../metrics.js';
import { bodyDigest, idempotencyKey, type KeyedPart } from './idempotency.js';
import type { CodecPort, Decision, ElectionPort, HaPart, SplitFn, StoreOutcome, StorePart, WriterPort } from './ports.js';
import type { BufferedGroup, StandbyBuffer } from './standby-buffer.js';

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
  /** Bound on samples plus series decoded and not yet answered. */
  readonly maxInFlightSamples: number;
  readonly limits: WriteLimits;
  /** Samples later than the wall clock plus this are refused (400) and never reach the election. */
  readonly futureGraceMs: number;
  readonly clock: Clock;
  /** Keeps deduplicated requests to fill a takeover's gap (rule 11); absent: nothing is kept. */
  readonly standby?: StandbyBuffer | undefined;
}

/** The lease a fill writes into: the new leader's, from the splice point. */
export interface FillLease {
  readonly cluster: string;
  readonly leader: string;
  readonly epoch: number;
  readonly start: number;
}

/** What one fill did: samples written, and buffered requests that could not be (kept for the next attempt). */
export interface FillResult {
  readonly filled: number;
  readonly failed: number;
}

/**
 * Longest cluster or replica label value of HA data. They key the lease rows and the leader-change history (btree
 * keys of at most about 2.7 kB), and real cluster and replica names are short.
 */
export const HA_LABEL_VALUE_MAX_BYTES = 1024;

/** Series of a request with the samples beyond the future grace taken out. */
interface FutureCut {
  readonly series: readonly TimeSeries[];
  /** Indexes (in the request) of the series that had samples beyond the grace. */
  readonly rejected: readonly number[];
  /** Samples and histograms taken out. */
  readonly removed: number;
  /** Data-time range of what is left. */
  readonly minTime: number;
  readonly maxTime: number;
}

/**
 * Takes out samples and histograms later than `limit` (exemplars too: they belong to the refused data). Returns
 * the input array itself when nothing is late, which is the common case: one pass over the timestamps.
 */
export function cutFuture(series: readonly TimeSeries[], limit: number): FutureCut {
  let minTime = Infinity;
  let maxTime = -Infinity;
  let rejected: number[] | undefined;
  for (let i = 0; i < series.length; i++) {
    const { samples, histograms } = series[i]!;
    let late = false;
    // Indexed loops: `for...of` over the decoder's shared frozen empty arrays costs about 20 ns a series.
    for (let k = 0; k < samples.length; k++) {
      const t = samples[k]!.timestamp;
      if (t > limit) late = true;
      else {
        if (t < minTime) minTime = t;
        if (t > maxTime) maxTime = t;
      }
    }
    for (let k = 0; k < histograms.length; k++) {
      const t = histograms[k]!.timestamp;
      if (t > limit) late = true;
      else {
        if (t < minTime) minTime = t;
        if (t > maxTime) maxTime = t;
      }
    }
    if (late) (rejected ??= []).push(i);
  }
  if (rejected === undefined) return { series, rejected: [], removed: 0, minTime, maxTime };
  let removed = 0;
  const late = new Set(rejected);
  const out: TimeSeries[] = [];
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    if (!late.has(i)) {
      out.push(s);
      continue;
    }
    const samples = s.samples.filter((x) => x.timestamp <= limit);
    const histograms = s.histograms.filter((x) => x.timestamp <= limit);
    removed += s.samples.length - samples.length + s.histograms.length - histograms.length;
    // A series left with no data is not written at all: nothing of what was refused becomes readable.
    if (samples.length > 0 || histograms.length > 0) {
      out.push({ ...s, samples, histograms, exemplars: s.exemplars.filter((x) => x.timestamp <= limit) });
    }
  }
  return { series: out, rejected, removed, minTime, maxTime };
}

function metricName(s: TimeSeries): string {
  const v = s.labels.find((l) => l.name === '__name__')?.value ?? '';
  return v.length > 200 ? `${v.slice(0, 200)}...` : v;
}

/** A decision made on the peek, by part key, settled (a rejected decision is answered 503 by its part). */
type EarlyDecision = { readonly decision: Decision } | { readonly error: unknown };
type EarlyDecisions = ReadonlyMap<string, EarlyDecision>;

const partKey = (cluster: string, replica: string): string => `${cluster}\0${replica}`;

interface PartOutcome {
  readonly stored: number;
  readonly deduplicated: number;
  /** The part was deduplicated whole: what the standby buffer keeps of it. */
  readonly buffered?: BufferedGroup;
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
  /**
   * Senders (connections) whose last request was stored: a Prometheus shard keeps sending one replica's data over
   * its connection, so its next request is most likely the leader's again, and is decoded at once instead of being
   * peeked first. A hint only: the full path decides every part as the peek would. A wrong guess costs one full
   * decode of a non-leader request, and the next request of that sender is peeked again. Few keys (connections),
   * so a WeakMap is cheap here.
   */
  private readonly storedLast = new WeakMap<object, true>();

  constructor(private readonly o: PipelineOptions) {}

  /** Samples plus series decoded and not yet answered. */
  inFlightSamples(): number {
    return this.inFlight;
  }

  overloaded(): boolean {
    return this.inFlight >= this.o.maxInFlightSamples;
  }

  async write(body: Buffer, contentType: string | undefined, origin?: object): Promise<WriteResult> {
    const result = await this.writeOnce(body, contentType, origin);
    // Only HA data is peeked, so only then is the hint worth keeping.
    if (origin !== undefined && this.o.highAvailability) {
      if (result.kind === 'stored') this.storedLast.set(origin, true);
      else this.storedLast.delete(origin);
    }
    return result;
  }

  private async writeOnce(body: Buffer, contentType: string | undefined, origin: object | undefined): Promise<WriteResult> {
    const { codec, metrics } = this.o;
    if (this.overloaded()) {
      throw new IngestError('PROMHA_INGEST_OVERLOADED', 'overloaded: too many samples in flight, retry later');
    }
    const version = codec.parseWriteContentType(contentType);
    let request: WriteRequest;
    let early: EarlyDecisions | undefined;
    const peekFirst = origin === undefined || !this.storedLast.has(origin);
    if (this.o.highAvailability && codec.peekWriteRequest !== undefined && peekFirst) {
      const peek = codec.peekWriteRequest(body, {
        version,
        maxDecodedBytes: this.o.maxDecodedBytes,
        limits: this.o.limits,
        labels: [this.o.clusterLabel, this.o.replicaLabel],
      });
      const peeked = await this.decidePeek(peek, body, contentType);
      if (peeked.kind === 'deduplicated') return { kind: 'deduplicated', version, written: peek.written };
      early = peeked.decisions;
      request = peek.decode();
    } else {
      request = codec.decodeWriteRequest(body, { version, maxDecodedBytes: this.o.maxDecodedBytes, limits: this.o.limits });
    }
    const written = codec.countWritten(request);
    const total = written.samples + written.histograms;
    const weight = total + request.series.length;
    this.inFlight += weight;
    metrics.inFlightSamples.set(this.inFlight);
    try {
      const cut = cutFuture(request.series, this.o.clock.now() + this.o.futureGraceMs);
      const kind = await this.store(body, contentType, cut, request.metadata, total - cut.removed, early);
      if (cut.rejected.length > 0) {
        metrics.samples.inc({ outcome: 'rejected' }, cut.removed);
        const names = cut.rejected.slice(0, 5).map((i) => `series ${i} (${JSON.stringify(metricName(request.series[i]!))})`);
        throw new IngestError(
          'PROMHA_INGEST_TOO_FAR_IN_FUTURE',
          `${cut.removed} samples are later than the future grace of ${this.o.futureGraceMs}ms (--limits.future-grace) and were not stored: ` +
            `${names.join(', ')}${cut.rejected.length > 5 ? ` and ${cut.rejected.length - 5} more series` : ''}; the other samples were stored`,
        );
      }
      return { kind, version, written };
    } finally {
      this.inFlight -= weight;
      metrics.inFlightSamples.set(this.inFlight);
    }
  }

  private async store(
    body: Buffer,
    contentType: string | undefined,
    cut: FutureCut,
    metadata: Parameters<WriterPort['upsertMetadata']>[0],
    total: number,
    early: EarlyDecisions | undefined,
  ): Promise<'stored' | 'deduplicated'> {
    const { metrics } = this.o;
    const series = cut.series;
    let digest: string | undefined;
    const key = (part: KeyedPart, minTime: number, maxTime: number): string => idempotencyKey((digest ??= bodyDigest(body)), part, minTime, maxTime);
    // Metadata bypasses the election (docs/design.md rule 10): the upsert is idempotent, so every replica may send it.
    if (metadata.length > 0) {
      await this.o.writer.upsertMetadata(metadata).catch((e: unknown) => {
        metrics.samples.inc({ outcome: 'failed' }, total);
        throw this.storageFailure('metadata upsert failed', e);
      });
    }
    if (series.length === 0) return 'stored';

    if (!this.o.highAvailability) {
      const stored = await this.writeUnfenced(series, key({ kind: 'all' }, cut.minTime, cut.maxTime)).catch((e: unknown) => {
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
    for (const part of split.parts) {
      const long = [part.cluster, part.replica].find((v) => Buffer.byteLength(v) > HA_LABEL_VALUE_MAX_BYTES);
      if (long !== undefined) {
        metrics.samples.inc({ outcome: 'rejected' }, total);
        throw new IngestError(
          'PROMHA_INGEST_BAD_REQUEST',
          `an HA label value (${JSON.stringify(`${long.slice(0, 100)}...`)}) is longer than ${HA_LABEL_VALUE_MAX_BYTES} bytes: cluster and replica names key the lease rows`,
        );
      }
    }
    const jobs: Promise<PartOutcome>[] = split.parts.map((part) => this.storePart(part, key, early?.get(partKey(part.cluster, part.replica))));
    if (split.nonHa.length > 0) {
      jobs.push(
        this.writeUnfenced(split.nonHa, key({ kind: 'non-ha' }, cut.minTime, cut.maxTime)).then((stored) => {
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
    let failure: IngestError | undefined;
    const buffered: BufferedGroup[] = [];
    for (const r of settled) {
      if (r.status === 'fulfilled') {
        stored += r.value.stored;
        deduplicated += r.value.deduplicated;
        if (r.value.buffered !== undefined) buffered.push(r.value.buffered);
      } else {
        const e = fromStorage('write failed', r.reason);
        // A part that may succeed later decides the answer (503: Prometheus resends, and the parts stored
        // meanwhile are recognised by their keys); a 4xx would make it drop the whole request for good.
        if (failure === undefined || (failure.status !== 503 && e.status === 503)) failure = e;
      }
    }
    metrics.samples.inc({ outcome: 'stored' }, stored);
    metrics.samples.inc({ outcome: 'deduplicated' }, deduplicated);
    this.o.standby?.add({ body, contentType }, buffered);
    if (failure !== undefined) {
      metrics.samples.inc({ outcome: 'failed' }, Math.max(0, total - stored - deduplicated));
      throw failure;
    }
    // 202 only when the request carried HA data and all of it was dropped as non-leader data.
    return stored === 0 && deduplicated > 0 ? 'deduplicated' : 'stored';
  }

  /**
   * Decides every (cluster, replica) part of a peeked request. `deduplicated` when the request is all non-leader
   * data (nothing else to store: no non-HA series, no metadata), counted as the full path would count it; else the
   * decisions, for the full path to go on with (none when the full path must see the request first: samples
   * beyond the future grace, which it cuts before any decision, or an HA value it refuses).
   */
  private async decidePeek(
    peek: WritePeek,
    body: Buffer,
    contentType: string | undefined,
  ): Promise<{ readonly kind: 'deduplicated' } | { readonly kind: 'decode'; readonly decisions: EarlyDecisions | undefined }> {
    const { metrics, election } = this.o;
    const futureLimit = this.o.clock.now() + this.o.futureGraceMs;
    let haOnly = peek.metadata === 0 && peek.groups.length > 0;
    let invalid = -1;
    for (const g of peek.groups) {
      if (g.maxTime > futureLimit) return { kind: 'decode', decisions: undefined };
      for (const v of g.values) {
        if (v !== undefined && Buffer.byteLength(v) > HA_LABEL_VALUE_MAX_BYTES) return { kind: 'decode', decisions: undefined };
      }
      if (g.values[1] === undefined) haOnly = false;
      else if (g.values[0] === undefined && (invalid < 0 || g.firstSeries < invalid)) invalid = g.firstSeries;
    }
    if (invalid >= 0) return { kind: 'decode', decisions: undefined };
    const ha = peek.groups.filter((g) => g.values[0] !== undefined && g.values[1] !== undefined);
    if (ha.length === 0) return { kind: 'decode', decisions: undefined };
    const settled = await Promise.allSettled(
      ha.map((g) => election.decide({ cluster: g.values[0]!, replica: g.values[1]!, minTime: g.minTime, maxTime: g.maxTime })),
    );
    const decisions = new Map<string, EarlyDecision>();
    let allDedupe = haOnly;
    settled.forEach((r, i) => {
      const g = ha[i]!;
      decisions.set(partKey(g.values[0]!, g.values[1]!), r.status === 'fulfilled' ? { decision: r.value } : { error: r.reason });
      if (r.status !== 'fulfilled' || r.value.kind !== 'dedupe') allDedupe = false;
    });
    if (!allDedupe) return { kind: 'decode', decisions };
    let total = 0;
    for (const g of ha) {
      const n = g.samples + g.histograms;
      metrics.haDeduplicated.inc({ cluster: g.values[0]! }, n);
      total += n;
    }
    metrics.samples.inc({ outcome: 'deduplicated' }, total);
    this.o.standby?.add(
      { body, contentType },
      ha.map((g) => ({ cluster: g.values[0]!, replica: g.values[1]!, minTime: g.minTime, maxTime: g.maxTime, samples: g.samples + g.histograms })),
    );
    return { kind: 'deduplicated' };
  }

  /**
   * Writes the new leader's buffered data from the splice point on (docs/design.md rule 11), request by request, through
   * the fenced path a live write takes, with the idempotency key it would have had (so a request buffered by two
   * instances is stored once). A request that fails for a reason a retry can fix goes back into the buffer.
   */
  async fill(lease: FillLease): Promise<FillResult> {
    const standby = this.o.standby;
    if (standby === undefined) return { filled: 0, failed: 0 };
    let filled = 0;
    let failed = 0;
    for (const entry of standby.take(lease.cluster, lease.leader, lease.start)) {
      try {
        const stored = await this.replay(entry.body, entry.contentType, lease);
        // Nothing of it was this leader's any more: another leader took that data time over since. A later
        // takeover of this replica (splice points only move forward) may still need it.
        if (stored === undefined) standby.add(entry, [entry.group]);
        else filled += stored;
      } catch (e: unknown) {
        failed++;
        if (e instanceof IngestError && e.status === 503) standby.add(entry, [entry.group]);
      }
    }
    if (filled > 0) this.o.metrics.haFilled.inc({ cluster: lease.cluster }, filled);
    return { filled, failed };
  }

  /**
   * One buffered request's part of `lease`'s leader, decoded and written as a live write would: samples stored, or
   * undefined when the election dropped all of it.
   */
  private async replay(body: Buffer, contentType: string | undefined, lease: FillLease): Promise<number | undefined> {
    const { codec } = this.o;
    const version = codec.parseWriteContentType(contentType);
    const request = codec.decodeWriteRequest(body, { version, maxDecodedBytes: this.o.maxDecodedBytes, limits: this.o.limits });
    // What the live write would have refused beyond the future grace must not reach the election now either.
    const cut = cutFuture(request.series, this.o.clock.now() + this.o.futureGraceMs);
    const split = this.o.split(cut.series, { clusterLabel: this.o.clusterLabel, replicaLabel: this.o.replicaLabel });
    if (split.kind === 'invalid') return 0;
    const part = split.parts.find((p) => p.cluster === lease.cluster && p.replica === lease.leader);
    if (part === undefined) return 0;
    let digest: string | undefined;
    const key = (k: KeyedPart, minTime: number, maxTime: number): string => idempotencyKey((digest ??= bodyDigest(body)), k, minTime, maxTime);
    const outcome = await this.storePart(part, key, undefined, false);
    return outcome.buffered === undefined ? outcome.stored : undefined;
  }

  private storageFailure(what: string, e: unknown): IngestError {
    this.o.metrics.writeErrors.inc({ code: errorCode(e) });
    return fromStorage(what, e);
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

  private async storePart(
    part: HaPart,
    key: (part: KeyedPart, minTime: number, maxTime: number) => string,
    early: EarlyDecision | undefined,
    live = true,
  ): Promise<PartOutcome> {
    const { metrics, election } = this.o;
    const count = part.samples;
    for (let attempt = 0; attempt < 2; attempt++) {
      let decision;
      try {
        if (attempt === 0 && early !== undefined) {
          if ('error' in early) throw early.error;
          decision = early.decision;
        } else {
          decision = await election.decide({
            cluster: part.cluster,
            replica: part.replica,
            minTime: part.minTime,
            maxTime: part.maxTime,
            ...(live ? {} : { replay: true }),
          });
        }
      } catch (e: unknown) {
        throw fromStorage(`lease decision for cluster ${JSON.stringify(part.cluster)} failed`, e);
      }
      if (decision.kind === 'dedupe') {
        const buffered = { cluster: part.cluster, replica: part.replica, minTime: part.minTime, maxTime: part.maxTime, samples: count };
        // A replay was counted as deduplicated when it arrived.
        if (!live) return { stored: 0, deduplicated: 0, buffered };
        metrics.haDeduplicated.inc({ cluster: part.cluster }, count);
        return { stored: 0, deduplicated: count, buffered };
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
        if (live) metrics.haDeduplicated.inc({ cluster: part.cluster }, count);
        return { stored: 0, deduplicated: live ? count : 0 };
      }
      // The fence covers exactly the data written; it lies inside what the election decided.
      const range = dropped === 0 ? { minTime: decision.fence.minTime, maxTime: decision.fence.maxTime } : seriesTimeRange(kept);
      const fence: Fence = { ...decision.fence, ...range };
      let outcome: StoreOutcome;
      try {
        outcome = await this.timedWrite({
          series: kept,
          fence,
          idempotencyKey: key({ kind: 'ha', cluster: part.cluster, replica: part.replica }, fence.minTime, fence.maxTime),
        });
      } catch (e: unknown) {
        // The lease extension this write carried may not have committed: the election must not trust it.
        election.onWriteFailed(fence);
        throw e;
      }
      if (outcome.kind === 'stored') {
        if (dropped > 0 && live) metrics.haDeduplicated.inc({ cluster: part.cluster }, dropped);
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
