import type { LabelMatcher, MetricMetadata } from '@promha/codec';
import type { LeaseStore } from '@promha/election';
import pg from 'pg';
import type { SeriesSamples, Storage, StorageOptions, StorageStats, WriteOutcome, WritePart } from '../api.js';
import { compact, compactBefore } from './compaction.js';
import { StorageError, StorageErrorCodes, toStorageError } from './errors.js';
import { PgLeaseStore } from './lease-store.js';
import { checkSchemaVersion, DAY_MS, migrate, SCHEMA } from './migrations.js';
import { promhaTypes } from './pg-types.js';
import { Reader } from './reader.js';
import { SeriesCache } from './series-cache.js';
import { METADATA_SQL, metadataParams } from './metadata.js';
import { SampleWriter } from './writer.js';

/** StorageOptions with every default applied. */
export interface ResolvedStorageOptions {
  readonly uri: string;
  readonly maxConnections: number;
  readonly seriesCacheMax: number;
  readonly retentionDays: number;
  readonly historyRetentionMs: number;
  readonly applicationName: string;
  readonly maxBatchSamples: number;
  readonly receiptRetentionMs: number;
  readonly receiptMax: number;
}

export function resolveStorageOptions(o: StorageOptions): ResolvedStorageOptions {
  const r: ResolvedStorageOptions = {
    uri: o.uri,
    maxConnections: o.maxConnections ?? 10,
    seriesCacheMax: o.seriesCacheMax ?? 1_000_000,
    retentionDays: o.retentionDays ?? 90,
    historyRetentionMs: o.historyRetentionMs ?? 30 * DAY_MS,
    applicationName: o.applicationName ?? 'promha',
    maxBatchSamples: o.maxBatchSamples ?? 200_000,
    receiptRetentionMs: o.receiptRetentionMs ?? DAY_MS,
    receiptMax: o.receiptMax ?? 1_000_000,
  };
  const bad = (what: string): never => {
    throw new StorageError(StorageErrorCodes.INVALID_INPUT, `invalid storage option: ${what}`, { retryable: false });
  };
  if (r.uri === '') bad('uri is empty');
  if (!Number.isInteger(r.maxConnections) || r.maxConnections < 2) bad('maxConnections must be an integer >= 2');
  if (!Number.isInteger(r.seriesCacheMax) || r.seriesCacheMax < 0) bad('seriesCacheMax must be an integer >= 0');
  if (!(r.retentionDays > 0)) bad('retentionDays must be > 0');
  if (!(r.historyRetentionMs > 0)) bad('historyRetentionMs must be > 0');
  if (!(r.maxBatchSamples > 0)) bad('maxBatchSamples must be > 0');
  return r;
}

