import type { TimeSeries } from '@promha/codec';
import type { Fence } from '@promha/election';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgLeaseStore } from './internal/lease-store.js';
import { migrate } from './internal/migrations.js';
import { promhaTypes } from './internal/pg-types.js';
import { SeriesCache } from './internal/series-cache.js';
import { SampleWriter } from './internal/writer.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

/**
 * docs/design.md rule 7, proven with real transactions: a fenced write paused inside its transaction (after its fence
 * check, before commit) does not block another writer of the same cluster, nor a lease extension; a takeover
 * waits for it, and once the takeover commits, a write under the old epoch past the old `until` fails its fence.
 */
const T = 30_000;
let db: TestDatabase;
let uri: string;
const pools: pg.Pool[] = [];

function pool(applicationName = 'fence-test'): pg.Pool {
  const p = new pg.Pool({ connectionString: uri, max: 4, application_name: applicationName, options: '-c search_path=promha', types: promhaTypes });
  // As every production pool does: pool.end() resolves before its connections have closed, and the server
  // stopping in afterAll then reports 57P01 through the pool's 'error', which unheard ends the test process.
  p.on('error', () => undefined);
  pools.push(p);
  return p;
}

function writer(afterFence?: () => Promise<void>): SampleWriter {
  return new SampleWriter(pool(), new SeriesCache(100), {
    maxBatchSamples: 10_000,
    maxConcurrentFlushes: 1,
    // These scenarios spell wall times out: the guard takes them from each step, not from the server's clock.
    databaseClock: 'instance',
    ...(afterFence === undefined ? {} : { afterFence }),
  });
}

/** A writer whose first flush stops after its fence check until released (later flushes go straight through). */
function pausedWriter(): { w: SampleWriter; entered: Promise<void>; release: () => void } {
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const entered = new Promise<void>((r) => (enter = r));
  let paused = false;
  const w = writer(async () => {
    if (paused) return;
    paused = true;
    enter();
    await gate;
  });
  return { w, entered, release };
}

function tracked<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  void p.finally(() => (done = true)).catch(() => undefined);
  return { p, settled: () => done };
}

function part(cluster: string, t: number, fence: Omit<Fence, 'cluster' | 'minTime' | 'maxTime' | 'wallNow'> & { wallNow?: number }) {
  const series: TimeSeries[] = [
    { labels: [{ name: '__name__', value: 'm' }, { name: 'cluster', value: cluster }], samples: [{ timestamp: t, value: t }], histograms: [], exemplars: [] },
  ];
  return { series, fence: { cluster, minTime: t, maxTime: t, wallNow: 0, ...fence } };
}

