import { decodeWriteRequest } from '@promha/codec';
import { describe, expect, it } from 'vitest';
import { Load, type LoadShape } from './load.js';

const SHAPE: LoadShape = {
  clusters: 2,
  replicas: 2,
  shards: 2,
  seriesPerShard: 300,
  minSamplesPerRequest: 50,
  maxSamplesPerRequest: 200,
  stepMs: 1000,
};
const OPTS = { version: 1 as const, maxDecodedBytes: 1 << 26 };

function labelsWithout(labels: readonly { name: string; value: string }[], name: string): string {
  return labels.filter((l) => l.name !== name).map((l) => `${l.name}=${l.value}`).join(',');
}

describe('Load', () => {
  it('gives both replicas of a cluster the same samples, differing only in the replica label', () => {
    const round = new Load(SHAPE, 1_700_000_000_000).round(3);
    expect(round.senders).toHaveLength(SHAPE.clusters * SHAPE.replicas * SHAPE.shards);
    for (const a of round.senders.filter((s) => s.replica === 0)) {
      const b = round.senders.find((s) => s.replica === 1 && s.cluster === a.cluster && s.shard === a.shard)!;
      a.bodies.forEach((body, i) => {
        const x = decodeWriteRequest(body, OPTS).series;
        const y = decodeWriteRequest(b.bodies[i]!, OPTS).series;
        expect(x).toHaveLength(a.samples[i]!);
        expect(y.map((s) => labelsWithout(s.labels, '__replica__'))).toEqual(x.map((s) => labelsWithout(s.labels, '__replica__')));
        expect(y.map((s) => s.samples)).toEqual(x.map((s) => s.samples));
        expect(new Set(x.map((s) => s.labels.find((l) => l.name === '__replica__')?.value))).toEqual(new Set(['replica-0']));
        expect(x.every((s) => s.labels.length === 10)).toBe(true);
      });
    }
  });

  it('counts one replica stream as unique samples and every replica as offered, within the size bounds', () => {
    const load = new Load(SHAPE, 0);
    const round = load.round(4);
    const perRequest = round.senders.flatMap((s) => s.samples);
    expect(Math.min(...perRequest)).toBeGreaterThanOrEqual(SHAPE.minSamplesPerRequest);
    expect(Math.max(...perRequest)).toBeLessThanOrEqual(SHAPE.maxSamplesPerRequest);
    const oneReplica = round.senders.filter((s) => s.replica === 0).flatMap((s) => s.samples);
    expect(round.uniqueSamples).toBe(oneReplica.reduce((a, b) => a + b, 0));
    expect(round.offeredSamples).toBe(round.uniqueSamples * SHAPE.replicas);
    expect(load.sent()).toBe(round.uniqueSamples);
  });

  it('orders senders replica by replica, so a turn over n instances gives each the same share of every replica', () => {
    const round = new Load(SHAPE, 0).round(1);
    for (const n of [2, 4]) {
      for (let target = 0; target < n; target++) {
        const mine = round.senders.filter((_, k) => k % n === target);
        for (let r = 0; r < SHAPE.replicas; r++) {
          expect(mine.filter((s) => s.replica === r)).toHaveLength((SHAPE.clusters * SHAPE.shards) / n);
        }
      }
    }
  });

  it('continues each stream with later data time in the next round (same seed, same sizes)', () => {
    const a = new Load(SHAPE, 0);
    const b = new Load(SHAPE, 0);
    const first = a.round(1);
    const second = a.round(1);
    expect(b.round(1).uniqueSamples).toBe(first.uniqueSamples);
    const t = (body: Buffer): number => decodeWriteRequest(body, OPTS).series[0]!.samples[0]!.timestamp;
    expect(t(second.senders[0]!.bodies[0]!)).toBe(t(first.senders[0]!.bodies[0]!) + SHAPE.stepMs);
  });
});
