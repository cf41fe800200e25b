import type { Histogram, Label, LabelMatcher, Sample } from '@promha/codec';
import type pg from 'pg';
import type { SeriesSamples } from '../api.js';
import { nanFromBits } from './copy-binary.js';
import { dayOf, hourOf } from './compaction.js';
import { toStorageError } from './errors.js';
import { literalAlternatives, planMatchers, translateRegex } from './matchers.js';
import { decodeHistogram } from './writer.js';

/** Series per sample query: bounds memory while streaming many series. */
const SERIES_PER_STEP = 500;
/** Cached label rows (id to name and value); about 100 bytes each. */
const LABEL_CACHE_MAX = 200_000;
/** Series ids closer than this are fetched as one id range (chunks hold about this many series). */
const RANGE_GAP = 64;

// Samples of a step of series, from both layouts, in ONE statement so that both are read in one snapshot:
// compaction moves chunks from sample_chunk to series_chunk in single statements, so a read sees every chunk
// exactly once, either before or after its move (never both, never neither).
//
// Compacted part: one btree probe on series_chunk (series, min_t) per series; rows hold one series' hour bucket,
// so a row overlapping [start, end] has min_t in [hour of start, end].
//
// Not yet compacted part (the open hours): for each (id range, batch) the chunks from the first one that can hold
// `lo` up to the first one that ends at or after `hi`. Chunks of a batch are cut at series boundaries, sorted by
// series, and of one day, so that is exactly the set of chunks holding series in [lo, hi]; both ends are btree
// bounds on (batch, last_series).
//
// One value per timestamp (DISTINCT ON): unkeyed duplicate deliveries can store a timestamp twice; the value with
// the lowest float8 bit pattern wins, a rule that depends only on the stored values, so compaction (which applies
// the same rule) never changes what a read returns. Rows come out sorted by series and time.
// A NaN also comes as its exact bits (float8send): the Prometheus stale marker is a NaN with a payload, which
// the float8 text form would flatten.
/** Where a data statement takes its inputs from: SQL expressions (bind parameters or CTE references). */
interface DataInputs {
  /** bigint[] of the step's series ids. */
  readonly ids: string;
  /** A FROM item yielding `g(lo, hi)`: the step's series ids as ranges (ids closer than RANGE_GAP merged). */
  readonly ranges: string;
  readonly start: string;
  readonly end: string;
  /** Start of the hour holding `start`, and of its day. */
  readonly hour: string;
  readonly day: string;
}

/**
 * The data of a step of series: rows (series, k, t, v, nan, h), k = 0 a float sample, k = 1 a histogram (in h).
 * Histograms ride along so that a step costs one round trip.
 */
function dataSql(p: DataInputs): string {
  return `
SELECT DISTINCT ON (x.s, x.k, x.t) x.s AS series, x.k, x.t, x.v, CASE WHEN x.v = 'NaN'::float8 THEN float8send(x.v) END AS nan, x.h
FROM (
  SELECT c.series AS s, 0 AS k, u.t, u.v, NULL::jsonb AS h
  FROM series_chunk c CROSS JOIN LATERAL unnest(c.ts, c.vs) AS u(t, v)
  WHERE c.series = ANY(${p.ids}) AND c.min_t >= ${p.hour} AND c.min_t <= ${p.end} AND c.max_t >= ${p.start}
    AND u.t >= ${p.start} AND u.t <= ${p.end}
  UNION ALL
  SELECT u.s, 0, u.t, u.v, NULL
  FROM ${p.ranges}
  CROSS JOIN (SELECT id FROM write_batch WHERE max_t >= ${p.start} AND min_t <= ${p.end}) AS b
  CROSS JOIN LATERAL (
    SELECT series, ts, vs FROM sample_chunk c
    WHERE c.batch = b.id AND c.min_t >= ${p.day} AND c.min_t <= ${p.end} AND c.max_t >= ${p.start}
      AND c.last_series >= g.lo
      AND c.last_series <= coalesce((
        SELECT min(x.last_series) FROM sample_chunk x
        WHERE x.batch = b.id AND x.min_t >= ${p.day} AND x.min_t <= ${p.end} AND x.last_series >= g.hi), 9223372036854775807)
  ) c
  CROSS JOIN LATERAL unnest(c.series, c.ts, c.vs) AS u(s, t, v)
  WHERE u.s = ANY(${p.ids}) AND u.t >= ${p.start} AND u.t <= ${p.end}
  UNION ALL
  SELECT series_id, 1, t, NULL, h FROM histogram_sample WHERE series_id = ANY(${p.ids}) AND t >= ${p.start} AND t <= ${p.end}
) x
ORDER BY x.s, x.k, x.t, float8send(x.v)`;
}

