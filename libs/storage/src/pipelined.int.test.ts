import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from './internal/connection.js';
import { leavesConnectionBroken, toStorageError } from './internal/errors.js';
import { pipeline, PipelineFailure, type Step } from './internal/pipelined.js';
import { run, statement, withoutStatementNames } from './internal/statements.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

let db: TestDatabase;
let uri: string;

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  const c = new pg.Client({ connectionString: uri });
  await c.connect();
  await c.query('CREATE TABLE pipelined (a int PRIMARY KEY)');
  await c.end();
});
afterAll(async () => {
  await db.stop();
});

const INSERT = statement('promha_test_pipelined_insert', 'INSERT INTO pipelined (a) SELECT unnest($1::int[]) RETURNING a');
const COUNT = statement('promha_test_pipelined_count', 'SELECT count(*)::int AS n FROM pipelined WHERE a >= $1 AND a < $2');

async function withConnected<T>(f: (client: pg.Client) => Promise<T>, Client: typeof pg.Client = pg.Client): Promise<T> {
  const client = new Client({ connectionString: uri });
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end();
  }
}

async function count(client: pg.ClientBase, from: number, to: number): Promise<number> {
  return (await client.query<{ n: number }>(COUNT.text, [from, to])).rows[0]!.n;
}

interface Wire {
  readonly stream: { write: (...args: unknown[]) => boolean; on(e: 'data', f: () => void): void };
}

describe('a pipeline', () => {
  it('writes every step before the first answer comes back, and answers each step', async () => {
    await withConnected(async (client) => {
      const stream = (client as unknown as { connection: Wire }).connection.stream;
      let answered = false;
      let writesAfterAnswer = 0;
      const write = stream.write.bind(stream);
      stream.write = (...args: unknown[]): boolean => {
        if (answered) writesAfterAnswer++;
        return write(...args);
      };
      stream.on('data', () => (answered = true));
      const steps: Step[] = [
        { text: 'BEGIN' },
        { statement: INSERT, values: [[1, 2]] },
        { copy: 'COPY pipelined FROM STDIN', data: Buffer.from('3\n4\n5\n') },
        { statement: COUNT, values: [1, 6] },
        { text: 'COMMIT' },
      ];
      const results = await pipeline(client, steps);
      expect(writesAfterAnswer).toBe(0);
      expect(results.map((r) => r.command)).toEqual(['BEGIN', 'INSERT', 'COPY', 'SELECT', 'COMMIT']);
      expect(results[1]!.rows).toEqual([{ a: 1 }, { a: 2 }]);
      expect(results[2]!.rowCount).toBe(3);
      expect(results[3]!.rows).toEqual([{ n: 5 }]);
      expect(await count(client, 1, 6)).toBe(5);
    });
  });

  it('prepares a named statement once per connection, and mixes with ordinary queries', async () => {
    await withConnected(async (client) => {
      await pipeline(client, [{ statement: INSERT, values: [[10]] }]);
      await pipeline(client, [{ statement: INSERT, values: [[11]] }]);
      expect((await client.query<{ x: number }>('SELECT 7 AS x')).rows).toEqual([{ x: 7 }]);
      const names = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
      expect(names.rows.map((r) => r.name)).toEqual(['promha_test_pipelined_insert']);
      expect(await count(client, 10, 12)).toBe(2);
    });
  });

  it('leaves its named statements to pg as prepared: a later failing call of one does not make pg prepare it twice', async () => {
    await withConnected(async (client) => {
      await pipeline(client, [{ statement: INSERT, values: [[50]] }]);
      await expect(run(client, INSERT, [[50]])).rejects.toMatchObject({ code: '23505' });
      expect((await run<{ a: number }>(client, INSERT, [[51]])).rows).toEqual([{ a: 51 }]);
    });
  });

  it('sends statements unnamed from a client without statement names', async () => {
    await withConnected(
      async (client) => {
        await pipeline(client, [
          { statement: INSERT, values: [[20]] },
          { statement: COUNT, values: [20, 21] },
        ]);
        const names = await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
        expect(names.rows).toEqual([]);
        expect(await count(client, 20, 21)).toBe(1);
      },
      withoutStatementNames(pg.Client),
    );
  });

  it('fails at the failing step, skips the rest (a COPY behind it included) and leaves the transaction to roll back', async () => {
    await withConnected(async (client) => {
      const failure = await pipeline(client, [
        { text: 'BEGIN' },
        { statement: INSERT, values: [[30]] },
        { statement: INSERT, values: [[30]] },
        { copy: 'COPY pipelined FROM STDIN', data: Buffer.from('31\n') },
        { text: 'COMMIT' },
      ]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(PipelineFailure);
      expect((failure as PipelineFailure).step).toBe(2);
      expect((failure as PipelineFailure).error).toMatchObject({ code: '23505' });
      expect(toStorageError(failure)).toMatchObject({ sqlState: '23505' });
      // The server skipped to the Sync, dropping the COPY's data; the connection is in step, in the aborted transaction.
      await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await client.query('ROLLBACK');
      expect(await count(client, 30, 32)).toBe(0);
    });
  });

  it('is released as broken after a failure, so the pool drops its connection', async () => {
    const pool = new pg.Pool({ connectionString: uri, max: 1 });
    pool.on('error', () => undefined);
    try {
      let failed: pg.PoolClient | undefined;
      const failure = await withClient(pool, (client) => {
        failed = client;
        return pipeline(client, [{ statement: INSERT, values: [[40, 40]] }]);
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toMatchObject({ name: 'StorageError', sqlState: '23505' });
      // A pool of one connection hands out another: the failed one was dropped.
      await withClient(pool, async (client) => {
        expect(client).not.toBe(failed);
        expect((await client.query<{ x: number }>('SELECT 3 AS x')).rows[0]?.x).toBe(3);
      });
    } finally {
      await pool.end();
    }
  });

  it('reports a session terminated under it at the step the server was running', async () => {
    await withConnected(async (admin) => {
      const client = new pg.Client({ connectionString: uri });
      client.on('error', () => undefined);
      await client.connect();
      const pid = (client as unknown as { processID: number }).processID;
      const pending = pipeline(client, [{ text: 'BEGIN' }, { text: 'SELECT pg_sleep(30)' }, { text: 'COMMIT' }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      for (;;) {
        const r = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%' AND state = 'active'`, [pid]);
        if (r.rows[0]!.n > 0) break;
      }
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const failure = (await pending) as PipelineFailure;
      expect(failure).toBeInstanceOf(PipelineFailure);
      expect(failure.step).toBe(1);
      expect(failure.error).toMatchObject({ code: '57P01' });
      expect(leavesConnectionBroken(failure)).toBe(true);
    });
  });
});
