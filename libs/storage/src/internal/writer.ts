/**
 * The sample writer: a group-commit queue over the pool. Concurrent `write()` calls are staged at once (see
 * staged-part.ts), queued, and taken together into one transaction per flush: while a flush runs, new parts queue
 * up and go together in the next one. A part's promise settles only after its flush committed.
 *
 * A flush: intern the series the cache missed (autocommit, see intern.ts), make sure the days' partitions exist,
 * then in one transaction check the fences (fence.ts), claim idempotency receipts (receipts.ts) and write the data
 * of the parts that passed both (batch-data.ts). The transaction takes two round trips when every part holds on its
 * lease (pipelined.ts), and a statement at a time otherwise.
 */
import { countWritten, type Label } from '@promha/codec';
import type { FenceFailure } from '@promha/election';
import pg from 'pg';
import type { GuardClock, WriteOutcome, WritePart } from '../api.js';
import { BatchDataWriter, claimOf } from './batch-data.js';
import { sessionLost, StorageError, toStorageError } from './errors.js';
import { inTransaction, withClient } from './connection.js';
import { checkFences, fenceSteps, holdOnLeases, type FencedData } from './fence.js';
import type { LeaseRow } from './lease-store.js';
import { pipeline, PipelineFailure, type Step } from './pipelined.js';
import { internSeries, LabelIds } from './intern.js';
import { hashLabels, type SeriesCache } from './series-cache.js';
import { floatSamples, stagePart, type StagedPart } from './staged-part.js';
import { run, statement } from './statements.js';
import { dayOf } from './time.js';

const BEGIN: Step = { text: 'BEGIN' };
const COMMIT: Step = { text: 'COMMIT' };

/** What the fence needs of each part. */
function fencedData(batch: readonly StagedPart[]): FencedData[] {
  return batch.map((p) => ({ fence: p.part.fence, dataMin: p.dataMin, dataMax: p.dataMax }));
}

const ENSURE_PARTITION = statement('promha_ensure_sample_partition', 'SELECT ensure_sample_partition($1)');

export interface WriterOptions {
  /** A flush takes queued parts until it holds this many samples (at least one part). */
  readonly maxBatchSamples: number;
  /** Flushes running at once, each on its own connection. */
  readonly maxConcurrentFlushes: number;
  /** The HA guard's clock (see `StorageOptions.databaseClock`). */
  readonly databaseClock: GuardClock;
  /** Bound of {@link SampleWriter.labelIds}, in pairs (`StorageOptions.labelPairCacheMax`). */
  readonly labelPairCacheMax?: number;
  /** Called inside every flush transaction; tests use it to interleave a flush with other sessions. */
  readonly afterFence?: () => Promise<void>;
  /** false: every flush a statement at a time, as when a fence fails (tests of that path); default true. */
  readonly pipelined?: boolean;
}

/** check_violation: COPY found no partition for a row (its day's partition was dropped after this process made it). */
const NO_PARTITION_SQLSTATE = '23514';

interface Pending extends StagedPart {
  readonly resolve: (o: WriteOutcome) => void;
  readonly reject: (e: unknown) => void;
}

export class SampleWriter {
  private readonly queue: Pending[] = [];
  private active = 0;
  private scheduled = false;
  private readonly knownDays = new Set<number>();
  /** Flushes committed in two round trips, and flushes run a statement at a time (a fence failed, or not pipelined). */
  readonly flushes = { pipelined: 0, sequential: 0 };
  /** Label pair -> id for interning new series (see {@link LabelIds}); its counters are in the storage stats. */
  readonly labelIds: LabelIds;
  private readonly data: BatchDataWriter;

  constructor(
    private readonly pool: pg.Pool,
    private readonly cache: SeriesCache,
    private readonly options: WriterOptions,
  ) {
    this.data = new BatchDataWriter(options.maxConcurrentFlushes);
    this.labelIds = new LabelIds(options.labelPairCacheMax);
  }

