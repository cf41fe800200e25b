import { afterEach, describe, expect, it } from 'vitest';
import {
  configureDecoderCaches,
  decoderCacheStats,
  decodeWriteRequestProto,
  encodeWriteRequest,
  freezeLabels,
  isFrozenLabels,
  memoOf,
  resetDecoderCaches,
} from './index.js';
import type { Label, TimeSeries } from './model.js';

const DEFAULT_MAX = 1 << 17;

function labelsOf(s: number, value = `pod-${s}`): Label[] {
  return [
    { name: '__name__', value: 'up' },
    { name: 'cluster', value: 'a' },
    { name: 'empty', value: '' },
    { name: 'pod', value },
    { name: 'zone', value: 'é€😀' },
  ];
}

function body(from: number, to: number): Uint8Array {
  const series: TimeSeries[] = [];
  for (let s = from; s < to; s++) series.push({ labels: labelsOf(s), samples: [{ timestamp: s, value: 1 }], histograms: [], exemplars: [] });
  return encodeWriteRequest({ version: 1, series, metadata: [] }, 1);
}

/** Decodes every body once, in order (one pass of a scrape cycle), checking each series' labels. */
function pass(bodies: readonly Uint8Array[], per: number): void {
  bodies.forEach((b, i) => {
    decodeWriteRequestProto(b, 1).series.forEach((s, j) => {
      expect(s.labels).toEqual(labelsOf(i * per + j));
    });
  });
}

describe('the remote-write 1.0 label-set cache', () => {
  afterEach(() => {
    configureDecoderCaches({ labelSetsMax: DEFAULT_MAX });
    resetDecoderCaches();
  });

  it('keeps a cycle of label sets that fits its bound, however long the cycle is', () => {
    configureDecoderCaches({ labelSetsMax: 1_000 });
    resetDecoderCaches();
    const bodies = Array.from({ length: 9 }, (_, i) => body(i * 100, (i + 1) * 100));
    pass(bodies, 100);
    const first = decoderCacheStats().labelSets;
    expect(first.size).toBe(900);
    pass(bodies, 100);
    pass(bodies, 100);
    const after = decoderCacheStats().labelSets;
    expect(after.hits - first.hits).toBe(1_800);
    expect(after.misses - first.misses).toBe(0);
    expect(after.evictions).toBe(first.evictions);
  });

  it('evicts the label sets not used since its last pass, and answers right after evicting', () => {
    configureDecoderCaches({ labelSetsMax: 400 });
    resetDecoderCaches();
    const hot = body(0, 100);
    const cold = Array.from({ length: 10 }, (_, i) => body(1_000 + i * 100, 1_100 + i * 100));
    const before = decoderCacheStats().labelSets;
    for (let i = 0; i < cold.length; i++) {
      decodeWriteRequestProto(hot, 1);
      decodeWriteRequestProto(cold[i]!, 1).series.forEach((s, j) => {
        expect(s.labels).toEqual(labelsOf(1_000 + i * 100 + j));
      });
    }
    const after = decoderCacheStats().labelSets;
    expect(after.size).toBeLessThanOrEqual(400);
    expect(after.evictions - before.evictions).toBeGreaterThan(0);
    // The hot set, used between every two passes, was never evicted: it missed only on its first request.
    expect(after.hits - before.hits).toBe(900);
    pass([hot], 100);
  });

  it('never answers a cached label set for other bytes with the same labels layout', () => {
    configureDecoderCaches({ labelSetsMax: 10 });
    resetDecoderCaches();
    const series = (value: string): TimeSeries => ({ labels: labelsOf(0, value), samples: [{ timestamp: 1, value: 1 }], histograms: [], exemplars: [] });
    for (const v of ['a', 'b', 'é', 'ü', '😀', '😁', '', 'a']) {
      const decoded = decodeWriteRequestProto(encodeWriteRequest({ version: 1, series: [series(v)], metadata: [] }, 1), 1);
      expect(decoded.series[0]!.labels).toEqual(labelsOf(0, v));
    }
  });

  it('hands out one array under the identity contract per label set: frozen, of frozen labels, the same each time', () => {
    const first = decodeWriteRequestProto(body(0, 2), 1).series.map((s) => s.labels);
    const again = decodeWriteRequestProto(body(0, 2), 1).series.map((s) => s.labels);
    expect(first.every((l) => isFrozenLabels(l))).toBe(true);
    expect(again[0]).toBe(first[0]);
    expect(again[1]).toBe(first[1]);
    expect(again[0]).not.toBe(again[1]);
  });
});

describe('FrozenLabels', () => {
  it('isFrozenLabels wants the array and every label frozen; freezeLabels makes both so', () => {
    const labels = labelsOf(1);
    expect(isFrozenLabels(labels)).toBe(false);
    expect(isFrozenLabels(Object.freeze([...labels]))).toBe(false);
    const frozen = freezeLabels(labels);
    expect(frozen).toBe(labels);
    expect(isFrozenLabels(frozen)).toBe(true);
    expect(Object.isFrozen(frozen[3])).toBe(true);
  });

  it('each frozen label set carries a memo of its own, writable, invisible to equality and iteration', () => {
    const a = freezeLabels(labelsOf(1));
    const b = freezeLabels(labelsOf(1));
    expect(memoOf(labelsOf(1))).toBeUndefined();
    expect(memoOf(a)).toEqual({ stripped: undefined, strippedOf: undefined, seriesTable: -1, seriesEntry: -1 });
    expect(memoOf(a)).not.toBe(memoOf(b));
    memoOf(a)!.seriesEntry = 3;
    expect(memoOf(a)!.seriesEntry).toBe(3);
    expect(a).toEqual(b);
    expect(Object.keys(a)).toEqual(Object.keys(labelsOf(1)));
    // Freezing again keeps the memo (and what it holds).
    expect(memoOf(freezeLabels(a))!.seriesEntry).toBe(3);
  });

  it('the decoder hands out label sets with memos, the same memo for the same cached set', () => {
    const body = encodeWriteRequest({ version: 1, series: [{ labels: labelsOf(5), samples: [{ timestamp: 1, value: 1 }], histograms: [], exemplars: [] }], metadata: [] }, 1);
    const first = decodeWriteRequestProto(body, 1).series[0]!.labels;
    const again = decodeWriteRequestProto(body, 1).series[0]!.labels;
    expect(memoOf(first)).toBeDefined();
    expect(memoOf(again)).toBe(memoOf(first));
  });
});
