/**
 * Interning new series costs the same whatever the tables already hold: the statements probe `label` and `series`
 * by index for each input, never read either table whole. Counted with PostgreSQL's own statistics (sequential
 * scans per table), not timed.
 */
import type { Label } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internSeries, LabelIds } from './internal/intern.js';
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

function flush(from: number, n = PER_FLUSH): Label[][] {
  return Array.from({ length: n }, (_, i) => labelsOf(from + i));
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
    expect(new Set(ids).size).toBe(PER_FLUSH);
  }, 120_000);

  it('answers the stored ids for series interned before, with or without the pair cache', async () => {
    const first = await internSeries(pool, flush(100, 50));
    expect(await internSeries(pool, flush(100, 50), new LabelIds())).toEqual(first);
    const stored = await pool.query<{ id: string }>('SELECT id FROM promha.series WHERE id = ANY($1::bigint[])', [first]);
    expect(stored.rowCount).toBe(50);
  });
});

describe('internSeries by several interners at once', () => {
  it('gives every interner the same id for a series, stores each series and pair once, and never deadlocks', async () => {
    // Four instances, each on its own connection with its own pair cache, intern overlapping flushes of new series
    // at the same moment, each in its own order, one series twice in a flush.
    const pools = Array.from({ length: 4 }, () => {
      const p = new pg.Pool({ connectionString: db.uri, max: 1 });
      p.on('error', () => undefined);
      p.on('connect', (c) => void c.query('SET search_path = promha'));
      return p;
    });
    try {
      const base = 500_000;
      const flushes = pools.map((_, k) => {
        const f = flush(base + k * 300, 900); // each overlaps its neighbours by 600 series
        for (let i = f.length - 1; i > 0; i--) {
          const j = (i * 7919 + k * 104_729) % (i + 1);
          [f[i], f[j]] = [f[j]!, f[i]!];
        }
        return [...f, f[0]!];
      });
      const results = await Promise.all(pools.map((p, k) => internSeries(p, flushes[k]!, new LabelIds())));
      const idOf = new Map<string, number>();
      results.forEach((ids, k) => {
        expect(ids.at(-1)).toBe(ids[0]);
        flushes[k]!.forEach((labels, i) => {
          const key = JSON.stringify(labels);
          expect(idOf.get(key) ?? ids[i]).toBe(ids[i]);
          idOf.set(key, ids[i]!);
        });
      });
      const stored = await pool.query<{ n: string }>('SELECT count(*) AS n FROM promha.series WHERE id = ANY($1::bigint[])', [[...idOf.values()]]);
      expect(Number(stored.rows[0]!.n)).toBe(idOf.size);
      expect(new Set(idOf.values()).size).toBe(idOf.size);
      const pods = await pool.query<{ n: string; d: string }>(
        `SELECT count(*) AS n, count(DISTINCT value) AS d FROM promha.label WHERE name = 'pod' AND value = ANY($1::text[])`,
        [Array.from({ length: 1_800 }, (_, i) => `pod-${(base + i).toString(36)}`)],
      );
      expect(pods.rows[0]).toEqual({ n: '1800', d: '1800' });
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  }, 120_000);
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

describe('internSeries inserting pairs before looking them up', () => {
  it('does so only while new series come, and spends label ids on stored pairs within twice the pairs it stored', async () => {
    const lastLabelId = async (): Promise<number> =>
      Number((await pool.query<{ v: string }>('SELECT last_value::text AS v FROM promha.label_id_seq')).rows[0]!.v);
    const pairs = async (): Promise<number> => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM promha.label')).rows[0]!.n);
    // A cache that keeps no pair, so every call asks for every pair of its series (about 270 for 100 series).
    const known = new LabelIds(0);
    const [id0, pairs0] = [await lastLabelId(), await pairs()];
    await internSeries(pool, flush(3_000_000, 100), known); // new, looked up first: a fresh writer
    await internSeries(pool, flush(3_000_100, 100), known); // new, inserted first: the last call stored most
    const stored = (await pairs()) - pairs0;
    expect(await lastLabelId()).toBeGreaterThan(id0 + stored); // ids were spent on the stored ones among them
    const again = await internSeries(pool, flush(3_000_000, 100), known); // all stored, inserted first once more
    const spent = await lastLabelId();
    expect(await internSeries(pool, flush(3_000_000, 100), known)).toEqual(again); // the last call stored nothing
    expect(await lastLabelId()).toBe(spent); // so this one looked up first
    expect(await pairs()).toBe(pairs0 + stored);
    expect(spent - id0 - stored).toBeLessThanOrEqual(2 * stored);
  });
});

describe('LabelIds', () => {
  it('starts over at its bound and keeps nothing with a bound of 0', () => {
    const ids = new LabelIds(2);
    ids.set('a', 'x', 1);
    ids.set('b', 'x', 2);
    expect([ids.get('a', 'x'), ids.get('b', 'x'), ids.get('a', 'y'), ids.size]).toEqual([1, 2, undefined, 2]);
    ids.set('c', 'x', 3);
    expect([ids.get('a', 'x'), ids.get('c', 'x'), ids.size]).toEqual([undefined, 3, 1]);
    expect([ids.hits, ids.misses, ids.evictions]).toEqual([3, 2, 2]);
    const none = new LabelIds(0);
    none.set('a', 'x', 1);
    expect(none.get('a', 'x')).toBeUndefined();
  });
});
