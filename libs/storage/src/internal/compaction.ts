import type pg from 'pg';
import { withClient } from './connection.js';
import { DAY_MS } from './migrations.js';
import { HOUR_MS } from './time.js';

/**
 * An hour of data time is merged (its rows rewritten to one per series) once wall time is this far past its end.
 * Live Prometheus data arrives within seconds of its timestamps; waiting a little longer keeps the merge to one
 * pass per hour. Later writes (retry queues, closed lease intervals under docs/design.md rule 7) are still accepted,
 * compacted by a later pass and merged again: this lag is a performance choice, never a correctness one.
 */
export const COMPACTION_LAG_MS = 10 * 60_000;

/** Series ids per compaction statement: bounds the rows one statement moves (and its transaction's size). */
const SLICE_SERIES = 10_000;

/** Arbitrary constant for `pg_try_advisory_lock`: "promha compact". One instance compacts at a time. */
const COMPACTION_LOCK_KEY = 7_237_011_002;

// Moves the chunks of closed write batches of one day whose first series lies in [lo, hi) into per-series rows,
// one per series and hour bucket. The DELETE ... RETURNING is the only source of the INSERT, in one statement:
// a chunk row is moved by exactly one statement even when two run at once (the second waits on the row lock and
// then finds the row gone), so compaction can neither lose nor duplicate a sample. Reads run one statement over
// both tables, so they see a chunk either before or after its move, never both nor neither.
// One value per timestamp: duplicates (unkeyed resends) are dropped here by the same rule the reader applies
// (lowest float8 bit pattern first), so a read returns the same before and after compaction.
const MOVE_SQL = `
WITH moved AS (
  DELETE FROM sample_chunk c
  USING write_batch b
  WHERE b.max_t < $1 AND b.min_t >= $2 AND b.min_t < $2 + ${DAY_MS}
    AND c.batch = b.id AND c.min_t >= $2 AND c.min_t < $2 + ${DAY_MS}
    AND c.last_series >= $3 AND c.first_series >= $3 AND c.first_series < $4
  RETURNING c.series, c.ts, c.vs
), samples AS (
  SELECT DISTINCT ON (x.s, x.t) x.s, x.t, x.v
  FROM moved CROSS JOIN LATERAL unnest(moved.series, moved.ts, moved.vs) AS x(s, t, v)
  ORDER BY x.s, x.t, float8send(x.v)
), ins AS (
  INSERT INTO series_chunk (series, min_t, max_t, ts, vs)
  SELECT s, min(t), max(t), array_agg(t ORDER BY t), array_agg(v ORDER BY t)
  FROM samples GROUP BY s, t - ((t % ${HOUR_MS}) + ${HOUR_MS}) % ${HOUR_MS}
  RETURNING min_t
), hours AS (
  INSERT INTO compaction_hour (hour, gen)
  SELECT DISTINCT min_t - ((min_t % ${HOUR_MS}) + ${HOUR_MS}) % ${HOUR_MS}, 1 FROM ins
  ON CONFLICT (hour) DO UPDATE SET gen = compaction_hour.gen + 1
)
SELECT (SELECT count(*) FROM moved)::int AS chunks, (SELECT count(*) FROM ins)::int AS rows`;

// Rewrites the rows of one closed hour of the series in [lo, hi) that have more than one into a single row each,
// with the same one-statement DELETE ... RETURNING discipline (and the same one-value-per-timestamp rule).
const MERGE_SQL = `
WITH many AS (
  SELECT series FROM series_chunk
  WHERE series >= $2 AND series < $3 AND min_t >= $1 AND min_t < $1 + ${HOUR_MS}
  GROUP BY series HAVING count(*) > 1
), moved AS (
  DELETE FROM series_chunk c USING many
  WHERE c.series = many.series AND c.min_t >= $1 AND c.min_t < $1 + ${HOUR_MS}
  RETURNING c.series, c.ts, c.vs
), samples AS (
  SELECT DISTINCT ON (moved.series, x.t) moved.series AS s, x.t, x.v
  FROM moved CROSS JOIN LATERAL unnest(moved.ts, moved.vs) AS x(t, v)
  ORDER BY moved.series, x.t, float8send(x.v)
)
INSERT INTO series_chunk (series, min_t, max_t, ts, vs)
SELECT s, min(t), max(t), array_agg(t ORDER BY t), array_agg(v ORDER BY t) FROM samples GROUP BY s`;

