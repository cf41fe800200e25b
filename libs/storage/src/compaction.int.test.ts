import type { Histogram, Label, TimeSeries } from '@promha/codec';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compact, COMPACTION_LAG_MS } from './internal/compaction.js';
import { HOUR_MS } from './internal/time.js';
import { SCHEMA } from './internal/migrations.js';
import { openStorage, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';
import { propertySeed } from './test-util/property-seed.js';

const T0 = Date.UTC(2026, 0, 10, 0);
let db: TestDatabase;

beforeAll(async () => {
  db = await startTestDatabase();
});
afterAll(async () => {
  await db.stop();
});

const histogram = (timestamp: number): Histogram => ({
  isFloat: false,
  count: 1,
  zeroCount: 0,
  sum: 1,
  schema: 0,
  zeroThreshold: 0,
  negativeSpans: [],
  negativeDeltas: [],
  negativeCounts: [],
  positiveSpans: [{ offset: 0, length: 1 }],
  positiveDeltas: [1],
  positiveCounts: [],
  resetHint: 'unknown',
  timestamp,
  customValues: [],
});

const labelsOf = (k: number): Label[] => [
  { name: '__name__', value: 'm' },
  { name: 'k', value: String(k) },
];

/** Big-endian bits of a double as hex: the order PostgreSQL's float8send bytea comparison uses. */
function bits(v: number): string {
  // Not `new Float64Array([v])`: V8 canonicalises NaNs held in plain double arrays, which would quiet the marker.
  const f = new Float64Array(1);
  f[0] = v;
  return new BigUint64Array(f.buffer)[0]!.toString(16).padStart(16, '0');
}

type Read = Record<string, [number, string][]>;

async function readAll(s: Storage, start: number, end: number): Promise<Read> {
  const out: Read = {};
  for await (const x of s.querySamples([{ type: 'EQ', name: '__name__', value: 'm' }], start, end)) {
    out[x.labels.find((l) => l.name === 'k')!.value] = x.samples.map((p) => [p.timestamp, bits(p.value)]);
  }
  return out;
}

/** What a read must return: per series and timestamp, the value with the lowest bit pattern among those written. */
function model(written: readonly { k: number; t: number; v: number }[], start: number, end: number): Read {
  const best = new Map<number, Map<number, string>>();
  for (const w of written) {
    if (w.t < start || w.t > end) continue;
    let m = best.get(w.k);
    if (m === undefined) best.set(w.k, (m = new Map<number, string>()));
    const b = bits(w.v);
    const cur = m.get(w.t);
    if (cur === undefined || b < cur) m.set(w.t, b);
  }
  const out: Read = {};
  for (const [k, m] of best) out[String(k)] = [...m].sort((a, b) => a[0] - b[0]);
  return out;
}

/** Every stored sample, both layouts, as sorted "series/t/bits" strings (duplicates kept). */
async function rawSamples(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ x: string }>(`
    SELECT u.s || '/' || u.t || '/' || encode(float8send(u.v), 'hex') AS x FROM ${SCHEMA}.sample_chunk c, unnest(c.series, c.ts, c.vs) AS u(s, t, v)
    UNION ALL
    SELECT c.series || '/' || u.t || '/' || encode(float8send(u.v), 'hex') FROM ${SCHEMA}.series_chunk c, unnest(c.ts, c.vs) AS u(t, v)`);
  return r.rows.map((x) => x.x).sort();
}

const VALUES = [0, -0, 1, -1, 2.5, 1e300, Infinity, NaN];

