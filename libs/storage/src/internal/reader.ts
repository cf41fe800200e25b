import type { Histogram, Label, LabelMatcher, Sample } from '@promha/codec';
import type pg from 'pg';
import type { ReadLimits, SeriesSamples } from '../api.js';
import { nanFromBits } from './copy-binary.js';
import { dayOf, hourOf } from './time.js';
import { StorageError, toStorageError } from './errors.js';
import { literalAlternatives, planMatchers, translateRegex } from './matchers.js';
import { decodeHistogram } from './histogram-json.js';

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
// One value per timestamp: unkeyed duplicate deliveries can store a timestamp twice; the value with the lowest
// float8 bit pattern wins (`lowerBits`), a rule that depends only on the stored values, so compaction (which applies
// the same rule in SQL) never changes what a read returns.
//
// Row shapes (k): 2 = a whole compacted row (ts, vs arrays: one protocol row per series and hour instead of one per
// sample; the time filter is applied in JS), 0 = one sample of the open hours, 1 = a histogram (in h). A NaN comes
// as its exact bits (the Prometheus stale marker is a NaN with a payload, which the float8 text form flattens):
// float8send for a single sample, array_send of the whole vs array for a compacted row holding a NaN.
const SAMPLES_SQL = `
SELECT c.series, 2 AS k, NULL::bigint AS t, NULL::float8 AS v, NULL::bytea AS nan, NULL::jsonb AS h, c.ts, c.vs,
  CASE WHEN 'NaN'::float8 = ANY(c.vs) THEN array_send(c.vs) END AS vbin
FROM series_chunk c
WHERE c.series = ANY($7::bigint[]) AND c.min_t >= $8 AND c.min_t <= $5 AND c.max_t >= $6
UNION ALL
SELECT u.s, 0, u.t, u.v, CASE WHEN u.v = 'NaN'::float8 THEN float8send(u.v) END, NULL, NULL, NULL, NULL
FROM unnest($1::bigint[], $2::bigint[]) AS g(lo, hi)
CROSS JOIN unnest($3::bigint[]) AS b(id)
CROSS JOIN LATERAL (
  SELECT series, ts, vs FROM sample_chunk c
  WHERE c.batch = b.id AND c.min_t >= $4 AND c.min_t <= $5 AND c.max_t >= $6
    AND c.last_series >= g.lo
    AND c.last_series <= coalesce((
      SELECT min(x.last_series) FROM sample_chunk x
      WHERE x.batch = b.id AND x.min_t >= $4 AND x.min_t <= $5 AND x.last_series >= g.hi), 9223372036854775807)
) c
CROSS JOIN LATERAL unnest(c.series, c.ts, c.vs) AS u(s, t, v)
WHERE u.s = ANY($7::bigint[]) AND u.t >= $6 AND u.t <= $5
UNION ALL
SELECT series_id, 1, t, NULL, NULL, h, NULL, NULL, NULL FROM histogram_sample WHERE series_id = ANY($7::bigint[]) AND t >= $6 AND t <= $5`;

interface DataRow {
  series: number;
  k: number;
  t: number | null;
  v: number | null;
  nan: Buffer | null;
  h: unknown;
  ts: number[] | null;
  vs: number[] | null;
  vbin: Buffer | null;
}

interface SeriesData {
  samples: Sample[];
  histograms: Histogram[];
  /** False once a sample arrived at or before the previous one: sort and deduplicate before yielding. */
  ordered: boolean;
}

const scratch = new DataView(new ArrayBuffer(8));

/** Orders doubles by their big-endian bit patterns, as PostgreSQL compares float8send bytes. */
function compareBits(a: number, b: number): number {
  scratch.setFloat64(0, a);
  const ah = scratch.getUint32(0);
  const al = scratch.getUint32(4);
  scratch.setFloat64(0, b);
  const bh = scratch.getUint32(0);
  const bl = scratch.getUint32(4);
  return ah !== bh ? ah - bh : al - bl;
}

