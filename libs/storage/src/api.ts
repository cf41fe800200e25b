import type { EventEmitter } from 'node:events';
import type { LabelMatcher, Label, MetricMetadata, Sample, Histogram, TimeSeries } from '@promha/codec';
import type { Fence, FenceFailure, LeaseStore } from '@promha/election';

/** Public, all-optional options; resolved once into a fully-required internal form. */
export interface StorageOptions {
  /** postgres:// URI of the database. */
  readonly uri: string;
  /** Pool size (`--db.max-connections`), default 10. */
  readonly maxConnections?: number;
  /** Series cache bound in entries (`--cache.series-max`), default 1,000,000. */
  readonly seriesCacheMax?: number;
  /** Label pair -> id cache of the writer, in pairs (`--cache.label-pairs-max`), default 262,144; 0: none. */
  readonly labelPairCacheMax?: number;
  /** Sample retention in days (`--retention`), default 90. */
  readonly retentionDays?: number;
  /** Lease history retention in ms (`--ha.history-retention`), default 30 days. */
  readonly historyRetentionMs?: number;
  /** Application name reported to PostgreSQL. */
  readonly applicationName?: string;
  /** A write batch (one transaction, one COPY) takes queued parts up to this many samples; default 200,000. */
  readonly maxBatchSamples?: number;
  /** How long idempotency receipts are kept to recognise resends, in ms; default one day. */
  readonly receiptRetentionMs?: number;
  /**
   * Most idempotency receipts kept (the newest); default 1,000,000 (about 195 bytes each with its indexes, measured: about 190 MB).
   * A resend older than what is kept may be written again, which reads hide.
   */
  readonly receiptMax?: number;
  /** Time allowed to open a connection (TCP, TLS, authentication), in ms; default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Statement timeout of write sessions (flushes, interning, maintenance), in ms; default 20 s. A transaction idle
   * for as long is ended by the server too, so a stalled writer cannot hold the fence's row locks.
   */
  readonly writeTimeoutMs?: number;
  /** Statement timeout of lease steps (sync, extend, takeover) and of `ping()`, in ms; default 5 s. */
  readonly leaseTimeoutMs?: number;
  /** Statement timeout of reads, in ms; default 60 s. */
  readonly readTimeoutMs?: number;
  /**
   * Idle time before TCP keepalive probes start on every connection, in ms; 0 turns keepalive off; default 30 s.
   * Finds a dropped network path under an idle connection.
   */
  readonly keepAliveMs?: number;
  /** Size of the separate read pool (reads never take the writers' or the lease loop's connections); default 4. */
  readonly readMaxConnections?: number;
  /**
   * Longest regex (not plain alternatives) a read's matcher may carry, in UTF-8 bytes; a longer one is refused with
   * INVALID_INPUT before any query runs (`--read.max-regex-bytes`); default 16 KiB (`MAX_REGEX_BYTES`).
   */
  readonly maxRegexBytes?: number;
  /**
   * Whether the statements every flush runs (fence, claim and batch rows, histograms, exemplars, metadata, the day's
   * partition; not interning's) are named, so that PostgreSQL parses and plans each once per connection
   * (`--db.statements-cache`); default true.
   * Turn off behind a pooler that moves a session between server connections (PgBouncer in transaction mode before
   * 1.21), which would lose them.
   */
  readonly statementsCache?: boolean;
  /**
   * Decides when each database operation of this storage runs (default: at once). The simulator's deterministic
   * mode passes one that runs them one at a time in its own order; with a gate, pooled connections are never
   * closed for idleness (that would be a real timer deciding something).
   */
  readonly statementGate?: StatementGate;
  /**
   * The clock of the HA guard: the leader's last-seen stamp and the lease-timeout test of a takeover.
   * - `'server'` (the default, and the only choice for production): the database server's `clock_timestamp()`,
   *   one clock for every instance.
   * - `'instance'`: the wall time each lease step carries from its instance's clock; for tests that spell the
   *   times of a scenario out.
   * - a function: a replacement clock; the deterministic simulator passes its virtual time.
   */
  readonly databaseClock?: GuardClock;
}

/** See `StorageOptions.databaseClock`. */
export type GuardClock = 'server' | 'instance' | (() => number);

/** One database operation as a {@link StatementGate} sees it. */
export interface GatedOperation {
  readonly kind: 'connect' | 'query' | 'copy';
  /** The statement (empty for a connect). */
  readonly text: string;
  /** PostgreSQL's process id of the session, once connected (for `pg_blocking_pids`, `pg_terminate_backend`). */
  readonly backendPid: number | undefined;
  /** The connection: emits `'error'` when it breaks outside of a statement. */
  readonly connection: EventEmitter;
  /**
   * The statement timeout of the operation's pool. A gated pool sets no timeout of its own (they run on the wall
   * clock, which the gate does not control): the gate applies this one on its own clock.
   */
  readonly timeoutMs: number | undefined;
}