const writeOp = fc.record({
  kind: fc.constant('write' as const),
  series: fc.uniqueArray(
    fc.record({
      k: fc.integer({ min: 0, max: 3 }),
      samples: fc.uniqueArray(fc.record({ t: fc.integer({ min: 0, max: 4 * 60 - 1 }).map((m) => T0 + m * 60_000), v: fc.constantFrom(...VALUES) }), {
        minLength: 1,
        maxLength: 5,
        selector: (x) => x.t,
      }),
    }),
    { minLength: 1, maxLength: 3, selector: (x) => x.k },
  ),
  keyed: fc.boolean(),
});
const op = fc.oneof(
  { weight: 5, arbitrary: writeOp },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resend' as const), of: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), hours: fc.integer({ min: 0, max: 5 }) }) },
);

describe('compaction', () => {
  it('never changes what a read returns: random writes, resends, late writes, compaction at random points (property)', async () => {
    const seed = propertySeed('compaction reads');
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const uri = await db.createDatabase();
        const s = await openStorage({ uri });
        const c = new pg.Client({ connectionString: uri });
        try {
          await s.migrate();
          await c.connect();
          const written: { k: number; t: number; v: number }[] = [];
          const sent: { key?: string; series: TimeSeries[] }[] = [];
          let compacted = false;
          for (const [i, o] of ops.entries()) {
            if (o.kind === 'write' || (o.kind === 'resend' && sent.length > 0)) {
              const part =
                o.kind === 'write'
                  ? {
                      ...(o.keyed ? { key: `w${i}` } : {}),
                      series: o.series.map((x) => ({ labels: labelsOf(x.k), samples: x.samples.map((p) => ({ timestamp: p.t, value: p.v })), histograms: [], exemplars: [] })),
                    }
                  : sent[o.of % sent.length]!;
              sent.push(part);
              await s.write(part.key === undefined ? { series: part.series } : { series: part.series, idempotencyKey: part.key });
              for (const x of part.series) for (const p of x.samples) written.push({ k: Number(x.labels[1]!.value), t: p.timestamp, v: p.value });
            } else if (o.kind === 'compact') {
              const before = await readAll(s, T0 - HOUR_MS, T0 + 5 * HOUR_MS);
              const rawBefore = await rawSamples(c);
              // maintain() at the wall time that closes the first `hours` hours of data.
              await s.maintain(T0 + o.hours * HOUR_MS + COMPACTION_LAG_MS);
              compacted ||= o.hours > 0;
              expect(await readAll(s, T0 - HOUR_MS, T0 + 5 * HOUR_MS)).toEqual(before);
              const rawAfter = await rawSamples(c);
              // Nothing lost: every (series, timestamp) is still stored. Nothing duplicated or invented: every stored
              // sample was there before, at most as often (compaction drops the duplicates of a timestamp that
              // reads never return).
              const seriesTime = (xs: string[]) => [...new Set(xs.map((x) => x.slice(0, x.lastIndexOf('/'))))];
              expect(seriesTime(rawAfter)).toEqual(seriesTime(rawBefore));
              const left = new Map<string, number>();
              for (const x of rawBefore) left.set(x, (left.get(x) ?? 0) + 1);
              for (const x of rawAfter) {
                const n = left.get(x) ?? 0;
                expect(n, `${x} stored more often after compaction`).toBeGreaterThan(0);
                left.set(x, n - 1);
              }
            }
          }
          expect(await readAll(s, T0 - HOUR_MS, T0 + 5 * HOUR_MS)).toEqual(model(written, T0 - HOUR_MS, T0 + 5 * HOUR_MS));
          // A range cutting through hours, on both layouts.
          const [a, b] = [T0 + 37 * 60_000, T0 + 2 * HOUR_MS + 11 * 60_000];
          expect(await readAll(s, a, b)).toEqual(model(written, a, b));
          if (compacted) await s.maintain(T0 + 6 * HOUR_MS);
          expect(await readAll(s, a, b)).toEqual(model(written, a, b));
        } finally {
          await c.end();
          await s.close();
        }
      }),
      { seed, numRuns: 10, ...(process.env['PROMHA_FC_PATH'] === undefined ? {} : { path: process.env['PROMHA_FC_PATH'] }) },
    );
  }, 180_000); // a fresh database per run; shrinking a failure on a loaded machine takes minutes

  it('two instances compacting at once move every chunk exactly once', async () => {
    const uri = await db.createDatabase();
    const [s1, s2] = [await openStorage({ uri }), await openStorage({ uri })];
    const c = new pg.Client({ connectionString: uri });
    // Each listens for 'error', as production pools do (a connection still closing when the server stops).
    const pools = [0, 1].map(() => new pg.Pool({ connectionString: uri, options: `-c search_path=${SCHEMA}`, max: 2 }).on('error', () => undefined));
    try {
      await s1.migrate();
      await c.connect();
      // 3 hours x 12 rounds of 200 series, each round its own write batch.
      for (let m = 0; m < 3 * 60; m += 15) {
        await s1.write({
          series: Array.from({ length: 200 }, (_, k) => ({ labels: labelsOf(k), samples: [{ timestamp: T0 + m * 60_000, value: k + m }], histograms: [], exemplars: [] })),
        });
      }
      const before = await rawSamples(c);
      const read = await readAll(s1, T0, T0 + 3 * HOUR_MS);
      // Statements raced without the advisory lock (small slices: many statements interleave), then two
      // instances' maintain() at once (one takes the lock, the other skips or finds nothing).
      const results = await Promise.all(pools.map((p) => compact(p, T0 + 2 * HOUR_MS, { lock: false, sliceSeries: 7 })));
      expect(results[0]!.chunks + results[1]!.chunks).toBeGreaterThan(0);
      expect(await rawSamples(c)).toEqual(before);
      await Promise.all([s1.maintain(T0 + 3 * HOUR_MS + COMPACTION_LAG_MS), s2.maintain(T0 + 3 * HOUR_MS + COMPACTION_LAG_MS)]);
      expect(await rawSamples(c)).toEqual(before);
      const left = await c.query<{ chunks: number; batches: number; rows: number }>(
        `SELECT (SELECT count(*) FROM ${SCHEMA}.sample_chunk)::int AS chunks, (SELECT count(*) FROM ${SCHEMA}.write_batch)::int AS batches,
                (SELECT count(*) FROM ${SCHEMA}.series_chunk)::int AS rows`,
      );
      expect(left.rows[0]).toEqual({ chunks: 0, batches: 0, rows: 200 * 3 });
      expect(await readAll(s2, T0, T0 + 3 * HOUR_MS)).toEqual(read);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await c.end();
      await s1.close();
      await s2.close();
    }
  });
});

