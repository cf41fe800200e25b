import type { Label } from '@promha/codec';
import type pg from 'pg';
import { StorageError, StorageErrorCodes } from './errors.js';

/**
 * Label pairs in; out, (input position, id) for each pair found and (id, name, value) for each pair inserted.
 * Joining the inserted rows back to their positions in SQL cost the server more than the client's map lookup.
 */
const LABELS_SQL = `
WITH input AS (SELECT ord::integer AS ord, n, v FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(n, v, ord)),
found AS MATERIALIZED (
  SELECT input.ord, l.id FROM input CROSS JOIN LATERAL (
    SELECT id FROM label WHERE name = input.n AND md5(value) = md5(input.v) AND value = input.v LIMIT 1
  ) l
),
ins AS (
  INSERT INTO label (name, value)
  SELECT n, v FROM input WHERE NOT EXISTS (SELECT 1 FROM found WHERE found.ord = input.ord)
  ORDER BY ord
  ON CONFLICT (name, md5(value)) DO NOTHING RETURNING id, name, value
)
SELECT ord, id, NULL AS n, NULL AS v FROM found
UNION ALL
SELECT NULL, id, name, value FROM ins`;

/**
 * Label pairs inserted without looking them up first, answered as {@link LABELS_SQL}'s inserted rows; what another
 * row holds already is left to a {@link LABELS_SQL} after it. Saves the lookup of every new pair (about a tenth of the
 * server's interning CPU for new series), at the price of a label id for every pair that was stored (see
 * {@link LabelIds.insertFirst}).
 */
const LABELS_INSERT_SQL = `
WITH input AS (SELECT ord::integer AS ord, n, v FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(n, v, ord))
INSERT INTO label (name, value) SELECT n, v FROM input ORDER BY ord
ON CONFLICT (name, md5(value)) DO NOTHING RETURNING NULL::integer, id, name, value`;

/** True when another value with the same name and md5 is stored (the index key is (name, md5(value))). */
const COLLISION_SQL = `SELECT 1 FROM label WHERE name = $1 AND md5(value) = md5($2) AND value <> $2 LIMIT 1`;

/**
 * Series in as one text of array literals, a line each (no per-element quoting on either side); out as
 * {@link LABELS_SQL}, an inserted series with its id array as text, which is the literal the client sent. The
 * conflict that skips an insert is the hash exclusion constraint on `label_ids` (migration 7), the only one a new
 * row can meet.
 */
const SERIES_SQL = `
WITH input AS (SELECT ord::integer AS ord, x::integer[] AS ids FROM unnest(string_to_array($1, E'\\n')) WITH ORDINALITY AS u(x, ord)),
found AS MATERIALIZED (
  SELECT input.ord, s.id FROM input CROSS JOIN LATERAL (SELECT id FROM series WHERE label_ids = input.ids LIMIT 1) s
),
ins AS (
  INSERT INTO series (label_ids)
  SELECT ids FROM input WHERE NOT EXISTS (SELECT 1 FROM found WHERE found.ord = input.ord)
  ORDER BY ord
  ON CONFLICT DO NOTHING RETURNING id, label_ids
)
SELECT ord, id, NULL AS k FROM found
UNION ALL
SELECT NULL, id, label_ids::text FROM ins`;

/** Default bound of {@link LabelIds}, in pairs (`StorageOptions.labelPairCacheMax`). */
export const LABEL_PAIR_CACHE_MAX = 262_144;

/**
 * Label pair -> id of pairs interned before. A flush of new series repeats most of its pairs (job, namespace, metric
 * name), and each one the database is asked for again costs an index probe in the insert and another in the lookup.
 * Ids never change, so an entry never goes stale; at the bound the map starts over (a pair missing here is only
 * asked again, never wrong). Keyed by name, then value: the codec's strings are looked up as they are, where one
 * key of both would build a new string per label.
 */
export class LabelIds {
  private ids = new Map<string, Map<string, number>>();
  private count = 0;
  hits = 0;
  misses = 0;
  evictions = 0;
  /** Pairs the last label statements of this cache's writer asked for, and how many of them they inserted. */
  private lastAsked = 0;
  private lastInserted = 0;

