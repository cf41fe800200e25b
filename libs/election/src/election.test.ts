import { describe, expect, it } from 'vitest';
import type { Decision, PartRange } from './decision.js';
import { Election } from './election.js';
import { DATA_TIME_BEGIN } from './internal/core.js';
import type { ElectionMetrics } from './metrics.js';
import { InMemoryLeaseStore, type LeaseStoreOp } from './testing/in-memory-store.js';
import { ManualClock } from './testing/manual-clock.js';

const T = 30_000;
const D = 1_700_000_000_000;

class RecordingMetrics implements ElectionMetrics {
  readonly events: string[] = [];
  roundTrips = 0;
  leader(cluster: string, replica: string, previous: string | undefined): void {
    this.events.push(`leader ${cluster} ${replica} (was ${previous ?? '-'})`);
  }
  leaderChange(cluster: string): void {
    this.events.push(`change ${cluster}`);
  }
  storeRoundTrip(): void {
    this.roundTrips++;
  }
  fenceFailure(cluster: string): void {
    this.events.push(`fence ${cluster}`);
  }
}

function setup(instances = 1, failOn?: (op: LeaseStoreOp) => boolean) {
  const store = new InMemoryLeaseStore({
    before: (op) => {
      if (failOn?.(op) === true) throw new Error('connection refused');
    },
  });
  const clock = new ManualClock(D);
  const metrics = new RecordingMetrics();
  const elections = Array.from({ length: instances }, () => new Election({ store, clock, options: {}, metrics }));
  return { store, clock, metrics, elections, e: elections[0]! };
}

const part = (replica: string, minTime: number, maxTime: number, cluster = 'c'): PartRange => ({ cluster, replica, minTime, maxTime });

function store(d: Decision): Extract<Decision, { kind: 'store' }> {
  if (d.kind !== 'store') throw new Error(`expected store, got ${JSON.stringify(d)}`);
  return d;
}

