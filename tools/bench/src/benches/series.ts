/**
 * `npm run bench -- series`: ingest speed and memory by number of active series, with HA on and PostgreSQL on this
 * machine. The load: 2 clusters x an HA pair (2 replicas), 10 labels per series, 2,000 series per request, one
 * sample per series, every series sent once per pass (4 senders, one per (cluster, replica), one request in flight
 * each). Samples/s counts every sample sent (both replicas), per second of the pass's wall time.
 *
 * Measurements, each against its baseline in the same run:
 * - `series.steady.1m`: a pass in which every series is already known (the second and later passes), with
 *   PROMHA_BENCH_SERIES_LARGE series per replica (default 1,000,000: 4 million label sets over both clusters and
 *   both replicas), against `series.steady.10k`, the same with PROMHA_BENCH_SERIES_SMALL (default 10,000) series
 *   per replica on its own promha process and database. Passes of the two alternate so machine noise hits both.
 * - `series.new`: a pass of only new series (PROMHA_BENCH_SERIES_NEW per replica, default 50,000) into a fresh
 *   promha, against VictoriaMetrics single node on the same pass (replica label dropped, dedup on), when
 *   /usr/bin/victoria-metrics is installed.
 * - `series.bytes-per-series`: the large promha process's resident memory after its passes minus the small one's,
 *   per active series more (a series = one stored label set, the replica label removed), against 1 KiB.
 *
 * Bodies of a pass are encoded before the pass is timed. Both promhas run as `npm start` does (every core, caches
 * from --cache.memory-target). After the first pass, warm-up passes run until one adds less than 0.5% of the
 * stored series to the caches (every worker knows every series; at most 8), then PROMHA_BENCH_SERIES_PASSES
 * (default 2) steady passes are measured: a pass that still adds more than 0.5% (the senders' connections moved,
 * and a worker met series new to it) is logged and not counted, at most 4 times. Resident memory is the sum over
 * the workers. PROMHA_BENCH_PROFILE=<dir>
 * runs the large promha with --cpu-prof. Memory: the encoded bodies of one large pass are about 240 MB; promha
 * itself is the figure this bench reports.
 */
import { Agent } from 'node:http';
import { encodeWriteRequest, snappyCompress, type Label, type TimeSeries } from '@promha/codec';
import { startTestDatabase } from '@promha/storage/testing';
import pg from 'pg';
import { measurement, median, type Bench, type Measurement } from '../harness.js';
import { postWrite, sumOfMetric, startPromha, startVictoriaMetrics, victoriaMetricsMissing, type Target } from '../internal/targets.js';

const LARGE = Number(process.env['PROMHA_BENCH_SERIES_LARGE'] ?? 1_000_000);
const SMALL = Number(process.env['PROMHA_BENCH_SERIES_SMALL'] ?? 10_000);
const NEW = Number(process.env['PROMHA_BENCH_SERIES_NEW'] ?? 50_000);
const PASSES = Number(process.env['PROMHA_BENCH_SERIES_PASSES'] ?? 2);
/** Warm-up passes at most after the first (new series) pass. */
const MAX_WARM_UP = 8;
/** Passes after warm-up not counted at most (a worker met series new to it), before the next ones count anyway. */
const MAX_COLD = 4;
const PROFILE_DIR = process.env['PROMHA_BENCH_PROFILE'];
/** Extra promha flags for every promha of this bench (e.g. to try cache sizes). */
const EXTRA_ARGS = (process.env['PROMHA_BENCH_SERIES_ARGS'] ?? '').split(' ').filter((a) => a !== '');

const CLUSTERS = 2;
const REPLICAS = 2;
const PER_REQUEST = 2_000;
const NAMESPACES = ['default', 'kube-system', 'monitoring', 'ingress', 'payments', 'search', 'checkout', 'auth'];

function say(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

/**
 * Labels of series `s` of a cluster and replica, sorted by name: `__name__`, `__replica__`, `cluster`, then 7 more;
 * `pod` makes every series distinct, the others repeat as a Kubernetes cluster's do.
 */
function labelsOf(prefix: string, cluster: number, replica: number, s: number): Label[] {
  return [
    { name: '__name__', value: `container_metric_${s % 60}` },
    { name: '__replica__', value: `replica-${replica}` },
    { name: 'cluster', value: `${prefix}-${cluster}` },
    { name: 'container', value: `app-${s % 97}` },
    { name: 'instance', value: `10.${(s >> 16) & 255}.${(s >> 8) & 255}.${s & 255}:8080` },
    { name: 'job', value: 'kubernetes-pods' },
    { name: 'namespace', value: NAMESPACES[s % NAMESPACES.length]! },
    { name: 'node', value: `node-${s % 211}` },
    { name: 'pod', value: `pod-${s.toString(36)}` },
    { name: 'region', value: `region-${cluster}` },
  ];
}

/** One sender's bodies: series [0, count) of (cluster, replica) in requests of PER_REQUEST, all at time `t`. */
function bodies(prefix: string, cluster: number, replica: number, count: number, t: number): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < count; start += PER_REQUEST) {
    const series: TimeSeries[] = [];
    for (let s = start; s < Math.min(count, start + PER_REQUEST); s++) {
      series.push({ labels: labelsOf(prefix, cluster, replica, s), samples: [{ timestamp: t, value: s % 1000 }], histograms: [], exemplars: [] });
    }
    const bytes = snappyCompress(encodeWriteRequest({ version: 1, series, metadata: [] }, 1));
    out.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return out;
}

