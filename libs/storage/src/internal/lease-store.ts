import type { CasResult, ExtendRequest, Lease, LeaseChange, LeaseStore, StoreSnapshot, TakeoverRequest } from '@promha/election';
import type pg from 'pg';
import type { GuardClock } from '../api.js';
import { inTransaction } from './connection.js';
import { toStorageError } from './errors.js';

export interface LeaseRow {
  cluster: string;
  leader: string;
  epoch: number;
  start_t: number;
  until_t: number;
  last_leader_sample_t: number;
  leader_last_seen_wall: number;
  updated_wall: number;
}

interface HistoryRow {
  cluster: string;
  epoch: number;
  old_leader: string | null;
  new_leader: string;
  old_start: number | null;
  old_until: number | null;
  new_start: number;
  wall_time: number;
  reason: string;
  lease_until: number | null;
  splice: string | null;
  filled: Record<string, number>;
}

export const LEASE_COLUMNS = 'cluster, leader, epoch, start_t, until_t, last_leader_sample_t, leader_last_seen_wall, updated_wall';

const HISTORY_COLUMNS = 'cluster, epoch, old_leader, new_leader, old_start, old_until, new_start, wall_time, reason, lease_until, splice, filled';

function toLeaseChange(r: HistoryRow): LeaseChange {
  return {
    cluster: r.cluster,
    epoch: r.epoch,
    oldLeader: r.old_leader,
    newLeader: r.new_leader,
    oldStart: r.old_start,
    oldUntil: r.old_until,
    newStart: r.new_start,
    wallTime: r.wall_time,
    reason: r.reason === 'initial' ? 'initial' : 'takeover',
    leaseUntil: r.lease_until,
    splice: r.splice,
    filled: r.filled,
  };
}