describe('Election', () => {
  it('is not ready before start() and answers retry (503) meanwhile', async () => {
    const { e } = setup();
    expect(e.isReady()).toBe(false);
    expect(await e.decide(part('a', D, D))).toMatchObject({ kind: 'retry' });
    await e.start();
    expect(e.isReady()).toBe(true);
  });

  it('rule 5: the first replica seen leads from the beginning of data time to maxT + timeout; the others are deduplicated (rule 4)', async () => {
    const { e, store: s, metrics } = setup();
    await e.start();
    const d = store(await e.decide(part('a', D - 10_000, D)));
    expect(d.from).toBe(D - 10_000);
    expect(s.peek('c')).toMatchObject({ leader: 'a', epoch: 1, start: DATA_TIME_BEGIN, until: D + T });
    expect(await e.decide(part('b', D - 10_000, D))).toEqual({ kind: 'dedupe', leader: 'a' });
    expect(metrics.events).toContain('leader c a (was -)');
    // An older batch of the same leader (another shard) arriving second is stored, not dropped.
    const older = store(await e.decide(part('a', D - 60_000, D - 50_000)));
    expect(older.from).toBe(D - 60_000);
    expect(s.checkFence(older.fence)).toBeUndefined();
  });

  it('rule 6: the new lease starts after the last committed sample; every instance learns of the takeover (rule 11)', async () => {
    const store_ = new InMemoryLeaseStore();
    const clock = new ManualClock(D);
    const learnt: string[] = [];
    const [e1, e2] = [1, 2].map(
      (i) => new Election({ store: store_, clock, options: {}, onTakeover: (l) => learnt.push(`${String(i)}:${l.leader}@${String(l.start)}`) }),
    ) as [Election, Election];
    await e1.start();
    await e2.start();
    store_.checkFence(store(await e1.decide(part('a', D, D + 4_000))).fence, true);
    await e2.sync();
    clock.set(D + 2 * T);
    const d = store(await e1.decide(part('b', D + T + 4_000, D + T + 5_000)));
    expect(store_.peek('c')).toMatchObject({ leader: 'b', epoch: 2, start: D + 4_001 });
    expect(d.from).toBe(D + T + 4_000);
    expect(learnt).toEqual([`1:b@${String(D + 4_001)}`]);
    await e2.sync();
    expect(learnt).toEqual([`1:b@${String(D + 4_001)}`, `2:b@${String(D + 4_001)}`]);
    // a's data from the splice on is dropped; before it, stored in its closed interval.
    expect(await e2.decide(part('a', D + 4_001, D + 4_500))).toEqual({ kind: 'dedupe', leader: 'b' });
    expect(store(await e2.decide(part('a', D + 3_000, D + 4_000))).fence).toMatchObject({ epoch: 1 });
  });

  it('rule 12: late data of a former leader this cache never saw the interval of: the history is read once per epoch', async () => {
    const { elections, store: s, clock, metrics } = setup(2);
    const [e1, e2] = elections as [Election, Election];
    await e1.start();
    await e2.start();
    s.checkFence(store(await e1.decide(part('a', D, D))).fence);
    await e2.sync();
    clock.set(D + 2 * T);
    s.checkFence(store(await e1.decide(part('b', D + T, D + T))).fence);
    clock.set(D + 4 * T);
    s.checkFence(store(await e1.decide(part('c', D + 2 * T, D + 2 * T))).fence);
    // e2 learns epoch 3 from a failed fence, skipping epoch 2: it never saw b's interval [D + T, D + 2T).
    e2.onFenceFailure({ kind: 'fence-failed', cluster: 'c', current: s.peek('c') });
    const before = metrics.roundTrips;
    const late = store(await e2.decide(part('b', D + T + 10, D + T + 20)));
    expect(late.fence).toMatchObject({ replica: 'b', epoch: 2 });
    expect(s.checkFence(late.fence)).toBeUndefined();
    expect(metrics.roundTrips).toBe(before + 1);
    // Once per epoch, and never for data inside the current lease.
    expect(await e2.decide(part('z', D + T + 10, D + T + 20))).toEqual({ kind: 'dedupe', leader: 'c' });
    expect(await e2.decide(part('z', D + 3 * T, D + 3 * T))).toEqual({ kind: 'dedupe', leader: 'c' });
    expect(metrics.roundTrips).toBe(before + 1);
  });

  it('rule 5: two instances racing to create: the loser re-reads and agrees', async () => {
    const { elections, store: s } = setup(2);
    for (const e of elections) await e.start();
    const [da, db] = await Promise.all([elections[0]!.decide(part('a', D, D)), elections[1]!.decide(part('b', D, D))]);
    const leader = s.peek('c')!.leader;
    expect([da.kind, db.kind].sort()).toEqual(['dedupe', 'store']);
    expect(elections[0]!.leases()[0]!.leader).toBe(leader);
    expect(elections[1]!.leases()[0]!.leader).toBe(leader);
  });

  it('rules 5 and 8: the leader extends at most once per refresh interval of data time, inside its fenced write, with no lease round trip', async () => {
    const { e, store: s, clock, metrics } = setup();
    await e.start();
    const first = store(await e.decide(part('a', D, D)));
    expect(s.checkFence(first.fence)).toBeUndefined();
    const tripsAfterCreate = metrics.roundTrips;
    let extensions = 0;
    for (let t = 1_000; t <= 60_000; t += 1_000) {
      clock.set(D + t);
      const d = store(await e.decide(part('a', D + t - 1_000, D + t)));
      if (d.fence.extendUntil !== undefined) extensions++;
      expect(s.checkFence(d.fence)).toBeUndefined();
      expect(d.fence.maxTime).toBeLessThan(d.until);
    }
    expect(extensions).toBe(12);
    expect(metrics.roundTrips).toBe(tripsAfterCreate);
    expect(s.peek('c')).toMatchObject({ until: D + 60_000 + T, leaderLastSeenWall: D + 60_000 });
  });

  it('rule 5: a replica whose clock runs ahead does not take over while the leader is heard from (wall-time guard)', async () => {
    const { e, store: s, clock } = setup();
    await e.start();
    s.checkFence(store(await e.decide(part('a', D, D))).fence);
    clock.set(D + 10_000);
    // b's data time is far past the lease end, but a was heard 10 s ago.
    expect(await e.decide(part('b', D + 100_000, D + 100_000))).toEqual({ kind: 'dedupe', leader: 'a' });
    clock.set(D + T);
    const d = store(await e.decide(part('b', D + 100_000, D + 100_001)));
    expect(d.fence).toMatchObject({ replica: 'b', epoch: 2 });
  });

  it('rule 5: takeover needs data time at the lease end; the new lease starts there (rule 6) and is recorded (rule 9)', async () => {
    const { e, store: s, clock, metrics } = setup();
    await e.start();
    s.checkFence(store(await e.decide(part('a', D, D))).fence);
    clock.set(D + 2 * T);
    expect(await e.decide(part('b', D + T - 5_000, D + T - 1))).toEqual({ kind: 'dedupe', leader: 'a' });
    const d = store(await e.decide(part('b', D + T - 5_000, D + T + 5_000)));
    expect(d.from).toBe(D + T);
    expect(d.fence).toMatchObject({ epoch: 2, minTime: D + T });
    expect(s.peek('c')).toMatchObject({ leader: 'b', epoch: 2, start: D + T, until: D + 2 * T + 5_000 });
    expect((await s.history({ cluster: 'c', limit: 5 }))[0]).toMatchObject({
      oldLeader: 'a',
      newLeader: 'b',
      oldStart: DATA_TIME_BEGIN,
      oldUntil: D + T,
      newStart: D + T,
      reason: 'takeover',
    });
    expect(metrics.events).toContain('change c');
  });

  it('rule 6: the old leader keeps its closed interval; its samples after it are dropped', async () => {
    const { elections, store: s, clock } = setup(2);
    const [ea, eb] = elections as [Election, Election];
    await ea.start();
    await eb.start();
    s.checkFence(store(await ea.decide(part('a', D, D))).fence);
    clock.set(D + 2 * T);
    s.checkFence(store(await eb.decide(part('b', D + T, D + T + 1))).fence);
    await ea.sync();
    const late = store(await ea.decide(part('a', D + T - 100, D + T + 100)));
    expect([late.from, late.until]).toEqual([D + T - 100, D + T]);
    expect(late.fence).toMatchObject({ epoch: 1, maxTime: D + T - 1 });
    expect(s.checkFence(late.fence)).toBeUndefined();
    expect(await ea.decide(part('a', D + T, D + T + 100))).toEqual({ kind: 'dedupe', leader: 'b' });
  });

  it('rule 7: a stale cache is caught by the fence; onFenceFailure updates the cache and the re-decision drops the data', async () => {
    const { elections, store: s, clock, metrics } = setup(2);
    const [ea, eb] = elections as [Election, Election];
    await ea.start();
    await eb.start();
    s.checkFence(store(await ea.decide(part('a', D, D))).fence);
    // a's write with an extension is decided but not committed yet (the optimistic cache now says D + 6 s + T).
    clock.set(D + T);
    const pending = store(await ea.decide(part('a', D + 6_000, D + 6_000)));
    expect(pending.fence.extendUntil).toBe(D + 6_000 + T);
    // Meanwhile b takes over through another instance: a was last heard T ago.
    s.checkFence(store(await eb.decide(part('b', D + T, D + T))).fence);
    expect(s.checkFence(pending.fence)).toBeUndefined(); // inside a's closed interval [D, D + T)
    const stale = store(await ea.decide(part('a', D + T + 1_000, D + T + 2_000)));
    const failure = s.checkFence(stale.fence);
    expect(failure).toMatchObject({ kind: 'fence-failed', current: { leader: 'b', epoch: 2 } });
    ea.onFenceFailure(failure!);
    expect(metrics.events).toContain('fence c');
    expect(await ea.decide(part('a', D + T + 1_000, D + T + 2_000))).toEqual({ kind: 'dedupe', leader: 'b' });
  });

  it('rule 5: an extension whose write failed is forgotten, so the next write extends again', async () => {
    const { e, store: s, clock } = setup();
    await e.start();
    s.checkFence(store(await e.decide(part('a', D, D))).fence);
    clock.set(D + 5_000);
    const lost = store(await e.decide(part('a', D + 5_000, D + 5_000)));
    expect(lost.fence.extendUntil).toBe(D + 5_000 + T);
    // Without the report the cache would believe until = D + 5 s + T and skip the next extension.
    clock.set(D + 6_000);
    expect(store(await e.decide(part('a', D + 6_000, D + 6_000))).fence.extendUntil).toBeUndefined();
    e.onWriteFailed(lost.fence);
    const next = store(await e.decide(part('a', D + 6_000, D + 6_000)));
    expect(next.fence.extendUntil).toBe(D + 6_000 + T);
    expect(s.checkFence(next.fence)).toBeUndefined();
    expect(s.peek('c')).toMatchObject({ until: D + 6_000 + T, leaderLastSeenWall: D + 6_000 });
  });

  it('rule 8: a lease store error answers retry and never throws; the next request succeeds', async () => {
    let down = true;
    const { e } = setup(1, (op) => down && op !== 'loadAll' && op !== 'history');
    await e.start();
    const d = await e.decide(part('a', D, D));
    expect(d.kind === 'retry' && d.reason).toContain('connection refused');
    down = false;
    expect(await e.decide(part('a', D, D))).toMatchObject({ kind: 'store' });
  });

  it('rule 8: start() and sync() reject when the store is down, keeping the cache', async () => {
    let down = false;
    const { e } = setup(1, () => down);
    await e.start();
    store(await e.decide(part('a', D, D)));
    down = true;
    await expect(e.sync()).rejects.toThrow('connection refused');
    expect(e.leases()).toHaveLength(1);
  });

  it('rule 9: an instance started after a takeover learns closed intervals from the history', async () => {
    const { elections, store: s, clock } = setup(2);
    const [e1, late] = elections as [Election, Election];
    await e1.start();
    s.checkFence(store(await e1.decide(part('a', D, D))).fence);
    clock.set(D + 2 * T);
    s.checkFence(store(await e1.decide(part('b', D + T, D + T))).fence);
    await late.start();
    const d = store(await late.decide(part('a', D + 1, D + 2)));
    expect(d.fence).toMatchObject({ replica: 'a', epoch: 1 });
    expect(s.checkFence(d.fence)).toBeUndefined();
  });

  it('sync() brings leases changed by other instances', async () => {
    const { elections, clock } = setup(2);
    const [e1, e2] = elections as [Election, Election];
    await e1.start();
    await e2.start();
    store(await e1.decide(part('a', D, D, 'x')));
    expect(e2.leases()).toHaveLength(0);
    clock.set(D + 1);
    await e2.sync();
    expect(e2.leases().map((l) => l.leader)).toEqual(['a']);
  });

  it('clusters are independent (rule 1: each part is decided on its own)', async () => {
    const { e } = setup();
    await e.start();
    store(await e.decide(part('a', D, D, 'x')));
    store(await e.decide(part('b', D, D, 'y')));
    expect(await e.decide(part('b', D, D, 'x'))).toEqual({ kind: 'dedupe', leader: 'a' });
    expect(await e.decide(part('a', D, D, 'y'))).toEqual({ kind: 'dedupe', leader: 'b' });
  });
});
