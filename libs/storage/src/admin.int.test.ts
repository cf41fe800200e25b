import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStorage } from './index.js';
import { openDatabaseAdmin, startTestDatabase } from './testing.js';

async function connect(uri: string): Promise<{ client: pg.Client; errors: unknown[] }> {
  const client = new pg.Client({ connectionString: uri });
  const errors: unknown[] = [];
  client.on('error', (e: unknown) => errors.push(e));
  await client.connect();
  return { client, errors };
}

describe('database admin (simulator faults and inspection)', () => {
  it('terminates busy backends only when asked, sees a lock wait, and empties the schema', async () => {
    const db = await startTestDatabase();
    const uri = await db.createDatabase();
    const storage = await openStorage({ uri });
    await storage.migrate();
    await storage.close();
    const admin = await openDatabaseAdmin(uri);
    const idle = await connect(uri);
    const busy = await connect(uri);
    const waiter = await connect(uri);
    await busy.client.query('BEGIN');
    await busy.client.query("INSERT INTO promha.ha_lease_history (cluster, epoch, new_leader, new_start, wall_time, reason) VALUES ('c', 1, 'r', 0, 0, 'initial')");
    await busy.client.query('LOCK TABLE promha.ha_lease IN ACCESS EXCLUSIVE MODE');
    const pid = (c: pg.Client): number => (c as unknown as { processID: number }).processID;
    const waiting = waiter.client.query('SELECT count(*) FROM promha.ha_lease').catch((e: unknown) => e);
    let blocked = false;
    for (let i = 0; i < 200 && !blocked; i++) blocked = await admin.isBlocked(pid(waiter.client));
    expect(blocked).toBe(true);
    expect(await admin.isBlocked(pid(idle.client))).toBe(false);
    // The waiter is active and the locker idle in transaction: both busy; the idle session stays.
    expect(await admin.terminateBackends({ busyOnly: true })).toEqual([pid(busy.client), pid(waiter.client)].sort((a, b) => a - b));
    await waiting;
    await expect(idle.client.query('SELECT 1')).resolves.toBeDefined();
    expect(busy.errors.length + (await busy.client.query('SELECT 1').then(() => 0, () => 1))).toBeGreaterThan(0);
    const writer = await connect(uri);
    await writer.client.query("INSERT INTO promha.ha_lease_history (cluster, epoch, new_leader, new_start, wall_time, reason) VALUES ('c', 1, 'r', 0, 0, 'initial')");
    await admin.truncateAll();
    const left = await writer.client.query<{ n: string }>('SELECT count(*) AS n FROM promha.ha_lease_history');
    expect(left.rows[0]?.n).toBe('0');
    const version = await writer.client.query<{ n: string }>('SELECT count(*) AS n FROM promha.schema_version');
    expect(Number(version.rows[0]?.n)).toBeGreaterThan(0);
    expect(await admin.terminateBackends({ pids: [pid(writer.client)] })).toEqual([pid(writer.client)]);
    await Promise.all([idle.client.end(), writer.client.end().catch(() => undefined), busy.client.end().catch(() => undefined), waiter.client.end().catch(() => undefined)]);
    await admin.close();
    await db.stop();
  });
});
