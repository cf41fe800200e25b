import { describeLeaseStoreContract } from '@promha/election/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

let db: TestDatabase;
let storage: Storage;

beforeAll(async () => {
  db = await startTestDatabase();
  // The contract's scenarios spell every wall time out: the store takes them from each step ('instance'), where
  // production reads the database server's clock (ha-clock.int.test.ts).
  storage = await openStorage({ uri: await db.createDatabase(), databaseClock: 'instance' });
  await storage.migrate();
});
afterAll(async () => {
  await storage.close();
  await db.stop();
});

// The election engineer's contract suite, run against the PostgreSQL store and the storage write's fence check
// (an empty fenced part runs exactly the fence transaction of a real write; one with a sample commits its mark).
describeLeaseStoreContract('postgres', () => ({
  store: storage.leases,
  checkFence: async (fence, commit) => {
    const series = commit === true ? [{ labels: [{ name: '__name__', value: 'contract' }], samples: [{ timestamp: fence.maxTime, value: 1 }], histograms: [], exemplars: [] }] : [];
    const o = await storage.write({ series, fence });
    return o.kind === 'fence-failed' ? o : undefined;
  },
}));

describe('PostgreSQL lease store races', () => {
  const T = 30_000;
  it('many instances taking over the same epoch at once: exactly one wins, one history row', async () => {
    const c = 'race-takeover';
    await storage.leases.create(c, 'a', 0, T, 0);
    const req = (leader: string) => ({
      cluster: c, expectedEpoch: 1, newLeader: leader, challengerMaxTime: T, newUntil: 2 * T, wallNow: 10 * T, leaseTimeout: T,
    });
    const results = await Promise.all(['b', 'c', 'd', 'e', 'f'].map((l) => storage.leases.takeOver(req(l))));
    const won = results.filter((r) => r.kind === 'won');
    expect(won).toHaveLength(1);
    const lease = won[0]!.kind === 'won' ? won[0]!.lease : undefined;
    expect(lease).toMatchObject({ epoch: 2, start: T, until: 2 * T });
    const h = await storage.leases.history({ cluster: c, limit: 10 });
    expect(h.map((x) => x.reason)).toEqual(['takeover', 'initial']);
    expect(h[0]).toMatchObject({ oldLeader: 'a', oldStart: 0, oldUntil: T, newStart: T, newLeader: lease?.leader });
  });

  it('many instances creating the first lease of a cluster at once: exactly one wins, the rest lose (no error)', async () => {
    // Each create races on two unique indexes (cluster) and (cluster, epoch); one lost insert must read as a lost
    // compare-and-set, never as a database error (which the ingest would answer 503).
    for (let round = 0; round < 20; round++) {
      const c = `race-create-${round}`;
      const results = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((l) => storage.leases.create(c, l, 0, T, 0)));
      const won = results.filter((r) => r.kind === 'won');
      expect(won).toHaveLength(1);
      const winner = won[0]?.kind === 'won' ? won[0].lease.leader : undefined;
      for (const r of results) if (r.kind === 'lost') expect(r.current?.leader).toBe(winner);
      const h = await storage.leases.history({ cluster: c, limit: 10 });
      expect(h.map((x) => [x.reason, x.newLeader])).toEqual([['initial', winner]]);
    }
  });

  it('a takeover racing extensions starts exactly at the until it replaced', async () => {
    const c = 'race-extend';
    await storage.leases.create(c, 'a', 0, T, 0);
    const ext = (u: number) => storage.leases.extend({ cluster: c, leader: 'a', epoch: 1, until: u, lastLeaderSampleTime: u - T, wallNow: 0 });
    const to = storage.leases.takeOver({
      cluster: c, expectedEpoch: 1, newLeader: 'b', challengerMaxTime: 10 * T, newUntil: 11 * T, wallNow: 10 * T, leaseTimeout: T,
    });
    const [r1, r2, r3] = await Promise.all([ext(2 * T), to, ext(3 * T)]);
    const h = await storage.leases.history({ cluster: c, limit: 1 });
    const lease = await storage.leases.get(c);
    expect(r2.kind).toBe('won');
    // Whatever order PostgreSQL chose, the new lease starts where the old one ended and the history agrees.
    expect(lease?.start).toBe(h[0]?.oldUntil);
    // An extension either committed before the takeover (the old lease ended at its until) or lost to the new
    // epoch: the new start is exactly the greatest until that committed under epoch 1.
    const committed = [r1, r3].flatMap((r) => (r.kind === 'won' ? [r.lease.until] : []));
    expect(lease?.start).toBe(Math.max(T, ...committed));
  });

  it('prunes history but keeps each cluster newest row', async () => {
    const c = 'prune';
    await storage.leases.create(c, 'a', 0, T, 1);
    await storage.leases.takeOver({ cluster: c, expectedEpoch: 1, newLeader: 'b', challengerMaxTime: T, newUntil: 2 * T, wallNow: 5 * T, leaseTimeout: T });
    const deleted = await storage.leases.pruneHistory(Number.MAX_SAFE_INTEGER);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const h = await storage.leases.history({ cluster: c, limit: 10 });
    expect(h).toHaveLength(1);
    expect(h[0]?.reason).toBe('takeover');
  });
});
