import type { LabelMatcher } from '@promha/codec';
import { describe, expect, it } from 'vitest';
import { createQueryApi, createRemoteReader } from './readers.js';
import type { ReaderPort, SeriesSamples } from './ports.js';
import { StorageError } from '@promha/storage';

const l = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));

function reader(fail = false): ReaderPort & { calls: (readonly LabelMatcher[])[] } {
  const calls: (readonly LabelMatcher[])[] = [];
  return {
    calls,
    async *querySamples(m) {
      await Promise.resolve();
      if (fail) throw new StorageError('STORAGE_UNAVAILABLE', 'down');
      calls.push(m);
      yield { labels: l({ __name__: 'up' }), samples: [{ timestamp: 1, value: 1 }], histograms: [] } satisfies SeriesSamples;
    },
    series: (m) => {
      calls.push(m);
      return fail ? Promise.reject(new StorageError('STORAGE_UNAVAILABLE', 'down')) : Promise.resolve([l({ __name__: 'up', job: m[0]?.value ?? '' }), l({ __name__: 'up', job: 'shared' })]);
    },
    labelNames: (m) => Promise.resolve(m.length === 0 ? ['b', 'a'] : ['c', 'a']),
    labelValues: () => Promise.resolve(['y', 'x']),
  };
}

describe('query API', () => {
  it('unions series of several selectors without duplicates', async () => {
    const api = createQueryApi(reader());
    const out = await api.series([[{ type: 'EQ', name: 'job', value: 'a' }], [{ type: 'EQ', name: 'job', value: 'b' }]], 0, 10);
    expect(out.map((s) => s.find((x) => x.name === 'job')?.value)).toEqual(['a', 'b', 'shared']);
  });
  it('asks once with no matchers when no selector is given, and sorts names', async () => {
    const r = reader();
    expect(await createQueryApi(r).labelNames([], 0, 1)).toEqual(['a', 'b']);
    expect(await createQueryApi(r).labelValues('x', [], 0, 1)).toEqual(['x', 'y']);
  });
  it('turns reader failures into 503', async () => {
    await expect(createQueryApi(reader(true)).series([[{ type: 'EQ', name: 'a', value: 'b' }]], 0, 1)).rejects.toMatchObject({ status: 503 });
  });
});

describe('remote reader', () => {
  it('answers every query in order through the codec', async () => {
    const r = reader();
    const codec = {
      decodeReadRequest: () => ({
        queries: [
          { startTimestampMs: 0, endTimestampMs: 5, matchers: [{ type: 'EQ' as const, name: 'a', value: '1' }] },
          { startTimestampMs: 0, endTimestampMs: 5, matchers: [{ type: 'EQ' as const, name: 'a', value: '2' }] },
        ],
      }),
      encodeReadResponse: (results: readonly { timeseries: readonly unknown[] }[]) => Uint8Array.of(results.length, results[0]?.timeseries.length ?? 0),
    };
    const out = await createRemoteReader(codec, r, 1000, { maxSeries: 0, maxSamples: 0 }).read(Buffer.alloc(0));
    expect([...out]).toEqual([2, 1]);
    expect(r.calls.map((m) => m[0]?.value)).toEqual(['1', '2']);
  });
  it('turns reader failures into 503', async () => {
    const codec = {
      decodeReadRequest: () => ({ queries: [{ startTimestampMs: 0, endTimestampMs: 5, matchers: [] }] }),
      encodeReadResponse: () => Uint8Array.of(),
    };
    await expect(createRemoteReader(codec, reader(true), 1000, { maxSeries: 0, maxSamples: 0 }).read(Buffer.alloc(0))).rejects.toMatchObject({ status: 503 });
  });
  it('answers a read past its series or sample limit 400 (over all queries), and passes what is left of the series limit down', async () => {
    const codec = {
      decodeReadRequest: () => ({
        queries: [
          { startTimestampMs: 0, endTimestampMs: 5, matchers: [] },
          { startTimestampMs: 0, endTimestampMs: 5, matchers: [] },
        ],
      }),
      encodeReadResponse: () => Uint8Array.of(1),
    };
    const limitsSeen: unknown[] = [];
    const r: ReaderPort = {
      ...reader(),
      async *querySamples(_m, _s, _e, limits) {
        await Promise.resolve();
        limitsSeen.push(limits);
        yield { labels: l({ __name__: 'up' }), samples: [{ timestamp: 1, value: 1 }, { timestamp: 2, value: 1 }], histograms: [] };
      },
    };
    await expect(createRemoteReader(codec, r, 1000, { maxSeries: 2, maxSamples: 0 }).read(Buffer.alloc(0))).resolves.toBeDefined();
    expect(limitsSeen).toEqual([{ maxSeries: 2 }, { maxSeries: 1 }]);
    await expect(createRemoteReader(codec, r, 1000, { maxSeries: 1, maxSamples: 0 }).read(Buffer.alloc(0))).rejects.toMatchObject({
      status: 400,
      message: 'exceeded series limit (1)',
    });
    await expect(createRemoteReader(codec, r, 1000, { maxSeries: 0, maxSamples: 3 }).read(Buffer.alloc(0))).rejects.toMatchObject({
      status: 400,
      message: 'exceeded sample limit (3)',
    });
    const tooMany: ReaderPort = {
      ...reader(),
      // eslint-disable-next-line require-yield
      async *querySamples() {
        await Promise.resolve();
        throw new StorageError('STORAGE_READ_LIMIT', 'the query matches more than 1 series');
      },
    };
    await expect(createRemoteReader(codec, tooMany, 1000, { maxSeries: 1, maxSamples: 0 }).read(Buffer.alloc(0))).rejects.toMatchObject({ status: 400 });
  });
});
