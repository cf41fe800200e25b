import type pg from 'pg';
import { inTransaction } from './connection.js';
import { StorageError, StorageErrorCodes } from './errors.js';

/** The schema every object lives in; connections set `search_path` to it. */
export const SCHEMA = 'promha';

/** Arbitrary constant for `pg_advisory_xact_lock`: "promha migrate". */
const MIGRATION_LOCK_KEY = 7_237_011_001;

export const DAY_MS = 86_400_000;

/**
 * Rows per sample chunk. Chunks hold up to this many (series, time, value) triples of one write batch as arrays,
 * sorted by series: small enough that a row stays under the 2 kB TOAST threshold (3 arrays of 8-byte elements
 * plus headers is about 1.6 kB at 64), large enough that the chunk index costs one entry per 64 samples.
 */
export const CHUNK_ROWS = 64;

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Forward-only. Never edit a released entry: append a new one. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
-- Interned label pairs; series reference them by id so that matchers resolve against this small table first.
CREATE TABLE label (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  value text NOT NULL,
  UNIQUE (name, value)
);

-- A series is its label-id array in label-name order (names are unique and sorted, so the array is canonical).
CREATE TABLE series (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  label_ids integer[] NOT NULL UNIQUE
);
-- fastupdate off: new series are rare after warm-up, and a pending list would be scanned linearly by every
-- matcher query (measured: 100k series just interned made a one-series lookup a 20 ms sequential scan).
-- Migration 6 turns it on with a short list.
CREATE INDEX series_label_ids_gin ON series USING gin (label_ids) WITH (fastupdate = off);

-- One row per committed write batch: lets a read find the batches (and so the chunks) overlapping a time range.
CREATE TABLE write_batch (
  id bigint PRIMARY KEY,
  min_t bigint NOT NULL,
  max_t bigint NOT NULL,
  written_wall bigint NOT NULL
);
CREATE INDEX write_batch_max_t ON write_batch (max_t);
CREATE SEQUENCE write_batch_id;

-- Float samples, one row per (batch, run of <= ${CHUNK_ROWS} samples sorted by series). Chunks never cross a day, so
-- retention drops whole daily partitions. The index key (batch, last_series) only grows within a batch and across
-- batches, so every insert lands on the right edge of the btree.
CREATE TABLE sample_chunk (
  batch bigint NOT NULL,
  first_series bigint NOT NULL,
  last_series bigint NOT NULL,
  min_t bigint NOT NULL,
  max_t bigint NOT NULL,
  series bigint[] NOT NULL,
  ts bigint[] NOT NULL,
  vs float8[] NOT NULL
) PARTITION BY RANGE (min_t);
CREATE INDEX sample_chunk_batch_series ON sample_chunk (batch, last_series);

