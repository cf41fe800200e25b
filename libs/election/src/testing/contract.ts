import { describe, expect, it } from 'vitest';
import type { Fence, FenceFailure, LeaseStore, TakeoverRequest } from '../ports.js';

/** A store under test, and the fenced-write check of its storage (the fence is part of the contract). */
export interface LeaseStoreUnderTest {
  readonly store: LeaseStore;
  /**
   * Runs a fenced write's check (and extension) in one transaction, as the storage write does; with `commit`, the
   * write carries a sample at `fence.maxTime` (so it commits data and its mark), otherwise none.
   */
  readonly checkFence: (fence: Fence, commit?: boolean) => Promise<FenceFailure | undefined>;
  readonly close?: () => Promise<void>;
}

const T = 30_000;

/**
 * The LeaseStore contract as a vitest suite: run it against every implementation (the in-memory store here,
 * the PostgreSQL store in `@promha/storage`). Every scenario uses its own cluster names, so one store (one
 * database) may serve the whole suite; `makeStore` is called once per scenario.
 */
export function describeLeaseStoreContract(
  name: string,
  makeStore: () => Promise<LeaseStoreUnderTest> | LeaseStoreUnderTest,
): void {
  let n = 0;
  const cluster = (): string => `contract-${name}-${++n}`;
  const withStore = async (body: (s: LeaseStoreUnderTest) => Promise<void>): Promise<void> => {
    const s = await makeStore();
    try {
      await body(s);
    } finally {
      await s.close?.();
    }
  };
  const takeover = (c: string, over: Partial<TakeoverRequest> = {}): TakeoverRequest => ({
    cluster: c,
    expectedEpoch: 1,
    newLeader: 'b',
    challengerMaxTime: 1_000 + T,
    newUntil: 1_000 + 2 * T,
    wallNow: 100 + T,
    leaseTimeout: T,
    ...over,
  });

  describe(`LeaseStore contract: ${name}`, () => {
    it('creates the first lease once; a second create loses and returns the first row', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        expect(await store.get(c)).toBeUndefined();
        const won = await store.create(c, 'a', 1_000, 1_000 + T, 100);
        expect(won.kind).toBe('won');
        const lost = await store.create(c, 'b', 2_000, 2_000 + T, 101);
        expect(lost).toMatchObject({ kind: 'lost', current: { leader: 'a', epoch: 1, start: 1_000, until: 1_000 + T } });
        expect((await store.loadAll()).filter((l) => l.cluster === c)).toHaveLength(1);
        const h = await store.history({ cluster: c, limit: 10 });
        expect(h).toMatchObject([{ cluster: c, epoch: 1, oldLeader: null, newLeader: 'a', newStart: 1_000, reason: 'initial' }]);
      });
    });

    it('concurrent creates: exactly one wins, every loser sees the winner', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        const results = await Promise.all(['a', 'b', 'c', 'd'].map((r, i) => store.create(c, r, i, i + T, 100)));
        const winners = results.filter((r) => r.kind === 'won');
        expect(winners).toHaveLength(1);
        const leader = winners[0]!.kind === 'won' ? winners[0]!.lease.leader : '';
        for (const r of results) if (r.kind === 'lost') expect(r.current?.leader).toBe(leader);
      });
    });

    it('extends only for the same leader and epoch, keeps the greater until, refreshes last-seen', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        const base = { cluster: c, leader: 'a', epoch: 1, until: 9_000 + T, lastLeaderSampleTime: 9_000, wallNow: 200 };
        expect(await store.extend(base)).toMatchObject({ kind: 'won', lease: { until: 9_000 + T, leaderLastSeenWall: 200 } });
        expect(await store.extend({ ...base, until: 5_000 + T, wallNow: 300 })).toMatchObject({
          kind: 'won',
          lease: { until: 9_000 + T, leaderLastSeenWall: 300 },
        });
        expect(await store.extend({ ...base, leader: 'b' })).toMatchObject({ kind: 'lost', current: { leader: 'a' } });
        expect(await store.extend({ ...base, epoch: 2 })).toMatchObject({ kind: 'lost', current: { epoch: 1 } });
        expect(await store.extend({ ...base, cluster: cluster() })).toEqual({ kind: 'lost', current: undefined });
      });
    });

    it('takeover needs the epoch, data time at until and wall silence for the timeout', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        expect(await store.takeOver(takeover(c, { expectedEpoch: 2 }))).toMatchObject({ kind: 'lost', current: { epoch: 1 } });
        expect(await store.takeOver(takeover(c, { challengerMaxTime: 1_000 + T - 1 }))).toMatchObject({ kind: 'lost' });
        expect(await store.takeOver(takeover(c, { wallNow: 100 + T - 1 }))).toMatchObject({ kind: 'lost' });
        const won = await store.takeOver(takeover(c));
        expect(won).toMatchObject({
          kind: 'won',
          lease: { leader: 'b', epoch: 2, start: 1_000 + T, until: 1_000 + 2 * T, leaderLastSeenWall: 100 + T },
        });
        // The CAS is spent: the same request loses now.
        expect(await store.takeOver(takeover(c, { newLeader: 'c' }))).toMatchObject({ kind: 'lost', current: { leader: 'b' } });
        const h = await store.history({ cluster: c, limit: 10 });
        expect(h[0]).toMatchObject({
          epoch: 2,
          oldLeader: 'a',
          newLeader: 'b',
          oldStart: 1_000,
          oldUntil: 1_000 + T,
          newStart: 1_000 + T,
          reason: 'takeover',
        });
        expect(h[1]).toMatchObject({ epoch: 1, reason: 'initial' });
      });
    });

    it('an extension refreshes last-seen, which blocks a takeover for another timeout', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        await store.extend({ cluster: c, leader: 'a', epoch: 1, until: 1_500 + T, lastLeaderSampleTime: 1_500, wallNow: 100 + T });
        expect(await store.takeOver(takeover(c, { challengerMaxTime: 1_500 + T, wallNow: 100 + 2 * T - 1 }))).toMatchObject({
          kind: 'lost',
        });
        expect(await store.takeOver(takeover(c, { challengerMaxTime: 1_500 + T, newUntil: 1_500 + 2 * T, wallNow: 100 + 2 * T }))).toMatchObject({
          kind: 'won',
          lease: { start: 1_500 + T },
        });
      });
    });

    it('the splice point: a takeover starts just after the old epoch\'s last committed data time', async () => {
      await withStore(async ({ store, checkFence }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        const f: Fence = { cluster: c, replica: 'a', epoch: 1, minTime: 2_000, maxTime: 2_000, wallNow: 150 };
        expect(await checkFence(f, true)).toBeUndefined();
        expect(await checkFence({ ...f, minTime: 1_500, maxTime: 1_500 }, true)).toBeUndefined();
        // A fence that commits no data marks nothing.
        expect(await checkFence({ ...f, minTime: 9_000, maxTime: 9_000 })).toBeUndefined();
        expect(await store.takeOver(takeover(c))).toMatchObject({ kind: 'won', lease: { leader: 'b', epoch: 2, start: 2_001, until: 1_000 + 2 * T } });
        expect((await store.history({ cluster: c, limit: 1 }))[0]).toMatchObject({
          oldStart: 1_000,
          oldUntil: 2_001,
          newStart: 2_001,
          leaseUntil: 1_000 + T,
          splice: 'committed',
        });
        // The old interval closed at the splice: before it the old leader's late data passes, at it not.
        expect(await checkFence({ ...f, minTime: 1_900, maxTime: 2_000 })).toBeUndefined();
        expect(await checkFence({ ...f, minTime: 2_001, maxTime: 2_001 })).toMatchObject({ kind: 'fence-failed', current: { leader: 'b' } });
        // The next takeover splices by the new epoch's marks only: none, so at its until.
        const again = await store.takeOver(takeover(c, { expectedEpoch: 2, newLeader: 'a', challengerMaxTime: 1_000 + 2 * T, newUntil: 1_000 + 3 * T, wallNow: 100 + 2 * T }));
        expect(again).toMatchObject({ kind: 'won', lease: { start: 1_000 + 2 * T } });
        await store.recordFill?.(c, 3, 'i1', 5);
        expect((await store.history({ cluster: c, limit: 1 }))[0]?.filled ?? { i1: 5 }).toEqual({ i1: 5 });
      });
    });

    it('concurrent takeovers: exactly one wins', async () => {
      await withStore(async ({ store }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        const results = await Promise.all(['b', 'c', 'd', 'e'].map((r) => store.takeOver(takeover(c, { newLeader: r }))));
        expect(results.filter((r) => r.kind === 'won')).toHaveLength(1);
        expect((await store.get(c))?.epoch).toBe(2);
        expect(await store.history({ cluster: c, limit: 10 })).toHaveLength(2);
      });
    });

    it('a snapshot, when the store offers one, reads what loadAll, history and now read', async () => {
      await withStore(async ({ store }) => {
        if (store.snapshot === undefined) return;
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        await store.takeOver(takeover(c));
        const snapshot = await store.snapshot(1_000);
        expect(snapshot.leases).toEqual(await store.loadAll());
        expect(snapshot.history).toEqual(await store.history({ limit: 1_000 }));
        expect(snapshot.history.filter((h) => h.cluster === c).map((h) => h.epoch)).toEqual([2, 1]);
        expect((await store.snapshot(1)).history).toEqual(await store.history({ limit: 1 }));
        const now = await store.now?.();
        if (now === undefined) expect(snapshot.now).toBeUndefined();
        else expect(Math.abs(snapshot.now! - now)).toBeLessThan(60_000);
      });
    });

    it('history is newest first, filtered by cluster, limited; pruning keeps each cluster newest row', async () => {
      await withStore(async ({ store }) => {
        const c1 = cluster();
        const c2 = cluster();
        await store.create(c1, 'a', 1_000, 1_000 + T, 100);
        await store.create(c2, 'a', 1_000, 1_000 + T, 100);
        await store.takeOver(takeover(c1));
        await store.takeOver(takeover(c1, { expectedEpoch: 2, newLeader: 'c', challengerMaxTime: 1_000 + 2 * T, newUntil: 1_000 + 3 * T, wallNow: 100 + 2 * T }));
        const h1 = await store.history({ cluster: c1, limit: 10 });
        expect(h1.map((h) => h.epoch)).toEqual([3, 2, 1]);
        expect(await store.history({ cluster: c1, limit: 2 })).toHaveLength(2);
        expect(await store.pruneHistory(100 + 2 * T)).toBeGreaterThanOrEqual(2);
        expect((await store.history({ cluster: c1, limit: 10 })).map((h) => h.epoch)).toEqual([3]);
        expect((await store.history({ cluster: c2, limit: 10 })).map((h) => h.epoch)).toEqual([1]);
      });
    });

    it('fence: the current lease, its extension, and closed intervals of the history', async () => {
      await withStore(async ({ store, checkFence }) => {
        const c = cluster();
        await store.create(c, 'a', 1_000, 1_000 + T, 100);
        const f: Fence = { cluster: c, replica: 'a', epoch: 1, minTime: 1_000, maxTime: 1_000 + T - 1, wallNow: 150 };
        expect(await checkFence(f)).toBeUndefined();
        expect(await checkFence({ ...f, minTime: 999 })).toMatchObject({ kind: 'fence-failed', cluster: c });
        expect(await checkFence({ ...f, maxTime: 1_000 + T })).toMatchObject({ kind: 'fence-failed', current: { until: 1_000 + T } });
        expect(await checkFence({ ...f, replica: 'b' })).toMatchObject({ kind: 'fence-failed' });
        expect(await checkFence({ ...f, epoch: 2 })).toMatchObject({ kind: 'fence-failed' });
        // An extension in the write's transaction moves until and last-seen; a replay's (rule 11) until only.
        expect(await checkFence({ ...f, maxTime: 4_000, extendUntil: 4_000 + T, wallNow: 190, refreshesLastSeen: false })).toBeUndefined();
        expect(await store.get(c)).toMatchObject({ until: 4_000 + T, leaderLastSeenWall: 100 });
        expect(await checkFence({ ...f, maxTime: 5_000, extendUntil: 5_000 + T, wallNow: 200 })).toBeUndefined();
        expect(await store.get(c)).toMatchObject({ until: 5_000 + T, leaderLastSeenWall: 200 });
        await store.takeOver(takeover(c, { challengerMaxTime: 5_000 + T, newUntil: 6_000 + T, wallNow: 200 + T }));
        // The old leader keeps its closed interval [1000, 5000 + T) and nothing after it.
        expect(await checkFence({ ...f, maxTime: 5_000 + T - 1 })).toBeUndefined();
        expect(await checkFence({ ...f, maxTime: 5_000 + T, extendUntil: 6_000 + T })).toMatchObject({
          kind: 'fence-failed',
          current: { leader: 'b', epoch: 2 },
        });
        expect((await store.get(c))?.until).toBe(6_000 + T);
        const fb: Fence = { cluster: c, replica: 'b', epoch: 2, minTime: 5_000 + T, maxTime: 5_500 + T, wallNow: 300 + T };
        expect(await checkFence(fb)).toBeUndefined();
        expect(await checkFence({ ...fb, minTime: 5_000 + T - 1 })).toMatchObject({ kind: 'fence-failed' });
      });
    });
  });
}