describe('reads over many series', () => {
  it('stream more series than one step, each once, from both layouts', async () => {
    const s = await openStorage({ uri: await db.createDatabase() });
    try {
      await s.migrate();
      const N = 1_234;
      for (const t of [T0 + 10 * 60_000, T0 + 70 * 60_000]) {
        await s.write({ series: Array.from({ length: N }, (_, k) => ({ labels: labelsOf(k), samples: [{ timestamp: t, value: k }], histograms: [], exemplars: [] })) });
      }
      await s.maintain(T0 + HOUR_MS + COMPACTION_LAG_MS); // the first hour compacted, the second still open
      const got: { k: string; samples: number[] }[] = [];
      for await (const x of s.querySamples([{ type: 'EQ', name: '__name__', value: 'm' }], T0, T0 + 2 * HOUR_MS)) {
        got.push({ k: x.labels[1]!.value, samples: x.samples.map((p) => p.value) });
      }
      // Every series once (ids follow interning order, not k), each with both hours' samples.
      expect(got.sort((a, b) => Number(a.k) - Number(b.k))).toEqual(Array.from({ length: N }, (_, k) => ({ k: String(k), samples: [k, k] })));
    } finally {
      await s.close();
    }
  });
});

describe('compacted values', () => {
  it('keep the stale marker NaN bits exactly', async () => {
    const s = await openStorage({ uri: await db.createDatabase() });
    try {
      await s.migrate();
      const stale = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;
      const samples = [
        { timestamp: T0, value: 1.5 },
        { timestamp: T0 + 60_000, value: stale },
        { timestamp: T0 + 120_000, value: -0 },
        { timestamp: T0 + 180_000, value: NaN },
      ];
      await s.write({ series: [{ labels: labelsOf(0), samples, histograms: [], exemplars: [] }] });
      await s.maintain(T0 + HOUR_MS + COMPACTION_LAG_MS);
      const got = await readAll(s, T0, T0 + HOUR_MS);
      expect(got['0']!.map(([, b]) => b)).toEqual(['3ff8000000000000', '7ff0000000000002', '8000000000000000', '7ff8000000000000']);
    } finally {
      await s.close();
    }
  });
});