  constructor(private readonly max = LABEL_PAIR_CACHE_MAX) {}

  /**
   * Whether `count` pairs may be inserted without a lookup first. A pair stored already then spends a label id (the
   * identity value is drawn before the conflict shows, and label ids are 32-bit): so only while the last call
   * inserted at least half of the pairs it asked for (new series are coming), and for at most twice as many pairs
   * as it inserted. Ids spent on conflicts then stay below twice the ids of stored pairs. A fresh writer, and one
   * whose pairs are mostly stored (after a restart, say), looks up first and spends nothing.
   */
  insertFirst(count: number): boolean {
    return this.lastInserted * 2 >= this.lastAsked && count <= this.lastInserted * 2;
  }

  /** Records what a call's label statements asked for and inserted, for {@link insertFirst}. */
  asked(count: number, inserted: number): void {
    this.lastAsked = count;
    this.lastInserted = inserted;
  }

  get(name: string, value: string): number | undefined {
    const id = this.ids.get(name)?.get(value);
    if (id === undefined) this.misses++;
    else this.hits++;
    return id;
  }

  set(name: string, value: string, id: number): void {
    if (this.max === 0) return;
    if (this.count >= this.max) {
      this.evictions += this.count;
      this.ids = new Map();
      this.count = 0;
    }
    let values = this.ids.get(name);
    if (values === undefined) this.ids.set(name, (values = new Map<string, number>()));
    if (values.has(value)) return;
    values.set(value, id);
    this.count++;
  }

  get size(): number {
    return this.count;
  }
}

/**
 * Interns series (their label pairs first) and returns their ids, position for position. Runs outside the sample
 * transaction in autocommit statements: an interned series without samples is harmless, and committing at once
 * keeps row locks on `label`/`series` short. Each statement first looks every input up by index, one probe each
 * (never a join over the whole table, whose cost would grow with every series stored), and inserts only what it
 * did not find: a series another worker or instance interned is found, not inserted again. (While new series come,
 * new label pairs are inserted first and only the conflicts looked up: {@link LabelIds.insertFirst}.) Inserts go in sorted
 * order so concurrent interners take their locks in the same order (no deadlock). A row committed by a concurrent
 * interner after our snapshot is skipped by ON CONFLICT and invisible to the lookup; the loop asks again for what
 * is still missing. The same series may come more than once; it is asked for once.
 */
