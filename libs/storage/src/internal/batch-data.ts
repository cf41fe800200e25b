/**
 * The data of one flush, written inside its transaction once its fences passed: the idempotency claim and one
 * `write_batch` row per day touched in one statement, the float samples as one binary COPY of chunks, then
 * histograms, exemplars and metadata.
 */
import type { Writable } from 'node:stream';
import type { MetricMetadata } from '@promha/codec';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { concatFlat, encodeChunks } from './chunks.js';
import { encodeHistogram } from './histogram-json.js';
import { METADATA_SQL, metadataParams } from './metadata.js';
import { CLAIM_CTE, claimedEntries, claimReceipts, wantedKeys } from './receipts.js';
import { NOW_MS } from './sql.js';
import { run, statement } from './statements.js';
import { floatSamples, type StagedPart } from './staged-part.js';
import { dayOf } from './time.js';

/**
 * The claim and the batch rows in one round trip: a day gets a row when a part the claim lets through (unkeyed,
 * `k` NULL, or its key just claimed) has float samples in it. `$2..$5`: per part and day, its key, the day and the
 * part's time range within it. Answers the keys claimed, then the batch rows.
 */
const CLAIM_AND_BATCH = statement(
  'promha_claim_and_batch',
  `
WITH ${CLAIM_CTE},
days AS (
  SELECT r.d, min(r.lo) AS lo, max(r.hi) AS hi
  FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS r(k, d, lo, hi)
  WHERE r.k IS NULL OR r.k IN (SELECT key FROM claimed)
  GROUP BY r.d
), batch AS (
  INSERT INTO write_batch (id, min_t, max_t, written_wall)
  SELECT nextval('write_batch_id'), lo, hi, ${NOW_MS} FROM days
  RETURNING id, min_t
)
SELECT key, NULL::bigint AS id, NULL::bigint AS min_t FROM claimed
UNION ALL
SELECT NULL, id, min_t FROM batch`,
);

const HISTOGRAMS = statement(
  'promha_histograms',
  `
INSERT INTO histogram_sample (series_id, t, h) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[]) ON CONFLICT DO NOTHING`,
);

const EXEMPLARS = statement(
  'promha_exemplars',
  `
INSERT INTO exemplar (series_id, t, value, labels)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::jsonb[]) ON CONFLICT DO NOTHING`,
);

const METADATA = statement('promha_metadata', METADATA_SQL);

export class BatchDataWriter {
  /** COPY buffers of finished flushes, reused by the next ones (at most one per concurrent flush). */
  private readonly spareBuffers: Uint8Array[] = [];

  constructor(private readonly maxSpareBuffers: number) {}

  /**
   * Writes the parts the claim lets through. `keys` per part: `null` (its fence failed: never written), undefined
   * (unkeyed: always written) or its idempotency key (written if this flush claims it first).
   */
  async write(client: pg.PoolClient, parts: readonly StagedPart[], keys: readonly (string | undefined | null)[]): Promise<void> {
    let written: StagedPart[];
    if (parts.some((p, i) => keys[i] !== null && floatSamples(p) > 0)) written = await this.claimAndWriteFloats(client, parts, keys);
    else {
      const write = await claimReceipts(client, keys);
      written = parts.filter((_p, i) => write[i] === true);
    }
    await writeExtras(client, written);
  }

  private async claimAndWriteFloats(client: pg.PoolClient, parts: readonly StagedPart[], keys: readonly (string | undefined | null)[]): Promise<StagedPart[]> {
    // One write_batch row per day touched: a batch id then names chunks of one day only, which the reader's
    // per-batch series bounds rely on (chunks of different days would interleave in (batch, last_series)).
    const rowKeys: (string | null)[] = [];
    const rowDays: number[] = [];
    const rowLo: number[] = [];
    const rowHi: number[] = [];
    parts.forEach((p, i) => {
      const k = keys[i];
      if (k === null || p.minT > p.maxT) return;
      forEachDay(p, (d, lo, hi) => {
        rowKeys.push(k ?? null);
        rowDays.push(d);
        rowLo.push(lo);
        rowHi.push(hi);
      });
    });
    const r = await run<{ key: string | null; id: number | null; min_t: number | null }>(client, CLAIM_AND_BATCH, [
      wantedKeys(keys),
      rowKeys,
      rowDays,
      rowLo,
      rowHi,
    ]);
    const claimed = new Set<string>();
    const idOfDay = new Map<number, number>();
    for (const row of r.rows) {
      if (row.key !== null) claimed.add(row.key);
      else idOfDay.set(dayOf(row.min_t!), row.id!);
    }
    const write = claimedEntries(keys, claimed);
    const written = parts.filter((_p, i) => write[i] === true);
    if (written.some((p) => floatSamples(p) > 0)) {
      const out = encodeChunks((day) => idOfDay.get(day)!, concatFlat(written), this.spareBuffers.pop());
      await copyIn(client.query(copyFrom('COPY sample_chunk FROM STDIN (FORMAT binary)')), out.bytes);
      // The COPY has completed, so the socket is done with the bytes. (After a failure the buffer is dropped.)
      if (this.spareBuffers.length < this.maxSpareBuffers) this.spareBuffers.push(out.memory);
    }
    return written;
  }
}

/**
 * Writes `bytes` as the whole of a COPY FROM STDIN and settles when the server has answered it: the stream finishes
 * after ReadyForQuery, and fails with the server's error or the connection's. (One buffer needs no `pipeline()`:
 * its readable and abort signal cost more than the write.)
 *
 * The error listener stays for the stream's life. pg can fail one COPY twice: its read timeout fails the query, and
 * when the pool then closes the connection, pg fails the still-active query again with "Connection terminated". A
 * second `'error'` with nobody listening would end the process (seen in the database-faults drill).
 */
export function copyIn(copy: Writable, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    copy.on('error', reject);
    copy.once('finish', resolve);
    copy.end(bytes);
  });
}

/** Calls `f` per day a part's float samples touch, with the part's time range within that day. */
function forEachDay(p: StagedPart, f: (day: number, lo: number, hi: number) => void): void {
  // A part within one day (the usual case) contributes its bounds; otherwise every sample counts.
  if (dayOf(p.minT) === dayOf(p.maxT)) return f(dayOf(p.minT), p.minT, p.maxT);
  const days = new Map<number, [number, number]>();
  for (let k = 0; k < floatSamples(p); k++) {
    const t = p.ts[k]!;
    const r = days.get(dayOf(t));
    if (r === undefined) days.set(dayOf(t), [t, t]);
    else {
      if (t < r[0]) r[0] = t;
      if (t > r[1]) r[1] = t;
    }
  }
  for (const [d, [lo, hi]] of days) f(d, lo, hi);
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
  if (hSeries.length > 0) await run(client, HISTOGRAMS, [hSeries, hTimes, hData]);
  if (eSeries.length > 0) await run(client, EXEMPLARS, [eSeries, eTimes, eValues, eLabels]);
  if (metadata.length > 0) await run(client, METADATA, metadataParams(metadata));
}

/** float8 array parameters travel as text: spell non-finite values the way PostgreSQL reads them. */
function floatParam(v: number): string | number {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}