describe('time-ranged series, label names and label values', () => {
  let s: Storage;
  const sample = (labels: Label[], t: number): TimeSeries => ({ labels, samples: [{ timestamp: t, value: 1 }], histograms: [], exemplars: [] });
  const early = [{ name: '__name__', value: 'early' }, { name: 'job', value: 'a' }];
  const late = [{ name: '__name__', value: 'late' }, { name: 'job', value: 'b' }, { name: 'zone', value: 'z1' }];
  const hist = [{ name: '__name__', value: 'hist' }, { name: 'job', value: 'c' }];

  beforeAll(async () => {
    s = await openStorage({ uri: await db.createDatabase() });
    await s.migrate();
    await s.write({ series: [sample(early, T0 + 10 * 60_000)] });
    await s.write({ series: [sample(late, T0 + 3 * HOUR_MS + 60_000)] });
    await s.write({
      series: [{ labels: hist, samples: [], exemplars: [], histograms: [histogram(T0 + 5 * HOUR_MS)] }],
    });
  });
  afterAll(async () => {
    await s.close();
  });

  const names = (xs: readonly (readonly Label[])[]) => xs.map((ls) => ls[0]!.value).sort();
  const all = [{ type: 'RE' as const, name: '__name__', value: '.+' }];

  const check = async (): Promise<void> => {
    expect(names(await s.series(all, T0, T0 + HOUR_MS))).toEqual(['early']);
    expect(names(await s.series(all, T0 + 2 * HOUR_MS, T0 + 4 * HOUR_MS))).toEqual(['late']);
    expect(names(await s.series(all, T0 + 4 * HOUR_MS, T0 + 6 * HOUR_MS))).toEqual(['hist']);
    expect(names(await s.series(all, T0 + HOUR_MS, T0 + 2 * HOUR_MS))).toEqual([]);
    expect(names(await s.series(all, 0, Number.MAX_SAFE_INTEGER))).toEqual(['early', 'hist', 'late']);
    expect(await s.labelNames([], T0, T0 + HOUR_MS)).toEqual(['__name__', 'job']);
    expect(await s.labelNames([], T0 + 3 * HOUR_MS, T0 + 4 * HOUR_MS)).toEqual(['__name__', 'job', 'zone']);
    expect(await s.labelNames([], 0, Number.MAX_SAFE_INTEGER)).toEqual(['__name__', 'job', 'zone']);
    expect(await s.labelValues('job', [], T0, T0 + 4 * HOUR_MS)).toEqual(['a', 'b']);
    expect(await s.labelValues('job', [{ type: 'NEQ', name: 'job', value: 'a' }], T0, T0 + 6 * HOUR_MS)).toEqual(['b', 'c']);
    expect(await s.labelValues('__name__', [], T0 + 3 * HOUR_MS + 60_000, T0 + 3 * HOUR_MS + 60_000)).toEqual(['late']);
  };

  it('answer series with data in [start, end] while the hours are open', async () => {
    await check();
  });

  it('answer the same once the hours are compacted', async () => {
    await s.maintain(T0 + 6 * HOUR_MS + COMPACTION_LAG_MS);
    await check();
  });
});
