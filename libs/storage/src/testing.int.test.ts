import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startTestDatabase } from './testing.js';

describe('test database provider', () => {
  it('reuses the run-wide server and hands out isolated databases', async () => {
    const db = await startTestDatabase();
    expect(db.source).toBe('uri');
    expect(db.uri).toBe(process.env['PROMHA_TEST_DB_URI']);
    const a = await db.createDatabase();
    const b = await db.createDatabase();
    expect(a).not.toBe(b);
    const client = new pg.Client({ connectionString: a });
    await client.connect();
    await client.query('CREATE TABLE only_in_a (x int)');
    await client.end();
    const other = new pg.Client({ connectionString: b });
    await other.connect();
    const r = await other.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'only_in_a'");
    await other.end();
    expect(r.rows[0]?.n).toBe('0');
    await db.stop();
  });
});