/** A step of series whose ids are known: $1 ids, $2/$3 ranges, $4 start, $5 end, $6 hour, $7 day. */
const STEP_SQL = dataSql({
  ids: '$1::bigint[]',
  ranges: 'unnest($2::bigint[], $3::bigint[]) AS g(lo, hi)',
  start: '$4::bigint',
  end: '$5::bigint',
  hour: '$6::bigint',
  day: '$7::bigint',
});

/**
 * The first step of a read in one statement: selects up to SERIES_PER_STEP matching series (the WHERE's own
 * parameters follow $4), returns each as a k = 2 row with its label names and values, and their data. A read of a
 * few series costs this statement plus the matcher resolution: two round trips. Params: $1 start, $2 end,
 * $3 hour, $4 day.
 */
function firstStepSql(where: string): string {
  return `
WITH sel AS MATERIALIZED (SELECT s.id, s.label_ids FROM series s WHERE ${where} ORDER BY s.id LIMIT ${SERIES_PER_STEP}),
ids AS MATERIALIZED (SELECT coalesce(array_agg(id), '{}')::bigint[] AS a FROM sel),
g AS MATERIALIZED (
  SELECT min(id) AS lo, max(id) AS hi FROM (
    SELECT id, sum(brk) OVER (ORDER BY id) AS grp FROM (
      SELECT id, CASE WHEN id - lag(id) OVER (ORDER BY id) <= ${RANGE_GAP} THEN 0 ELSE 1 END AS brk FROM sel) a) b
  GROUP BY grp)
SELECT d.*, NULL::text[] AS names, NULL::text[] AS vals
FROM (${dataSql({ ids: '(SELECT a FROM ids)::bigint[]', ranges: 'g', start: '$1::bigint', end: '$2::bigint', hour: '$3::bigint', day: '$4::bigint' })}) d
UNION ALL
SELECT sel.id, 2, NULL::bigint, NULL::float8, NULL::bytea, NULL::jsonb,
  ARRAY(SELECT l.name FROM unnest(sel.label_ids) WITH ORDINALITY AS u(id, o) JOIN label l ON l.id = u.id ORDER BY u.o),
  ARRAY(SELECT l.value FROM unnest(sel.label_ids) WITH ORDINALITY AS u(id, o) JOIN label l ON l.id = u.id ORDER BY u.o)
FROM sel`;
}

interface DataRow {
  series: number;
  k: number;
  t: number | null;
  v: number | null;
  nan: Buffer | null;
  h: unknown;
}

interface SeriesData {
  samples: Sample[];
  histograms: Histogram[];
  /** Whether samples arrived out of time order (the statement sorts; this guards against a plan that does not). */
  unsorted: boolean;
}

/** Adds a data row (k 0 or 1) to its series' entry. */
function addData(out: Map<number, SeriesData>, row: DataRow): void {
  let d = out.get(row.series);
  if (d === undefined) out.set(row.series, (d = { samples: [], histograms: [], unsorted: false }));
  if (row.k === 0) {
    const t = row.t!;
    const last = d.samples[d.samples.length - 1];
    if (last !== undefined && last.timestamp >= t) d.unsorted = true;
    d.samples.push({ timestamp: t, value: row.nan === null ? row.v! : nanFromBits(row.nan) });
  } else d.histograms.push(decodeHistogram(row.h));
}

function finish(d: SeriesData): SeriesSamples['samples'] {
  if (d.unsorted) d.samples.sort((a, b) => a.timestamp - b.timestamp);
  return d.samples;
}

/**
 * Whether series `s` has data in [start, end] (parameters named by `p`): a compacted row overlapping the range
 * (one btree probe), a histogram sample in it (primary key probe), or, for the not yet compacted hours, a chunk
 * overlapping the range whose series-id span holds the series. The last test is coarse in one way: a chunk holds
 * consecutive series of one write batch, so a series interned between two series of a chunk but absent from that
 * batch counts as present until compaction makes it exact. It reads chunk bounds, never samples.
 */
function presentIn(p: { start: string; end: string; hour: string; day: string }): string {
  return `(s.id <@ (SELECT range_agg(int8range(c.first_series, c.last_series, '[]'))
      FROM write_batch b JOIN sample_chunk c ON c.batch = b.id
      WHERE b.max_t >= ${p.start} AND b.min_t <= ${p.end} AND c.min_t >= ${p.day} AND c.min_t <= ${p.end} AND c.max_t >= ${p.start})
    OR EXISTS (SELECT 1 FROM series_chunk c WHERE c.series = s.id AND c.min_t >= ${p.hour} AND c.min_t <= ${p.end} AND c.max_t >= ${p.start})
    OR EXISTS (SELECT 1 FROM histogram_sample h WHERE h.series_id = s.id AND h.t >= ${p.start} AND h.t <= ${p.end}))`;
}

