import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { countWritten, seriesTimeRange, type Histogram, type Label, type MetricMetadata, type TimeSeries } from '@promha/codec';
import type { Fence, FenceFailure } from '@promha/election';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { WriteOutcome, WritePart } from '../api.js';
import { CopyBinaryWriter } from './copy-binary.js';
import { StorageError, StorageErrorCodes, toStorageError } from './errors.js';
import { internSeries } from './intern.js';
import { LEASE_COLUMNS, toLease, type LeaseRow } from './lease-store.js';
import { CHUNK_ROWS, DAY_MS } from './migrations.js';
import { SeriesCache, seriesKey } from './series-cache.js';

const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export const METADATA_SQL = `
INSERT INTO metric_metadata (metric_family_name, type, help, unit, updated_wall)
SELECT DISTINCT ON (n) n, t, h, u, ${NOW_MS} FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(n, t, h, u) ORDER BY n
ON CONFLICT (metric_family_name) DO UPDATE
  SET type = EXCLUDED.type, help = EXCLUDED.help, unit = EXCLUDED.unit, updated_wall = EXCLUDED.updated_wall
  WHERE (metric_metadata.type, metric_metadata.help, metric_metadata.unit)
    IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.help, EXCLUDED.unit)`;

export function metadataParams(metadata: readonly MetricMetadata[]): unknown[] {
  return [metadata.map((m) => m.metricFamilyName), metadata.map((m) => m.type), metadata.map((m) => m.help), metadata.map((m) => m.unit)];
}

const EXTEND_IN_FENCE_SQL = `
UPDATE ha_lease SET
  until_t = greatest(until_t, $4),
  last_leader_sample_t = greatest(last_leader_sample_t, $5),
  leader_last_seen_wall = greatest(leader_last_seen_wall, $6),
  updated_wall = $6
WHERE cluster = $1 AND leader = $2 AND epoch = $3`;

// FOR KEY SHARE: compatible with other fenced writers and with extensions (FOR NO KEY UPDATE), but not with a
// takeover, which changes epoch (in UNIQUE (cluster, epoch)) and so needs FOR UPDATE: it waits for us to commit.
const LOCK_LEASES_SQL = `SELECT ${LEASE_COLUMNS} FROM ha_lease WHERE cluster = ANY($1::text[]) ORDER BY cluster FOR KEY SHARE`;

const HISTORY_FENCE_SQL = `
SELECT 1 FROM ha_lease_history
WHERE cluster = $1 AND old_leader = $2 AND old_start <= $3 AND old_until > $4 LIMIT 1`;

const RECEIPT_SQL = `
INSERT INTO write_receipt (key, written_wall) SELECT k, ${NOW_MS} FROM unnest($1::text[]) AS k
ON CONFLICT (key) DO NOTHING RETURNING key`;

export interface WriterOptions {
  /** A flush takes queued parts until it holds this many samples (at least one part). */
  readonly maxBatchSamples: number;
  /** Flushes running at once, each on its own connection. */
  readonly maxConcurrentFlushes: number;
}

