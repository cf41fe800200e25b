/**
 * The fence of a flush (docs/design.md rule 7), run inside the flush's transaction: lease extensions carried by the parts,
 * then each cluster's lease row locked FOR KEY SHARE and every fenced part checked against it or, failing that,
 * against a closed interval of its replica in the history.
 *
 * FOR KEY SHARE is compatible with other fenced writers and with extensions (FOR NO KEY UPDATE), but not with a
 * takeover, which changes `epoch` (in UNIQUE (cluster, epoch)) and so needs FOR UPDATE: it waits for the flush to
 * commit, and a flush that locks after the takeover sees the new epoch.
 */
import type { Fence, FenceFailure } from '@promha/election';
import type pg from 'pg';
import type { GuardClock } from '../api.js';
import { EXTEND_LEASE_SQL, guardTime, LEASE_COLUMNS, toLease, type LeaseRow } from './lease-store.js';
import type { Step } from './pipelined.js';
import { run, statement } from './statements.js';

/** The mark part of {@link LOCK_LEASES}: one row per (cluster, epoch, this backend), never contended. */
const COMMIT_MARK_SQL = `
INSERT INTO ha_commit_mark (cluster, epoch, backend, max_t)
  SELECT m.c, m.e, pg_backend_pid(), max(m.hi)
  FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS m(c, r, e, lo, hi)
  JOIN locked l ON l.cluster = m.c AND l.leader = m.r AND l.epoch = m.e AND l.start_t <= m.lo AND m.hi < l.until_t
  GROUP BY m.c, m.e
  ON CONFLICT (cluster, epoch, backend) DO UPDATE SET max_t = greatest(ha_commit_mark.max_t, excluded.max_t)`;

/**
 * Locks the flush's lease rows and, in the same statement (no extra round trip), records the commit marks of the
 * parts that hold on them (rule 6): the mark is computed against the locked row versions, with exactly the test
 * the caller then applies to the rows returned, so a part marks if and only if it passes on the current lease.
 * `$2..$6`: per fenced part with data, its cluster, replica, epoch, min and max data time.
 */
const LOCK_LEASES = statement(
  'promha_fence_lock_leases',
  `
WITH locked AS (
  SELECT ${LEASE_COLUMNS} FROM ha_lease WHERE cluster = ANY($1::text[]) ORDER BY cluster FOR KEY SHARE
), mark AS (
  ${COMMIT_MARK_SQL}
)
SELECT * FROM locked`,
);

const HISTORY_FENCE = statement(
  'promha_fence_history',
  `
SELECT 1 FROM ha_lease_history
WHERE cluster = $1 AND old_leader = $2 AND old_start <= $3 AND old_until > $4 LIMIT 1`,
);

const EXTEND_LEASE = statement('promha_fence_extend_lease', EXTEND_LEASE_SQL);

/** What the fence needs of a part: its fence (absent for non-HA data) and the time range of its data. */
export interface FencedData {
  readonly fence: Fence | undefined;
  /** The data's own range, taken from the samples themselves: a fence declared too narrow still covers them. */
  readonly dataMin: number;
  readonly dataMax: number;
}

/**
 * The fence's statements for `parts`, in order: the lease extensions they carry (in cluster order: row locks taken
 * in one order across flushes, so no deadlock between them), then the lock of every cluster's lease row with the
 * commit marks. `lock` is the lock's index in `steps`, undefined when no part is fenced (no statement at all).
 */
