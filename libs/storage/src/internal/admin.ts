/**
 * One plain connection for harnesses that act on the database from outside the service: the simulator's faults
 * (terminating backends) and its deterministic mode (lock waits, a fresh run on a migrated database). The service
 * never uses it.
 */
import pg from 'pg';
import { SCHEMA } from './migrations.js';

export interface DatabaseAdmin {
  /**
   * Terminates the backends of this database other than this connection's, as a DBA, a failover or a restart
   * does: all of them, only those running a statement or inside a transaction (`busyOnly`), or the given pids.
   * Resolves to the pids terminated, once those backends have exited (their locks released).
   */
  terminateBackends(options?: { readonly busyOnly?: boolean; readonly pids?: readonly number[] }): Promise<number[]>;
  /** Cancels the backend's running statement (`pg_cancel_backend`), as its statement timeout would. */
  cancelStatement(pid: number): Promise<void>;
  /** Whether the backend waits for a lock that another session holds (`pg_blocking_pids`). */
  isBlocked(pid: number): Promise<boolean>;
  /** Empties every table of promha's schema except the migration record and restarts its sequences. */
  truncateAll(): Promise<void>;
  close(): Promise<void>;
}

export async function openDatabaseAdmin(uri: string): Promise<DatabaseAdmin> {
  const client = new pg.Client({ connectionString: uri });
  // This connection may be terminated along with the others (a restart fault): a later query reports it.
  client.on('error', () => undefined);
  await client.connect();
  return {
    async terminateBackends(options = {}) {
      const r = await client.query<{ pid: number }>(
        // OFFSET 0 keeps the filter from being merged with the call: conditions are not evaluated in written order.
        `SELECT pid FROM (
           SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
             AND ($1::int[] IS NULL OR pid = ANY($1::int[]))
             AND (NOT $2::boolean OR state IN ('active', 'idle in transaction', 'idle in transaction (aborted)'))
           OFFSET 0
         ) s WHERE pg_terminate_backend(pid) ORDER BY pid`,
        [options.pids === undefined ? null : [...options.pids], options.busyOnly ?? false],
      );
      const pids = r.rows.map((row) => row.pid);
      for (let i = 0; i < 500 && pids.length > 0; i++) {
        const left = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])', [pids]);
        if (left.rows[0]?.n === '0') break;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return pids;
    },
    async cancelStatement(pid) {
      await client.query('SELECT pg_cancel_backend($1)', [pid]);
    },
    async isBlocked(pid) {
      const r = await client.query<{ b: boolean }>('SELECT cardinality(pg_blocking_pids($1)) > 0 AS b', [pid]);
      return r.rows[0]?.b === true;
    },
    async truncateAll() {
      const r = await client.query<{ t: string | null }>(
        `SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ') AS t FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'schema_version'`,
        [SCHEMA],
      );
      const tables = r.rows[0]?.t;
      if (tables !== null && tables !== undefined) await client.query(`TRUNCATE ${tables} RESTART IDENTITY CASCADE`);
    },
    close: () => client.end(),
  };
}