/** An integer for statement text, checked: the simple protocol has no parameters. */
function integer(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not an integer: ${n}`);
  return String(n);
}

export function toLease(r: LeaseRow): Lease {
  return {
    cluster: r.cluster,
    leader: r.leader,
    epoch: r.epoch,
    start: r.start_t,
    until: r.until_t,
    lastLeaderSampleTime: r.last_leader_sample_t,
    leaderLastSeenWall: r.leader_last_seen_wall,
    updatedWall: r.updated_wall,
  };
}

/** {@link databaseNow} with the time given as any SQL expression (`NULL`: the server's clock). */
const databaseNowOr = (given: string): string => `coalesce(${given}::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)`;

/**
 * The HA guard's clock (docs/design.md rule 5): milliseconds on the database server's clock, unless `$n` carries a
 * time (see {@link guardTime}). Every instance stamps the leader's last-seen and tests the lease timeout with this
 * one clock, so an instance whose own clock is off can neither block a takeover nor hasten one.
 */
export const databaseNow = (n: number): string => databaseNowOr(`$${n}`);

/** What a statement passes as `$n` of {@link databaseNow}, given the wall time its instance's step carries. */
export function guardTime(clock: GuardClock, wallNow: number): number | null {
  return clock === 'server' ? null : clock === 'instance' ? wallNow : clock();
}

const CREATE_SQL = `
WITH ins AS (
  INSERT INTO ha_lease (${LEASE_COLUMNS})
  SELECT $1::text, $2::text, 1, $3::bigint, $4::bigint, $3::bigint, now.ms, now.ms FROM (SELECT ${databaseNow(5)} AS ms) now
  -- No conflict target: a racing create of the same cluster can collide on UNIQUE (cluster, epoch) before the
  -- primary key, and only arbiter indexes turn a collision into DO NOTHING (with a target it is an error).
  ON CONFLICT DO NOTHING
  RETURNING ${LEASE_COLUMNS}
), h AS (
  INSERT INTO ha_lease_history (cluster, epoch, old_leader, new_leader, old_start, old_until, new_start, wall_time, reason)
  SELECT cluster, epoch, NULL, leader, NULL, NULL, start_t, updated_wall, 'initial' FROM ins
)
SELECT * FROM ins`;

// The store keeps the greater of the stored and requested values, so a late or reordered extension never moves
// `until` (or last-seen) backwards. Only non-key columns change: FOR NO KEY UPDATE, compatible with fenced writers.
// The fenced writer runs the same extension inside its flush transaction (fence.ts).
export const EXTEND_LEASE_SQL = `
UPDATE ha_lease SET
  until_t = greatest(until_t, $4),
  last_leader_sample_t = greatest(last_leader_sample_t, $5),
  leader_last_seen_wall = CASE WHEN $7::boolean THEN greatest(leader_last_seen_wall, ${databaseNow(6)}) ELSE leader_last_seen_wall END,
  updated_wall = ${databaseNow(6)}
WHERE cluster = $1 AND leader = $2 AND epoch = $3`;
const EXTEND_SQL = `${EXTEND_LEASE_SQL}
RETURNING ${LEASE_COLUMNS}`;

/**
 * The first schema version whose writers record commit marks. A takeover that sees a promha session of an older
 * build (its application name carries no version, or an older one) cannot trust the marks, since that writer
 * commits without them, and splices at the old lease's `until` as builds before it did (docs/decisions/0007).
 */
export const MARKS_SINCE_SCHEMA = 5;

/** Application names of promha sessions: `promha` or `promha-ingest`, with `/<schema version>` since version 5. */
const OLDER_WRITER_SQL = `
SELECT EXISTS (
  SELECT 1 FROM pg_stat_activity
  WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name ~ '^promha(-ingest)?(/[0-9]{1,9})?$'
    AND coalesce(substring(application_name from '/([0-9]{1,9})$')::int, 0) < ${MARKS_SINCE_SCHEMA}
) AS present`;

// A takeover changes epoch (covered by UNIQUE (cluster, epoch)), so its FOR UPDATE waits for every fenced writer
// holding FOR KEY SHARE. It runs as two statements in one transaction: the lock first, then the update in a fresh
// snapshot (READ COMMITTED takes one per statement), which therefore sees the commit marks of every writer it waited
// for. One statement could not: its snapshot predates the commits it waits for, only the locked row is re-read.
const TAKEOVER_LOCK_SQL = `SELECT 1 FROM ha_lease WHERE cluster = $1 AND epoch = $2 AND leader <> $3 FOR UPDATE`;

// The splice point (docs/design.md rule 6): just after the old epoch's greatest committed data time, never before the
// old start; the old `until` when nothing was committed or an older build may have written without marks ($8).
const TAKEOVER_SQL = `
WITH old AS (
  SELECT leader, start_t, until_t, epoch FROM ha_lease WHERE cluster = $1
), mark AS (
  SELECT max(max_t) AS t FROM ha_commit_mark WHERE cluster = $1 AND epoch = $2
), splice AS (
  SELECT
    CASE WHEN $8::boolean OR mark.t IS NULL THEN old.until_t ELSE least(old.until_t, greatest(old.start_t, mark.t + 1)) END AS t,
    CASE WHEN $8::boolean THEN 'lease-until: older build connected' WHEN mark.t IS NULL THEN 'lease-until: nothing committed'
         ELSE 'committed' END AS how
  FROM old, mark
), upd AS (
  UPDATE ha_lease SET
    leader = $3,
    epoch = epoch + 1,
    start_t = (SELECT t FROM splice),
    until_t = greatest($5::bigint, until_t),
    last_leader_sample_t = $4,
    leader_last_seen_wall = ${databaseNow(6)},
    updated_wall = ${databaseNow(6)}
  WHERE cluster = $1 AND epoch = $2
    AND until_t <= $4
    AND leader_last_seen_wall <= ${databaseNow(6)} - $7::bigint
    AND leader <> $3
  RETURNING ${LEASE_COLUMNS}
), h AS (
  INSERT INTO ha_lease_history (cluster, epoch, old_leader, new_leader, old_start, old_until, new_start, wall_time, reason, lease_until, splice)
  SELECT upd.cluster, upd.epoch, old.leader, upd.leader, old.start_t, upd.start_t, upd.start_t, upd.updated_wall, 'takeover', old.until_t, splice.how
  FROM upd JOIN old ON old.epoch = upd.epoch - 1 CROSS JOIN splice
), d AS (
  DELETE FROM ha_commit_mark WHERE cluster = $1 AND epoch <= $2 AND EXISTS (SELECT 1 FROM upd)
)
SELECT * FROM upd`;

/** The PostgreSQL LeaseStore: every mutation is one statement (a compare-and-set with its history row). */
export class PgLeaseStore implements LeaseStore {
  /** The guard's clock, for the instance to measure its own clock's offset; none when instances are trusted. */
  readonly now: (() => Promise<number>) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: GuardClock = 'server',
  ) {
    const fn = clock;
    this.now =
      fn === 'instance'
        ? undefined
        : async () => {
            const r = await this.q<{ ms: string }>(`SELECT ${databaseNow(1)} AS ms`, [guardTime(fn, 0)]);
            return Number(r[0]!.ms);
          };
  }

  async loadAll(): Promise<readonly Lease[]> {
    const r = await this.q<LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM ha_lease ORDER BY cluster`, []);
    return r.map(toLease);
  }

  async get(cluster: string): Promise<Lease | undefined> {
    const r = await this.q<LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM ha_lease WHERE cluster = $1`, [cluster]);
    return r[0] === undefined ? undefined : toLease(r[0]);
  }

  async create(cluster: string, leader: string, start: number, until: number, wallNow: number): Promise<CasResult> {
    return this.cas(cluster, CREATE_SQL, [cluster, leader, start, until, guardTime(this.clock, wallNow)]);
  }

  async extend(req: ExtendRequest): Promise<CasResult> {
    return this.cas(req.cluster, EXTEND_SQL, [req.cluster, req.leader, req.epoch, req.until, req.lastLeaderSampleTime, guardTime(this.clock, req.wallNow), true]);
  }

  async takeOver(req: TakeoverRequest): Promise<CasResult> {
    let rows: LeaseRow[];
    try {
      rows = await inTransaction(this.pool, async (client) => {
        const locked = await client.query(TAKEOVER_LOCK_SQL, [req.cluster, req.expectedEpoch, req.newLeader]);
        if (locked.rowCount === 0) return [];
        const older = await client.query<{ present: boolean }>(OLDER_WRITER_SQL);
        const r = await client.query<LeaseRow>(TAKEOVER_SQL, [
          req.cluster,
          req.expectedEpoch,
          req.newLeader,
          req.challengerMaxTime,
          req.newUntil,
          guardTime(this.clock, req.wallNow),
          req.leaseTimeout,
          older.rows[0]?.present === true,
        ]);
        return r.rows;
      });
    } catch (e: unknown) {
      throw toStorageError(e);
    }
    const won = rows[0];
    if (won !== undefined) return { kind: 'won', lease: toLease(won) };
    return { kind: 'lost', current: await this.get(req.cluster) };
  }

  /** Adds `samples` filled by `instance` from its standby buffer into the lease of `epoch` to that history row. */
  async recordFill(cluster: string, epoch: number, instance: string, samples: number): Promise<void> {
    await this.q(
      `UPDATE ha_lease_history SET filled = jsonb_set(filled, ARRAY[$3::text], to_jsonb(coalesce((filled->>$3)::bigint, 0) + $4::bigint))
       WHERE cluster = $1 AND epoch = $2`,
      [cluster, epoch, instance, samples],
    );
  }

  async history(options: { readonly cluster?: string; readonly limit: number }): Promise<readonly LeaseChange[]> {
    const rows = await this.q<HistoryRow>(`SELECT ${HISTORY_COLUMNS} FROM ha_lease_history WHERE ($1::text IS NULL OR cluster = $1) ORDER BY id DESC LIMIT $2`, [
      options.cluster ?? null,
      options.limit,
    ]);
    return rows.map(toLeaseChange);
  }

  /**
   * The refresh's three reads as one simple-protocol query of three statements: one round trip. The simple
   * protocol takes no parameters, so the two values it carries are integers written into the text.
   */
  async snapshot(historyLimit: number): Promise<StoreSnapshot> {
    const guard = this.now === undefined ? undefined : guardTime(this.clock, 0);
    const sql = [
      `SELECT ${LEASE_COLUMNS} FROM ha_lease ORDER BY cluster`,
      `SELECT ${HISTORY_COLUMNS} FROM ha_lease_history ORDER BY id DESC LIMIT ${integer(historyLimit)}`,
      ...(guard === undefined ? [] : [`SELECT ${databaseNowOr(guard === null ? 'NULL' : integer(guard))} AS ms`]),
    ].join(';\n');
    let results: pg.QueryResult[];
    try {
      results = (await this.pool.query(sql)) as unknown as pg.QueryResult[];
    } catch (e: unknown) {
      throw toStorageError(e);
    }
    const [leases, history, now] = results as [pg.QueryResult<LeaseRow>, pg.QueryResult<HistoryRow>, pg.QueryResult<{ ms: string }> | undefined];
    return {
      now: now === undefined ? undefined : Number(now.rows[0]!.ms),
      leases: leases.rows.map(toLease),
      history: history.rows.map(toLeaseChange),
    };
  }

  async pruneHistory(wallBefore: number): Promise<number> {
    try {
      const r = await this.pool.query(
        `DELETE FROM ha_lease_history h WHERE wall_time < $1
           AND id <> (SELECT max(id) FROM ha_lease_history n WHERE n.cluster = h.cluster)`,
        [wallBefore],
      );
      return r.rowCount ?? 0;
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }

  private async cas(cluster: string, sql: string, params: unknown[]): Promise<CasResult> {
    const rows = await this.q<LeaseRow>(sql, params);
    const won = rows[0];
    if (won !== undefined) return { kind: 'won', lease: toLease(won) };
    return { kind: 'lost', current: await this.get(cluster) };
  }

  private async q<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }
}