  write(part: WritePart): Promise<WriteOutcome> {
    const staged = stagePart(part, this.cache);
    return new Promise((resolve, reject) => {
      this.queue.push({ ...staged, resolve, reject });
      // Flush on the next turn of the event loop, not synchronously: parts that arrive in the same turn (requests
      // decoded back to back) share one transaction instead of the first one going alone.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.active < this.options.maxConcurrentFlushes && this.queue.length > 0) {
      const batch: Pending[] = [];
      let n = 0;
      while (this.queue.length > 0 && (batch.length === 0 || n + this.queue[0]!.samples <= this.options.maxBatchSamples)) {
        const p = this.queue.shift()!;
        batch.push(p);
        n += p.samples;
      }
      this.active++;
      void this.flush(batch).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  /**
   * Writes a batch; its parts settle with the outcome. A batch that fails for a reason that is not retryable (the
   * database refused some part's data) is written again part by part, so that one poison request does not fail
   * the unrelated requests that happened to share its flush: only the part at fault is rejected.
   */
  private async flush(batch: readonly Pending[]): Promise<void> {
    try {
      const outcomes = await this.flushOnce(batch);
      batch.forEach((p, i) => {
        p.resolve(outcomes[i] ?? stored(p.part));
      });
    } catch (e: unknown) {
      let err = toStorageError(e);
      if (err.sqlState === NO_PARTITION_SQLSTATE) {
        // A day's partition this process knew was dropped by retention in another instance: forget the days, so
        // that the resend creates it again (data older than the retention is then dropped by the next maintenance).
        this.knownDays.clear();
        err = new StorageError('STORAGE_CONFLICT', `a partition was dropped meanwhile: ${err.message}`, { cause: err });
      }
      if (err.retryable || batch.length === 1) {
        for (const p of batch) p.reject(err);
        return;
      }
      for (const p of batch) await this.flush([p]);
    }
  }

  /** One transaction for the batch: the fence outcome per part (undefined: stored), or throws. */
  private async flushOnce(batch: readonly Pending[]): Promise<readonly (WriteOutcome | undefined)[]> {
    await this.resolveSeries(batch);
    await this.ensureDays(batch);
    if (this.options.pipelined !== false) {
      const outcomes = await withClient(this.pool, (client) => this.pipelinedFlush(client, batch));
      if (outcomes !== undefined) {
        this.flushes.pipelined++;
        return outcomes;
      }
    }
    this.flushes.sequential++;
    return inTransaction(this.pool, async (client) => {
      const outcomes = await checkFences(client, fencedData(batch), this.options.databaseClock);
      await this.options.afterFence?.();
      await this.data.write(
        client,
        batch,
        batch.map((p, i) => (outcomes[i] === undefined ? p.part.idempotencyKey : null)),
      );
      return outcomes;
    });
  }

  /**
   * The flush in two round trips (pipelined.ts), when every fenced part holds on its lease (the usual case): the
   * transaction's start, the fence's statements and the claim in one, the data and the commit in the other. The
   * statements are the sequential flush's, in its order, with the claim sent before the fence's answer is read, as
   * if every part passed. When one does not, the transaction is rolled back and undefined returned: the caller
   * flushes again a statement at a time, where the history decides such a part. After any failure once the
   * transaction began, the connection is discarded (its end rolls the transaction back).
   */
  private async pipelinedFlush(client: pg.PoolClient, batch: readonly Pending[]): Promise<(WriteOutcome | undefined)[] | undefined> {
    const fenced = fencedData(batch);
    const fence = fenceSteps(fenced, this.options.databaseClock);
    const claim = claimOf(batch, batch.map((p) => p.part.idempotencyKey));
    const first = await pipeline(client, [BEGIN, ...fence.steps, ...(claim.step === undefined ? [] : [claim.step])]);
    const leases = fence.lock === undefined ? [] : (first[1 + fence.lock]!.rows as LeaseRow[]);
    if (holdOnLeases(fenced, leases).some((v) => v !== true)) {
      await client.query('ROLLBACK');
      return undefined;
    }
    try {
      await this.options.afterFence?.();
    } catch (e: unknown) {
      throw new PipelineFailure(e, undefined);
    }
    const data = this.data.dataSteps(claim.read(claim.step === undefined ? undefined : first[first.length - 1]));
    const commit = data.steps.length;
    try {
      await pipeline(client, [...data.steps, COMMIT]);
    } catch (e: unknown) {
      const failure = e instanceof PipelineFailure ? e : new PipelineFailure(e, undefined);
      const { error, step } = failure;
      // A statement before the COMMIT failed, or the server refused the COMMIT: the transaction rolled back. Anything
      // else (the connection, a gate) leaves unknown whether the COMMIT ran.
      const refused = error instanceof pg.DatabaseError && step !== undefined && (step < commit || !sessionLost(error.code));
      if (refused) throw failure;
      throw new PipelineFailure(new StorageError('STORAGE_OUTCOME_UNKNOWN', `commit outcome unknown: ${failure.message}`, { cause: error }), undefined);
    }
    data.done();
    return batch.map(() => undefined);
  }

  /** Forgets the partitions of days before `cutoff` (dropped by retention). */
  forgetDaysBefore(cutoff: number): void {
    for (const d of this.knownDays) if (d < cutoff) this.knownDays.delete(d);
  }

  /** Interns the series the cache missed when their parts were staged, filling in their ids. */
  private async resolveSeries(batch: readonly Pending[]): Promise<void> {
    const missing: (readonly Label[])[] = [];
    for (const p of batch) {
      if (p.misses === 0) continue;
      const series = p.part.series;
      for (let i = 0; i < series.length; i++) if (p.ids[i]! < 0) missing.push(series[i]!.labels);
    }
    if (missing.length === 0) return;
    const interned = await internSeries(this.pool, missing, this.labelIds);
    let k = 0;
    for (const p of batch) {
      if (p.misses === 0) continue;
      const series = p.part.series;
      for (let i = 0; i < series.length; i++) {
        if (p.ids[i]! >= 0) continue;
        const labels = series[i]!.labels;
        const id = interned[k++]!;
        this.cache.set(labels, hashLabels(labels), id);
        p.ids[i] = id;
      }
    }
  }

  /** Creates the daily partitions the batch's float samples need (once per day per process). */
  private async ensureDays(batch: readonly Pending[]): Promise<void> {
    const days = new Set<number>();
    for (const p of batch) {
      if (p.minT > p.maxT) continue; // no float samples
      const d = dayOf(p.minT);
      if (d === dayOf(p.maxT)) days.add(d);
      else for (let k = 0; k < floatSamples(p); k++) days.add(dayOf(p.ts[k]!));
    }
    for (const d of days) {
      if (this.knownDays.has(d)) continue;
      await run(this.pool, ENSURE_PARTITION, [d]);
      this.knownDays.add(d);
    }
  }
}

function stored(part: WritePart): WriteOutcome | FenceFailure {
  return { kind: 'stored', ...countWritten(part) };
}