/**
 * Runs database operations when it chooses. `run` calls `start` at most once and settles with its outcome, or
 * rejects without calling it (the operation then fails as on a broken connection).
 */
export interface StatementGate {
  run<T>(operation: GatedOperation, start: () => Promise<T>): Promise<T>;
}

/** Bounds of one `querySamples` call; a read past them fails with `STORAGE_READ_LIMIT` before loading more. */
export interface ReadLimits {
  /** Most series the query may match; 0 or absent: no limit. */
  readonly maxSeries?: number;
}

/** Result of a write: stored, or the fence failed and nothing of it was written. */
export type WriteOutcome =
  | {
      readonly kind: 'stored';
      readonly samples: number;
      readonly histograms: number;
      readonly exemplars: number;
    }
  | FenceFailure;

/** One part of a write: series (labels final: replica label already removed) and the fence guarding it. */
export interface WritePart {
  readonly series: readonly TimeSeries[];
  /** Absent for non-HA data and with HA off. */
  readonly fence?: Fence;
  /**
   * Identifies this exact part's content across deliveries (the ingest passes a digest of the request body with
   * the cluster and the decided time window). Storage may use it to recognise an identical resend after a 5xx or
   * a crash between commit and answer, and store nothing twice.
   */
  readonly idempotencyKey?: string;
}

export interface SeriesSamples {
  readonly labels: readonly Label[];
  readonly samples: readonly Sample[];
  readonly histograms: readonly Histogram[];
}

export interface Storage {
  /** Applies pending migrations (once across concurrently starting instances). */
  migrate(): Promise<void>;
  /**
   * Writes one part in a transaction that checks its fence; resolves after commit. Batched with concurrent
   * calls. Throws StorageError (with a stable code and its fault): `STORAGE_INVALID_INPUT` for data PostgreSQL
   * cannot store, transient codes on database trouble (`STORAGE_OUTCOME_UNKNOWN` when the commit may have
   * happened: send the same part, with its key, again).
   */
  write(part: WritePart): Promise<WriteOutcome>;
  /** Idempotent upsert of metric metadata. */
  upsertMetadata(metadata: readonly MetricMetadata[]): Promise<void>;
  /** The PostgreSQL lease store for the election. */
  readonly leases: LeaseStore;
  /**
   * Series with samples in `[start, end]` matching every matcher, streamed in steps of series.
   * Throws StorageError `STORAGE_INVALID_INPUT` for a regex PostgreSQL cannot express.
   */
  querySamples(matchers: readonly LabelMatcher[], start: number, end: number, limits?: ReadLimits): AsyncIterable<SeriesSamples>;
  /**
   * Series matching the matchers with samples or histograms in `[start, end]` (hours not yet compacted are judged
   * by their chunks' series-id spans, a superset); `start <= 0` with `end >= Number.MAX_SAFE_INTEGER` (the HTTP
   * API's default) lists every interned series.
   */
  series(matchers: readonly LabelMatcher[], start: number, end: number, limit?: number): Promise<readonly (readonly Label[])[]>;
  /** Label names of the series `series()` would return for the same arguments. */
  labelNames(matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]>;
  /** Values of label `name` among the series `series()` would return for the same arguments. */
  labelValues(name: string, matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]>;
  /**
   * Drops partitions older than retention, creates partitions ahead, prunes lease history and receipts, and
   * compacts write batches of closed hours into per-series rows (one instance at a time).
   */
  maintain(wallNow: number): Promise<void>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  stats(): StorageStats;
  close(): Promise<void>;
}

export interface StorageStats {
  readonly seriesCacheSize: number;
  readonly seriesCacheHits: number;
  readonly seriesCacheMisses: number;
  /** Series the cache dropped to stay within its bound. */
  readonly seriesCacheEvictions: number;
  /** The writer's label pair -> id cache, used only while new series are interned. */
  readonly labelPairCacheSize: number;
  readonly labelPairCacheHits: number;
  readonly labelPairCacheMisses: number;
  readonly labelPairCacheEvictions: number;
  /** The write pool (flushes, interning, maintenance). */
  readonly poolTotal: number;
  readonly poolIdle: number;
  readonly poolWaiting: number;
  /** The read pool. */
  readonly readPoolTotal: number;
  readonly readPoolIdle: number;
  readonly readPoolWaiting: number;
}
