import type { LabelMatcher, MetricMetadata } from '@promha/codec';
import type { LeaseStore } from '@promha/election';
import pg from 'pg';
import type { GuardClock, ReadLimits, SeriesSamples, StatementGate, Storage, StorageOptions, StorageStats, WriteOutcome, WritePart } from '../api.js';
import { compact, compactBefore } from './compaction.js';
import { StorageError, StorageErrorCodes, toStorageError } from './errors.js';
import { PgLeaseStore } from './lease-store.js';
import { checkSchemaVersion, DAY_MS, migrate, SCHEMA, SCHEMA_VERSION } from './migrations.js';
import { retentionCutoff } from './time.js';
import { gatedClient } from './gate.js';
import { withoutStatementNames } from './statements.js';
import { promhaTypes } from './pg-types.js';
import { MAX_REGEX_BYTES } from './matchers.js';
import { Reader } from './reader.js';
import { SeriesCache } from './series-cache.js';
import { METADATA_SQL, metadataParams } from './metadata.js';
import { SampleWriter } from './writer.js';
import { LABEL_PAIR_CACHE_MAX } from './intern.js';

/** StorageOptions with every default applied. */
export interface ResolvedStorageOptions {
  readonly uri: string;
  readonly maxConnections: number;
  readonly seriesCacheMax: number;
  readonly labelPairCacheMax: number;
  readonly retentionDays: number;
  readonly historyRetentionMs: number;
  readonly applicationName: string;
  readonly maxBatchSamples: number;
  readonly receiptRetentionMs: number;
  readonly receiptMax: number;
  readonly connectTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly leaseTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly readMaxConnections: number;
  readonly maxRegexBytes: number;
  readonly statementsCache: boolean;
  /** Absent: operations run at once. */
  readonly statementGate: StatementGate | undefined;
  readonly databaseClock: GuardClock;
}

/**
 * How much longer than its statement timeout a call waits for an answer at all. The server enforces statement
 * timeouts; this client-side bound is for a server that cannot (stopped, or cut off without a reset), after
 * which the connection is discarded.
 */
const NO_ANSWER_GRACE_MS = 2000;

export function resolveStorageOptions(o: StorageOptions): ResolvedStorageOptions {
  const r: ResolvedStorageOptions = {
    uri: o.uri,
    maxConnections: o.maxConnections ?? 10,
    seriesCacheMax: o.seriesCacheMax ?? 1_000_000,
    labelPairCacheMax: o.labelPairCacheMax ?? LABEL_PAIR_CACHE_MAX,
    retentionDays: o.retentionDays ?? 90,
    historyRetentionMs: o.historyRetentionMs ?? 30 * DAY_MS,
    applicationName: o.applicationName ?? `promha/${SCHEMA_VERSION}`,
    maxBatchSamples: o.maxBatchSamples ?? 200_000,
    receiptRetentionMs: o.receiptRetentionMs ?? DAY_MS,
    receiptMax: o.receiptMax ?? 1_000_000,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    writeTimeoutMs: o.writeTimeoutMs ?? 20_000,
    leaseTimeoutMs: o.leaseTimeoutMs ?? 5_000,
    readTimeoutMs: o.readTimeoutMs ?? 60_000,
    keepAliveMs: o.keepAliveMs ?? 30_000,
    readMaxConnections: o.readMaxConnections ?? 4,
    maxRegexBytes: o.maxRegexBytes ?? MAX_REGEX_BYTES,
    statementsCache: o.statementsCache ?? true,
    statementGate: o.statementGate,
    databaseClock: o.databaseClock ?? 'server',
  };
  const bad = (what: string): never => {
    throw new StorageError(StorageErrorCodes.INVALID_INPUT, `invalid storage option: ${what}`);
  };
  if (r.uri === '') bad('uri is empty');
  if (!Number.isInteger(r.maxConnections) || r.maxConnections < 2) bad('maxConnections must be an integer >= 2');
  if (!Number.isInteger(r.seriesCacheMax) || r.seriesCacheMax < 0) bad('seriesCacheMax must be an integer >= 0');
  if (!Number.isInteger(r.labelPairCacheMax) || r.labelPairCacheMax < 0) bad('labelPairCacheMax must be an integer >= 0');
  if (!(r.retentionDays > 0)) bad('retentionDays must be > 0');
  if (!(r.historyRetentionMs > 0)) bad('historyRetentionMs must be > 0');
  if (!(r.maxBatchSamples > 0)) bad('maxBatchSamples must be > 0');
  for (const k of ['connectTimeoutMs', 'writeTimeoutMs', 'leaseTimeoutMs', 'readTimeoutMs'] as const) {
    if (!Number.isInteger(r[k]) || r[k] <= 0) bad(`${k} must be an integer > 0`);
  }
  if (!Number.isInteger(r.keepAliveMs) || r.keepAliveMs < 0) bad('keepAliveMs must be an integer >= 0');
  if (!Number.isInteger(r.readMaxConnections) || r.readMaxConnections < 1) bad('readMaxConnections must be an integer >= 1');
  if (!Number.isInteger(r.maxRegexBytes) || r.maxRegexBytes < 1) bad('maxRegexBytes must be an integer >= 1');
  return r;
}

/**
 * Connects a pool and checks the schema is not newer than this build (call `migrate()` to bring it up to date).
 * Does not migrate by itself, so a read-only tool cannot change a schema by accident.
 */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  const o = resolveStorageOptions(options);
  const pools = openPools(o);
  try {
    await checkSchemaVersion(pools.lease);
  } catch (e: unknown) {
    await endPools(pools);
    throw toStorageError(e);
  }
  return new PgStorage(pools, o);
}

