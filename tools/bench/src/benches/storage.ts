/**
 * Storage benchmarks, each against a same-run baseline on the same database (started through the test-database
 * provider with PostgreSQL's default settings, or PROMHA_TEST_DB_URI):
 * - storage.write: samples/s through the writer (batched, fenced path off, idempotency receipts on) against a raw
 *   COPY text of the same rows into an index-free table with node-postgres, with the writer's concurrency (two
 *   COPYs in flight on two connections); storage.write.vs-binary: the same against raw COPY binary. Requests
 *   carry what the codec's remote-write 1.0 decoder hands over for a series it has seen before: the same frozen
 *   label array (of frozen labels) in every request. storage.write.fresh-labels: the same against raw COPY text,
 *   with a new label array per series per request, as HA leader data arrives (the election builds a copy without
 *   the replica label) and as remote-write 2.0 decodes.
 * - storage.copy.binary: raw COPY binary against raw COPY text of the same rows (why the writer uses binary).
 * - storage.read.*: ms to read one series' hour and 1,000 series' hour out of 100,000 stored series, against a
 *   plain index scan of a (series, time) btree holding the same rows.
 * - storage.cache.bytes-per-series: retained heap per cached series (10 labels), against the key's own size.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Label, TimeSeries } from '@promha/codec';
import { openStorage, type Storage } from '@promha/storage';
import { startTestDatabase, type TestDatabase } from '@promha/storage/testing';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { interleave, measurement, type Bench, type Measurement } from '../harness.js';

const T0 = Date.UTC(2026, 0, 10, 1);
/** How long after an hour's end maintain() compacts it (libs/storage compaction). */
const COMPACTION_LAG_MS = 10 * 60_000;

interface Env {
  readonly db: TestDatabase;
  readonly uri: string;
  readonly storage: Storage;
  readonly client: pg.Client;
}

async function setup(seriesCacheMax = 1_000_000): Promise<Env> {
  const db = await startTestDatabase({ fast: false });
  const uri = await db.createDatabase();
  const storage = await openStorage({ uri, seriesCacheMax });
  await storage.migrate();
  const client = new pg.Client({ connectionString: uri });
  await client.connect();
  return { db, uri, storage, client };
}

async function teardown(env: Env): Promise<void> {
  await env.client.end();
  await env.storage.close();
  await env.db.stop();
}

