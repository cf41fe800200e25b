/**
 * `fc.scheduler()` interleavings of concurrent lease steps against one in-memory store (rules 5-7): every store
 * call and every fenced write is a task the scheduler releases in an arbitrary order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decision, PartRange } from './decision.js';
import { Election } from './election.js';
import { InMemoryLeaseStore } from './testing/in-memory-store.js';
import { ManualClock } from './testing/manual-clock.js';

const T = 30_000;
const D = 1_700_000_000_000;

interface Stored {
  readonly replica: string;
  readonly a: number;
  readonly b: number;
}

async function scenario(s: fc.Scheduler, requests: readonly (PartRange & { instance: number })[], leaderLag: number): Promise<void> {
  const store = new InMemoryLeaseStore({ before: () => s.schedule(Promise.resolve()).then(() => undefined) });
  const clock = new ManualClock(D);
  const elections = [0, 1, 2].map(() => new Election({ store, clock, options: { leaseTimeoutMs: T, leaseRefreshMs: 5_000 } }));
  // a leads [D, D + T), last heard at D; then the wall clock moves to about one timeout later.
  const boot = elections.map((e) => e.start());
  await s.waitFor(Promise.all(boot));
  const first = await s.waitFor(elections[0]!.decide({ cluster: 'c', replica: 'a', minTime: D, maxTime: D }));
  if (first.kind !== 'store' || store.checkFence(first.fence) !== undefined) throw new Error('setup failed');
  for (const e of elections) await s.waitFor(e.sync());
  clock.set(D + T + leaderLag);

  const stored: Stored[] = [];
  const write = async (e: Election, p: PartRange, d: Decision, again: boolean): Promise<void> => {
    if (d.kind !== 'store') return;
    await s.schedule(Promise.resolve(), `write ${p.replica}`);
    const failure = store.checkFence(d.fence);
    if (failure !== undefined) {
      e.onFenceFailure(failure);
      if (again) await write(e, p, await e.decide(p), false);
      return;
    }
    const a = Math.max(p.minTime, d.from);
    const b = Math.min(p.maxTime, d.until - 1);
    if (a <= b) stored.push({ replica: p.replica, a, b });
  };
  const run = async (r: PartRange & { instance: number }): Promise<void> => {
    const e = elections[r.instance]!;
    const p: PartRange = { cluster: r.cluster, replica: r.replica, minTime: r.minTime, maxTime: r.maxTime };
    await write(e, p, await e.decide(p), true);
  };
  await s.waitFor(Promise.all(requests.map(run)));

  for (const x of stored) {
    for (const y of stored) {
      if (x.replica !== y.replica && x.a <= y.b && y.a <= x.b) {
        throw new Error(`overlap ${JSON.stringify(x)} ${JSON.stringify(y)}\n${JSON.stringify(s.report())}`);
      }
    }
  }
  const changes = store.allChanges();
  expect(changes.length).toBeLessThanOrEqual(2);
  for (let i = 1; i < changes.length; i++) {
    // One leader per point of data time: the new lease starts exactly where the old one ended.
    expect(changes[i]!.oldStart).toBe(changes[i - 1]!.newStart);
    expect(changes[i]!.newStart).toBe(changes[i]!.oldUntil);
  }
}

const request = fc.record({
  instance: fc.integer({ min: 0, max: 2 }),
  cluster: fc.constant('c'),
  replica: fc.constantFrom('a', 'b', 'c'),
  minTime: fc.integer({ min: D + T - 10_000, max: D + T + 10_000 }),
  span: fc.integer({ min: 0, max: 10_000 }),
});

describe('concurrent takeovers and extensions (fc.scheduler)', () => {
  it('no overlap and one winner in every interleaving of challengers, the leader and its writes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(request, { minLength: 2, maxLength: 6 }),
        fc.integer({ min: -1_000, max: 1_000 }),
        async (s, reqs, lag) => {
          await scenario(
            s,
            reqs.map((r) => ({ instance: r.instance, cluster: r.cluster, replica: r.replica, minTime: r.minTime, maxTime: r.minTime + r.span })),
            lag,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('two challengers racing at one lease end: exactly one takes over, in every order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        const store = new InMemoryLeaseStore({ before: () => s.schedule(Promise.resolve()).then(() => undefined) });
        const clock = new ManualClock(D);
        const [e0, e1, e2] = [0, 1, 2].map(() => new Election({ store, clock, options: { leaseTimeoutMs: T } })) as [
          Election,
          Election,
          Election,
        ];
        await s.waitFor(Promise.all([e0.start(), e1.start(), e2.start()]));
        const first = await s.waitFor(e0.decide({ cluster: 'c', replica: 'a', minTime: D, maxTime: D }));
        if (first.kind === 'store') store.checkFence(first.fence);
        await s.waitFor(Promise.all([e1.sync(), e2.sync()]));
        clock.set(D + T);
        const [d1, d2] = await s.waitFor(
          Promise.all([
            e1.decide({ cluster: 'c', replica: 'b', minTime: D + T, maxTime: D + T }),
            e2.decide({ cluster: 'c', replica: 'c', minTime: D + T, maxTime: D + T + 1 }),
          ]),
        );
        expect([d1.kind, d2.kind].sort()).toEqual(['dedupe', 'store']);
        expect(store.peek('c')?.epoch).toBe(2);
      }),
      { numRuns: 100 },
    );
  });
});
