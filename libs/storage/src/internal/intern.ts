import type { Label } from '@promha/codec';
import type pg from 'pg';
import { StorageError, StorageErrorCodes } from './errors.js';

const LABELS_SQL = `
WITH input AS (SELECT n, v FROM unnest($1::text[], $2::text[]) AS u(n, v)),
found AS MATERIALIZED (
  SELECT l.id, l.name, l.value FROM input CROSS JOIN LATERAL (
    SELECT id, name, value FROM label WHERE name = input.n AND md5(value) = md5(input.v) AND value = input.v LIMIT 1
  ) l
),
ins AS (
  INSERT INTO label (name, value)
  SELECT n, v FROM input WHERE NOT EXISTS (SELECT 1 FROM found WHERE found.name = input.n AND found.value = input.v)
  ORDER BY n, md5(v)
  ON CONFLICT (name, md5(value)) DO NOTHING RETURNING id, name, value
)
SELECT id, name, value FROM found
UNION ALL
SELECT id, name, value FROM ins`;

/** True when another value with the same name and md5 is stored (the index key is (name, md5(value))). */
const COLLISION_SQL = `SELECT 1 FROM label WHERE name = $1 AND md5(value) = md5($2) AND value <> $2 LIMIT 1`;

const SERIES_SQL = `
WITH input AS (SELECT DISTINCT x::integer[] AS ids FROM unnest($1::text[]) AS x),
found AS MATERIALIZED (
  SELECT s.id, s.label_ids FROM input CROSS JOIN LATERAL (SELECT id, label_ids FROM series WHERE label_ids = input.ids LIMIT 1) s
),
ins AS (
  INSERT INTO series (label_ids)
  SELECT ids FROM input WHERE NOT EXISTS (SELECT 1 FROM found WHERE found.label_ids = input.ids)
  ORDER BY ids
  ON CONFLICT (label_ids) DO NOTHING RETURNING id, label_ids
)
SELECT id, label_ids FROM found
UNION ALL
SELECT id, label_ids FROM ins`;

/**
 * Label pair -> id of pairs interned before. A flush of new series repeats most of its pairs (job, namespace, metric
 * name), and each one the database is asked for again costs an index probe in the insert and another in the lookup.
 * Ids never change, so an entry never goes stale; at the bound the map starts over (a pair missing here is only
 * asked again, never wrong).
 */
export class LabelIds {
  private readonly ids = new Map<string, number>();
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(private readonly max = 262_144) {}

  get(key: string): number | undefined {
    const id = this.ids.get(key);
    if (id === undefined) this.misses++;
    else this.hits++;
    return id;
  }

  set(key: string, id: number): void {
    if (this.max === 0) return;
    if (this.ids.size >= this.max) {
      this.evictions += this.ids.size;
      this.ids.clear();
    }
    this.ids.set(key, id);
  }

  get size(): number {
    return this.ids.size;
  }
}

/**
 * Interns series (their label pairs first) and returns key → id for every input. Runs outside the sample
 * transaction in autocommit statements: an interned series without samples is harmless, and committing at once
 * keeps row locks on `label`/`series` short. Each statement first looks every input up by index, one probe each
 * (never a join over the whole table, whose cost would grow with every series stored), and inserts only what it
 * did not find: a series another worker or instance interned is found, not inserted again. Inserts go in sorted
 * order so concurrent interners take their locks in the same order (no deadlock). A row committed by a concurrent
 * interner after our snapshot is skipped by ON CONFLICT and invisible to the lookup; the loop asks again for what
 * is still missing.
 */
export async function internSeries(
  pool: pg.Pool,
  missing: ReadonlyMap<string, readonly Label[]>,
  known: LabelIds = new LabelIds(0),
): Promise<Map<string, number>> {
  const pairIds = new Map<string, number>();
  const pairs = new Map<string, Label>();
  for (const labels of missing.values()) {
    for (const l of labels) {
      const k = `${l.name}\u0000${l.value}`;
      if (pairIds.has(k) || pairs.has(k)) continue;
      const id = known.get(k);
      if (id === undefined) pairs.set(k, l);
      else pairIds.set(k, id);
    }
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const todo = [...pairs.entries()].filter(([k]) => !pairIds.has(k));
    if (todo.length === 0) break;
    const r = await pool.query<{ id: number; name: string; value: string }>(LABELS_SQL, [
      todo.map(([, l]) => l.name),
      todo.map(([, l]) => l.value),
    ]);
    for (const row of r.rows) {
      const k = `${row.name}\u0000${row.value}`;
      pairIds.set(k, row.id);
      known.set(k, row.id);
    }
  }
  for (const [k, l] of pairs) {
    if (pairIds.has(k)) continue;
    // Not interned after every attempt: a different value with the same md5 holds the key. Only a crafted
    // collision does that, and resending it can never succeed.
    const c = await pool.query(COLLISION_SQL, [l.name, l.value]);
    if (c.rowCount !== null && c.rowCount > 0) {
      throw new StorageError(StorageErrorCodes.INVALID_INPUT, `value of label ${JSON.stringify(l.name)} collides with a stored value (md5)`);
    }
  }
  const byIds = new Map<string, string>(); // label-id list → series key
  for (const [key, labels] of missing) {
    const ids = labels.map((l) => pairIds.get(`${l.name}\u0000${l.value}`));
    if (ids.some((x) => x === undefined)) throw new StorageError(StorageErrorCodes.CONFLICT, 'label interning did not converge');
    byIds.set(`{${ids.join(',')}}`, key);
  }
  const out = new Map<string, number>();
  for (let attempt = 0; attempt < 5 && out.size < missing.size; attempt++) {
    const todo = [...byIds.entries()].filter(([, key]) => !out.has(key)).map(([ids]) => ids);
    const r = await pool.query<{ id: number; label_ids: number[] }>(SERIES_SQL, [todo]);
    for (const row of r.rows) {
      const key = byIds.get(`{${row.label_ids.join(',')}}`);
      if (key !== undefined) out.set(key, row.id);
    }
  }
  if (out.size < missing.size) throw new StorageError(StorageErrorCodes.CONFLICT, 'series interning did not converge');
  return out;
}