function labelsOf(i: number, extra: readonly Label[] = []): Label[] {
  const ls: Label[] = [
    { name: '__name__', value: `metric_${i % 50}` },
    { name: 'id', value: String(i) },
    { name: 'instance', value: `host-${Math.floor(i / 500)}:9100` },
    { name: 'job', value: 'node' },
    ...extra,
  ];
  return ls.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function series(labels: readonly Label[], timestamp: number, value: number): TimeSeries {
  return { labels, samples: [{ timestamp, value }], histograms: [], exemplars: [] };
}

async function copyText(client: pg.Client, table: string, text: string): Promise<void> {
  await pipeline(Readable.from([text]), client.query(copyFrom(`COPY ${table} FROM STDIN`)));
}

/** Raw COPY binary rows, encoded as cheaply as the writer encodes its own (DataView stores, int8 as two halves). */
function rowsBinary(ids: readonly number[], t: number): Buffer {
  const b = Buffer.alloc(19 + ids.length * 38 + 2);
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  b.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
  let p = 19;
  const tHi = Math.floor(t / 4294967296);
  const tLo = t - tHi * 4294967296;
  for (const id of ids) {
    v.setInt16(p, 3);
    v.setInt32(p + 2, 8);
    v.setInt32(p + 6, 0); // ids < 2^32
    v.setUint32(p + 10, id);
    v.setInt32(p + 14, 8);
    v.setInt32(p + 18, tHi);
    v.setUint32(p + 22, tLo);
    v.setInt32(p + 26, 8);
    v.setFloat64(p + 30, id * 0.5);
    p += 38;
  }
  v.setInt16(p, -1);
  return b.subarray(0, p + 2);
}

async function* writeBench(): AsyncGenerator<Measurement> {
  const env = await setup();
  try {
    const SERIES = 20_000;
    const PER_REQUEST = 2_000; // a large Prometheus remote-write request
    const IN_FLIGHT = 8; // concurrent requests, batched by the writer
    // Frozen arrays of frozen labels, shared by every request: what the 1.0 decoder's label-set cache returns.
    const labels = Array.from({ length: SERIES }, (_, i) => Object.freeze(labelsOf(i).map((l) => Object.freeze(l))));
    const ids = Array.from({ length: PER_REQUEST * IN_FLIGHT }, (_, i) => i);
    await env.client.query('CREATE TABLE raw_samples (series bigint, t bigint, v float8)');
    await env.client.query('CREATE TABLE raw_samples_bin (series bigint, t bigint, v float8)');
    // Requests are built before timing (decoding them is the codec's cost, not the writer's); each call sends
    // a prepared set under fresh idempotency keys, so every call stores its samples again.
    const prepare = (labelsFor: (i: number) => readonly Label[]): TimeSeries[][][] =>
      Array.from({ length: 4 }, (_, set) => {
        const t = T0 + set * 15_000;
        return Array.from({ length: IN_FLIGHT }, (_, r) =>
          Array.from({ length: PER_REQUEST }, (_, k) => {
            const i = (set * 4_000 + r * PER_REQUEST + k) % SERIES;
            return series(labelsFor(i), t, i * 0.5);
          }),
        );
      });
    const shared = prepare((i) => labels[i]!);
    // A new, mutable array per series and request (the label objects and strings are still the shared ones,
    // as the election's copy keeps them): the writer cannot rely on its identity.
    const fresh = prepare((i) => [...labels[i]!]);
    // Steady ingest keeps requests in flight continuously (Prometheus sends from many shards): each call issues
    // IN_FLIGHT requests and waits for the previous call's, so the writer can intern and encode one batch while
    // the previous one is in COPY. Counting is per call, so the rate is exact over whole rounds.
    let round = 0;
    let previous: Promise<unknown> = Promise.resolve();
    const candidate = async (prepared: readonly TimeSeries[][][]): Promise<void> => {
      const requests = prepared[++round % prepared.length]!;
      const now = Promise.all(requests.map((s, r) => env.storage.write({ idempotencyKey: `bench-${round}-${r}`, series: s })));
      await previous;
      previous = now;
    };
    // The raw baselines get the writer's concurrency: two COPYs in flight, each on its own connection (the writer
    // runs two flushes at once), issued and awaited like the candidate's calls, so PostgreSQL can use both cores
    // for the baseline too. Formatting the rows is part of each raw call, as encoding chunks is part of the writer's.
    const client2 = new pg.Client({ connectionString: env.uri });
    await client2.connect();
    let rawRound = 0;
    let rawPrevious: Promise<unknown> = Promise.resolve();
    const raw = (copy: (client: pg.Client, t: number) => Promise<void>) => async (): Promise<void> => {
      await previous; // the candidate's last requests finish before a baseline round starts
      const t = T0 + ++rawRound * 15_000;
      const now = copy(rawRound % 2 === 0 ? env.client : client2, t);
      await rawPrevious;
      rawPrevious = now;
    };
    const rawText = raw(async (client, t) => {
      let text = '';
      for (const i of ids) text += `${i}\t${t}\t${i * 0.5}\n`;
      await copyText(client, 'raw_samples', text);
    });
    const rawBinary = raw(async (client, t) => {
      await pipeline(Readable.from([rowsBinary(ids, t)]), client.query(copyFrom('COPY raw_samples_bin FROM STDIN (FORMAT binary)')));
    });
    const writerOf = (prepared: readonly TimeSeries[][][]) => async (): Promise<void> => {
      await rawPrevious; // and the other way round
      await candidate(prepared);
    };
    const writer = writerOf(shared);
    const perCall = PER_REQUEST * IN_FLIGHT;
    try {
      const w = await interleave(writer, rawText, perCall, { rounds: 5, minRoundMs: 1000 });
      yield measurement('storage.write', 'samples/s', w.a, 'raw COPY text, no index, 2 connections', w.b);
      const wb = await interleave(writer, rawBinary, perCall, { rounds: 5, minRoundMs: 1000 });
      yield measurement('storage.write.vs-binary', 'samples/s', wb.a, 'raw COPY binary, no index, 2 connections', wb.b);
      const wf = await interleave(writerOf(fresh), rawText, perCall, { rounds: 5, minRoundMs: 1000 });
      yield measurement('storage.write.fresh-labels', 'samples/s', wf.a, 'raw COPY text, no index, 2 connections', wf.b);
      const c = await interleave(rawBinary, rawText, perCall, { rounds: 5, minRoundMs: 500 });
      yield measurement('storage.copy.binary', 'rows/s', c.a, 'raw COPY text', c.b);
    } finally {
      await Promise.allSettled([previous, rawPrevious]);
      await client2.end();
    }
  } finally {
    await teardown(env);
  }
}

async function* readBench(): AsyncGenerator<Measurement> {
  const env = await setup();
  try {
    const SERIES = 100_000;
    const SAMPLES = 30; // one hour at a 2-minute interval
    const STEP = 120_000;
    const PER_REQUEST = 2_000;
    // `group` selects 1,000 series interned together (one target's series); `mod` selects 1,000 spread out.
    const labels = Array.from({ length: SERIES }, (_, i) =>
      labelsOf(i, [
        { name: 'group', value: `g${Math.floor(i / 1000)}` },
        { name: 'mod', value: `m${i % 100}` },
      ]),
    );
    await env.client.query('CREATE TABLE btree_samples (series bigint, t bigint, v float8)');
    await env.client.query('CREATE INDEX ON btree_samples (series, t)');
    for (let j = 0; j < SAMPLES; j++) {
      const t = T0 + j * STEP;
      // The service runs maintain() every 10 minutes: at minute 50 it moved what was written so far into
      // per-series rows; the last 10 minutes of the hour are still write batches when the open hour is read.
      if (j === 25) await env.storage.maintain(t);
      const writes: Promise<unknown>[] = [];
      for (let s = 0; s < SERIES; s += PER_REQUEST) {
        writes.push(
          env.storage.write({ series: labels.slice(s, s + PER_REQUEST).map((ls, k) => series(ls, t, s + k)) }),
        );
        if (writes.length === 4) await Promise.all(writes.splice(0));
      }
      await Promise.all(writes);
      let text = '';
      for (let s = 0; s < SERIES; s++) text += `${s}\t${t}\t${s}\n`;
      await copyText(env.client, 'btree_samples', text);
    }
    await env.client.query('VACUUM ANALYZE btree_samples');
    await env.client.query('VACUUM ANALYZE promha.sample_chunk');
    // Ids of the series as interned (first-seen order = the order written above).
    const idOf = new Map<string, number>();
    const r = await env.client.query<{ id: string; v: string }>(
      "SELECT s.id, l.value AS v FROM promha.series s JOIN promha.label l ON l.id = ANY(s.label_ids) AND l.name = 'id'",
    );
    for (const row of r.rows) idOf.set(row.v, Number(row.id));
    const start = T0;
    const end = T0 + 3_600_000 - 1;
    const drain = async (matchers: Parameters<Storage['querySamples']>[0], expectSeries: number): Promise<void> => {
      let n = 0;
      for await (const s of env.storage.querySamples(matchers, start, end)) n += s.samples.length > 0 ? 1 : 0;
      if (n !== expectSeries) throw new Error(`read ${n} series, expected ${expectSeries}`);
    };
    // Reads are measured twice: on the open hour (50 minutes compacted by a pass, 10 minutes as written), then
    // after maintain() closed it (one row per series and hour), as every hour is once closed in a deployment.
    for (const state of ['open', 'compacted'] as const) {
      if (state === 'compacted') await env.storage.maintain(T0 + 3_600_000 + COMPACTION_LAG_MS);
      const suffix = state === 'open' ? '.open' : '';
      let pick = 0;
      const one = (): Promise<void> => drain([{ type: 'EQ', name: 'id', value: String((pick = (pick + 7919) % SERIES)) }], 1);
      const oneBaseline = async (): Promise<void> => {
        pick = (pick + 7919) % SERIES;
        await env.client.query('SELECT t, v FROM btree_samples WHERE series = $1 AND t >= $2 AND t <= $3 ORDER BY t', [pick, start, end]);
      };
      const a = await interleave(one, oneBaseline, 1, { rounds: 5, minRoundMs: 400 });
      yield measurement(`storage.read.series-hour${suffix}`, 'ms', 1000 / a.a, 'btree (series, t) index scan', 1000 / a.b);

      let g = 0;
      const group = (): Promise<void> => drain([{ type: 'EQ', name: 'group', value: `g${(g = (g + 37) % 100)}` }], 1000);
      const groupBaseline = async (): Promise<void> => {
        g = (g + 37) % 100;
        const ids = Array.from({ length: 1000 }, (_, k) => g * 1000 + k);
        await env.client.query('SELECT series, t, v FROM btree_samples WHERE series = ANY($1) AND t >= $2 AND t <= $3', [ids, start, end]);
      };
      const b = await interleave(group, groupBaseline, 1, { rounds: 3, minRoundMs: 1000 });
      yield measurement(`storage.read.1000-series-hour${suffix}`, 'ms', 1000 / b.a, 'btree (series, t) index scan', 1000 / b.b);

      let m = 0;
      const spread = (): Promise<void> => drain([{ type: 'EQ', name: 'mod', value: `m${(m = (m + 37) % 100)}` }], 1000);
      const spreadBaseline = async (): Promise<void> => {
        m = (m + 37) % 100;
        const ids = Array.from({ length: 1000 }, (_, k) => idOf.get(String(k * 100 + m)) ?? 0);
        await env.client.query('SELECT series, t, v FROM btree_samples WHERE series = ANY($1) AND t >= $2 AND t <= $3', [ids, start, end]);
      };
      const c = await interleave(spread, spreadBaseline, 1, { rounds: 3, minRoundMs: 1000 });
      yield measurement(`storage.read.1000-spread-series-hour${suffix}`, 'ms', 1000 / c.a, 'btree (series, t) index scan', 1000 / c.b);
    }
  } finally {
    await teardown(env);
  }
}

function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return gc;
}

