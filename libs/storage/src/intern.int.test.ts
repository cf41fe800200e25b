/**
 * Interning new series costs the same whatever the tables already hold: the statements probe `label` and `series`
 * by index for each input, never read either table whole. Counted with PostgreSQL's own statistics (sequential
 * scans per table), not timed.
 */
import type { Label } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internSeries, LabelIds } from './internal/intern.js';
import { seriesKey } from './internal/series-cache.js';
import { openStorage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

const PER_FLUSH = 2_000;
/** Series stored before the measured flush: enough that a hash join over the whole table is what a planner picks. */
const STORED = 30_000;

function labelsOf(s: number): Label[] {
  return [
    { name: '__name__', value: `metric_${s % 60}` },
    { name: 'cluster', value: 'c0' },
    { name: 'instance', value: `10.0.${(s >> 8) & 255}.${s & 255}:8080` },
    { name: 'job', value: 'pods' },
    { name: 'namespace', value: `ns-${s % 8}` },
    { name: 'pod', value: `pod-${s.toString(36)}` },
  ];
}

function flush(from: number, n = PER_FLUSH): Map<string, Label[]> {
  const m = new Map<string, Label[]>();
  for (let s = from; s < from + n; s++) m.set(seriesKey(labelsOf(s)), labelsOf(s));
  return m;
}

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await startTestDatabase();
  const storage = await openStorage({ uri: db.uri });
  await storage.migrate();
  await storage.close();
  // One connection: PostgreSQL keeps a backend's statistics local until it flushes them, and
  // pg_stat_force_next_flush() flushes only the calling backend's. With a second connection, counts from earlier
  // statements could land between the two readings.
  pool = new pg.Pool({ connectionString: db.uri, max: 1 });
  // As every production pool does: pool.end() resolves before its connections have closed, and the server
  // stopping in afterAll then reports 57P01 through the pool's 'error', which unheard ends the test process.
  pool.on('error', () => undefined);
  pool.on('connect', (c) => void c.query('SET search_path = promha'));
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await db?.stop();
});

async function sequentialScans(): Promise<{ label: number; series: number }> {
  await pool.query('SELECT pg_stat_force_next_flush()');
  const r = await pool.query<{ relname: string; seq_scan: string }>(
    `SELECT relname, seq_scan FROM pg_stat_user_tables WHERE schemaname = 'promha' AND relname IN ('label', 'series')`,
  );
  const by = new Map(r.rows.map((x) => [x.relname, Number(x.seq_scan)]));
  return { label: by.get('label')!, series: by.get('series')! };
}

describe('internSeries', () => {
  it('interns a flush of new series beside tens of thousands stored without reading label or series whole', async () => {
    const known = new LabelIds();
    for (let from = 0; from < STORED; from += PER_FLUSH) await internSeries(pool, flush(from), known);
    await pool.query('ANALYZE promha.label, promha.series');
    const before = await sequentialScans();
    // Without the pair cache, so every pair of the flush (most of them stored) goes to the database.
    const ids = await internSeries(pool, flush(STORED));
    const after = await sequentialScans();
    expect(after).toEqual(before);
    expect(new Set(ids.values()).size).toBe(PER_FLUSH);
  }, 120_000);

  it('answers the stored ids for series interned before, with or without the pair cache', async () => {
    const first = await internSeries(pool, flush(100, 50));
    expect(await internSeries(pool, flush(100, 50), new LabelIds())).toEqual(first);
    const stored = await pool.query<{ id: string }>('SELECT id FROM promha.series WHERE id = ANY($1::bigint[])', [[...first.values()]]);
    expect(stored.rowCount).toBe(50);
  });
});

describe('internSeries on series stored before', () => {
  it('finds them without inserting, so no identity value is spent (label ids are 32-bit: a spent one is gone)', async () => {
    const sequences = async (): Promise<string[]> =>
      (await pool.query<{ v: string }>(`SELECT last_value::text AS v FROM promha.label_id_seq UNION ALL SELECT last_value::text FROM promha.series_id_seq`)).rows.map((r) => r.v);
    const first = await internSeries(pool, flush(1_000, 200));
    const before = await sequences();
    // A fresh pair cache, as a worker that never saw these series has.
    expect(await internSeries(pool, flush(1_000, 200), new LabelIds())).toEqual(first);
    expect(await sequences()).toEqual(before);
  });
});

describe('LabelIds', () => {
  it('starts over at its bound and keeps nothing with a bound of 0', () => {
    const ids = new LabelIds(2);
    ids.set('a', 1);
    ids.set('b', 2);
    expect([ids.get('a'), ids.get('b'), ids.size]).toEqual([1, 2, 2]);
    ids.set('c', 3);
    expect([ids.get('a'), ids.get('c'), ids.size]).toEqual([undefined, 3, 1]);
    expect([ids.hits, ids.misses, ids.evictions]).toEqual([3, 1, 2]);
    const none = new LabelIds(0);
    none.set('a', 1);
    expect(none.get('a')).toBeUndefined();
  });
});
