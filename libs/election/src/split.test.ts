import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitByCluster, storedSeries, type ClippedSeries, type HaSeries, type Timestamped } from './split.js';

/**
 * The oracle of `storedSeries`' window, written the obvious way: keeps the samples, histograms and exemplars with
 * `from <= t < until`; series left with nothing are omitted; `dropped` counts the samples and histograms outside.
 */
function clipSeries<S extends HaSeries>(series: readonly S[], from: number, until: number): ClippedSeries<S> {
  const out: S[] = [];
  let kept = 0;
  let dropped = 0;
  const inside = (x: Timestamped): boolean => x.timestamp >= from && x.timestamp < until;
  for (const s of series) {
    const all =
      s.samples.every(inside) && s.histograms.every(inside) && (s.exemplars === undefined || s.exemplars.every(inside));
    if (all) {
      kept += s.samples.length + s.histograms.length;
      if (s.samples.length + s.histograms.length + (s.exemplars?.length ?? 0) > 0) out.push(s);
      continue;
    }
    const samples = s.samples.filter(inside);
    const histograms = s.histograms.filter(inside);
    const exemplars = s.exemplars?.filter(inside) ?? [];
    kept += samples.length + histograms.length;
    dropped += s.samples.length - samples.length + s.histograms.length - histograms.length;
    if (samples.length + histograms.length + exemplars.length === 0) continue;
    out.push(s.exemplars === undefined ? { ...s, samples, histograms } : { ...s, samples, histograms, exemplars });
  }
  return { series: out, kept, dropped };
}

interface S {
  readonly labels: readonly { readonly name: string; readonly value: string }[];
  readonly samples: readonly { readonly value: number; readonly timestamp: number }[];
  readonly histograms: readonly { readonly timestamp: number }[];
  readonly exemplars: readonly { readonly timestamp: number }[];
}

const L = { clusterLabel: 'cluster', replicaLabel: '__replica__' };

function series(labels: Record<string, string>, times: readonly number[], extra: Partial<S> = {}): S {
  return {
    labels: Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, value]) => ({ name, value })),
    samples: times.map((timestamp) => ({ value: 1, timestamp })),
    histograms: [],
    exemplars: [],
    ...extra,
  };
}

