import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, statement, withoutStatementNames } from './internal/statements.js';
import { openStorage, StorageError } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

let db: TestDatabase;
let uri: string;

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
});
afterAll(async () => {
  await db.stop();
});

/** The statements prepared on `client`'s own session. */
async function prepared(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return r.rows.map((row) => row.name);
}

const ADD = statement('promha_test_add', 'SELECT $1::int + 1 AS n');

describe('named statements', () => {
  it('are prepared once per connection and answer on every call', async () => {
    const client = new pg.Client({ connectionString: uri });
    await client.connect();
    try {
      for (let i = 0; i < 8; i++) expect((await run<{ n: number }>(client, ADD, [i])).rows).toEqual([{ n: i + 1 }]);
      expect(await prepared(client)).toEqual(['promha_test_add']);
    } finally {
      await client.end();
    }
  });

  it('are sent unnamed by a client without statement names (--db.statements-cache=false)', async () => {
    const Unnamed = withoutStatementNames(pg.Client);
    const client = new Unnamed({ connectionString: uri });
    await client.connect();
    try {
      for (let i = 0; i < 3; i++) expect((await run<{ n: number }>(client, ADD, [i])).rows).toEqual([{ n: i + 1 }]);
      expect((await client.query<{ n: number }>('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
      expect(await prepared(client)).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('refuses one name for two texts', () => {
    expect(() => statement('promha_test_add', 'SELECT $1::int + 2 AS n')).toThrow(/already used/);
    expect(statement('promha_test_add', 'SELECT $1::int + 1 AS n')).toEqual(ADD);
  });

  it('a storage with the statement cache off writes and reads back as with it on', async () => {
    for (const statementsCache of [false, true]) {
      const own = await db.createDatabase();
      const storage = await openStorage({ uri: own, statementsCache });
      try {
        await storage.migrate();
        const t = Date.UTC(2026, 0, 10, 12);
        const series = [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ timestamp: t, value: 1 }], histograms: [], exemplars: [] }];
        // Twice: the second flush runs the statements the first one prepared (or, unnamed, sends them again).
        expect(await storage.write({ series })).toEqual({ kind: 'stored', samples: 1, histograms: 0, exemplars: 0 });
        expect(await storage.write({ series: [{ ...series[0]!, samples: [{ timestamp: t + 1, value: 2 }] }] })).toMatchObject({ kind: 'stored' });
        const got = [];
        for await (const s of storage.querySamples([{ type: 'EQ', name: '__name__', value: 'up' }], t - 1, t + 2)) got.push(s);
        expect(got.map((s) => s.samples.map((x) => x.value))).toEqual([[1, 2]]);
      } finally {
        await storage.close();
      }
    }
  });

  it('a named statement whose result type a migration changed fails once per connection, as transient, then is prepared again', async () => {
    const own = await db.createDatabase();
    const storage = await openStorage({ uri: own, maxConnections: 2 });
    const admin = new pg.Client({ connectionString: own });
    await admin.connect();
    try {
      await storage.migrate();
      const t = Date.UTC(2026, 0, 10, 12);
      const part = (i: number) => ({
        series: [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ timestamp: t + i, value: i }], histograms: [], exemplars: [] }],
        idempotencyKey: `k${i}`,
      });
      // Both connections prepare the claim, whose answer carries write_receipt.key.
      await Promise.all([storage.write(part(0)), storage.write(part(1)), storage.write(part(2))]);
      // What a newer instance's migration could do: the claim's answer changes type under the prepared statement.
      await admin.query('ALTER TABLE promha.write_receipt ALTER COLUMN key TYPE varchar');
      const failures: unknown[] = [];
      for (let i = 3; i < 10; i++) {
        try {
          await storage.write(part(i));
          break;
        } catch (e: unknown) {
          failures.push(e);
        }
      }
      // Seen at least once (else the test proves nothing), at most once per pooled connection, each time retryable.
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.length).toBeLessThanOrEqual(2);
      for (const e of failures) expect(e instanceof StorageError && e.code === 'STORAGE_CONFLICT' && e.retryable).toBe(true);
      const got = [];
      for await (const s of storage.querySamples([{ type: 'EQ', name: '__name__', value: 'up' }], t - 1, t + 10)) got.push(s);
      expect(got[0]!.samples.map((x) => x.value)).toEqual([0, 1, 2, 3 + failures.length]);
    } finally {
      await admin.end();
      await storage.close();
    }
  });
});
