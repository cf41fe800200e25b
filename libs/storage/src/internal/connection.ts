/**
 * Checked-out connections. pg-pool listens for `'error'` on idle clients only: a client checked out with
 * `pool.connect()` whose connection dies (a terminated backend, a PostgreSQL restart, a reset) emits `'error'`
 * with nobody listening, and Node ends the process. Every checkout in this package goes through `withClient`,
 * which listens for the whole checkout and releases a connection that failed as broken, so the pool discards it
 * instead of handing it to the next caller mid-protocol. (`pool.query()` guards its own short checkout.)
 */
import type pg from 'pg';
import { leavesConnectionBroken, sessionLost, StorageError, toStorageError } from './errors.js';

/**
 * Runs `f` on a checked-out client and releases it: healthy when `f` succeeded or failed with an error the server
 * reported cleanly, broken (discarded by the pool) when the connection emitted `'error'` or `f` failed in a way
 * that may have left it mid-protocol. Errors leave as StorageError.
 */
export async function withClient<T>(pool: pg.Pool, f: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e: unknown) {
    throw toStorageError(e);
  }
  let broken: Error | undefined;
  const onError = (e: Error): void => {
    broken ??= e;
  };
  client.on('error', onError);
  try {
    return await f(client);
  } catch (e: unknown) {
    if (broken === undefined && leavesConnectionBroken(e)) broken = e instanceof Error ? e : new Error(String(e));
    throw toStorageError(e);
  } finally {
    // Synchronously from here: pg-pool attaches its idle listener in release(), so the client is never without one.
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/**
 * Runs `f` in a transaction on a checked-out client. When `f` fails the transaction is rolled back, and a
 * ROLLBACK that fails discards the connection. When COMMIT fails because the connection broke, nobody knows
 * whether it committed: that is `STORAGE_OUTCOME_UNKNOWN` (transient), for callers whose writes are recognised
 * when sent again.
 */
export function inTransaction<T>(pool: pg.Pool, f: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    let result: T;
    try {
      result = await f(client);
    } catch (e: unknown) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackFailure: unknown) {
        // The transaction ends with the connection; the pool must not hand this one out again.
        throw new StorageError('STORAGE_UNAVAILABLE', `rollback failed after: ${toStorageError(e).message}`, { cause: rollbackFailure });
      }
      throw e;
    }
    try {
      await client.query('COMMIT');
    } catch (e: unknown) {
      const err = toStorageError(e);
      // A COMMIT the server answered with an error (a serialization failure, a deferred constraint) rolled back.
      if (!sessionLost(err.sqlState)) throw err;
      throw new StorageError('STORAGE_OUTCOME_UNKNOWN', `commit outcome unknown: ${err.message}`, { cause: e });
    }
    return result;
  });
}
