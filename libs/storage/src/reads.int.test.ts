import type { Label, LabelMatcher, TimeSeries } from '@promha/codec';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from './internal/migrations.js';
import { openStorage, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

const T0 = Date.UTC(2026, 0, 10);
let db: TestDatabase;
let storage: Storage;
let uri: string;

const JOBS = ['api', 'db', 'web'];
const ENVS = ['prod', 'dev', ''];
const universe: Label[][] = [];
for (const job of JOBS) {
  for (const env of ENVS) {
    for (const i of [0, 1]) {
      const ls: Label[] = [{ name: '__name__', value: i === 0 ? 'up' : 'http_requests_total' }];
      if (env !== '') ls.push({ name: 'env', value: env });
      ls.push({ name: 'job', value: job });
      universe.push(ls.sort((a, b) => (a.name < b.name ? -1 : 1)));
    }
  }
}

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  storage = await openStorage({ uri, seriesCacheMax: 10 });
  await storage.migrate();
  const series: TimeSeries[] = universe.map((labels, k) => ({
    labels,
    samples: [0, 1, 2].map((j) => ({ timestamp: T0 + j * 60_000 + k, value: k * 10 + j })),
    histograms: [],
    exemplars: [],
  }));
  await storage.write({ series });
});
afterAll(async () => {
  await storage.close();
  await db.stop();
});

/** Prometheus semantics, as reference: a missing label reads as "", regexes fully anchored. */
function matches(labels: readonly Label[], m: LabelMatcher): boolean {
  const v = labels.find((l) => l.name === m.name)?.value ?? '';
  switch (m.type) {
    case 'EQ':
      return v === m.value;
    case 'NEQ':
      return v !== m.value;
    case 'RE':
      return new RegExp(`^(?:${m.value})$`, 's').test(v);
    case 'NRE':
      return !new RegExp(`^(?:${m.value})$`, 's').test(v);
  }
}

const key = (ls: readonly Label[]) => JSON.stringify(ls);

describe('reads', () => {
  it('selects series by any combination of matchers as Prometheus does (property)', async () => {
    const matcher = fc.record({
      type: fc.constantFrom('EQ' as const, 'NEQ' as const, 'RE' as const, 'NRE' as const),
      name: fc.constantFrom('job', 'env', '__name__', 'absent'),
      value: fc.constantFrom('', 'api', 'prod', 'up', 'a.*', '.*', '.+', 'api|db', 'pro.', '(dev|)', 'x'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(matcher, { minLength: 1, maxLength: 3 }), async (ms) => {
        const expected = universe.filter((ls) => ms.every((m) => matches(ls, m))).map(key).sort();
        const got = (await storage.series(ms, T0, T0 + DAY_MS)).map(key).sort();
        expect(got).toEqual(expected);
        // querySamples resolves matchers inside its series statement: same selection (every series has samples).
        const read: string[] = [];
        for await (const x of storage.querySamples(ms, T0, T0 + DAY_MS)) read.push(key(x.labels));
        expect(read.sort()).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('streams samples of the matching series inside the time range only', async () => {
    const out = [];
    for await (const s of storage.querySamples([{ type: 'EQ', name: 'job', value: 'api' }, { type: 'EQ', name: '__name__', value: 'up' }], T0 + 30_000, T0 + 60_000 + 100)) {
      out.push(s);
    }
    expect(out).toHaveLength(3);
    for (const s of out) {
      expect(s.samples).toHaveLength(1);
      expect(s.samples[0]!.timestamp).toBeGreaterThanOrEqual(T0 + 60_000);
    }
  });

  it('answers label names and values, filtered by matchers', async () => {
    const [start, end] = [T0, T0 + DAY_MS];
    expect(await storage.labelNames([], start, end)).toEqual(['__name__', 'env', 'job']);
    expect(await storage.labelValues('env', [{ type: 'EQ', name: 'job', value: 'db' }], start, end)).toEqual(['dev', 'prod']);
    expect(await storage.labelNames([{ type: 'EQ', name: 'env', value: '' }], start, end)).toEqual(['__name__', 'job']);
    // An unbounded range (the HTTP API's default) lists every interned series' labels.
    expect(await storage.labelNames([], 0, Number.MAX_SAFE_INTEGER)).toEqual(['__name__', 'env', 'job']);
  });

  it('counts series cache hits and misses within its bound', () => {
    const st = storage.stats();
    expect(st.seriesCacheSize).toBeLessThanOrEqual(10);
    expect(st.seriesCacheMisses).toBeGreaterThan(0);
  });
});

describe('retention', () => {
  it('maintain() creates partitions ahead and drops whole partitions past retention', async () => {
    const uri2 = await db.createDatabase();
    const s = await openStorage({ uri: uri2, retentionDays: 2 });
    await s.migrate();
    const now = T0 + 10 * DAY_MS;
    const old = { labels: [{ name: '__name__', value: 'old' }], samples: [{ timestamp: T0, value: 1 }], histograms: [], exemplars: [] };
    const recent = { labels: [{ name: '__name__', value: 'recent' }], samples: [{ timestamp: now - 1000, value: 2 }], histograms: [], exemplars: [] };
    await s.write({ series: [old, recent] });
    await s.maintain(now);
    const names = async () => {
      const out: string[] = [];
      for await (const x of s.querySamples([{ type: 'RE', name: '__name__', value: '.+' }], 0, now + DAY_MS)) out.push(x.labels[0]!.value);
      return out;
    };
    expect(await names()).toEqual(['recent']);
    await s.close();
    const c = new pg.Client({ connectionString: uri2 });
    await c.connect();
    const parts = await c.query<{ relname: string }>(
      "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'promha.sample_chunk'::regclass ORDER BY 1",
    );
    await c.end();
    // T0 + 10 days is 2026-01-20: its day and two ahead exist; 2026-01-10 was dropped as a whole table.
    expect(parts.rows.map((r) => r.relname)).toEqual(['sample_chunk_20260119', 'sample_chunk_20260120', 'sample_chunk_20260121', 'sample_chunk_20260122']);
  });
});
