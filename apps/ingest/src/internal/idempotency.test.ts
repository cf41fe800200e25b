import { DEFAULT_WRITE_LIMITS, decodeWriteRequest, encodeWriteRequest, snappyCompress, countWritten, parseWriteContentType, type TimeSeries } from '@promha/codec';
import { Election, splitByCluster } from '@promha/election';
import { InMemoryLeaseStore, ManualClock } from '@promha/election/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { idempotencyKey } from './idempotency.js';
import { Pipeline } from './pipeline.js';
import type { StoreOutcome, StorePart, WriterPort } from './ports.js';

describe('idempotencyKey', () => {
  it('is unambiguous: cluster "a|b" + replica "c" differs from "a" + "b|c", and from the same fields shifted', () => {
    const k = (cluster: string, replica: string) => idempotencyKey('d', { kind: 'ha', cluster, replica }, 1, 2);
    expect(k('a|b', 'c')).not.toBe(k('a', 'b|c'));
    expect(k('a:1', 'c')).not.toBe(k('a', '1c'));
    expect(idempotencyKey('d', { kind: 'all' }, 1, 2)).not.toBe(idempotencyKey('d', { kind: 'non-ha' }, 1, 2));
    expect(idempotencyKey('d', { kind: 'all' }, 1, 2)).not.toBe(idempotencyKey('d', { kind: 'all' }, 1, 3));
    expect(k('x'.repeat(20_000), 'r')).toHaveLength(43);
  });
});

/**
 * A writer with the storage's receipt semantics: a keyed part whose key committed writes nothing. `lose` makes the
 * next write commit and then fail (the answer lost: a timeout or a 503 after commit).
 */
class ReceiptWriter implements WriterPort {
  readonly receipts = new Set<string>();
  readonly stored = new Map<string, number>();
  lose = false;
  constructor(private readonly store: InMemoryLeaseStore) {}
  async write(part: StorePart): Promise<StoreOutcome> {
    await Promise.resolve();
    if (part.fence !== undefined) {
      const failure = this.store.checkFence(part.fence);
      if (failure !== undefined) return failure;
    }
    const key = part.idempotencyKey!;
    if (!this.receipts.has(key)) {
      this.receipts.add(key);
      for (const s of part.series) for (const x of s.samples) {
        const k = `${s.labels.map((l) => `${l.name}=${l.value}`).join(',')}@${x.timestamp}`;
        this.stored.set(k, (this.stored.get(k) ?? 0) + 1);
      }
    }
    if (this.lose) {
      this.lose = false;
      throw Object.assign(new Error('answer lost after commit'), { code: 'STORAGE_UNAVAILABLE' });
    }
    return { kind: 'stored', samples: part.series.reduce((n, s) => n + s.samples.length, 0), histograms: 0, exemplars: 0 };
  }
  upsertMetadata(): Promise<void> {
    return Promise.resolve();
  }
}

function leaderRequest(i: number): Buffer {
  const s: TimeSeries = {
    labels: [
      { name: '__name__', value: 'up' },
      { name: '__replica__', value: 'r1' },
      { name: 'cluster', value: 'c' },
    ],
    samples: [{ value: i, timestamp: 1_000_000 + i * 5_000 }],
    histograms: [],
    exemplars: [],
  };
  return Buffer.from(snappyCompress(encodeWriteRequest({ version: 1, series: [s], metadata: [] }, 1)));
}

describe('resends are stored once', () => {
  it('whichever of two instances a resend reaches, however many lease extensions came in between (property)', async () => {
    const seed = Number(process.env['PROMHA_FC_SEED'] ?? Date.now() % 2 ** 31);
    console.log(`[resends] fast-check seed ${seed} (replay with PROMHA_FC_SEED=${seed})`);
    const step = fc.record({ request: fc.nat({ max: 7 }), instance: fc.nat({ max: 1 }), lose: fc.boolean(), advance: fc.nat({ max: 8_000 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const store = new InMemoryLeaseStore();
        const clock = new ManualClock(1_000_000);
        const writer = new ReceiptWriter(store);
        const codec = { parseWriteContentType, decodeWriteRequest, countWritten };
        const elections = [0, 1].map(() => new Election({ store, clock, options: { leaseTimeoutMs: 30_000, leaseRefreshMs: 5_000 } }));
        for (const e of elections) await e.start();
        const instances = elections.map((election) => {
          return new Pipeline({
            codec,
            split: (series, labels) => splitByCluster(series, labels),
            election,
            writer,
            metrics: createMetrics({ defaultMetrics: false }),
            highAvailability: true,
            clusterLabel: 'cluster',
            replicaLabel: '__replica__',
            maxDecodedBytes: 1 << 20,
            maxInFlightSamples: 1 << 20,
            limits: DEFAULT_WRITE_LIMITS,
            futureGraceMs: Number.MAX_SAFE_INTEGER / 2,
            clock,
          });
        });
        const answered = new Set<number>();
        for (const st of steps) {
          clock.advance(st.advance);
          writer.lose = st.lose;
          const kind = await instances[st.instance]!.write(leaderRequest(st.request), 'application/x-protobuf').then(
            (r) => r.kind,
            () => 'failed' as const,
          );
          // Only a lost answer fails: the replica is the only one, so it leads throughout (data older than its
          // first lease is answered 202).
          if (kind === 'failed') expect(st.lose).toBe(true);
          writer.lose = false;
          if (kind === 'stored') answered.add(st.request);
        }
        for (const [k, n] of writer.stored) expect(n, k).toBe(1);
        for (const i of answered) expect(writer.stored.get(`__name__=up,cluster=c@${1_000_000 + i * 5_000}`)).toBe(1);
      }),
      { seed, numRuns: 150 },
    );
  });
});