// A batch row goes once none of its chunks is left; until then readers still probe it for the rest.
const DROP_BATCHES_SQL = `
DELETE FROM write_batch b
WHERE b.max_t < $1 AND b.min_t >= $2 AND b.min_t < $2 + ${DAY_MS}
  AND NOT EXISTS (SELECT 1 FROM sample_chunk c WHERE c.batch = b.id AND c.min_t >= $2 AND c.min_t < $2 + ${DAY_MS})`;

/** What one compaction pass did. */
export interface CompactionResult {
  /** Another instance held the compaction lock: this pass did nothing. */
  readonly skipped: boolean;
  /** sample_chunk rows moved. */
  readonly chunks: number;
  /** series_chunk rows written. */
  readonly rows: number;
  /** write_batch rows removed. */
  readonly batches: number;
}

export interface CompactOptions {
  /** Take the instance-wide advisory lock (default true). Tests turn it off to race statements directly. */
  readonly lock?: boolean;
  /** Series ids per statement (default 10,000). */
  readonly sliceSeries?: number;
  /** Merge the rows of hours ending at or before this data time (default: `before`). */
  readonly mergeBefore?: number;
}

/** The data-time bound below which write batches are compacted at wall time `wallNow`: whole hours only. */
export function compactBefore(wallNow: number, lagMs = COMPACTION_LAG_MS): number {
  return Math.floor((wallNow - lagMs) / HOUR_MS) * HOUR_MS;
}

/**
 * Compacts every write batch whose data lies entirely before `before` (ms, data time) into `series_chunk`, then
 * merges, in every hour ending at or before `options.mergeBefore` (default `before`) that received rows since its
 * last merge, each series' rows into one. Each statement commits on its own; a pass interrupted half-way leaves a
 * state reads handle (some chunks moved, the rest still found through their batches) and the next pass continues.
 */
export async function compact(pool: pg.Pool, before: number, options: CompactOptions = {}): Promise<CompactionResult> {
  return withClient(pool, async (client) => {
    if (options.lock ?? true) {
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [COMPACTION_LOCK_KEY]);
      if (r.rows[0]?.ok !== true) return { skipped: true, chunks: 0, rows: 0, batches: 0 };
      try {
        return await compactOn(client, before, options);
      } finally {
        // A session lock outlives the pass on a pooled connection. When unlocking fails the connection is broken
        // (withClient discards it, and the lock ends with its session).
        await client.query('SELECT pg_advisory_unlock($1)', [COMPACTION_LOCK_KEY]);
      }
    }
    return compactOn(client, before, options);
  });
}

async function compactOn(client: pg.PoolClient, before: number, options: CompactOptions): Promise<CompactionResult> {
  const slice = options.sliceSeries ?? SLICE_SERIES;
  const days = await client.query<{ day: number }>(
    `SELECT DISTINCT min_t - ((min_t % ${DAY_MS}) + ${DAY_MS}) % ${DAY_MS} AS day FROM write_batch WHERE max_t < $1 ORDER BY 1`,
    [before],
  );
  const top = await client.query<{ id: number | null }>('SELECT max(id) AS id FROM series');
  const maxId = top.rows[0]?.id ?? 0;
  let chunks = 0;
  let rows = 0;
  let batches = 0;
  for (const { day } of days.rows) {
    await client.query('SELECT ensure_series_chunk_partition($1)', [day]);
    for (let lo = 0; lo <= maxId; lo += slice) {
      const r = await client.query<{ chunks: number; rows: number }>(MOVE_SQL, [before, day, lo, lo + slice]);
      chunks += r.rows[0]?.chunks ?? 0;
      rows += r.rows[0]?.rows ?? 0;
    }
    batches += (await client.query(DROP_BATCHES_SQL, [before, day])).rowCount ?? 0;
  }
  const hours = await client.query<{ hour: number; gen: number }>(
    `SELECT hour, gen FROM compaction_hour WHERE hour + ${HOUR_MS} <= $1 ORDER BY hour`,
    [options.mergeBefore ?? before],
  );
  for (const { hour, gen } of hours.rows) {
    for (let lo = 0; lo <= maxId; lo += slice) await client.query(MERGE_SQL, [hour, lo, lo + slice]);
    // Done unless a move wrote into the hour meanwhile (gen changed): then the next pass merges it again.
    await client.query('DELETE FROM compaction_hour WHERE hour = $1 AND gen = $2', [hour, gen]);
  }
  return { skipped: false, chunks, rows, batches };
}
