import type { Histogram, Label, LabelMatcher, Sample } from '@promha/codec';
import type pg from 'pg';
import type { SeriesSamples } from '../api.js';
import { nanFromBits } from './copy-binary.js';
import { toStorageError } from './errors.js';
import { literalAlternatives, planMatchers, translateRegex } from './matchers.js';
import { dayOf, decodeHistogram } from './writer.js';

/** Series per sample query: bounds memory while streaming many series. */
const SERIES_PER_STEP = 500;
/** Series ids closer than this are fetched as one id range (chunks hold about this many series). */
const RANGE_GAP = 64;

// For each (id range, batch): the chunks from the first one that can hold `lo` up to the first one that ends at
// or after `hi`. Chunks of a batch are cut at series boundaries, sorted by series, and of one day, so that is
// exactly the set of chunks holding series in [lo, hi]; both ends are btree bounds on (batch, last_series).
// The chunks are unnested here and filtered to the wanted series and times, so only matching samples travel.
// A NaN also comes as its exact bits (float8send): the Prometheus stale marker is a NaN with a payload, which
// the float8 text form would flatten.
const SAMPLES_SQL = `
SELECT u.s AS series, u.t AS t, u.v AS v, CASE WHEN u.v = 'NaN'::float8 THEN float8send(u.v) END AS nan
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
WHERE u.s = ANY($7::bigint[]) AND u.t >= $6 AND u.t <= $5`;

interface SeriesRow {
  id: number;
  label_ids: number[];
}

export class Reader {
  constructor(private readonly pool: pg.Pool) {}

  async selectSeries(matchers: readonly LabelMatcher[], limit?: number): Promise<SeriesRow[]> {
    const { where, params } = await this.seriesWhere(matchers, 0);
    const lim = limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    return (await this.q<SeriesRow>(`SELECT s.id, s.label_ids FROM series s WHERE ${where} ORDER BY s.id${lim}`, params)).rows;
  }

  /** Resolves matchers to label-id arrays, then returns a WHERE over `series s` with them as parameters. */
  private async seriesWhere(matchers: readonly LabelMatcher[], offset: number): Promise<{ where: string; params: unknown[] }> {
    const plan = planMatchers(matchers, await this.emptyMatches(matchers));
    if (plan.arrays.length === 0) return { where: 'true', params: [] };
    const row = (await this.q<Record<string, number[]>>(`SELECT ${plan.arrays.map((a, i) => `${a} AS a${i}`).join(', ')}`, [...plan.params])).rows[0]!;
    const params = plan.arrays.map((_, i) => row[`a${i}`]);
    return { where: plan.where((i) => `$${offset + i + 1}::int[]`), params };
  }

  async series(matchers: readonly LabelMatcher[], limit?: number): Promise<(readonly Label[])[]> {
    const rows = await this.selectSeries(matchers, limit);
    const labels = await this.labelsOf(rows);
    return rows.map((r) => labels(r));
  }

  async labelNames(matchers: readonly LabelMatcher[]): Promise<string[]> {
    const { where, params } = await this.seriesWhere(matchers, 0);
    const sql =
      matchers.length === 0
        ? 'SELECT DISTINCT name FROM label ORDER BY name'
        : `SELECT DISTINCT l.name FROM label l WHERE l.id IN (SELECT unnest(s.label_ids) FROM series s WHERE ${where}) ORDER BY 1`;
    return (await this.q<{ name: string }>(sql, params)).rows.map((r) => r.name);
  }

  async labelValues(name: string, matchers: readonly LabelMatcher[]): Promise<string[]> {
    const sw = await this.seriesWhere(matchers, 1);
    const where = sw.where;
    const params: unknown[] = [name, ...sw.params];
    const sql =
      matchers.length === 0
        ? 'SELECT value FROM label WHERE name = $1 ORDER BY value'
        : `SELECT DISTINCT l.value FROM label l WHERE l.name = $1 AND l.id IN (SELECT unnest(s.label_ids) FROM series s WHERE ${where}) ORDER BY 1`;
    return (await this.q<{ value: string }>(sql, params)).rows.map((r) => r.value);
  }

