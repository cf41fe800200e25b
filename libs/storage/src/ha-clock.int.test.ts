import { Election, type Clock } from '@promha/election';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

// Rule 5's wall-clock test ("no instance heard from the leader for the lease timeout") compares times of one clock,
// the database server's. Three instances share one database: one on the right time, one ten minutes ahead, one ten
// minutes behind. Their clocks must change nothing.
const TEN_MINUTES = 600_000;
const T = 1_000;

let db: TestDatabase;
let uri: string;
let storage: Storage;
let sql: pg.Client;

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  storage = await openStorage({ uri });
  await storage.migrate();
  sql = new pg.Client({ connectionString: uri });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await storage.close();
  await db.stop();
});

const instance = async (skewMs: number): Promise<Election> => {
  const clock: Clock = { now: () => Date.now() + skewMs };
  const e = new Election({ store: storage.leases, clock, options: { leaseTimeoutMs: T, leaseRefreshMs: 250 } });
  await e.start();
  return e;
};

const row = async (cluster: string): Promise<{ leader: string; lastSeen: number; dbNow: number }> => {
  const r = await sql.query<{ leader: string; last_seen: string; db_now: string }>(
    `SELECT leader, leader_last_seen_wall AS last_seen, (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS db_now
     FROM promha.ha_lease WHERE cluster = $1`,
    [cluster],
  );
  const x = r.rows[0]!;
  return { leader: x.leader, lastSeen: Number(x.last_seen), dbNow: Number(x.db_now) };
};

describe('one clock for the HA guard: the database server’s', () => {
  it('an instance ten minutes ahead cannot hasten a takeover: the leader it calls silent was heard just now', async () => {
    const [onTime, ahead] = [await instance(0), await instance(TEN_MINUTES)];
    const c = 'clock-ahead';
    expect(await onTime.decide({ cluster: c, replica: 'r0', minTime: 0, maxTime: 1_000 })).toMatchObject({ kind: 'store' });
    // r1's data has passed the lease's end in data time; only the wall-clock test stands between it and the lease.
    const d = await ahead.decide({ cluster: c, replica: 'r1', minTime: 5_000, maxTime: 5_000 });
    expect(d).toEqual({ kind: 'dedupe', leader: 'r0' });
    expect((await row(c)).leader).toBe('r0');
  });

  it('an instance ten minutes behind cannot block a takeover: a leader silent for twice the timeout is replaced', async () => {
    const [onTime, behind] = [await instance(0), await instance(-TEN_MINUTES)];
    const c = 'clock-behind';
    expect(await onTime.decide({ cluster: c, replica: 'r0', minTime: 0, maxTime: 1_000 })).toMatchObject({ kind: 'store' });
    // The leader was last heard two lease timeouts ago on the database's clock.
    await sql.query('UPDATE promha.ha_lease SET leader_last_seen_wall = leader_last_seen_wall - $2 WHERE cluster = $1', [c, 2 * T]);
    await behind.sync();
    const d = await behind.decide({ cluster: c, replica: 'r1', minTime: 5_000, maxTime: 5_000 });
    expect(d).toMatchObject({ kind: 'store', fence: { replica: 'r1', epoch: 2 } });
    expect((await row(c)).leader).toBe('r1');
  });

  it('stamps the leader last seen on the database’s clock, whatever the clock of the instance that extends it', async () => {
    const ahead = await instance(TEN_MINUTES);
    const c = 'clock-stamp';
    const first = await ahead.decide({ cluster: c, replica: 'r0', minTime: 0, maxTime: 1_000 });
    expect(first).toMatchObject({ kind: 'store' });
    // A write far enough in data time carries an extension, run inside the fenced write's transaction.
    const d = await ahead.decide({ cluster: c, replica: 'r0', minTime: 1_000, maxTime: 1_900 });
    if (d.kind !== 'store') throw new Error(`expected a store decision, got ${JSON.stringify(d)}`);
    expect(d.fence.extendUntil).toBeDefined();
    expect(await storage.write({ series: [], fence: d.fence })).toMatchObject({ kind: 'stored' });
    const r = await row(c);
    // Within a minute of the database's own time: the instance's ten minutes never reach the row.
    expect(Math.abs(r.lastSeen - r.dbNow)).toBeLessThan(60_000);
  });

  it('the instance measures its clock against the database’s', async () => {
    const behind = await instance(-TEN_MINUTES);
    expect(Math.abs(behind.clockOffsetMs() - TEN_MINUTES)).toBeLessThan(60_000);
  });
});