export async function internSeries(
  pool: pg.Pool,
  series: readonly (readonly Label[])[],
  known: LabelIds = new LabelIds(0),
): Promise<number[]> {
  // Every label of every series, in order: its id when known (>= 0), else -1 - its slot among the pairs to ask.
  let total = 0;
  for (const labels of series) total += labels.length;
  const refs = new Int32Array(total);
  const slots = new Map<string, Map<string, number>>();
  const names: string[] = [];
  const values: string[] = [];
  let r = 0;
  for (const labels of series) {
    for (let j = 0; j < labels.length; j++, r++) {
      const { name, value } = labels[j]!;
      const id = known.get(name, value);
      if (id !== undefined) {
        refs[r] = id;
        continue;
      }
      let byValue = slots.get(name);
      if (byValue === undefined) slots.set(name, (byValue = new Map<string, number>()));
      let slot = byValue.get(value);
      if (slot === undefined) {
        slot = names.length;
        byValue.set(value, slot);
        names.push(name);
        values.push(value);
      }
      refs[r] = -1 - slot;
    }
  }
  const { ids: pairIds, inserted } = await askAll(pool, names.length, {
    first: names.length > 0 && known.insertFirst(names.length) ? LABELS_INSERT_SQL : LABELS_SQL,
    then: LABELS_SQL,
    order: (a, b) => compare(names[a]!, names[b]!) || compare(values[a]!, values[b]!),
    params: (todo) => [todo.map((s) => names[s]!), todo.map((s) => values[s]!)],
    slotOf: (row) => slots.get(row[2]!)?.get(row[3]!),
  });
  if (names.length > 0) known.asked(names.length, inserted);
  for (let s = 0; s < names.length; s++) {
    const id = pairIds[s]!;
    if (id >= 0) {
      known.set(names[s]!, values[s]!, id);
      continue;
    }
    // Not interned after every attempt: a different value with the same md5 holds the key. Only a crafted
    // collision does that, and resending it can never succeed.
    const c = await pool.query(COLLISION_SQL, [names[s], values[s]]);
    if (c.rowCount !== null && c.rowCount > 0) {
      throw new StorageError(StorageErrorCodes.INVALID_INPUT, `value of label ${JSON.stringify(names[s])} collides with a stored value (md5)`);
    }
    throw new StorageError(StorageErrorCodes.CONFLICT, 'label interning did not converge');
  }
  // Each distinct series once, as its array literal.
  const seriesSlot = new Int32Array(series.length);
  const bySlot = new Map<string, number>();
  const literals: string[] = [];
  const ids: number[] = [];
  r = 0;
  for (let i = 0; i < series.length; i++) {
    const labels = series[i]!;
    ids.length = labels.length;
    for (let j = 0; j < labels.length; j++, r++) {
      const ref = refs[r]!;
      ids[j] = ref >= 0 ? ref : pairIds[-1 - ref]!;
    }
    const literal = `{${ids.join(',')}}`;
    let slot = bySlot.get(literal);
    if (slot === undefined) {
      slot = literals.push(literal) - 1;
      bySlot.set(literal, slot);
    }
    seriesSlot[i] = slot;
  }
  const { ids: seriesIds } = await askAll(pool, literals.length, {
    first: SERIES_SQL,
    then: SERIES_SQL,
    order: (a, b) => compare(literals[a]!, literals[b]!),
    params: (todo) => [todo.map((s) => literals[s]!).join('\n')],
    slotOf: (row) => bySlot.get(row[2]!),
  });
  const out = new Array<number>(series.length);
  for (let i = 0; i < series.length; i++) {
    const id = seriesIds[seriesSlot[i]!]!;
    if (id < 0) throw new StorageError(StorageErrorCodes.CONFLICT, 'series interning did not converge');
    out[i] = id;
  }
  return out;
}

/** Code-unit order, the same in every process: what concurrent interners insert in, to take locks in one order. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A row of an interning statement: (position, id) for a row found, (null, id, key...) for a row inserted. */
type Row = [number | null, number, ...(string | null)[]];

/** How {@link askAll} asks: its statements, the order of the inputs, their parameters, an inserted row's slot. */
interface Ask {
  /** The first attempt's statement, and every later attempt's. */
  readonly first: string;
  readonly then: string;
  readonly order: (a: number, b: number) => number;
  /** The parameters for the slots still to ask; a row's position is 1-based among those. */
  readonly params: (todo: readonly number[]) => unknown[];
  /** The slot of an inserted row, by its key. */
  readonly slotOf: (row: Row) => number | undefined;
}

/**
 * Runs an interning statement until every slot has an id or 5 attempts passed; -1 marks a slot still without one.
 * Returns the ids and how many rows the statements inserted.
 */
async function askAll(pool: pg.Pool, count: number, ask: Ask): Promise<{ ids: number[]; inserted: number }> {
  const ids = new Array<number>(count).fill(-1);
  let inserted = 0;
  let todo = Array.from({ length: count }, (_, s) => s).sort(ask.order);
  for (let attempt = 0; attempt < 5 && todo.length > 0; attempt++) {
    const text = attempt === 0 ? ask.first : ask.then;
    const res = await pool.query<Row>({ text, values: ask.params(todo), rowMode: 'array' });
    for (const row of res.rows) {
      const ord = row[0];
      const slot = ord === null ? ask.slotOf(row) : todo[ord - 1];
      if (slot === undefined) continue;
      ids[slot] = row[1];
      if (ord === null) inserted++;
    }
    todo = todo.filter((s) => ids[s]! < 0);
  }
  return { ids, inserted };
}