interface Pending {
  readonly part: WritePart;
  readonly samples: number;
  readonly resolve: (o: WriteOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/** Test hooks: called inside the flush transaction, to interleave it with other sessions. */
export interface WriterHooks {
  afterFence?: () => Promise<void>;
}

/**
 * Batches concurrent `write()` calls into one transaction per flush (group commit): while a flush runs, new parts
 * queue up and go together in the next one. A part's promise settles only after its flush committed.
 */
export class SampleWriter {
  private readonly queue: Pending[] = [];
  private active = 0;
  private scheduled = false;
  private readonly knownDays = new Set<number>();
  hooks: WriterHooks = {};

  constructor(
    private readonly pool: pg.Pool,
    private readonly cache: SeriesCache,
    private readonly options: WriterOptions,
  ) {}

  write(part: WritePart): Promise<WriteOutcome> {
    validatePart(part);
    let samples = 0;
    for (const s of part.series) samples += s.samples.length + s.histograms.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ part, samples, resolve, reject });
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

  private async flush(batch: readonly Pending[]): Promise<void> {
    let client: pg.PoolClient | undefined;
    try {
      const ids = await this.resolveSeries(batch);
      await this.ensureDays(batch);
      client = await this.pool.connect();
      await client.query('BEGIN');
      const outcomes = await this.checkFences(client, batch);
      await this.hooks.afterFence?.();
      const fresh = await this.claimReceipts(client, batch, outcomes);
      await this.writeData(client, batch.flatMap((p, i) => (fresh[i] === true ? [{ part: p.part, ids: ids[i]! }] : [])));
      await client.query('COMMIT');
      batch.forEach((p, i) => {
        p.resolve(outcomes[i] ?? stored(p.part));
      });
    } catch (e: unknown) {
      if (client !== undefined) await client.query('ROLLBACK').catch(() => undefined);
      const err = toStorageError(e);
      for (const p of batch) p.reject(err);
    } finally {
      client?.release();
    }
  }

  /** Series ids per part, in series order (-1 only transiently, before interning fills it in). */
  private async resolveSeries(batch: readonly Pending[]): Promise<number[][]> {
    const out: number[][] = [];
    const missing = new Map<string, readonly Label[]>();
    const fill: { ids: number[]; i: number; key: string }[] = [];
    for (const p of batch) {
      const ids = new Array<number>(p.part.series.length);
      p.part.series.forEach((s, i) => {
        const key = seriesKey(s.labels);
        const id = this.cache.get(key);
        if (id !== undefined) ids[i] = id;
        else {
          missing.set(key, s.labels);
          fill.push({ ids, i, key });
        }
      });
      out.push(ids);
    }
    if (missing.size > 0) {
      const interned = await internSeries(this.pool, missing);
      for (const [k, id] of interned) this.cache.set(k, id);
      for (const f of fill) f.ids[f.i] = interned.get(f.key)!;
    }
    return out;
  }

  private async ensureDays(batch: readonly Pending[]): Promise<void> {
    const days = new Set<number>();
    for (const p of batch) for (const s of p.part.series) for (const x of s.samples) days.add(dayOf(x.timestamp));
    for (const d of days) {
      if (this.knownDays.has(d)) continue;
      await this.pool.query('SELECT ensure_sample_partition($1)', [d]);
      this.knownDays.add(d);
    }
  }

  /** Returns, per part, its fence failure or undefined when it may be written. */
  private async checkFences(client: pg.PoolClient, batch: readonly Pending[]): Promise<(FenceFailure | undefined)[]> {
    const fences = batch.map((p) => p.part.fence);
    const clusters = [...new Set(fences.flatMap((f) => (f === undefined ? [] : [f.cluster])))].sort();
    if (clusters.length === 0) return batch.map(() => undefined);
    // Extensions first, in cluster order (row locks taken in one order across flushes: no deadlock between them).
    const extensions = new Map<string, { f: Fence; until: number; maxTime: number; wall: number }>();
    for (const f of fences) {
      if (f?.extendUntil === undefined) continue;
      const k = `${f.cluster}\u0000${f.replica}\u0000${f.epoch}`;
      const e = extensions.get(k);
      extensions.set(k, {
        f,
        until: Math.max(e?.until ?? -Infinity, f.extendUntil),
        maxTime: Math.max(e?.maxTime ?? -Infinity, f.maxTime),
        wall: Math.max(e?.wall ?? -Infinity, f.wallNow),
      });
    }
    for (const e of [...extensions.values()].sort((a, b) => (a.f.cluster < b.f.cluster ? -1 : a.f.cluster > b.f.cluster ? 1 : 0))) {
      await client.query(EXTEND_IN_FENCE_SQL, [e.f.cluster, e.f.replica, e.f.epoch, e.until, e.maxTime, e.wall]);
    }
    const rows = await client.query<LeaseRow>(LOCK_LEASES_SQL, [clusters]);
    const leases = new Map(rows.rows.map((r) => [r.cluster, r]));
    const out: (FenceFailure | undefined)[] = [];
    for (const p of batch) {
      const f = p.part.fence;
      if (f === undefined) {
        out.push(undefined);
        continue;
      }
      const { minTime: dataMin, maxTime: dataMax } = seriesTimeRange(p.part.series);
      const minTime = Math.min(f.minTime, dataMin);
      const maxTime = Math.max(f.maxTime, dataMax);
      const lease = leases.get(f.cluster);
      const holds =
        lease !== undefined &&
        lease.leader === f.replica &&
        lease.epoch === f.epoch &&
        lease.start_t <= minTime &&
        maxTime < lease.until_t;
      if (holds) {
        out.push(undefined);
        continue;
      }
      // A closed interval of this replica in the history never changes again: no lock needed to rely on it.
      const h = await client.query(HISTORY_FENCE_SQL, [f.cluster, f.replica, minTime, maxTime]);
      out.push(h.rowCount === 0 ? { kind: 'fence-failed', cluster: f.cluster, current: lease === undefined ? undefined : toLease(lease) } : undefined);
    }
    return out;
  }

  /** Marks parts to write: fence passed and, when keyed, not already committed by an earlier delivery. */
  private async claimReceipts(client: pg.PoolClient, batch: readonly Pending[], outcomes: readonly (FenceFailure | undefined)[]): Promise<boolean[]> {
    const keys = new Set<string>();
    batch.forEach((p, i) => {
      const k = p.part.idempotencyKey;
      if (outcomes[i] === undefined && k !== undefined) keys.add(k);
    });
    const claimed = new Set<string>();
    if (keys.size > 0) {
      const r = await client.query<{ key: string }>(RECEIPT_SQL, [[...keys]]);
      for (const row of r.rows) claimed.add(row.key);
    }
    return batch.map((p, i) => {
      if (outcomes[i] !== undefined) return false;
      const k = p.part.idempotencyKey;
      if (k === undefined) return true;
      // The first part of this batch with the key writes; identical copies in the same batch do not.
      return claimed.delete(k);
    });
  }

  private async writeData(client: pg.PoolClient, batch: readonly { part: WritePart; ids: readonly number[] }[]): Promise<void> {
    const entries: { id: number; s: TimeSeries }[] = [];
    const hSeries: number[] = [];
    const hTimes: number[] = [];
    const hData: string[] = [];
    const eSeries: number[] = [];
    const eTimes: number[] = [];
    const eValues: number[] = [];
    const eLabels: string[] = [];
    const metadata: MetricMetadata[] = [];
    let sampleCount = 0;
    for (const p of batch) {
      for (let si = 0; si < p.part.series.length; si++) {
        const s = p.part.series[si]!;
        const id = p.ids[si]!;
        if (s.samples.length > 0) {
          entries.push({ id, s });
          sampleCount += s.samples.length;
        }
        for (const h of s.histograms) {
          hSeries.push(id);
          hTimes.push(h.timestamp);
          hData.push(encodeHistogram(h));
        }
        for (const e of s.exemplars) {
          eSeries.push(id);
          eTimes.push(e.timestamp);
          eValues.push(e.value);
          eLabels.push(JSON.stringify(e.labels.map((l) => [l.name, l.value])));
        }
        if (s.metadata !== undefined) metadata.push(s.metadata);
      }
    }
    if (sampleCount > 0) {
      // One write_batch row per day touched: a batch id then names chunks of one day only, which the reader's
      // per-batch series bounds rely on (chunks of different days would interleave in (batch, last_series)).
      const days = new Map<number, [number, number]>();
      for (const { s } of entries) {
        for (const x of s.samples) {
          const d = dayOf(x.timestamp);
          const r = days.get(d);
          if (r === undefined) days.set(d, [x.timestamp, x.timestamp]);
          else {
            if (x.timestamp < r[0]) r[0] = x.timestamp;
            if (x.timestamp > r[1]) r[1] = x.timestamp;
          }
        }
      }
      const ranges = [...days.values()];
      const r = await client.query<{ id: number; min_t: number }>(
        `INSERT INTO write_batch (id, min_t, max_t, written_wall)
         SELECT nextval('write_batch_id'), mn, mx, ${NOW_MS} FROM unnest($1::bigint[], $2::bigint[]) AS u(mn, mx)
         RETURNING id, min_t`,
        [ranges.map((x) => x[0]), ranges.map((x) => x[1])],
      );
      const idOfDay = new Map(r.rows.map((row) => [dayOf(row.min_t), row.id]));
      const bytes = encodeChunks((day) => idOfDay.get(day)!, entries, sampleCount);
      await pipeline(Readable.from([bytes]), client.query(copyFrom('COPY sample_chunk FROM STDIN (FORMAT binary)')));
    }
    if (hSeries.length > 0) {
      await client.query(
        `INSERT INTO histogram_sample (series_id, t, h) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[]) ON CONFLICT DO NOTHING`,
        [hSeries, hTimes, hData],
      );
    }
    if (eSeries.length > 0) {
      await client.query(
        `INSERT INTO exemplar (series_id, t, value, labels) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::jsonb[]) ON CONFLICT DO NOTHING`,
        [eSeries, eTimes, eValues.map(floatParam), eLabels],
      );
    }
    if (metadata.length > 0) await client.query(METADATA_SQL, metadataParams(metadata));
  }
}

/**
 * Encodes the batch's float samples as chunks: series sorted by id, runs of at most CHUNK_ROWS samples cut only
 * at series boundaries (a series with more samples gets chunks of its own), never crossing a day; each day's
 * chunks carry that day's batch id.
 */
export function encodeChunks(batchOfDay: (day: number) => number, entries: { id: number; s: TimeSeries }[], sampleCount: number): Buffer {
  let sorted = true;
  for (let i = 1; i < entries.length && sorted; i++) sorted = entries[i - 1]!.id <= entries[i]!.id;
  if (!sorted) entries.sort((a, b) => a.id - b.id);
  const w = new CopyBinaryWriter(64 + sampleCount * 40);
  const days = new Map<number, ChunkBuilder>();
  const builder = (day: number): ChunkBuilder => {
    let b = days.get(day);
    if (b === undefined) {
      b = new ChunkBuilder(batchOfDay(day), w);
      days.set(day, b);
    }
    return b;
  };
  let lastDay = NaN;
  let lastBuilder: ChunkBuilder | undefined;
  for (const { id, s } of entries) {
    const first = s.samples[0]!;
    const last = s.samples[s.samples.length - 1]!;
    const d0 = dayOf(first.timestamp);
    if (s.samples.length === 1 || (d0 === dayOf(last.timestamp) && s.samples.every((x) => dayOf(x.timestamp) === d0))) {
      (d0 === lastDay ? lastBuilder! : (lastBuilder = builder((lastDay = d0)))).add(id, s.samples);
    } else {
      const byDay = new Map<number, { value: number; timestamp: number }[]>();
      for (const x of s.samples) {
        const d = dayOf(x.timestamp);
        const list = byDay.get(d) ?? [];
        list.push(x);
        byDay.set(d, list);
      }
      for (const [d, list] of byDay) builder(d).add(id, list);
    }
  }
  for (const b of days.values()) b.emit();
  return w.end();
}

class ChunkBuilder {
  private readonly series: number[] = [];
  private readonly ts: number[] = [];
  private readonly vs = new Float64Array(CHUNK_ROWS);
  private n = 0;
  private minT = Infinity;
  private maxT = -Infinity;