/** A time range that holds every possible sample: the HTTP API's default when start and end are absent. */
function unbounded(start: number, end: number): boolean {
  return start <= 0 && end >= Number.MAX_SAFE_INTEGER;
}

interface SeriesRow {
  id: number;
  label_ids: number[];
}

export class Reader {
  private readonly labelCache = new Map<number, Label>();

  constructor(private readonly pool: pg.Pool) {}

  /**
   * Series matching every matcher, by id. With a time range, only series with data in it (see `presentIn`);
   * without one (or an unbounded one), every series interned within retention.
   */
  async selectSeries(matchers: readonly LabelMatcher[], limit?: number, range?: readonly [number, number], afterId?: number): Promise<SeriesRow[]> {
    const { where, params } = await this.seriesWhere(matchers, 0, range);
    const lim = limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    const after = afterId === undefined ? '' : ` AND s.id > ${Math.floor(afterId)}`;
    return (await this.q<SeriesRow>(`SELECT s.id, s.label_ids FROM series s WHERE ${where}${after} ORDER BY s.id${lim}`, params)).rows;
  }

  /**
   * Resolves matchers to label-id arrays, then returns a WHERE over `series s` with them as parameters (numbered
   * after `offset`), and with the time-range presence test when `range` is bounded.
   */
  private async seriesWhere(
    matchers: readonly LabelMatcher[],
    offset: number,
    range?: readonly [number, number],
  ): Promise<{ where: string; params: unknown[] }> {
    const plan = planMatchers(matchers, await this.emptyMatches(matchers));
    const params: unknown[] = [];
    let where = 'true';
    if (plan.arrays.length > 0) {
      const row = (await this.q<Record<string, number[]>>(`SELECT ${plan.arrays.map((a, i) => `${a} AS a${i}`).join(', ')}`, [...plan.params])).rows[0]!;
      params.push(...plan.arrays.map((_, i) => row[`a${i}`]));
      where = plan.where((i) => `$${offset + i + 1}::int[]`);
    }
    if (range !== undefined && !unbounded(range[0], range[1])) {
      const [start, end] = range;
      const n = offset + params.length;
      params.push(start, end, hourOf(start), dayOf(start));
      where = `${where} AND ${presentIn({ start: `$${n + 1}::bigint`, end: `$${n + 2}::bigint`, hour: `$${n + 3}::bigint`, day: `$${n + 4}::bigint` })}`;
    }
    return { where, params };
  }

  async series(matchers: readonly LabelMatcher[], start: number, end: number, limit?: number): Promise<(readonly Label[])[]> {
    const rows = await this.selectSeries(matchers, limit, [start, end]);
    const labels = await this.labelsOf(rows);
    return rows.map((r) => labels(r));
  }

  async labelNames(matchers: readonly LabelMatcher[], start: number, end: number): Promise<string[]> {
    const { where, params } = await this.seriesWhere(matchers, 0, [start, end]);
    const sql =
      where === 'true'
        ? 'SELECT DISTINCT name FROM label ORDER BY name'
        : `SELECT DISTINCT l.name FROM label l WHERE l.id IN (SELECT unnest(s.label_ids) FROM series s WHERE ${where}) ORDER BY 1`;
    return (await this.q<{ name: string }>(sql, params)).rows.map((r) => r.name);
  }

  async labelValues(name: string, matchers: readonly LabelMatcher[], start: number, end: number): Promise<string[]> {
    const sw = await this.seriesWhere(matchers, 1, [start, end]);
    const params: unknown[] = [name, ...sw.params];
    const sql =
      sw.where === 'true'
        ? 'SELECT value FROM label WHERE name = $1 ORDER BY value'
        : `SELECT DISTINCT l.value FROM label l WHERE l.name = $1 AND l.id IN (SELECT unnest(s.label_ids) FROM series s WHERE ${sw.where}) ORDER BY 1`;
    return (await this.q<{ value: string }>(sql, params)).rows.map((r) => r.value);
  }

