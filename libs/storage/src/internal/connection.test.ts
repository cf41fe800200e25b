import { EventEmitter } from 'node:events';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inTransaction, withClient } from './connection.js';

function dbError(sqlState: string): pg.DatabaseError {
  const e = new pg.DatabaseError(`server says ${sqlState}`, 0, 'error');
  e.code = sqlState;
  e.severity = 'ERROR';
  return e;
}

/** A pool of one scripted client: `answers` maps a statement to what it does; releases are recorded. */
function fakePool(answers: Record<string, () => Promise<unknown>>) {
  const released: (Error | boolean | undefined)[] = [];
  const statements: string[] = [];
  const client = Object.assign(new EventEmitter(), {
    query: (sql: string) => {
      statements.push(sql);
      return (answers[sql] ?? (() => Promise.resolve({ rows: [] })))();
    },
    release: (err?: Error | boolean) => {
      released.push(err);
    },
  });
  const pool = { connect: () => Promise.resolve(client) } as unknown as pg.Pool;
  return { pool, client, released, statements };
}

describe('withClient', () => {
  it('releases healthy after success and after a statement the server rejected', async () => {
    const f = fakePool({ bad: () => Promise.reject(dbError('23505')) });
    await withClient(f.pool, (c) => c.query('ok'));
    await expect(withClient(f.pool, (c) => c.query('bad'))).rejects.toMatchObject({ code: 'STORAGE_DATABASE' });
    expect(f.released).toEqual([undefined, undefined]);
  });

  it('releases broken when the client emitted error, even if the work then succeeded', async () => {
    const f = fakePool({});
    await withClient(f.pool, async (c) => {
      c.emit('error', new Error('Connection terminated unexpectedly'));
      await c.query('ok');
    });
    expect(f.released[0]).toBeInstanceOf(Error);
    // Nobody listens once released: the pool's own idle listener takes over.
    expect(f.client.listenerCount('error')).toBe(0);
  });

  it('releases broken after a driver error (a read timeout leaves the statement running on the socket)', async () => {
    const f = fakePool({ slow: () => Promise.reject(new Error('Query read timeout')) });
    await expect(withClient(f.pool, (c) => c.query('slow'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(f.released[0]).toBeInstanceOf(Error);
  });
});

describe('inTransaction', () => {
  it('discards the connection when ROLLBACK fails', async () => {
    const f = fakePool({ bad: () => Promise.reject(dbError('22012')), ROLLBACK: () => Promise.reject(dbError('57014')) });
    await expect(inTransaction(f.pool, (c) => c.query('bad'))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(f.statements).toEqual(['BEGIN', 'bad', 'ROLLBACK']);
    expect(f.released[0]).toBeInstanceOf(Error);
  });

  it('rolls back and keeps the connection when the work failed cleanly', async () => {
    const f = fakePool({ bad: () => Promise.reject(dbError('22012')) });
    await expect(inTransaction(f.pool, (c) => c.query('bad'))).rejects.toMatchObject({ code: 'STORAGE_INVALID_INPUT' });
    expect(f.statements).toEqual(['BEGIN', 'bad', 'ROLLBACK']);
    expect(f.released).toEqual([undefined]);
  });

  it('reports a COMMIT lost with its connection as outcome unknown, and one the server refused as what it was', async () => {
    const lost = fakePool({ COMMIT: () => Promise.reject(new Error('Connection terminated unexpectedly')) });
    await expect(inTransaction(lost.pool, (c) => c.query('ok'))).rejects.toMatchObject({ code: 'STORAGE_OUTCOME_UNKNOWN', retryable: true });
    expect(lost.released[0]).toBeInstanceOf(Error);
    const refused = fakePool({ COMMIT: () => Promise.reject(dbError('40001')) });
    await expect(inTransaction(refused.pool, (c) => c.query('ok'))).rejects.toMatchObject({ code: 'STORAGE_CONFLICT' });
    expect(refused.released).toEqual([undefined]);
  });
});
