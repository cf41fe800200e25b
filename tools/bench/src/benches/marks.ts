/**
 * `npm run bench -- marks`: what recording the last committed data time costs a fenced write transaction
 * (docs/decisions/0007-splice-point.md). Each transaction is the shape of a flush: BEGIN, the fence's
 * `FOR KEY SHARE` on the lease row, 500 rows inserted, the mark, COMMIT; N connections at once, all on one
 * cluster's lease. Candidates (same run, alternating rounds):
 * - `none`: no mark (before the splice point);
 * - `in-lock`: upsert of the writer's own row (cluster, epoch, backend) in the lock statement itself (a
 *   data-modifying CTE beside the `FOR KEY SHARE`): what promha does, no extra round trip;
 * - `per-backend`: the same upsert as a statement of its own;
 * - `single-row`: one row per (cluster, epoch) updated by every writer (serializes them on its row lock);
 * - `append`: one inserted row per transaction (the takeover reads the maximum and deletes them).
 * Unit: transactions per second (`ops/s`).
 */
import { startTestDatabase } from '@promha/storage/testing';
import { openStorage } from '@promha/storage';
import pg from 'pg';
import { measurement, median, type Bench, type Measurement } from '../harness.js';

const ROUNDS = 5;
const ROUND_MS = 2_000;
const CONNECTIONS = [2, 8];
type Candidate = 'none' | 'in-lock' | 'per-backend' | 'single-row' | 'append';
const CANDIDATES: readonly Candidate[] = ['none', 'in-lock', 'per-backend', 'single-row', 'append'];
const LOCK_SQL = `SELECT epoch FROM ha_lease WHERE cluster = 'bench' FOR KEY SHARE`;
const LOCK_AND_MARK_SQL = `WITH locked AS (${LOCK_SQL}), mark AS (
  INSERT INTO ha_commit_mark (cluster, epoch, backend, max_t) SELECT 'bench', l.epoch, pg_backend_pid(), $1 FROM locked l
  ON CONFLICT (cluster, epoch, backend) DO UPDATE SET max_t = greatest(ha_commit_mark.max_t, excluded.max_t))
SELECT * FROM locked`;

const MARK_SQL: Readonly<Record<Candidate, string | undefined>> = {
  none: undefined,
  'in-lock': undefined,
  'per-backend': `INSERT INTO ha_commit_mark (cluster, epoch, backend, max_t) VALUES ('bench', 1, pg_backend_pid(), $1)
    ON CONFLICT (cluster, epoch, backend) DO UPDATE SET max_t = greatest(ha_commit_mark.max_t, excluded.max_t)`,
  'single-row': `UPDATE bench_mark_single SET max_t = greatest(max_t, $1) WHERE cluster = 'bench' AND epoch = 1`,
  append: `INSERT INTO bench_mark_append (cluster, epoch, max_t) VALUES ('bench', 1, $1)`,
};

async function round(pool: pg.Pool, connections: number, candidate: Candidate, t0: number): Promise<number> {
  const end = Date.now() + ROUND_MS;
  let done = 0;
  let t = t0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = await pool.connect();
      try {
        while (Date.now() < end) {
          const mine = (t += 1000);
          await c.query('BEGIN');
          if (candidate === 'in-lock') await c.query(LOCK_AND_MARK_SQL, [mine]);
          else await c.query(LOCK_SQL);
          await c.query('INSERT INTO bench_rows SELECT g, $1::bigint, g FROM generate_series(1, 500) g', [mine]);
          const mark = MARK_SQL[candidate];
          if (mark !== undefined) await c.query(mark, [mine]);
          await c.query('COMMIT');
          done++;
        }
      } finally {
        c.release();
      }
    }),
  );
  return done / (ROUND_MS / 1000);
}

async function* run(): AsyncIterable<Measurement> {
  const db = await startTestDatabase();
  const uri = await db.createDatabase();
  const storage = await openStorage({ uri, maxConnections: 2 });
  const pool = new pg.Pool({ connectionString: uri, max: Math.max(...CONNECTIONS), options: '-c search_path=promha' });
  // Idle connections see the server stop at the end; nothing to do about it.
  pool.on('error', () => undefined);
  try {
    await storage.migrate();
    await pool.query(`
      CREATE TABLE bench_rows (series bigint, t bigint, v float8);
      CREATE TABLE bench_mark_single (cluster text, epoch bigint, max_t bigint, PRIMARY KEY (cluster, epoch));
      CREATE TABLE bench_mark_append (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, cluster text, epoch bigint, max_t bigint);
      CREATE INDEX ON bench_mark_append (cluster, epoch);
      INSERT INTO bench_mark_single VALUES ('bench', 1, 0);
      INSERT INTO ha_lease (cluster, leader, epoch, start_t, until_t, last_leader_sample_t, leader_last_seen_wall, updated_wall)
        VALUES ('bench', 'r1', 1, 0, 1, 0, 0, 0);`);
    for (const connections of CONNECTIONS) {
      const rates = new Map<Candidate, number[]>(CANDIDATES.map((c) => [c, []]));
      for (let r = 0; r <= ROUNDS; r++) {
        for (let k = 0; k < CANDIDATES.length; k++) {
          const candidate = CANDIDATES[(k + r) % CANDIDATES.length]!;
          const rate = await round(pool, connections, candidate, r * 1e9);
          if (r > 0) rates.get(candidate)!.push(rate);
        }
        await pool.query('TRUNCATE bench_rows, bench_mark_append');
      }
      const none = median(rates.get('none')!);
      for (const c of CANDIDATES.filter((x) => x !== 'none')) {
        yield measurement(`marks.${c}.x${String(connections)}`, 'ops/s', median(rates.get(c)!), `no mark, x${String(connections)}`, none);
      }
    }
  } finally {
    await pool.end();
    await storage.close();
    await db.stop();
  }
}

export const benches: readonly Bench[] = [{ name: 'marks', run }];