export function fenceSteps(parts: readonly FencedData[], clock: GuardClock): { readonly steps: Step[]; readonly lock: number | undefined } {
  const clusters = [...new Set(parts.flatMap((p) => (p.fence === undefined ? [] : [p.fence.cluster])))].sort();
  if (clusters.length === 0) return { steps: [], lock: undefined };
  const extensions = new Map<string, { f: Fence; until: number; maxTime: number; wall: number; seen: boolean }>();
  for (const { fence: f } of parts) {
    if (f?.extendUntil === undefined) continue;
    const k = `${f.cluster}\u0000${f.replica}\u0000${f.epoch}`;
    const e = extensions.get(k);
    extensions.set(k, {
      f,
      until: Math.max(e?.until ?? -Infinity, f.extendUntil),
      maxTime: Math.max(e?.maxTime ?? -Infinity, f.maxTime),
      wall: Math.max(e?.wall ?? -Infinity, f.wallNow),
      // A replay's extension leaves last-seen alone, unless a live part of the flush refreshes it anyway.
      seen: (e?.seen ?? false) || f.refreshesLastSeen !== false,
    });
  }
  const steps: Step[] = [...extensions.values()]
    .sort((a, b) => (a.f.cluster < b.f.cluster ? -1 : a.f.cluster > b.f.cluster ? 1 : 0))
    .map((e) => ({ statement: EXTEND_LEASE, values: [e.f.cluster, e.f.replica, e.f.epoch, e.until, e.maxTime, guardTime(clock, e.wall), e.seen] }));
  // Commit marks (rule 6): every fenced part with data, marked by the lock statement if it holds on the lease.
  const marked = parts.filter((p) => p.fence !== undefined && Number.isFinite(p.dataMax));
  steps.push({
    statement: LOCK_LEASES,
    values: [
      clusters,
      marked.map((p) => p.fence!.cluster),
      marked.map((p) => p.fence!.replica),
      marked.map((p) => p.fence!.epoch),
      marked.map((p) => Math.min(p.fence!.minTime, p.dataMin)),
      marked.map((p) => Math.max(p.fence!.maxTime, p.dataMax)),
    ],
  });
  return { steps, lock: steps.length - 1 };
}

/**
 * Per part, whether it holds on the lease rows the lock returned: `true` (it may be written; unfenced parts always
 * may), or the lease its cluster has (undefined: none), against which it failed. A part that failed may still be
 * covered by a closed interval of its replica in the history.
 */
export function holdOnLeases(parts: readonly FencedData[], rows: readonly LeaseRow[]): (true | { readonly lease: LeaseRow | undefined })[] {
  const leases = new Map(rows.map((r) => [r.cluster, r]));
  return parts.map((p) => {
    const f = p.fence;
    if (f === undefined) return true;
    const minTime = Math.min(f.minTime, p.dataMin);
    const maxTime = Math.max(f.maxTime, p.dataMax);
    const lease = leases.get(f.cluster);
    const holds =
      lease !== undefined && lease.leader === f.replica && lease.epoch === f.epoch && lease.start_t <= minTime && maxTime < lease.until_t;
    return holds ? true : { lease };
  });
}

/** Returns, per part, its fence failure, or undefined when it may be written. */
export async function checkFences(client: pg.PoolClient, parts: readonly FencedData[], clock: GuardClock): Promise<(FenceFailure | undefined)[]> {
  const { steps, lock } = fenceSteps(parts, clock);
  if (lock === undefined) return parts.map(() => undefined);
  let rows: LeaseRow[] = [];
  for (const [i, step] of steps.entries()) {
    if (!('statement' in step)) continue;
    const r = await run<LeaseRow>(client, step.statement, step.values);
    if (i === lock) rows = r.rows;
  }
  const out: (FenceFailure | undefined)[] = [];
  for (const [i, verdict] of holdOnLeases(parts, rows).entries()) {
    if (verdict === true) {
      out.push(undefined);
      continue;
    }
    const p = parts[i]!;
    const f = p.fence!;
    // A closed interval of this replica in the history never changes again: no lock needed to rely on it.
    const h = await run(client, HISTORY_FENCE, [f.cluster, f.replica, Math.min(f.minTime, p.dataMin), Math.max(f.maxTime, p.dataMax)]);
    out.push(h.rowCount === 0 ? { kind: 'fence-failed', cluster: f.cluster, current: verdict.lease === undefined ? undefined : toLease(verdict.lease) } : undefined);
  }
  return out;
}
