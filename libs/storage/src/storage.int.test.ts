import type { Histogram, Label, TimeSeries } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, StorageError, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
let db: TestDatabase;
let storage: Storage;
let uri: string;

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  storage = await openStorage({ uri, seriesCacheMax: 1000 });
  await storage.migrate();
});
afterAll(async () => {
  await storage.close();
  await db.stop();
});

function ts(labels: Record<string, string>, samples: [number, number][], extra: Partial<TimeSeries> = {}): TimeSeries {
  const ls: Label[] = Object.entries(labels)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return { labels: ls, samples: samples.map(([timestamp, value]) => ({ timestamp, value })), histograms: [], exemplars: [], ...extra };
}

async function all(matchers: Parameters<Storage['querySamples']>[0], start = T0 - 1e9, end = T0 + 1e9) {
  const out = [];
  for await (const s of storage.querySamples(matchers, start, end)) out.push(s);
  return out;
}

describe('writer', () => {
  it('stores samples and reads them back by equality matcher', async () => {
    const r = await storage.write({ series: [ts({ __name__: 'up', job: 'a' }, [[T0, 1], [T0 + 15000, 0]])] });
    expect(r).toEqual({ kind: 'stored', samples: 2, histograms: 0, exemplars: 0 });
    const got = await all([{ type: 'EQ', name: 'job', value: 'a' }]);
    expect(got).toHaveLength(1);
    expect(got[0]!.samples).toEqual([{ timestamp: T0, value: 1 }, { timestamp: T0 + 15000, value: 0 }]);
  });

  it('round-trips awkward label values exactly and keeps the stale-marker NaN bits', async () => {
    const weird = 'tab\there\nnew "quoted" back\\slash \'single\' ünïcødé 🚀 {a,b} NULL';
    const stale = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;
    // Samples built as objects: a JS array literal of numbers would itself quiet the signalling NaN.
    const series = ts({ __name__: 'weird', v: weird }, []);
    const samples = [{ timestamp: T0, value: stale }, { timestamp: T0 + 1, value: Infinity }, { timestamp: T0 + 2, value: -0 }];
    await storage.write({ series: [{ ...series, samples }] });
    const got = await all([{ type: 'EQ', name: 'v', value: weird }]);
    expect(got[0]!.labels).toEqual([{ name: '__name__', value: 'weird' }, { name: 'v', value: weird }]);
    const cell = new Float64Array(1);
    cell[0] = got[0]!.samples[0]!.value;
    const bits = new BigUint64Array(cell.buffer)[0];
    expect(bits).toBe(0x7ff0000000000002n);
    expect(got[0]!.samples[1]!.value).toBe(Infinity);
    expect(Object.is(got[0]!.samples[2]!.value, -0)).toBe(true);
    expect(await storage.labelValues('v', [], T0 - 1e9, T0 + 1e9)).toContain(weird);
  });

  it('rejects a NUL byte before writing anything', async () => {
    const before = await all([{ type: 'EQ', name: '__name__', value: 'nul' }]);
    expect(() => storage.write({ series: [ts({ __name__: 'nul' }, [[T0, 1]]), ts({ __name__: 'nul', x: 'a\u0000b' }, [[T0, 1]])] })).toThrow(StorageError);
    expect(before).toEqual(await all([{ type: 'EQ', name: '__name__', value: 'nul' }]));
    expect(await all([{ type: 'EQ', name: '__name__', value: 'nul' }])).toEqual([]);
  });

  it('batches concurrent writes and answers each after commit', async () => {
    const c = new pg.Client({ connectionString: uri });
    await c.connect();
    const before = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM promha.write_batch')).rows[0]!.n;
    const writes = Array.from({ length: 50 }, (_, i) => storage.write({ series: [ts({ __name__: 'batched', i: String(i) }, [[T0, i]])] }));
    const outcomes = await Promise.all(writes);
    const after = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM promha.write_batch')).rows[0]!.n;
    await c.end();
    expect(outcomes.every((o) => o.kind === 'stored')).toBe(true);
    expect(after - before).toBeLessThan(50);
    expect(await all([{ type: 'EQ', name: '__name__', value: 'batched' }])).toHaveLength(50);
  });

  it('stores an identical resend (same idempotency key) once, also when both arrive together', async () => {
    const part = { series: [ts({ __name__: 'resend' }, [[T0, 1], [T0 + 1000, 2]])], idempotencyKey: 'req-1' };
    const [a, b] = await Promise.all([storage.write(part), storage.write(part)]);
    const c = await storage.write(part); // crash between commit and answer: the sender tries again later
    for (const o of [a, b, c]) expect(o.kind).toBe('stored');
    const got = await all([{ type: 'EQ', name: '__name__', value: 'resend' }]);
    expect(got[0]!.samples).toHaveLength(2);
  });

  it('reads one value per timestamp even after an unkeyed duplicate delivery', async () => {
    const part = { series: [ts({ __name__: 'unkeyed' }, [[T0, 1], [T0 + 1000, 2]])] };
    await storage.write(part);
    await storage.write(part);
    const got = await all([{ type: 'EQ', name: '__name__', value: 'unkeyed' }]);
    expect(got[0]!.samples.map((x) => x.timestamp)).toEqual([T0, T0 + 1000]);
  });

  it('stores histograms, exemplars and metadata', async () => {
    const h: Histogram = {
      isFloat: false, count: 3, zeroCount: 1, sum: NaN, schema: 0, zeroThreshold: 1e-128,
      negativeSpans: [], negativeDeltas: [], negativeCounts: [], positiveSpans: [{ offset: 0, length: 2 }],
      positiveDeltas: [1, 0], positiveCounts: [], resetHint: 'no', timestamp: T0, customValues: [],
    };
    const s = ts({ __name__: 'hist' }, [], {
      histograms: [h],
      exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 2, timestamp: T0 }],
      metadata: { metricFamilyName: 'hist', type: 'histogram', help: 'h', unit: '' },
    });
    expect(await storage.write({ series: [s] })).toEqual({ kind: 'stored', samples: 0, histograms: 1, exemplars: 1 });
    await storage.upsertMetadata([{ metricFamilyName: 'hist', type: 'histogram', help: 'h', unit: '' }]);
    const got = await all([{ type: 'EQ', name: '__name__', value: 'hist' }]);
    expect(got[0]!.histograms[0]).toEqual(h);
    const c = new pg.Client({ connectionString: uri });
    await c.connect();
    const ex = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM promha.exemplar');
    const md = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM promha.metric_metadata');
    await c.end();
    expect(ex.rows[0]!.n).toBe(1);
    expect(md.rows[0]!.n).toBe(1);
  });
});