-- Creates the daily partition holding time t (ms); safe to call concurrently.
CREATE FUNCTION ensure_sample_partition(t bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  day_start bigint := floor(t::numeric / ${DAY_MS})::bigint * ${DAY_MS};
  part text := 'sample_chunk_' || to_char(to_timestamp(day_start / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN RETURN; END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF sample_chunk FOR VALUES FROM (%s) TO (%s)', part, day_start, day_start + ${DAY_MS});
  EXCEPTION WHEN duplicate_table THEN
    NULL; -- another instance created it between the check and the CREATE
  END;
END $$;

-- Identical resends (same idempotency key) are recognised here, in the transaction that writes the samples.
CREATE TABLE write_receipt (
  key text PRIMARY KEY,
  written_wall bigint NOT NULL
);
CREATE INDEX write_receipt_wall ON write_receipt (written_wall);

-- Native histograms and exemplars: low volume, so a plain unique key keeps duplicates out.
CREATE TABLE histogram_sample (
  series_id bigint NOT NULL,
  t bigint NOT NULL,
  h jsonb NOT NULL,
  PRIMARY KEY (series_id, t)
);
CREATE INDEX histogram_sample_t ON histogram_sample (t);

CREATE TABLE exemplar (
  series_id bigint NOT NULL,
  t bigint NOT NULL,
  value float8 NOT NULL,
  labels jsonb NOT NULL,
  PRIMARY KEY (series_id, t)
);
CREATE INDEX exemplar_t ON exemplar (t);

CREATE TABLE metric_metadata (
  metric_family_name text PRIMARY KEY,
  type text NOT NULL,
  help text NOT NULL,
  unit text NOT NULL,
  updated_wall bigint NOT NULL
);

-- One lease per cluster. UNIQUE (cluster, epoch) is what makes fencing non-serializing: fenced writers hold
-- FOR KEY SHARE; an extension updates non-key columns (FOR NO KEY UPDATE, compatible with KEY SHARE); a takeover
-- changes epoch, a column of a unique index, so it needs FOR UPDATE and waits for the writers in flight.
CREATE TABLE ha_lease (
  cluster text PRIMARY KEY,
  leader text NOT NULL,
  epoch bigint NOT NULL,
  start_t bigint NOT NULL,
  until_t bigint NOT NULL,
  last_leader_sample_t bigint NOT NULL,
  leader_last_seen_wall bigint NOT NULL,
  updated_wall bigint NOT NULL,
  UNIQUE (cluster, epoch)
);

CREATE TABLE ha_lease_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster text NOT NULL,
  epoch bigint NOT NULL,
  old_leader text,
  new_leader text NOT NULL,
  old_start bigint,
  old_until bigint,
  new_start bigint NOT NULL,
  wall_time bigint NOT NULL,
  reason text NOT NULL
);
CREATE INDEX ha_lease_history_interval ON ha_lease_history (cluster, old_leader, old_until);
CREATE INDEX ha_lease_history_wall ON ha_lease_history (wall_time);
`,
  },
  {
    version: 2,
    name: 'per-series compacted samples',
    sql: `
-- Samples of closed hours, moved here from sample_chunk by compaction (maintain()): one row per series and hour
-- bucket per compaction pass, timestamps ascending and unique within the row. A read of one series' hour is one
-- btree probe here instead of two probes per write batch in sample_chunk. Late writes into a compacted hour land
-- in sample_chunk again and are compacted into a further row of the same (series, hour): rows of one series may
-- therefore overlap in time, and reads keep one value per timestamp across them.
CREATE TABLE series_chunk (
  series bigint NOT NULL,
  min_t bigint NOT NULL,
  max_t bigint NOT NULL,
  ts bigint[] NOT NULL,
  vs float8[] NOT NULL
) PARTITION BY RANGE (min_t);
CREATE INDEX series_chunk_series_t ON series_chunk (series, min_t) INCLUDE (max_t);

-- Creates the daily partition of series_chunk holding time t (ms); safe to call concurrently.
CREATE FUNCTION ensure_series_chunk_partition(t bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  day_start bigint := floor(t::numeric / ${DAY_MS})::bigint * ${DAY_MS};
  part text := 'series_chunk_' || to_char(to_timestamp(day_start / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN RETURN; END IF;
  BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF series_chunk FOR VALUES FROM (%s) TO (%s)', part, day_start, day_start + ${DAY_MS});
  EXCEPTION WHEN duplicate_table THEN
    NULL;
  END;
END $$;
`,
  },
  {
    version: 3,
    name: 'hours to merge after compaction',
    sql: `
-- An hour that compaction wrote series_chunk rows into since it was last merged (gen counts those moves). Once the
-- hour is closed, a merge pass rewrites each series' rows of it into one and deletes the entry if gen is unchanged.
CREATE TABLE compaction_hour (
  hour bigint PRIMARY KEY,
  gen bigint NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'label values of any length',
    sql: `
-- A btree row holds at most about 2.7 kB, so a unique key on a raw label value (or metric family name) fails for
-- long values (SQLSTATE 54000). Key them by md5 of the value instead: 16 bytes of index whatever the length.
-- Lookups compare md5(value) through this index and then the value itself, so two values sharing an md5 are
-- never confused; the second one of such a pair cannot be interned and is refused (see intern.ts).
-- Measured against sha256 and the raw value: docs/decisions/0006-label-index.md.
ALTER TABLE label DROP CONSTRAINT label_name_value_key;
CREATE UNIQUE INDEX label_name_value_md5 ON label (name, md5(value));
ALTER TABLE metric_metadata DROP CONSTRAINT metric_metadata_pkey;
CREATE UNIQUE INDEX metric_metadata_name_md5 ON metric_metadata (md5(metric_family_name));
`,
  },
  {
    version: 5,
    name: 'commit marks and splice points',
    sql: `
-- The greatest data time each fenced write committed under a lease, per (cluster, epoch, backend). A backend runs one
-- transaction at a time, so concurrent writers of one cluster never update the same row: recording the mark does
-- not serialize them. A takeover reads the old epoch's marks (after waiting for the writers in flight) to splice the
-- new lease just after the old leader's last committed sample, then deletes them (docs/decisions/0007-splice-point.md).
CREATE TABLE ha_commit_mark (
  cluster text NOT NULL,
  epoch bigint NOT NULL,
  backend integer NOT NULL,
  max_t bigint NOT NULL,
  PRIMARY KEY (cluster, epoch, backend)
);
-- lease_until: where the old lease ended when it was taken over (the splice is at or before it); splice: how the new
-- start was chosen ('committed', or 'lease-until' with the reason); filled: samples each instance filled from its
-- standby buffer into the new lease.
ALTER TABLE ha_lease_history
  ADD COLUMN lease_until bigint,
  ADD COLUMN splice text,
  ADD COLUMN filled jsonb NOT NULL DEFAULT '{}'::jsonb;
`,
  },
  {
    version: 6,
    name: 'series label index with a short pending list',
    sql: `
-- New series add one GIN entry per label. Inserted one by one (fastupdate off) they made the series statement the
-- slowest part of interning; gathered in a pending list and merged in bulk they intern 1.3-1.65x faster. The list
-- is kept short (256 kB, where the default is 4 MB) because every lookup by label scans it: measured, a one-series
-- lookup right after 100,000 new series took 0.50-0.56 ms against 0.40-0.48 ms (docs/decisions/0005, 2026-12-03).
ALTER INDEX series_label_ids_gin SET (fastupdate = on, gin_pending_list_limit = 256);
`,
  },
  {
    version: 7,
    name: 'series unique by a hash index',
    sql: `
-- A series' label-id array is unique. The btree that kept it so compared whole arrays, element by element, at every
-- level of every probe and insert; a hash index compares one 32-bit hash, then the array only on a hash match, and
-- holds 4 bytes per series instead of the array. A hash index cannot be UNIQUE, but an exclusion constraint with =
-- over it is the same guarantee, and ON CONFLICT DO NOTHING honours it. Measured: interning's server CPU 0.88-0.91x
-- (docs/decisions/0005, 2026-12-03).
ALTER TABLE series ADD CONSTRAINT series_label_ids_unique EXCLUDE USING hash (label_ids WITH =);
ALTER TABLE series DROP CONSTRAINT series_label_ids_key;
`,
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies pending migrations in one transaction under an advisory lock, so instances starting together migrate
 * exactly once (the others wait, then find nothing to do). Refuses a database migrated by a newer build.
 * Returns the versions it applied.
 */
export function migrate(pool: pg.Pool): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${SCHEMA}.schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const current = await currentVersionWith(client);
    assertNotNewer(current);
    const applied: number[] = [];
    await client.query(`SET LOCAL search_path = ${SCHEMA}`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${SCHEMA}.schema_version (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** The database's schema version (0 when never migrated); throws when it is newer than this build. */
export async function checkSchemaVersion(pool: pg.Pool): Promise<number> {
  const r = await pool.query<{ t: string | null }>(`SELECT to_regclass('${SCHEMA}.schema_version')::text AS t`);
  if (r.rows[0]?.t == null) return 0;
  const v = await currentVersionWith(pool);
  assertNotNewer(v);
  return v;
}

async function currentVersionWith(q: pg.Pool | pg.PoolClient): Promise<number> {
  const r = await q.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${SCHEMA}.schema_version`);
  return r.rows[0]?.v ?? 0;
}

function assertNotNewer(version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new StorageError(
      StorageErrorCodes.SCHEMA_TOO_NEW,
      `database schema version ${version} is newer than this build's ${SCHEMA_VERSION}; upgrade promha`,
    );
  }
}