/**
 * Connects a pool and checks the schema is not newer than this build (call `migrate()` to bring it up to date).
 * Does not migrate by itself, so a read-only tool cannot change a schema by accident.
 */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  const o = resolveStorageOptions(options);
  const pool = new pg.Pool({
    connectionString: o.uri,
    max: o.maxConnections,
    application_name: o.applicationName,
    options: `-c search_path=${SCHEMA}`,
    types: promhaTypes,
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  try {
    await checkSchemaVersion(pool);
  } catch (e: unknown) {
    await pool.end();
    throw toStorageError(e);
  }
  return new PgStorage(pool, o);
}

class PgStorage implements Storage {
  readonly leases: LeaseStore;
  private readonly cache: SeriesCache;
  private readonly writer: SampleWriter;
  private readonly reader: Reader;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly o: ResolvedStorageOptions,
  ) {
    this.leases = new PgLeaseStore(pool);
    this.cache = new SeriesCache(o.seriesCacheMax);
    // Two flushes at once: one can COPY while the next interns and checks fences. The pool keeps the rest for
    // lease operations and reads.
    this.writer = new SampleWriter(pool, this.cache, { maxBatchSamples: o.maxBatchSamples, maxConcurrentFlushes: 2 });
    this.reader = new Reader(pool);
  }

  async migrate(): Promise<void> {
    this.open();
    await migrate(this.pool);
  }

  write(part: WritePart): Promise<WriteOutcome> {
    this.open();
    return this.writer.write(part);
  }

  async upsertMetadata(metadata: readonly MetricMetadata[]): Promise<void> {
    this.open();
    if (metadata.length === 0) return;
    for (const m of metadata) {
      if ([m.metricFamilyName, m.help, m.unit].some((s) => s.includes('\u0000'))) {
        throw new StorageError(StorageErrorCodes.INVALID_INPUT, `metadata of ${JSON.stringify(m.metricFamilyName)} contains a NUL byte`, {
          retryable: false,
        });
      }
    }
    await this.q(METADATA_SQL, metadataParams(metadata));
  }

  querySamples(matchers: readonly LabelMatcher[], start: number, end: number): AsyncIterable<SeriesSamples> {
    this.open();
    return this.reader.querySamples(matchers, start, end);
  }

  series(matchers: readonly LabelMatcher[], start: number, end: number, limit?: number) {
    this.open();
    return this.reader.series(matchers, start, end, limit);
  }

  labelNames(matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]> {
    this.open();
    return this.reader.labelNames(matchers, start, end);
  }

  labelValues(name: string, matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]> {
    this.open();
    return this.reader.labelValues(name, matchers, start, end);
  }

  async maintain(wallNow: number): Promise<void> {
    this.open();
    // Partitions ahead: today and the next two days, so a midnight never waits on DDL in the write path.
    for (let d = 0; d <= 2; d++) await this.q('SELECT ensure_sample_partition($1)', [wallNow + d * DAY_MS]);
    const cutoff = Math.floor((wallNow - this.o.retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
    const parts = await this.q<{ name: string; upper: string | null }>(
      `SELECT c.relname AS name, substring(pg_get_expr(c.relpartbound, c.oid) from 'TO \\(''?(-?[0-9]+)''?\\)') AS upper
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent IN ('${SCHEMA}.sample_chunk'::regclass, '${SCHEMA}.series_chunk'::regclass)`,
      [],
    );
    for (const p of parts) {
      if (p.upper !== null && Number(p.upper) <= cutoff) {
        await this.q(`DROP TABLE IF EXISTS ${SCHEMA}."${p.name.replaceAll('"', '""')}"`, []);
      }
    }
    await this.q('DELETE FROM write_batch WHERE max_t < $1', [cutoff]);
    await this.q('DELETE FROM histogram_sample WHERE t < $1', [cutoff]);
    await this.q('DELETE FROM exemplar WHERE t < $1', [cutoff]);
    await this.q('DELETE FROM write_receipt WHERE written_wall < $1', [wallNow - this.o.receiptRetentionMs]);
    // Bounded in count as well as in age: the newest receiptMax stay (the written_wall index finds the cut).
    await this.q(
      `DELETE FROM write_receipt WHERE written_wall < (SELECT written_wall FROM write_receipt ORDER BY written_wall DESC OFFSET $1 LIMIT 1)`,
      [this.o.receiptMax],
    );
    await this.q('DELETE FROM compaction_hour WHERE hour < $1', [cutoff]);
    // Every committed batch into per-series rows (reads of them are one probe per series and hour), then each
    // closed hour's rows merged into one per series; one instance at a time. After the retention drops, so
    // nothing about to be dropped is rewritten first. Run every 10 minutes by the service, so at most that much
    // data is read through write batches.
    await compact(this.pool, Number.MAX_SAFE_INTEGER, { mergeBefore: compactBefore(wallNow) });
    await this.leases.pruneHistory(wallNow - this.o.historyRetentionMs);
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1', []);
  }

  stats(): StorageStats {
    return {
      seriesCacheSize: this.cache.size,
      seriesCacheHits: this.cache.hits,
      seriesCacheMisses: this.cache.misses,
      seriesCacheEvictions: this.cache.evictions,
      poolTotal: this.pool.totalCount,
      poolIdle: this.pool.idleCount,
      poolWaiting: this.pool.waitingCount,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private open(): void {
    if (this.closed) throw new StorageError(StorageErrorCodes.CLOSED, 'storage is closed', { retryable: false });
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }
}

