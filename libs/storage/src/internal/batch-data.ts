/**
 * The data of one flush, written inside its transaction once its fences passed: the idempotency claim and one
 * `write_batch` row per day touched in one statement, the float samples as one binary COPY of chunks, then
 * histograms, exemplars and metadata. As steps (pipelined.ts) for the pipelined flush, or a statement at a time.
 */
import type { Writable } from 'node:stream';
import type { MetricMetadata } from '@promha/codec';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { concatFlat, encodeChunks } from './chunks.js';
import { encodeHistogram } from './histogram-json.js';
import { METADATA_SQL, metadataParams } from './metadata.js';
import type { StatementStep, Step } from './pipelined.js';
import { CLAIM_CTE, CLAIM_RECEIPTS, claimedEntries, wantedKeys } from './receipts.js';
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

/** The COPY of a flush's float samples. */
export const COPY_CHUNKS = 'COPY sample_chunk FROM STDIN (FORMAT binary)';

/** A flush's claim as one statement, and how to read its answer. */
export interface Claim {
  /** Undefined when nothing is keyed and there are no batch rows to make. */
  readonly step: StatementStep | undefined;
  /** The parts the claim lets through and the batch id of each day, from the step's result. */
  read(result: pg.QueryResult | undefined): ClaimOutcome;
}

export interface ClaimOutcome {
  readonly written: StagedPart[];
  readonly idOfDay: ReadonlyMap<number, number>;
}

/**
 * The claim of `parts`. `keys` per part: `null` (its fence failed: never written), undefined (unkeyed: always
 * written) or its idempotency key (written if this flush claims it first). With float samples to write, the claim
 * also makes one `write_batch` row per day touched: a batch id then names chunks of one day only, which the reader's
 * per-batch series bounds rely on (chunks of different days would interleave in (batch, last_series)).
 */
export function claimOf(parts: readonly StagedPart[], keys: readonly (string | undefined | null)[]): Claim {
  const passed = (claimed: Set<string>): StagedPart[] => {
    const write = claimedEntries(keys, claimed);
    return parts.filter((_p, i) => write[i] === true);
  };
  if (!parts.some((p, i) => keys[i] !== null && floatSamples(p) > 0)) {
    const wanted = wantedKeys(keys);
    return {
      step: wanted.length === 0 ? undefined : { statement: CLAIM_RECEIPTS, values: [wanted] },
      read: (result) => ({ written: passed(new Set((result?.rows ?? []).map((r: { key: string }) => r.key))), idOfDay: new Map() }),
    };
  }
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
  return {
    step: { statement: CLAIM_AND_BATCH, values: [wantedKeys(keys), rowKeys, rowDays, rowLo, rowHi] },
    read: (result) => {
      const claimed = new Set<string>();
      const idOfDay = new Map<number, number>();
      for (const row of (result?.rows ?? []) as { key: string | null; id: number | null; min_t: number | null }[]) {
        if (row.key !== null) claimed.add(row.key);
        else idOfDay.set(dayOf(row.min_t!), row.id!);
      }
      return { written: passed(claimed), idOfDay };
    },
  };
}

export class BatchDataWriter {
  /** COPY buffers of finished flushes, reused by the next ones (at most one per concurrent flush). */
  private readonly spareBuffers: Uint8Array[] = [];

  constructor(private readonly maxSpareBuffers: number) {}

  /**
   * The statements that write what the claim let through: the float samples as one binary COPY of chunks, then
   * histograms, exemplars and metadata. `done` hands the COPY's buffer back for reuse once the COPY has completed
   * (after a failure the buffer is dropped).
   */
  dataSteps({ written, idOfDay }: ClaimOutcome): { readonly steps: Step[]; readonly done: () => void } {
    const steps: Step[] = [];
    let memory: Uint8Array | undefined;
    if (written.some((p) => floatSamples(p) > 0)) {
      const out = encodeChunks((day) => idOfDay.get(day)!, concatFlat(written), this.spareBuffers.pop());
      steps.push({ copy: COPY_CHUNKS, data: out.bytes });
      memory = out.memory;
    }
    steps.push(...extraSteps(written));
    return {
      steps,
      done: () => {
        if (memory !== undefined && this.spareBuffers.length < this.maxSpareBuffers) this.spareBuffers.push(memory);
      },
    };
  }

  /** Claims, then writes the parts the claim lets through, a statement at a time. */
  async write(client: pg.PoolClient, parts: readonly StagedPart[], keys: readonly (string | undefined | null)[]): Promise<void> {
    const claim = claimOf(parts, keys);
    const result = claim.step === undefined ? undefined : await run(client, claim.step.statement, claim.step.values);
    const data = this.dataSteps(claim.read(result));
    for (const step of data.steps) {
      if ('copy' in step) await copyIn(client.query(copyFrom(step.copy)), step.data);
      else if ('statement' in step) await run(client, step.statement, step.values);
    }
    data.done();
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

/** The statements for the histograms, exemplars and metadata of `parts`. */
function extraSteps(parts: readonly StagedPart[]): Step[] {
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
  const steps: Step[] = [];
  if (hSeries.length > 0) steps.push({ statement: HISTOGRAMS, values: [hSeries, hTimes, hData] });
  if (eSeries.length > 0) steps.push({ statement: EXEMPLARS, values: [eSeries, eTimes, eValues, eLabels] });
  if (metadata.length > 0) steps.push({ statement: METADATA, values: metadataParams(metadata) });
  return steps;
}

/** float8 array parameters travel as text: spell non-finite values the way PostgreSQL reads them. */
function floatParam(v: number): string | number {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}