async function waitForLockWaiter(admin: pg.Pool, pattern: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
      [pattern],
    );
    if (r.rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no session waiting on a lock for ${pattern}`);
}

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  await migrate(pool());
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.stop();
});

describe('fenced writes and leader changes', () => {
  it('concurrent fenced writers of one cluster and lease extensions do not wait for each other', async () => {
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('c1', 'a', 0, 10 * T, 0);
    const a = pausedWriter();
    const wa = tracked(a.w.write(part('c1', 1_000, { replica: 'a', epoch: 1 })));
    await a.entered; // A holds FOR KEY SHARE on the lease row, uncommitted
    const b = await writer().write(part('c1', 2_000, { replica: 'a', epoch: 1 }));
    expect(b.kind).toBe('stored');
    const ext = await leases.extend({ cluster: 'c1', leader: 'a', epoch: 1, until: 20 * T, lastLeaderSampleTime: 2_000, wallNow: 1 });
    expect(ext.kind).toBe('won');
    // A writer that extends the lease inside its own fence transaction does not wait either.
    const c = await writer().write(part('c1', 3_000, { replica: 'a', epoch: 1, extendUntil: 21 * T, wallNow: 2 }));
    expect(c.kind).toBe('stored');
    expect(wa.settled()).toBe(false);
    a.release();
    expect((await wa.p).kind).toBe('stored');
    expect((await leases.get('c1'))?.until).toBe(21 * T);
  });

  it('a takeover waits for the fenced write in flight; afterwards the old epoch is fenced out past the old until', async () => {
    const admin = pool();
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('c2', 'a', 0, T, 0);
    const a = pausedWriter();
    const wa = tracked(a.w.write(part('c2', T - 1, { replica: 'a', epoch: 1 })));
    await a.entered;
    const to = tracked(
      leases.takeOver({ cluster: 'c2', expectedEpoch: 1, newLeader: 'b', challengerMaxTime: T, newUntil: 2 * T, wallNow: 10 * T, leaseTimeout: T }),
    );
    await waitForLockWaiter(admin, '%cluster = $1 AND epoch = $2%');
    expect(to.settled()).toBe(false);
    a.release();
    expect((await wa.p).kind).toBe('stored');
    const won = await to.p;
    expect(won).toMatchObject({ kind: 'won', lease: { leader: 'b', epoch: 2, start: T, until: 2 * T } });

    // The old leader with a stale cache: data at or after the old until fails, and says who leads now.
    const late = await writer().write(part('c2', T + 5, { replica: 'a', epoch: 1 }));
    expect(late).toMatchObject({ kind: 'fence-failed', cluster: 'c2', current: { leader: 'b', epoch: 2 } });
    // Its retry queue may still deliver data inside the closed interval [0, T): the history row admits it.
    expect((await writer().write(part('c2', T - 2, { replica: 'a', epoch: 1 }))).kind).toBe('stored');
    // The new leader writes from the new start.
    expect((await writer().write(part('c2', T, { replica: 'b', epoch: 2 }))).kind).toBe('stored');
    const rows = await admin.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sample_chunk c, unnest(c.ts) t WHERE t = $1",
      [T + 5],
    );
    expect(rows.rows[0]!.n).toBe(0);
  });

  it('the splice point: the new lease starts after the last committed sample, waited for; the old interval closes there', async () => {
    const admin = pool();
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('c4', 'a', 0, 10 * T, 0);
    expect((await writer().write(part('c4', 5_000, { replica: 'a', epoch: 1 }))).kind).toBe('stored');
    // Two concurrent writers, one of them still in flight when the takeover starts: its mark counts.
    const a = pausedWriter();
    const wa = tracked(a.w.write(part('c4', 6_000, { replica: 'a', epoch: 1 })));
    await a.entered;
    const to = tracked(
      leases.takeOver({ cluster: 'c4', expectedEpoch: 1, newLeader: 'b', challengerMaxTime: 10 * T, newUntil: 11 * T, wallNow: 20 * T, leaseTimeout: T }),
    );
    await waitForLockWaiter(admin, '%cluster = $1 AND epoch = $2%');
    a.release();
    expect((await wa.p).kind).toBe('stored');
    expect(await to.p).toMatchObject({ kind: 'won', lease: { leader: 'b', epoch: 2, start: 6_001, until: 11 * T } });
    const [h] = await leases.history({ cluster: 'c4', limit: 1 });
    expect(h).toMatchObject({ epoch: 2, oldLeader: 'a', oldStart: 0, oldUntil: 6_001, newStart: 6_001, leaseUntil: 10 * T, splice: 'committed' });
    // The old leader at or past the splice fails its fence; its late data before the splice is still stored.
    expect(await writer().write(part('c4', 6_001, { replica: 'a', epoch: 1 }))).toMatchObject({ kind: 'fence-failed', current: { leader: 'b' } });
    expect((await writer().write(part('c4', 5_500, { replica: 'a', epoch: 1 }))).kind).toBe('stored');
    expect((await writer().write(part('c4', 6_001, { replica: 'b', epoch: 2 }))).kind).toBe('stored');
    // The old epoch's marks are gone; filled samples are recorded per instance.
    const marks = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM ha_commit_mark WHERE cluster = 'c4' AND epoch = 1");
    expect(marks.rows[0]!.n).toBe(0);
    await leases.recordFill('c4', 2, 'i1', 7);
    await leases.recordFill('c4', 2, 'i1', 3);
    await leases.recordFill('c4', 2, 'i2', 1);
    expect((await leases.history({ cluster: 'c4', limit: 1 }))[0]?.filled).toEqual({ i1: 10, i2: 1 });
  });

  it('a session of an older build (no marks) makes the takeover splice at the old until; nothing committed, too', async () => {
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('c5', 'a', 0, 10 * T, 0);
    // An old build's writer commits without a mark; all the takeover can see of it is its session's application
    // name (unversioned), which this connection imitates.
    const old = new pg.Pool({ connectionString: uri, max: 1, application_name: 'promha-ingest' });
    old.on('error', () => undefined);
    const held = await old.connect();
    try {
      expect((await writer().write(part('c5', 5_000, { replica: 'a', epoch: 1 }))).kind).toBe('stored');
      const won = await leases.takeOver({ cluster: 'c5', expectedEpoch: 1, newLeader: 'b', challengerMaxTime: 10 * T, newUntil: 11 * T, wallNow: 20 * T, leaseTimeout: T });
      expect(won).toMatchObject({ kind: 'won', lease: { start: 10 * T } });
      expect((await leases.history({ cluster: 'c5', limit: 1 }))[0]?.splice).toBe('lease-until: older build connected');
    } finally {
      held.release();
      await old.end();
    }
    await leases.create('c6', 'a', 0, 10 * T, 0);
    const won = await leases.takeOver({ cluster: 'c6', expectedEpoch: 1, newLeader: 'b', challengerMaxTime: 10 * T, newUntil: 11 * T, wallNow: 20 * T, leaseTimeout: T });
    expect(won).toMatchObject({ kind: 'won', lease: { start: 10 * T } });
    expect((await leases.history({ cluster: 'c6', limit: 1 }))[0]?.splice).toBe('lease-until: nothing committed');
  });

  it('a failed fence rolls back only its own part; other parts of the same batch commit', async () => {
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('c3', 'a', 0, T, 0);
    const w = writer();
    const [ok, bad, plain] = await Promise.all([
      w.write(part('c3', 10, { replica: 'a', epoch: 1 })),
      w.write(part('c3', 11, { replica: 'z', epoch: 1 })),
      w.write({ series: [{ labels: [{ name: '__name__', value: 'plain' }], samples: [{ timestamp: 12, value: 1 }], histograms: [], exemplars: [] }] }),
    ]);
    expect(ok.kind).toBe('stored');
    expect(bad).toMatchObject({ kind: 'fence-failed', current: { leader: 'a' } });
    expect(plain.kind).toBe('stored');
    const r = await pools[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM sample_chunk c, unnest(c.ts) t WHERE t IN (10, 11, 12)');
    expect(r.rows[0]!.n).toBe(2);
    // The pipelined flush saw a part not holding on its lease, rolled back, and flushed a statement at a time.
    expect(w.flushes).toEqual({ pipelined: 0, sequential: 1 });
  });

  it('a batch whose parts all hold commits in two round trips: data, commit marks and the extension, as a statement at a time does', async () => {
    const leases = new PgLeaseStore(pool(), 'instance');
    await leases.create('all-hold-p', 'a', 0, T, 0);
    await leases.create('all-hold-s', 'a', 0, T, 0);
    const marks = async (cluster: string): Promise<number[]> =>
      (await pools[0]!.query<{ max_t: number }>('SELECT max_t FROM ha_commit_mark WHERE cluster = $1 ORDER BY max_t', [cluster])).rows.map((m) => m.max_t);
    for (const pipelined of [true, false]) {
      const [cluster, t] = pipelined ? (['all-hold-p', 100] as const) : (['all-hold-s', 200] as const);
      const w = new SampleWriter(pool(), new SeriesCache(100), { maxBatchSamples: 10_000, maxConcurrentFlushes: 1, databaseClock: 'instance', pipelined });
      const outcomes = await Promise.all([
        w.write({ ...part(cluster, t, { replica: 'a', epoch: 1, extendUntil: 3 * T }), idempotencyKey: `${cluster}-1` }),
        w.write({ ...part(cluster, t + 1, { replica: 'a', epoch: 1 }), idempotencyKey: `${cluster}-2` }),
        w.write({ ...part(cluster, t + 1, { replica: 'a', epoch: 1 }), idempotencyKey: `${cluster}-2` }),
      ]);
      expect(outcomes.map((o) => o.kind)).toEqual(['stored', 'stored', 'stored']);
      expect(w.flushes).toEqual(pipelined ? { pipelined: 1, sequential: 0 } : { pipelined: 0, sequential: 1 });
      const r = await pools[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM sample_chunk c, unnest(c.ts) t WHERE t IN ($1, $2)', [t, t + 1]);
      // The third part repeats the second's key: claimed once, written once.
      expect(r.rows[0]!.n).toBe(2);
      expect(await marks(cluster)).toEqual([t + 1]);
      expect((await leases.get(cluster))?.until).toBe(3 * T);
    }
  });
});