/**
 * Three pools, so that no kind of work can take another's connections: writes (flushes, interning, maintenance),
 * lease steps (and `ping()`, so readiness reflects a database that answers the lease loop), reads. Each has its
 * statement timeout; every connection has the connect timeout and TCP keepalive.
 */
interface Pools {
  readonly write: pg.Pool;
  readonly lease: pg.Pool;
  readonly read: pg.Pool;
}

function openPools(o: ResolvedStorageOptions): Pools {
  const pool = (max: number, statementTimeoutMs: number, extra: pg.PoolConfig = {}): pg.Pool =>
    newPool(o, {
      max,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + NO_ANSWER_GRACE_MS,
      ...extra,
    });
  return {
    write: pool(o.maxConnections, o.writeTimeoutMs, { idle_in_transaction_session_timeout: o.writeTimeoutMs }),
    lease: pool(2, o.leaseTimeoutMs),
    read: pool(o.readMaxConnections, o.readTimeoutMs),
  };
}

/**
 * A pool with what every connection has: the schema, our types, the connect timeout and TCP keepalive; statements
 * sent unnamed when the statement cache is off (statements.ts).
 */
function newPool(o: ResolvedStorageOptions, config: pg.PoolConfig): pg.Pool {
  const gate = o.statementGate;
  const Client = gate === undefined ? pg.Client : gatedClient(gate, config.statement_timeout === false ? undefined : config.statement_timeout);
  const p = new pg.Pool({
    connectionString: o.uri,
    application_name: o.applicationName,
    options: `-c search_path=${SCHEMA}`,
    types: promhaTypes,
    connectionTimeoutMillis: o.connectTimeoutMs,
    keepAlive: o.keepAliveMs > 0,
    keepAliveInitialDelayMillis: o.keepAliveMs,
    ...config,
    ...(gate === undefined ? {} : GATED_TIMERS),
    Client: o.statementsCache ? Client : withoutStatementNames(Client),
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  p.on('error', () => undefined);
  return p;
}

/**
 * A gated pool keeps no timer on the wall clock: no connect, statement, query or idle-in-transaction timeout, and
 * no idle eviction. The gate runs operations on its own clock, so a wall-clock timeout would fire or not depending
 * on how fast the machine is; the gate is handed the statement timeout instead.
 */
const GATED_TIMERS: pg.PoolConfig = {
  idleTimeoutMillis: 0,
  connectionTimeoutMillis: 0,
  statement_timeout: undefined,
  query_timeout: undefined,
  idle_in_transaction_session_timeout: undefined,
};

async function endPools(p: Pools): Promise<void> {
  await Promise.all([p.write.end(), p.lease.end(), p.read.end()]);
}

/**
 * A pool of one connection for migrations, without statement timeout: a schema change on a large table may take
 * minutes. The connect timeout and keepalive still apply.
 */
function migrationPool(o: ResolvedStorageOptions): pg.Pool {
  return newPool(o, { max: 1 });
}

class PgStorage implements Storage {
  readonly leases: LeaseStore;
  private readonly cache: SeriesCache;
  private readonly writer: SampleWriter;
  private readonly reader: Reader;
  private closed = false;

  private readonly pool: pg.Pool;

  constructor(
    private readonly pools: Pools,
    private readonly o: ResolvedStorageOptions,
  ) {
    this.pool = pools.write;
    this.leases = new PgLeaseStore(pools.lease, o.databaseClock);
    this.cache = new SeriesCache(o.seriesCacheMax);
    // Two flushes at once: one can COPY while the next interns and checks fences. The pool keeps the rest for
    // interning, partitions and maintenance.
    this.writer = new SampleWriter(this.pool, this.cache, {
      maxBatchSamples: o.maxBatchSamples,
      maxConcurrentFlushes: 2,
      databaseClock: o.databaseClock,
      labelPairCacheMax: o.labelPairCacheMax,
    });
    this.reader = new Reader(pools.read, o.maxRegexBytes);
  }

  async migrate(): Promise<void> {
    this.open();
    const pool = migrationPool(this.o);
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
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
        throw new StorageError(StorageErrorCodes.INVALID_INPUT, `metadata of ${JSON.stringify(m.metricFamilyName)} contains a NUL byte`);
      }
    }
    await this.q(METADATA_SQL, metadataParams(metadata));
  }

  querySamples(matchers: readonly LabelMatcher[], start: number, end: number, limits?: ReadLimits): AsyncIterable<SeriesSamples> {
    this.open();
    return this.reader.querySamples(matchers, start, end, limits);
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
    const cutoff = retentionCutoff(wallNow, this.o.retentionDays);
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
    // Other instances forget a dropped day when their COPY finds its partition gone (writer.ts).
    this.writer.forgetDaysBefore(cutoff);
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
    try {
      await this.pools.lease.query('SELECT 1');
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }

  stats(): StorageStats {
    return {
      seriesCacheSize: this.cache.size,
      seriesCacheHits: this.cache.hits,
      seriesCacheMisses: this.cache.misses,
      seriesCacheEvictions: this.cache.evictions,
      labelPairCacheSize: this.writer.labelIds.size,
      labelPairCacheHits: this.writer.labelIds.hits,
      labelPairCacheMisses: this.writer.labelIds.misses,
      labelPairCacheEvictions: this.writer.labelIds.evictions,
      poolTotal: this.pool.totalCount,
      poolIdle: this.pool.idleCount,
      poolWaiting: this.pool.waitingCount,
      readPoolTotal: this.pools.read.totalCount,
      readPoolIdle: this.pools.read.idleCount,
      readPoolWaiting: this.pools.read.waitingCount,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await endPools(this.pools);
  }

  private open(): void {
    if (this.closed) throw new StorageError(StorageErrorCodes.CLOSED, 'storage is closed');
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }
}