describe('splitByCluster', () => {
  it('rule 1: reads the HA labels of every series, not only the first, and splits mixed clusters', () => {
    const r = splitByCluster(
      [
        series({ __name__: 'up' }, [1]),
        series({ __name__: 'up', cluster: 'a', __replica__: 'r1' }, [10, 20]),
        series({ __name__: 'up', cluster: 'b', __replica__: 'r1' }, [5]),
        series({ __name__: 'x', cluster: 'a', __replica__: 'r1' }, [30]),
        series({ __name__: 'x', cluster: 'a', __replica__: 'r2' }, [7]),
      ],
      L,
    );
    expect(r.kind).toBe('ok');
    if (r.kind !== 'ok') return;
    expect(r.parts.map((p) => [p.cluster, p.replica, p.minTime, p.maxTime, p.series.length, p.samples])).toEqual([
      ['a', 'r1', 10, 30, 2, 3],
      ['b', 'r1', 5, 5, 1, 1],
      ['a', 'r2', 7, 7, 1, 1],
    ]);
    expect(r.nonHa).toHaveLength(1);
  });

  it('rule 1: label names are configurable', () => {
    const r = splitByCluster([series({ prometheus: 'p', prometheus_replica: 'x', cluster: 'c' }, [1])], {
      clusterLabel: 'prometheus',
      replicaLabel: 'prometheus_replica',
    });
    expect(r).toMatchObject({ kind: 'ok', parts: [{ cluster: 'p', replica: 'x' }] });
  });

  it('rule 1: finds the HA labels wherever they sort in the set, and a replica label alone after other labels', () => {
    const L2 = { clusterLabel: 'zone', replicaLabel: 'zone_replica' };
    const r = splitByCluster(
      [
        series({ a: '1', b: '2', zone: 'z', zone_replica: 'r', zz: '3' }, [1]),
        series({ a: '1', zone_replica: 'r', zz: '3' }, [1]),
      ],
      L2,
    );
    expect(r).toMatchObject({ kind: 'invalid', seriesIndex: 1 });
    const ok = splitByCluster([series({ a: '1', b: '2', zone: 'z', zone_replica: 'r', zz: '3' }, [1])], L2);
    expect(ok).toMatchObject({ kind: 'ok', parts: [{ cluster: 'z', replica: 'r', samples: 1 }] });
  });

  it('rule 2: replica without cluster is invalid and names the series; cluster only is non-HA data', () => {
    expect(splitByCluster([series({ cluster: 'a' }, [1]), series({ __replica__: 'r' }, [1])], L)).toMatchObject({
      kind: 'invalid',
      seriesIndex: 1,
      message: 'replica label "__replica__" without cluster label "cluster"',
    });
    const r = splitByCluster([series({ cluster: 'a', __name__: 'm' }, [1, 2]), series({ __name__: 'n' }, [3])], L);
    expect(r).toMatchObject({ kind: 'ok', parts: [] });
    if (r.kind === 'ok') expect(r.nonHa).toHaveLength(2);
    if (r.kind === 'ok') expect(r.nonHa[0]!.labels).toEqual([{ name: '__name__', value: 'm' }, { name: 'cluster', value: 'a' }]);
  });

  it('rule 3: stored leader data keeps the cluster label and loses the replica label; the split itself copies nothing', () => {
    const input = [series({ __name__: 'm', cluster: 'a', __replica__: 'r', job: 'j' }, [1])];
    const r = splitByCluster(input, L);
    if (r.kind !== 'ok') throw new Error('expected ok');
    // The part holds the series as sent: a dropped (non-leader) part is never copied.
    expect(r.parts[0]!.series[0]).toBe(input[0]);
    const stored = storedSeries(r.parts[0]!.series, 0, 10, L.replicaLabel);
    expect(stored.series[0]!.labels).toEqual([
      { name: '__name__', value: 'm' },
      { name: 'cluster', value: 'a' },
      { name: 'job', value: 'j' },
    ]);
    expect(input[0]!.labels).toHaveLength(4);
  });

  it('rule 10: a metadata-only request (no series) yields no part, so no lease step runs for it', () => {
    expect(splitByCluster([], L)).toEqual({ kind: 'ok', nonHa: [], parts: [] });
  });

  it('the range covers samples, histograms and exemplars; a part without timestamps has an empty range', () => {
    const r = splitByCluster(
      [
        series({ cluster: 'a', __replica__: 'r' }, [50], { histograms: [{ timestamp: 40 }], exemplars: [{ timestamp: 60 }] }),
        series({ cluster: 'b', __replica__: 'r' }, []),
      ],
      L,
    );
    expect(r).toMatchObject({ kind: 'ok', parts: [{ minTime: 40, maxTime: 60, samples: 2 }, { minTime: Infinity, maxTime: -Infinity }] });
  });

  it('property: every series lands exactly once, and the parts bound their data', () => {
    const label = fc.constantFrom('a', 'b', '');
    const arb = fc.array(
      fc.record({
        cluster: label,
        replica: label,
        times: fc.array(fc.integer({ min: 0, max: 1_000 }), { maxLength: 4 }),
      }),
      { maxLength: 20 },
    );
    fc.assert(
      fc.property(arb, (specs) => {
        const input = specs.map((s) => {
          const labels: Record<string, string> = { __name__: 'm' };
          if (s.cluster !== '') labels['cluster'] = s.cluster;
          if (s.replica !== '') labels['__replica__'] = s.replica;
          return series(labels, s.times);
        });
        const r = splitByCluster(input, L);
        const bad = specs.findIndex((s) => s.replica !== '' && s.cluster === '');
        if (bad >= 0) {
          expect(r).toMatchObject({ kind: 'invalid', seriesIndex: bad });
          return;
        }
        if (r.kind !== 'ok') throw new Error('expected ok');
        expect(r.nonHa.length + r.parts.reduce((n, p) => n + p.series.length, 0)).toBe(input.length);
        // Each part holds exactly its series, in input order (also when it is the whole input, shared).
        for (const p of r.parts) {
          const want = input.filter((x, k) => specs[k]!.cluster === p.cluster && specs[k]!.replica === p.replica);
          expect(p.series).toEqual(want);
          expect(p.series.every((x, k) => x === want[k])).toBe(true);
        }
        expect(r.nonHa).toEqual(input.filter((_, k) => specs[k]!.replica === ''));
        for (const p of r.parts) {
          for (const s of p.series) {
            expect(s.labels.find((l) => l.name === '__replica__')?.value).toBe(p.replica);
            expect(s.labels.find((l) => l.name === 'cluster')?.value).toBe(p.cluster);
            for (const x of s.samples) expect(x.timestamp >= p.minTime && x.timestamp <= p.maxTime).toBe(true);
          }
          // Rule 3: what a store decision writes has no replica label, keeps the cluster label.
          for (const s of storedSeries(p.series, p.minTime, p.maxTime + 1, '__replica__').series) {
            expect(s.labels.some((l) => l.name === '__replica__')).toBe(false);
            expect(s.labels.find((l) => l.name === 'cluster')?.value).toBe(p.cluster);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('clipSeries (rule 4, 6: the decided window)', () => {
  it('keeps from <= t < until, counts the dropped, omits emptied series', () => {
    const r = clipSeries(
      [series({ a: '1' }, [1, 2, 3, 4]), series({ a: '2' }, [9]), series({ a: '3' }, [2], { exemplars: [{ timestamp: 9 }] })],
      2,
      4,
    );
    expect(r.kept).toBe(3);
    expect(r.dropped).toBe(3);
    expect(r.series.map((s) => s.samples.map((x) => x.timestamp))).toEqual([[2, 3], [2]]);
    expect(r.series[1]!.exemplars).toEqual([]);
  });
});

describe('storedSeries (rules 3, 4, 6: what a store decision writes)', () => {
  const replica = (s: S): string | undefined => s.labels.find((l) => l.name === '__replica__')?.value;

  it('keeps from <= t < until, removes the replica label, counts the dropped, omits emptied series', () => {
    const r = storedSeries(
      [
        series({ a: '1', __replica__: 'r' }, [1, 2, 3, 4]),
        series({ a: '2', __replica__: 'r' }, [9]),
        series({ a: '3', __replica__: 'r' }, [2], { exemplars: [{ timestamp: 9 }] }),
        series({ a: '4', __replica__: 'r' }, [3]),
      ],
      2,
      4,
      '__replica__',
    );
    expect(r.kept).toBe(4);
    expect(r.dropped).toBe(3);
    expect(r.series.map((s) => s.samples.map((x) => x.timestamp))).toEqual([[2, 3], [2], [3]]);
    expect(r.series.map((s) => s.labels)).toEqual([[{ name: 'a', value: '1' }], [{ name: 'a', value: '3' }], [{ name: 'a', value: '4' }]]);
    expect(r.series[1]!.exemplars).toEqual([]);
  });

  it('a frozen label set (as the codec caches them) gets the same frozen stripped array in every request', () => {
    // As the codec's freezeLabels makes them: frozen labels in a frozen array with a memo.
    const frozen = (labels: Record<string, string>): S['labels'] => {
      const array = Object.entries(labels).map(([name, value]) => Object.freeze({ name, value }));
      const memo = { stripped: undefined, strippedOf: undefined, seriesTable: -1, seriesEntry: -1 };
      return Object.freeze(Object.defineProperty(array, Symbol.for('promha.labelSetMemo'), { value: memo }));
    };
    const labels = frozen({ __replica__: 'r', a: '1', cluster: 'c' });
    const request = (t: number): S => ({ ...series({}, [t]), labels });
    const first = storedSeries([request(1)], 0, 10, '__replica__').series[0]!.labels;
    const second = storedSeries([request(2)], 0, 10, '__replica__').series[0]!.labels;
    expect(second).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // The stripped array has a memo of its own, for the storage's series cache.
    expect((first as unknown as Record<symbol, unknown>)[Symbol.for('promha.labelSetMemo')]).toMatchObject({ seriesEntry: -1 });
    expect(first).toEqual([{ name: 'a', value: '1' }, { name: 'cluster', value: 'c' }]);
    // Another replica label name is not answered from the entry of the first.
    expect(storedSeries([request(3)], 0, 10, 'a').series[0]!.labels.map((l) => l.name)).toEqual(['__replica__', 'cluster']);
    // A mutable input may change after the call: it is copied each time, never remembered.
    const mutable = series({ __replica__: 'r', a: '1' }, [1]);
    const m1 = storedSeries([mutable], 0, 10, '__replica__').series[0]!.labels;
    const m2 = storedSeries([mutable], 0, 10, '__replica__').series[0]!.labels;
    expect(m2).not.toBe(m1);
    expect(m2).toEqual(m1);
  });

  it('property: equals clipSeries followed by removing the replica label, and leaves its input untouched', () => {
    const item = fc.integer({ min: 0, max: 20 }).map((timestamp) => ({ timestamp }));
    const arb = fc.array(
      fc.record({
        times: fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 3 }),
        histograms: fc.array(item, { maxLength: 2 }),
        exemplars: fc.array(item, { maxLength: 2 }),
        hasReplica: fc.boolean(),
        name: fc.constantFrom('m', 'n'),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 21 }), (specs, from, until) => {
        const input = specs.map((x) => {
          const labels: Record<string, string> = { __name__: x.name, cluster: 'c' };
          if (x.hasReplica) labels['__replica__'] = 'r';
          return series(labels, x.times, { histograms: x.histograms, exemplars: x.exemplars });
        });
        const before = JSON.stringify(input);
        const got = storedSeries(input, from, until, '__replica__');
        const want = clipSeries(input, from, until);
        expect(JSON.stringify(input)).toBe(before);
        expect(got.kept).toBe(want.kept);
        expect(got.dropped).toBe(want.dropped);
        expect(got.series).toEqual(
          want.series.map((s) => ({ ...s, labels: s.labels.filter((l) => l.name !== '__replica__') })),
        );
        for (const s of got.series) expect(replica(s)).toBeUndefined();
      }),
      { numRuns: 200 },
    );
  });
});