function bits(v: number): bigint {
  return new BigUint64Array(new Float64Array([v]).buffer)[0]!;
}

describe('hostile values', () => {
  it('stores and finds label values far beyond the btree row limit, and long metric family names in metadata', async () => {
    // Random bytes do not compress: as a raw btree key this would fail with SQLSTATE 54000.
    const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let x = 12345;
    const long = Array.from({ length: 16 * 1024 }, () => alnum[(x = (x * 1103515245 + 12345) % 2 ** 31) % 62]).join('');
    expect(await storage.write({ series: [ts({ __name__: 'long_value', v: long }, [[T0, 1]])] })).toMatchObject({ kind: 'stored' });
    const got = await all([{ type: 'EQ', name: 'v', value: long }]);
    expect(got.map((s) => s.labels.find((l) => l.name === 'v')!.value)).toEqual([long]);
    expect(await all([{ type: 'RE', name: 'v', value: `${long}|other` }])).toHaveLength(1);
    expect(await all([{ type: 'EQ', name: 'v', value: `${long.slice(0, -1)}x` }])).toHaveLength(0);
    await storage.upsertMetadata([{ metricFamilyName: long, type: 'gauge', help: long, unit: '' }]);
    await storage.upsertMetadata([{ metricFamilyName: long, type: 'counter', help: 'h', unit: '' }]);
  });

  it('keeps a histogram stale marker, NaN payloads and -0 bit-exact through storage', async () => {
    const stale = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;
    const h: Histogram = {
      isFloat: true, count: -0, zeroCount: stale, sum: stale, schema: 0, zeroThreshold: -0,
      negativeSpans: [], negativeDeltas: [], negativeCounts: [], positiveSpans: [{ offset: 0, length: 2 }],
      positiveDeltas: [], positiveCounts: [-0, Infinity], resetHint: 'no', timestamp: T0, customValues: [-Infinity],
    };
    await storage.write({ series: [ts({ __name__: 'hist_bits' }, [], { histograms: [h] })] });
    const back = (await all([{ type: 'EQ', name: '__name__', value: 'hist_bits' }]))[0]!.histograms[0]!;
    for (const k of ['count', 'zeroCount', 'sum', 'zeroThreshold'] as const) expect(bits(back[k]), k).toBe(bits(h[k]));
    expect(back.positiveCounts.map(bits)).toEqual(h.positiveCounts.map(bits));
    expect(back.customValues.map(bits)).toEqual(h.customValues.map(bits));
  });

  it('a part the database refuses fails alone: the other parts of its flush are stored', async () => {
    // Written in the same turn, so they share one flush; the first one's day cannot be partitioned (before 4713 BC).
    const poison = storage.write({ series: [ts({ __name__: 'poison' }, [[-9e15, 1]])] });
    const good = Array.from({ length: 5 }, (_, i) => storage.write({ series: [ts({ __name__: 'beside_poison', i: String(i) }, [[T0, i]])] }));
    await expect(poison).rejects.toMatchObject({ code: 'STORAGE_INVALID_INPUT', retryable: false });
    for (const g of good) expect(await g).toMatchObject({ kind: 'stored' });
    expect(await all([{ type: 'EQ', name: '__name__', value: 'beside_poison' }])).toHaveLength(5);
  });
});