/** Every sender's bodies of one pass: all `perReplica` series of every (cluster, replica) at data time `t`. */
function pass(prefix: string, perReplica: number, t: number): Buffer[][] {
  const senders: Buffer[][] = [];
  for (let c = 0; c < CLUSTERS; c++) for (let r = 0; r < REPLICAS; r++) senders.push(bodies(prefix, c, r, perReplica, t));
  return senders;
}

/** Sends a pass (senders concurrently, each one request at a time; a 5xx is resent) and returns its seconds. */
async function send(agent: Agent, target: Target, senders: readonly (readonly Buffer[])[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await Promise.all(
    senders.map(async (list) => {
      for (const body of list) {
        for (let attempt = 0; ; attempt++) {
          // A keep-alive connection the server closed while idle (between passes) resets: send again.
          const { status, reason } = await postWrite(agent, target, body).catch((e: unknown) => {
            if (attempt < 10) return { status: 599, reason: String(e) };
            throw e;
          });
          if (status >= 200 && status <= 299) break;
          if (status >= 500 && attempt < 10) {
            await new Promise((ok) => setTimeout(ok, 200));
            continue;
          }
          throw new Error(`${target.name}: ${status} ${reason}`);
        }
      }
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** A promha on its own fresh PostgreSQL server. */
interface Promha {
  readonly target: Target;
  readonly agent: Agent;
  readonly dbUri: string;
}

async function promha(cleanups: (() => Promise<void>)[], args: readonly string[], profile?: string): Promise<Promha> {
  const db = await startTestDatabase();
  cleanups.push(() => db.stop());
  const dbUri = await db.createDatabase();
  const target = await startPromha({ dbUri, extraArgs: [...args, ...EXTRA_ARGS], cpuProfileDir: profile });
  cleanups.push(() => target.stop());
  const agent = new Agent({ keepAlive: true, maxSockets: CLUSTERS * REPLICAS });
  cleanups.push(() => Promise.resolve(agent.destroy()));
  return { target, agent, dbUri };
}

/**
 * Rows the interning statements touched in `label` and `series` so far (PostgreSQL's table statistics: index
 * scans, inserts): unchanged over a pass means no known series was asked of the database again. Backends report
 * their statistics within a second of going idle, hence the pause.
 */
async function internActivity(dbUri: string): Promise<string> {
  await new Promise((ok) => setTimeout(ok, 1_500));
  const client = new pg.Client({ connectionString: dbUri });
  await client.connect();
  try {
    const r = await client.query<{ relname: string; scans: string; ins: string }>(
      `SELECT relname, coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS scans, n_tup_ins AS ins
       FROM pg_stat_user_tables WHERE relname IN ('label', 'series') ORDER BY relname`,
    );
    return r.rows.map((x) => `${x.relname}: scans ${x.scans} inserts ${x.ins}`).join(', ');
  } finally {
    await client.end();
  }
}

/**
 * Series in the caches of every worker, once the workers published their counters (they do at every lease
 * refresh, 5 s by default).
 */
async function cacheSize({ target }: Promha): Promise<number> {
  await new Promise((ok) => setTimeout(ok, 6_000));
  return sumOfMetric(await target.metrics(), 'promha_series_cache_size');
}

/** What promha's caches counted (for the log: a known series must not reach PostgreSQL). */
async function cacheLine({ target, dbUri }: Promha): Promise<string> {
  const m = await target.metrics();
  const rss = sumOfMetric(m, 'process_resident_memory_bytes');
  return (
    `series cache hits ${sumOfMetric(m, 'promha_series_cache_hits_total')} misses ${sumOfMetric(m, 'promha_series_cache_misses_total')} ` +
    `size ${sumOfMetric(m, 'promha_series_cache_size')} bound ${sumOfMetric(m, 'promha_series_cache_max')}; rss ${(rss / 2 ** 20).toFixed(0)} MiB; ${await internActivity(dbUri)}`
  );
}

async function* run(): AsyncIterable<Measurement> {
  const cleanups: (() => Promise<void>)[] = [];
  const offered = (perReplica: number): number => perReplica * CLUSTERS * REPLICAS;
  try {
    // Data time an hour back; each pass one minute later.
    const t0 = Date.now() - 3_600_000;
    // The caches as `npm start` sizes them (--cache.memory-target): no bound is set here.
    const small = await promha(cleanups, []);
    const large = await promha(cleanups, [], PROFILE_DIR);
    say(`steady: ${CLUSTERS} clusters x ${REPLICAS} replicas; ${SMALL} and ${LARGE} series per replica; ${PER_REQUEST} series per request`);
    const smallRates: number[] = [];
    const largeRates: number[] = [];
    // Steady state is every worker knowing every series. Connections are handed to the workers in turn and a
    // sender's requests spread over its connections, so each worker meets a random share of the series per pass and
    // asks PostgreSQL for the rest: passes are warm-up until one adds (almost) no series to the caches. Measured
    // passes follow; the small promha warms the same way, in the same passes.
    let warm = false;
    let measured = 0;
    let cold = 0;
    for (let p = 0; measured < PASSES; p++) {
      const t = t0 + p * 60_000;
      const s = pass('small', SMALL, t);
      const sSec = await send(small.agent, small.target, s);
      say(`small pass ${p}${p === 0 ? ' (new series)' : ''}: ${Math.round(offered(SMALL) / sSec)} samples/s; ${await cacheLine(small)}`);
      const build = process.hrtime.bigint();
      const l = pass('large', LARGE, t);
      say(`large pass ${p}: bodies encoded in ${(Number(process.hrtime.bigint() - build) / 1e9).toFixed(1)} s`);
      const sizeBefore = await cacheSize(large);
      const lSec = await send(large.agent, large.target, l);
      const added = (await cacheSize(large)) - sizeBefore;
      say(`large pass ${p}${p === 0 ? ' (new series)' : warm ? '' : ' (warm-up)'}: ${Math.round(offered(LARGE) / lSec)} samples/s; ${added} series cached; ${await cacheLine(large)}`);
      if (warm && added > LARGE * CLUSTERS * 0.005 && cold < MAX_COLD) {
        // The senders' connections moved between the workers (a keep-alive connection is any sender's, and a new
        // one goes to the next worker in turn): a worker met series new to it. Not steady state: pass again.
        cold++;
        say(`large pass ${p} not counted: a worker met ${added} series new to it`);
      } else if (warm) {
        measured++;
        smallRates.push(offered(SMALL) / sSec);
        largeRates.push(offered(LARGE) / lSec);
        // The small load is over in a blink: a second small pass right after the large one evens out the noise.
        const s2 = await send(small.agent, small.target, pass('small', SMALL, t + 30_000));
        smallRates.push(offered(SMALL) / s2);
      } else if (p > 0 && (added <= LARGE * CLUSTERS * 0.005 || p >= MAX_WARM_UP)) {
        warm = true;
        say(`warm after pass ${p}`);
      }
    }
    yield measurement('series.steady.1m', 'samples/s', median(largeRates), 'series.steady.10k', median(smallRates));
    const rss = async (x: Target): Promise<number> => sumOfMetric(await x.metrics(), 'process_resident_memory_bytes');
    const storedMore = (LARGE - SMALL) * CLUSTERS;
    const perSeries = ((await rss(large.target)) - (await rss(small.target))) / storedMore;
    yield measurement('series.bytes-per-series', 'bytes', perSeries, '1 KiB bound', 1024);

    // New series: a fresh promha and VictoriaMetrics take the same pass of series they have never seen.
    const fresh = await promha(cleanups, []);
    const news = pass('new', NEW, t0);
    const pSec = await send(fresh.agent, fresh.target, news);
    say(`new: ${NEW} series per replica, promha ${Math.round(offered(NEW) / pSec)} samples/s; ${await cacheLine(fresh)}`);
    const missing = victoriaMetricsMissing();
    let vRate = NaN;
    if (missing === undefined) {
      const vm = await startVictoriaMetrics('__replica__');
      cleanups.push(() => vm.stop());
      const agent = new Agent({ keepAlive: true, maxSockets: CLUSTERS * REPLICAS });
      cleanups.push(() => Promise.resolve(agent.destroy()));
      const vSec = await send(agent, vm, news);
      vRate = offered(NEW) / vSec;
      say(`new: victoria-metrics ${Math.round(vRate)} samples/s`);
    } else say(`victoria-metrics skipped: ${missing}`);
    yield measurement('series.new', 'samples/s', offered(NEW) / pSec, missing === undefined ? 'victoria-metrics' : 'victoria-metrics (skipped)', vRate);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

export const benches: readonly Bench[] = [{ name: 'series', run }];