  /**
   * Streams series with samples or histograms in `[start, end]`, in series-id order, a step of series at a time.
   * The first step is one statement (series, labels and data); later steps select the next series by id.
   */
  async *querySamples(matchers: readonly LabelMatcher[], start: number, end: number): AsyncGenerator<SeriesSamples> {
    const { where, params } = await this.seriesWhere(matchers, 4);
    const r = await this.q<DataRow & { names: string[] | null; vals: string[] | null }>(firstStepSql(where), [
      start,
      end,
      hourOf(start),
      dayOf(start),
      ...params,
    ]);
    const first: { id: number; labels: Label[] }[] = [];
    const data = new Map<number, SeriesData>();
    for (const row of r.rows) {
      if (row.k === 2) first.push({ id: row.series, labels: row.names!.map((name, i) => ({ name, value: row.vals![i]! })) });
      else addData(data, row);
    }
    first.sort((a, b) => a.id - b.id);
    for (const s of first) {
      const d = data.get(s.id);
      if (d !== undefined) yield { labels: s.labels, samples: finish(d), histograms: d.histograms };
    }
    if (first.length < SERIES_PER_STEP) return;
    // More series than one step: the rest by id, then a statement per step.
    const rest = await this.selectSeries(matchers, undefined, undefined, first[first.length - 1]!.id);
    for (let i = 0; i < rest.length; i += SERIES_PER_STEP) {
      const step = rest.slice(i, i + SERIES_PER_STEP);
      // Labels (usually cached) and data in parallel: one round trip of latency per step.
      const [labels, stepData] = await Promise.all([this.labelsOf(step), this.dataOf(step, start, end)]);
      for (const s of step) {
        const d = stepData.get(s.id);
        if (d !== undefined) yield { labels: labels(s), samples: finish(d), histograms: d.histograms };
      }
    }
  }

  /** Samples (ascending by time, one per timestamp) and histograms per series id; series without data are absent. */
  private async dataOf(step: readonly SeriesRow[], start: number, end: number): Promise<Map<number, SeriesData>> {
    const out = new Map<number, SeriesData>();
    const lo: number[] = [];
    const hi: number[] = [];
    for (const s of step) {
      const last = hi.length - 1;
      if (last >= 0 && s.id - hi[last]! <= RANGE_GAP) hi[last] = s.id;
      else {
        lo.push(s.id);
        hi.push(s.id);
      }
    }
    const r = await this.q<DataRow>(STEP_SQL, [step.map((s) => s.id), lo, hi, start, end, hourOf(start), dayOf(start)]);
    for (const row of r.rows) addData(out, row);
    return out;
  }

  /** Label lookup for rows; label rows never change once interned, so they are cached (bounded) across reads. */
  private async labelsOf(rows: readonly SeriesRow[]): Promise<(r: SeriesRow) => Label[]> {
    const found = new Map<number, Label>();
    const missing: number[] = [];
    for (const r of rows) {
      for (const id of r.label_ids) {
        if (found.has(id)) continue;
        const l = this.labelCache.get(id);
        if (l === undefined) missing.push(id);
        else found.set(id, l);
      }
    }
    if (missing.length > 0) {
      const res = await this.q<{ id: number; name: string; value: string }>('SELECT id, name, value FROM label WHERE id = ANY($1::int[])', [[...new Set(missing)]]);
      if (this.labelCache.size + res.rows.length > LABEL_CACHE_MAX) this.labelCache.clear();
      for (const row of res.rows) {
        const l = { name: row.name, value: row.value };
        found.set(row.id, l);
        this.labelCache.set(row.id, l);
      }
    }
    return (r) => r.label_ids.map((id) => found.get(id)!);
  }

  /** Whether each matcher's regex matches the empty string, decided by PostgreSQL's own regex engine. */
  private async emptyMatches(matchers: readonly LabelMatcher[]): Promise<boolean[]> {
    const out = matchers.map(() => false);
    const regexes: string[] = [];
    const at: number[] = [];
    matchers.forEach((m, i) => {
      if (m.type !== 'RE' && m.type !== 'NRE') return;
      const lit = literalAlternatives(m.value);
      if (lit !== undefined) out[i] = lit.includes('');
      else {
        regexes.push(translateRegex(m.value));
        at.push(i);
      }
    });
    if (regexes.length > 0) {
      const r = await this.q<{ m: boolean }>("SELECT '' ~ re AS m FROM unnest($1::text[]) WITH ORDINALITY AS u(re, n) ORDER BY n", [regexes]);
      r.rows.forEach((row, k) => (out[at[k]!] = row.m));
    }
    return out;
  }

  private async q<R extends pg.QueryResultRow>(query: string | pg.QueryConfig, params: unknown[] | undefined): Promise<pg.QueryResult<R>> {
    try {
      return typeof query === 'string' ? await this.pool.query<R>(query, params) : await this.pool.query<R>(query);
    } catch (e: unknown) {
      throw toStorageError(e);
    }
  }
}