async function* cacheBench(): AsyncGenerator<Measurement> {
  const env = await setup(200_000);
  try {
    const gc = forceGc();
    const N = 100_000;
    // The label sets are built inside the measured window and dropped before the second reading: the cache keeps
    // references to label strings, so what it retains of them (strings no other object holds) is counted too.
    const makeLabels = (): Label[][] => Array.from({ length: N }, (_, i) =>
      labelsOf(i, [
        { name: 'a', value: `value-${i % 7}` },
        { name: 'b', value: 'bbbbbbbb' },
        { name: 'c', value: `c${i % 13}` },
        { name: 'd', value: 'dddd' },
        { name: 'e', value: `e-${i}` },
        { name: 'f', value: 'f' },
      ]),
    );
    const probe = makeLabels();
    const keyBytes = probe.reduce((acc, ls) => acc + ls.reduce((x, l) => x + l.name.length + l.value.length + 2, 0), 0) / N;
    probe.length = 0;
    // Interns everything once (the cache fills), then the retained heap difference is the cache's.
    const batch = async (labels: Label[][]): Promise<void> => {
      for (let s = 0; s < N; s += 5000) await env.storage.write({ series: labels.slice(s, s + 5000).map((ls) => ({ labels: ls, samples: [], histograms: [], exemplars: [] })) });
    };
    gc();
    const before = process.memoryUsage().heapUsed;
    await batch(makeLabels());
    gc();
    const after = process.memoryUsage().heapUsed;
    const size = env.storage.stats().seriesCacheSize;
    yield measurement('storage.cache.bytes-per-series', 'bytes', (after - before) / size, 'key chars (1 byte each)', keyBytes);
  } finally {
    await teardown(env);
  }
}

export const benches: readonly Bench[] = [
  { name: 'storage.write', run: writeBench },
  { name: 'storage.read', run: readBench },
  { name: 'storage.cache', run: cacheBench },
];