/** Sorted by time, one sample per timestamp (the lowest bit pattern), as compaction keeps it. */
function finish(d: SeriesData): Sample[] {
  const xs = d.samples;
  if (d.ordered) return xs;
  xs.sort((a, b) => a.timestamp - b.timestamp || compareBits(a.value, b.value));
  let w = 0;
  for (let i = 0; i < xs.length; i++) {
    if (w > 0 && xs[w - 1]!.timestamp === xs[i]!.timestamp) continue;
    xs[w++] = xs[i]!;
  }
  xs.length = w;
  return xs;
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

  constructor(
    private readonly pool: pg.Pool,
    /** Longest regex a matcher may carry, in UTF-8 bytes (INVALID_INPUT above). */
    private readonly maxRegexBytes: number,
  ) {}

  /**
   * Series matching every matcher, by id. With a time range, only series with data in it (see `presentIn`);
   * without one (or an unbounded one), every series interned within retention.
   */
  async selectSeries(matchers: readonly LabelMatcher[], limit?: number, range?: readonly [number, number]): Promise<SeriesRow[]> {
    const { where, params } = await this.seriesWhere(matchers, 0, range, range === undefined);
    const lim = limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    return (await this.q<SeriesRow>(`SELECT s.id, s.label_ids FROM series s WHERE ${where} ORDER BY s.id${lim}`, params)).rows;
  }

  /**
   * Resolves matchers to label-id arrays, then returns a WHERE over `series s` with them as parameters (numbered
   * after `offset`), and with the time-range presence test when `range` is bounded.
   */
  private async seriesWhere(
    matchers: readonly LabelMatcher[],
    offset: number,
    range?: readonly [number, number],
    inline = false,
  ): Promise<{ where: string; params: unknown[] }> {
    const plan = planMatchers(matchers, await this.emptyMatches(matchers), this.maxRegexBytes);
    const params: unknown[] = [];
    let where = 'true';
    if (plan.arrays.length > 0 && inline && offset === 0) {
      // The label-id arrays as sub-selects of the series statement: one round trip less. PostgreSQL 18 still
      // takes the GIN index for them (measured on 100k series: a bitmap scan for =, and for = combined with !=;
      // 0.05-1.2 ms), estimating 1% of the series per array instead of the real count.
      params.push(...plan.params);
      where = plan.where((i) => `(${plan.arrays[i]!})`);
    } else if (plan.arrays.length > 0) {
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

  /** Streams series with samples or histograms in `[start, end]`, in series-id order, a step of series at a time. */
  async *querySamples(matchers: readonly LabelMatcher[], start: number, end: number, limits: ReadLimits = {}): AsyncGenerator<SeriesSamples> {
    const maxSeries = limits.maxSeries ?? 0;
    const [series, batches] = await Promise.all([
      this.selectSeries(matchers, maxSeries > 0 ? maxSeries + 1 : undefined),
      this.q<{ id: number }>('SELECT id FROM write_batch WHERE max_t >= $1 AND min_t <= $2 ORDER BY id', [start, end]).then((r) =>
        r.rows.map((x) => x.id),
      ),
    ]);
    if (series.length === 0) return;
    if (maxSeries > 0 && series.length > maxSeries) {
      throw new StorageError('STORAGE_READ_LIMIT', `the query matches more than ${maxSeries} series`);
    }
    for (let i = 0; i < series.length; i += SERIES_PER_STEP) {
      const step = series.slice(i, i + SERIES_PER_STEP);
      // Labels (usually cached) and data in parallel: one round trip of latency per step.
      const [labels, data] = await Promise.all([this.labelsOf(step), this.dataOf(step, batches, start, end)]);
      for (const s of step) {
        const d = data.get(s.id);
        if (d === undefined || (d.samples.length === 0 && d.histograms.length === 0)) continue;
        yield { labels: labels(s), samples: finish(d), histograms: d.histograms };
      }
    }
  }

  /** Samples and histograms per series id; series without rows are absent. */
  private async dataOf(step: readonly SeriesRow[], batches: readonly number[], start: number, end: number): Promise<Map<number, SeriesData>> {
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
    const r = await this.q<DataRow>(SAMPLES_SQL, [lo, hi, batches, dayOf(start), end, start, step.map((s) => s.id), hourOf(start)]);
    for (const row of r.rows) {
      let d = out.get(row.series);
      if (d === undefined) out.set(row.series, (d = { samples: [], histograms: [], ordered: true }));
      if (row.k === 1) {
        d.histograms.push(decodeHistogram(row.h));
        continue;
      }
      const xs = d.samples;
      if (row.k === 0) {
        const t = row.t!;
        if (xs.length > 0 && xs[xs.length - 1]!.timestamp >= t) d.ordered = false;
        xs.push({ timestamp: t, value: row.nan === null ? row.v! : nanFromBits(row.nan) });
        continue;
      }
      // A compacted row: timestamps ascending and unique within it; keep those in [start, end].
      const ts = row.ts!;
      const vs = row.vs!;
      const bin = row.vbin;
      for (let j = 0; j < ts.length; j++) {
        const t = ts[j]!;
        if (t < start || t > end) continue;
        if (xs.length > 0 && xs[xs.length - 1]!.timestamp >= t) d.ordered = false;
        // array_send: 20 header bytes (1 dimension), then per element a 4-byte length and 8 bytes of float8.
        xs.push({ timestamp: t, value: bin === null ? vs[j]! : nanFromBits(bin.subarray(24 + j * 12, 32 + j * 12)) });
      }
    }
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
        regexes.push(translateRegex(m.value, this.maxRegexBytes));
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

