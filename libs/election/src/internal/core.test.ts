import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveElectionOptions } from '../options.js';
import type { Lease } from '../ports.js';
import { decideStep, type ClusterView } from './core.js';

const options = resolveElectionOptions({ leaseTimeoutMs: 3_000, leaseRefreshMs: 500 });
const replica = fc.constantFrom('a', 'b', 'c');
const time = fc.integer({ min: 0, max: 20_000 });

// Lease epochs above every closed epoch, as in a coherent cache.
const leaseArb: fc.Arbitrary<Lease> = fc
  .record({ leader: replica, epoch: fc.integer({ min: 5, max: 9 }), start: time, len: fc.integer({ min: 1, max: 6_000 }), seen: time })
  .map(({ leader, epoch, start, len, seen }) => ({
    cluster: 'c',
    leader,
    epoch,
    start,
    until: start + len,
    lastLeaderSampleTime: start,
    leaderLastSeenWall: seen,
    updatedWall: seen,
  }));

const viewArb: fc.Arbitrary<ClusterView> = fc.record({
  lease: fc.option(leaseArb, { nil: undefined }),
  closed: fc.array(
    fc.record({ leader: replica, epoch: fc.integer({ min: 0, max: 4 }), start: time, len: fc.integer({ min: 1, max: 6_000 }) }).map((c) => ({
      leader: c.leader,
      epoch: c.epoch,
      start: c.start,
      until: c.start + c.len,
    })),
    { maxLength: 3 },
  ),
});

describe('decideStep (pure core)', () => {
  it('property: a store step fences exactly a subrange of the part inside its window, for the part replica', () => {
    fc.assert(
      fc.property(viewArb, replica, time, fc.integer({ min: 0, max: 5_000 }), time, (view, r, minTime, span, wall) => {
        const part = { cluster: 'c', replica: r, minTime, maxTime: minTime + span };
        const step = decideStep(view, part, wall, options);
        if (step.kind === 'store') {
          const f = step.fence;
          expect(f.replica).toBe(r);
          expect(f.wallNow).toBe(wall);
          expect(f.minTime).toBeGreaterThanOrEqual(Math.max(part.minTime, step.from));
          expect(f.maxTime).toBeLessThanOrEqual(Math.min(part.maxTime, step.until - 1));
          expect(f.minTime).toBeLessThanOrEqual(f.maxTime);
          const lease = view.lease;
          if (lease !== undefined && f.epoch === lease.epoch && lease.leader === r) {
            // Current lease: from its start, and (rule 5) an extension only once a refresh interval passed.
            expect(step.from).toBeGreaterThanOrEqual(lease.start);
            if (f.extendUntil === undefined) expect(f.maxTime).toBeLessThan(lease.until);
            else expect(f.extendUntil - lease.until).toBeGreaterThanOrEqual(options.leaseRefreshMs);
          } else {
            // A closed interval of this replica (rule 6).
            expect(view.closed.some((c) => c.leader === r && c.epoch === f.epoch && c.start <= f.minTime && f.maxTime < c.until)).toBe(true);
          }
        }
        if (step.kind === 'takeover') {
          // Rule 5: data time reached until and the leader was not heard for a timeout.
          expect(view.lease).toBeDefined();
          expect(part.maxTime).toBeGreaterThanOrEqual(view.lease!.until);
          expect(wall - view.lease!.leaderLastSeenWall).toBeGreaterThanOrEqual(options.leaseTimeoutMs);
          expect(step.request.newUntil).toBe(part.maxTime + options.leaseTimeoutMs);
        }
        if (step.kind === 'create') expect(view.lease).toBeUndefined();
        if (step.kind === 'dedupe' && view.lease !== undefined) expect(step.leader).toBe(view.lease.leader);
      }),
      { numRuns: 1_000 },
    );
  });

  it('property: a replay (rule 11) is stored or dropped, never a compare-and-set, and its extension leaves last-seen alone', () => {
    fc.assert(
      fc.property(viewArb, replica, time, fc.integer({ min: 0, max: 5_000 }), time, (view, r, minTime, span, wall) => {
        const part = { cluster: 'c', replica: r, minTime, maxTime: minTime + span, replay: true };
        const step = decideStep(view, part, wall, options);
        expect(['store', 'dedupe']).toContain(step.kind);
        if (step.kind === 'store' && step.fence.extendUntil !== undefined) {
          expect(step.fence.refreshesLastSeen).toBe(false);
          expect(step.fence.maxTime).toBeLessThan(step.fence.extendUntil);
        }
        // Live data of the same range decides the same store window whenever it needs no compare-and-set.
        const live = decideStep(view, { ...part, replay: false }, wall, options);
        if (live.kind === 'store' && step.kind === 'store') expect([live.from, live.fence.minTime]).toEqual([step.from, step.fence.minTime]);
      }),
      { numRuns: 1_000 },
    );
  });

  it('a part without timestamps is never stored', () => {
    expect(decideStep({ lease: undefined, closed: [] }, { cluster: 'c', replica: 'a', minTime: Infinity, maxTime: -Infinity }, 0, options)).toEqual({
      kind: 'dedupe',
      leader: '',
    });
  });
});