  /** Streams series with samples or histograms in `[start, end]`, in series-id order, a step of series at a time. */
  async *querySamples(matchers: readonly LabelMatcher[], start: number, end: number): AsyncGenerator<SeriesSamples> {
    const [series, batches] = await Promise.all([
      this.selectSeries(matchers),
      this.q<{ id: number }>('SELECT id FROM write_batch WHERE max_t >= $1 AND min_t <= $2 ORDER BY id', [start, end]).then((r) =>
        r.rows.map((x) => x.id),
      ),
    ]);
    if (series.length === 0) return;
    for (let i = 0; i < series.length; i += SERIES_PER_STEP) {
      const step = series.slice(i, i + SERIES_PER_STEP);
      // Independent queries on separate pool connections: one round trip of latency instead of three.
      const [labels, samples, histograms] = await Promise.all([
        this.labelsOf(step),
        this.samplesOf(step, batches, start, end),
        this.histogramsOf(step, start, end),
      ]);
      for (const s of step) {
        const xs = samples.get(s.id) ?? [];
        const hs = histograms.get(s.id) ?? [];
        if (xs.length === 0 && hs.length === 0) continue;
        xs.sort((a, b) => a.timestamp - b.timestamp);
        yield { labels: labels(s), samples: uniqueTimes(xs), histograms: hs };
      }
    }
  }

  private async samplesOf(step: readonly SeriesRow[], batches: readonly number[], start: number, end: number): Promise<Map<number, Sample[]>> {
    const out = new Map<number, Sample[]>();
    if (batches.length === 0) return out;
    const wanted = new Set(step.map((s) => s.id));
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
    const r = await this.q<{ series: number; t: number; v: number; nan: Buffer | null }>(SAMPLES_SQL, [
      lo,
      hi,
      batches,
      dayOf(start),
      end,
      start,
      [...wanted],
    ]);
    for (const row of r.rows) {
      let list = out.get(row.series);
      if (list === undefined) out.set(row.series, (list = []));
      list.push({ timestamp: row.t, value: row.nan === null ? row.v : nanFromBits(row.nan) });
    }
    return out;
  }

  private async histogramsOf(step: readonly SeriesRow[], start: number, end: number): Promise<Map<number, Histogram[]>> {
    const r = await this.q<{ series_id: number; h: unknown }>(
      'SELECT series_id, h FROM histogram_sample WHERE series_id = ANY($1::bigint[]) AND t >= $2 AND t <= $3 ORDER BY series_id, t',
      [step.map((s) => s.id), start, end],
    );
    const out = new Map<number, Histogram[]>();
    for (const row of r.rows) {
      let list = out.get(row.series_id);
      if (list === undefined) out.set(row.series_id, (list = []));
      list.push(decodeHistogram(row.h));
    }
    return out;
  }

  private async labelsOf(rows: readonly SeriesRow[]): Promise<(r: SeriesRow) => Label[]> {
    const ids = [...new Set(rows.flatMap((r) => r.label_ids))];
    const res = await this.q<{ id: number; name: string; value: string }>('SELECT id, name, value FROM label WHERE id = ANY($1::int[])', [ids]);
    const byId = new Map(res.rows.map((r) => [r.id, { name: r.name, value: r.value }]));
    return (r) => r.label_ids.map((id) => byId.get(id)!);
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

/**
 * Keeps the first sample per timestamp. Keyed resends never store twice (receipts), but an unkeyed duplicate
 * delivery can; one series has one value per timestamp, as Prometheus' own storage keeps it.
 */
function uniqueTimes(xs: Sample[]): Sample[] {
  let w = 0;
  for (let i = 0; i < xs.length; i++) {
    if (w > 0 && xs[w - 1]!.timestamp === xs[i]!.timestamp) continue;
    xs[w++] = xs[i]!;
  }
  xs.length = w;
  return xs;
}