  constructor(
    private readonly batchId: number,
    private readonly w: CopyBinaryWriter,
  ) {}

  add(id: number, samples: readonly { value: number; timestamp: number }[]): void {
    if (this.n > 0 && this.n + samples.length > CHUNK_ROWS) this.emit();
    for (let i = 0; i < samples.length; i++) {
      if (this.n === CHUNK_ROWS) this.emit(); // only reached by a series longer than a chunk: it gets its own
      const x = samples[i]!;
      this.series[this.n] = id;
      this.ts[this.n] = x.timestamp;
      this.vs[this.n] = x.value;
      if (x.timestamp < this.minT) this.minT = x.timestamp;
      if (x.timestamp > this.maxT) this.maxT = x.timestamp;
      this.n++;
    }
  }

  emit(): void {
    if (this.n === 0) return;
    const w = this.w;
    w.beginRow(8);
    w.int8(this.batchId);
    w.int8(this.series[0]!);
    w.int8(this.series[this.n - 1]!);
    w.int8(this.minT);
    w.int8(this.maxT);
    w.int8Array(this.series, 0, this.n);
    w.int8Array(this.ts, 0, this.n);
    w.float8Array(this.vs, 0, this.n);
    this.n = 0;
    this.minT = Infinity;
    this.maxT = -Infinity;
  }
}

export function dayOf(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS;
}

function stored(part: WritePart): WriteOutcome {
  return { kind: 'stored', ...countWritten(part) };
}

/** NUL cannot be stored in PostgreSQL text: reject the whole part before anything is queued. */
export function validatePart(part: WritePart): void {
  part.series.forEach((s, i) => {
    for (const l of s.labels) rejectNul(l, i);
    for (const e of s.exemplars) for (const l of e.labels) rejectNul(l, i);
  });
}

function rejectNul(l: Label, seriesIndex: number): void {
  if (l.name.includes('\u0000') || l.value.includes('\u0000')) {
    throw new StorageError(StorageErrorCodes.INVALID_INPUT, `series ${seriesIndex}: label ${JSON.stringify(l.name)} contains a NUL byte`, {
      retryable: false,
    });
  }
}

/** float8 array parameters travel as text: spell non-finite values the way PostgreSQL reads them. */
function floatParam(v: number): string | number {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/** JSON has no NaN/Inf: non-finite numbers are stored as strings and restored by `decodeHistogram`. */
export function encodeHistogram(h: Histogram): string {
  return JSON.stringify(h, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

export function decodeHistogram(json: unknown): Histogram {
  const fix = (v: unknown): unknown => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);
  const h = json as Record<string, unknown>;
  return { ...(h as unknown as Histogram), sum: fix(h['sum']) as number, zeroThreshold: fix(h['zeroThreshold']) as number, count: fix(h['count']) as number };
}
