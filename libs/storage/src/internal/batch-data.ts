/**
 * The data of one flush, written inside its transaction once fences and receipts passed: one `write_batch` row per
 * day touched, the float samples as one binary COPY of chunks, then histograms, exemplars and metadata.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MetricMetadata } from '@promha/codec';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { concatFlat, encodeChunks } from './chunks.js';
import { encodeHistogram } from './histogram-json.js';
import { METADATA_SQL, metadataParams } from './metadata.js';
import { NOW_MS } from './sql.js';
import { floatSamples, type StagedPart } from './staged-part.js';
import { dayOf } from './time.js';

const BATCH_ROWS_SQL = `
INSERT INTO write_batch (id, min_t, max_t, written_wall)
SELECT nextval('write_batch_id'), mn, mx, ${NOW_MS} FROM unnest($1::bigint[], $2::bigint[]) AS u(mn, mx)
RETURNING id, min_t`;

const HISTOGRAMS_SQL = `
INSERT INTO histogram_sample (series_id, t, h) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[]) ON CONFLICT DO NOTHING`;

const EXEMPLARS_SQL = `
INSERT INTO exemplar (series_id, t, value, labels)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::jsonb[]) ON CONFLICT DO NOTHING`;

export class BatchDataWriter {
  /** COPY buffers of finished flushes, reused by the next ones (at most one per concurrent flush). */
  private readonly spareBuffers: Uint8Array[] = [];

  constructor(private readonly maxSpareBuffers: number) {}

  async write(client: pg.PoolClient, parts: readonly StagedPart[]): Promise<void> {
    if (parts.some((p) => floatSamples(p) > 0)) await this.writeFloats(client, parts);
    await writeExtras(client, parts);
  }

  private async writeFloats(client: pg.PoolClient, parts: readonly StagedPart[]): Promise<void> {
    // One write_batch row per day touched: a batch id then names chunks of one day only, which the reader's
    // per-batch series bounds rely on (chunks of different days would interleave in (batch, last_series)).
    const days = new Map<number, [number, number]>();
    const add = (t0: number, t1: number): void => {
      const d = dayOf(t0);
      const r = days.get(d);
      if (r === undefined) days.set(d, [t0, t1]);
      else {
        if (t0 < r[0]) r[0] = t0;
        if (t1 > r[1]) r[1] = t1;
      }
    };
    for (const p of parts) {
      if (p.minT > p.maxT) continue;
      // A part within one day (the usual case) contributes its bounds; otherwise every sample counts.
      if (dayOf(p.minT) === dayOf(p.maxT)) add(p.minT, p.maxT);
      else for (let k = 0; k < floatSamples(p); k++) add(p.ts[k]!, p.ts[k]!);
    }
    const ranges = [...days.values()];
    const r = await client.query<{ id: number; min_t: number }>(BATCH_ROWS_SQL, [ranges.map((x) => x[0]), ranges.map((x) => x[1])]);
    const idOfDay = new Map(r.rows.map((row) => [dayOf(row.min_t), row.id]));
    const out = encodeChunks((day) => idOfDay.get(day)!, concatFlat(parts), this.spareBuffers.pop());
    await pipeline(Readable.from([out.bytes]), client.query(copyFrom('COPY sample_chunk FROM STDIN (FORMAT binary)')));
    // The COPY has completed, so the socket is done with the bytes. (After a failure the buffer is dropped.)
    if (this.spareBuffers.length < this.maxSpareBuffers) this.spareBuffers.push(out.memory);
  }
}

async function writeExtras(client: pg.PoolClient, parts: readonly StagedPart[]): Promise<void> {
  const hSeries: number[] = [];
  const hTimes: number[] = [];
  const hData: string[] = [];
  const eSeries: number[] = [];
  const eTimes: number[] = [];
  const eValues: (number | string)[] = [];
  const eLabels: string[] = [];
  const metadata: MetricMetadata[] = [];
  for (const p of parts) {
    if (!p.extras) continue;
    const series = p.part.series;
    for (let si = 0; si < series.length; si++) {
      const s = series[si]!;
      const id = p.ids[si]!;
      for (const h of s.histograms) {
        hSeries.push(id);
        hTimes.push(h.timestamp);
        hData.push(encodeHistogram(h));
      }
      for (const e of s.exemplars) {
        eSeries.push(id);
        eTimes.push(e.timestamp);
        eValues.push(floatParam(e.value));
        eLabels.push(JSON.stringify(e.labels.map((l) => [l.name, l.value])));
      }
      if (s.metadata !== undefined) metadata.push(s.metadata);
    }
  }
  if (hSeries.length > 0) await client.query(HISTOGRAMS_SQL, [hSeries, hTimes, hData]);
  if (eSeries.length > 0) await client.query(EXEMPLARS_SQL, [eSeries, eTimes, eValues, eLabels]);
  if (metadata.length > 0) await client.query(METADATA_SQL, metadataParams(metadata));
}

/** float8 array parameters travel as text: spell non-finite values the way PostgreSQL reads them. */
function floatParam(v: number): string | number {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}
