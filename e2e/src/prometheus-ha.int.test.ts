/**
 * End to end with a real Prometheus HA pair: two ingest processes on one PostgreSQL database, two
 * Prometheus replicas scraping the same targets every second and remote-writing to promha (one instance each),
 * and a third Prometheus that only remote-reads from promha. Checks, on stored data time rather than wall-clock
 * timing: one replica's data at a time, the replica label removed and the cluster label kept; a kill -9 of the
 * leader hands leadership to the other replica, with the default lease timeout, and the standby buffers fill the
 * takeover from the old leader's last committed sample (a hole of at most two scrape intervals plus the send
 * deadline: what the killed leader had not sent yet); the restarted old leader does
 * not take it back; PromQL through remote read returns what promha stored; the history records the change.
 * Run once with the default HA label names and once with the Prometheus Operator's.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabelMatcher } from '@promha/codec';
import { openStorage, type Storage } from '@promha/storage';
import { freePorts, startTestDatabase, type TestDatabase } from '@promha/storage/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { largestGap, offGridTime, runsOf, type TimedValue } from './internal/analysis.js';
import { deduplicatedSamples, haHistory, haLease, REPO_ROOT, startIngest, type IngestInstance, type LeaseChangeJson } from './internal/ingest.js';
import { GiveUp, ProcessSet, waitFor } from './internal/processes.js';
import { findPrometheus, instantQuery, prometheusConfig, startPrometheus, type PrometheusServer } from './internal/prometheus.js';
import { SCRAPER_METRIC, startScrapeTarget, type ScrapeTarget } from './internal/target.js';

const SCRAPE_INTERVAL_MS = 1000;
/** The ingest's defaults (`--ha.lease-timeout`, `--ha.lease-refresh`): the test passes no lease flags. */
const LEASE_TIMEOUT_MS = 30_000;
const LEASE_REFRESH_MS = 5000;
const BATCH_SEND_DEADLINE_MS = 250;
/**
 * The largest hole allowed in a stored series across the failover. The new lease starts just after the old
 * leader's last committed sample (the splice point) and the follower's requests from there on, answered 202 while
 * it followed, are written from the instances' standby buffers. What is left: the samples the killed leader had
 * scraped but not sent yet (at most a scrape interval plus the send deadline), and the follower's next scrape.
 */
const FAILOVER_BOUND_MS = 2 * SCRAPE_INTERVAL_MS + BATCH_SEND_DEADLINE_MS;
/** Waits that span a lease timeout of wall time and then some. */
const LEASE_WAIT_MS = 2 * LEASE_TIMEOUT_MS + 30_000;
const FAILOVER_FILE = join(REPO_ROOT, 'out', 'e2e', 'failover.json');

interface Scenario {
  readonly name: string;
  readonly clusterLabel: string;
  readonly replicaLabel: string;
  readonly cluster: string;
  readonly replicas: readonly [string, string];
  readonly flags: readonly string[];
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'default-labels', clusterLabel: 'cluster', replicaLabel: '__replica__', cluster: 'e2e-eu', replicas: ['replica-a', 'replica-b'], flags: [] },
  {
    name: 'operator-labels',
    clusterLabel: 'prometheus',
    replicaLabel: 'prometheus_replica',
    cluster: 'monitoring/k8s',
    replicas: ['prometheus-k8s-0', 'prometheus-k8s-1'],
    flags: ['--ha.cluster-label=prometheus', '--ha.replica-label=prometheus_replica'],
  },
];

interface Replica {
  readonly name: string;
  /** The `e2e_scraper` value of this replica's samples, and the index of the ingest instance it writes to. */
  readonly scraper: number;
  readonly index: number;
  readonly dir: string;
  readonly port: number;
  readonly config: string;
}

interface FailoverRecord {
  readonly scenario: string;
  readonly gapMs: number;
  readonly boundMs: number;
  readonly leaseTimeoutMs: number;
  readonly leaseRefreshMs: number;
  readonly scrapeIntervalMs: number;
  readonly measuredAt: string;
}

async function recordFailover(record: FailoverRecord): Promise<void> {
  await mkdir(join(REPO_ROOT, 'out', 'e2e'), { recursive: true });
  let previous: FailoverRecord[] = [];
  try {
    previous = JSON.parse(await readFile(FAILOVER_FILE, 'utf8')) as FailoverRecord[];
  } catch (e: unknown) {
    // First run (no file yet) or an unreadable file from an older run: start afresh.
    if (!(e instanceof Error)) throw e;
  }
  const next = [...(Array.isArray(previous) ? previous : []).filter((r) => r.scenario !== record.scenario), record];
  await writeFile(FAILOVER_FILE, `${JSON.stringify(next, null, 2)}\n`);
}

// One PostgreSQL server for the file (PROMHA_TEST_DB_URI when set, else an embedded one), started by the first
// scenario once it has found the Prometheus binary; a database per scenario.
let database: TestDatabase | undefined;
afterAll(async () => {
  await database?.stop();
});

describe.each(SCENARIOS)('a real Prometheus HA pair through promha ($name)', (s) => {
  const processes = new ProcessSet();
  let dir: string | undefined;
  let target: ScrapeTarget | undefined;
  let storage: Storage | undefined;

  afterAll(async () => {
    try {
      await processes.stopAll(5_000);
    } finally {
      await storage?.close();
      await target?.close();
      // PROMHA_E2E_KEEP=1 keeps the configurations, TSDBs and logs for a post-mortem.
      if (dir !== undefined && process.env['PROMHA_E2E_KEEP'] === '1') process.stdout.write(`e2e ${s.name}: kept ${dir}\n`);
      else if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps one replica, fails over on kill -9, keeps the new leader, and answers PromQL with what it stored', async () => {
    // Fails the suite (never skips it) when the binary is missing.
    const bin = findPrometheus();
    dir = await mkdtemp(join(tmpdir(), `promha-e2e-${s.name}-`));
    const workDir = dir;
    database ??= await startTestDatabase();
    const dbUri = await database.createDatabase();
    target = await startScrapeTarget();
    const context = (): Promise<string> => processes.describe();
    const wait = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> =>
      waitFor(what, probe, { timeoutMs, intervalMs: 250, context });

    const ingestFlags = [...s.flags];
    // Ports of the two ingest instances, the two replicas and the reader.
    const ports = await freePorts(5);
    const port = (i: number): number => ports[i]!;
    const ingests: readonly IngestInstance[] = await Promise.all(
      // ingest-0 runs two worker processes (each an instance of its own on the database), ingest-1 one.
      [port(0), port(1)].map((listen, i) =>
        startIngest({ name: `ingest-${i}`, dbUri, port: listen, dir: workDir, flags: [...ingestFlags, `--workers=${i === 0 ? 2 : 1}`], processes }),
      ),
    );
    const ingest = (i: number): IngestInstance => ingests[i]!;
    storage = await openStorage({ uri: dbUri, maxConnections: 2, seriesCacheMax: 10_000, applicationName: 'promha-e2e' });
    const db = storage;

    const inCluster: LabelMatcher = { type: 'EQ', name: s.clusterLabel, value: s.cluster };
    const stored = async (metric: string): Promise<{ labels: Readonly<Record<string, string>>; samples: TimedValue[] }[]> => {
      const out: { labels: Readonly<Record<string, string>>; samples: TimedValue[] }[] = [];
      for await (const series of db.querySamples([{ type: 'EQ', name: '__name__', value: metric }, inCluster], 0, Number.MAX_SAFE_INTEGER)) {
        out.push({ labels: Object.fromEntries(series.labels.map((l) => [l.name, l.value])), samples: [...series.samples] });
      }
      return out;
    };
    const scraperSamples = async (): Promise<TimedValue[]> => (await stored(SCRAPER_METRIC)).flatMap((x) => x.samples);
    const latestOf = (samples: readonly TimedValue[], scraper: number): number =>
      Math.max(-Infinity, ...samples.filter((x) => x.value === scraper).map((x) => x.timestamp));

    const promhaTargets = ingests.map((i) => `127.0.0.1:${i.port}`);
    const replicas: Replica[] = [];
    for (const [index, name] of s.replicas.entries()) {
      const config = prometheusConfig({
        scrapeIntervalMs: SCRAPE_INTERVAL_MS,
        externalLabels: { [s.clusterLabel]: s.cluster, [s.replicaLabel]: name },
        scrapeJobs: [
          { job: 'app', targets: [`127.0.0.1:${target.port}`], params: { scraper: String(index + 1) } },
          { job: 'promha', targets: promhaTargets },
        ],
        remoteWriteUrl: `${ingest(index).url}/write`,
        batchSendDeadlineMs: BATCH_SEND_DEADLINE_MS,
      });
      replicas.push({ name, scraper: index + 1, index, dir: join(workDir, name.replaceAll('/', '_')), port: port(2 + index), config });
    }
    const start = (r: Replica): Promise<PrometheusServer> =>
      startPrometheus({ bin, name: `prometheus ${r.name}`, dir: r.dir, port: r.port, config: r.config, processes });
    const servers = new Map<string, PrometheusServer>();
    const [serverA, serverB, reader] = await Promise.all([
      start(replicas[0]!),
      start(replicas[1]!),
      startPrometheus({
        bin,
        name: 'prometheus reader',
        dir: join(workDir, 'reader'),
        port: port(4),
        config: prometheusConfig({ scrapeIntervalMs: SCRAPE_INTERVAL_MS, remoteReadUrl: `${ingest(0).url}/read` }),
        processes,
      }),
    ]);
    servers.set(replicas[0]!.name, serverA).set(replicas[1]!.name, serverB);

    const replicaNamed = (name: string): Replica => {
      const r = replicas.find((x) => x.name === name);
      // Not something waiting longer can fix.
      if (r === undefined) throw new GiveUp(`unknown replica ${name} in the HA history`);
      return r;
    };

    // 1. A leader is elected and both replicas are sending: the leader's data is stored, the other's deduplicated.
    // The current leader is the newest change (on a machine slow enough to stall a replica for a lease timeout,
    // leadership may already have moved once; what follows holds for whichever replica leads now).
    const before = await wait('a leader with stored data and a deduplicated follower', async () => {
      const current = (await haHistory(ingest(0), s.cluster))[0];
      if (current === undefined) return undefined;
      const leading = replicaNamed(current.newLeader);
      const other = replicas.find((r) => r !== leading)!;
      const leaderSamples = (await scraperSamples()).filter((x) => x.value === leading.scraper && x.timestamp >= current.newStart).length;
      return leaderSamples >= 5 && (await deduplicatedSamples(ingest(other.index), s.cluster)) > 0 ? current : undefined;
    });
    const oldLeader = replicaNamed(before.newLeader);
    const follower = replicas.find((r) => r !== oldLeader)!;

    // 2. kill -9 the leader: the follower takes over once the lease has run out in data and wall time.
    await servers.get(oldLeader.name)?.process.kill();
    const takeover = await wait(
      'the follower to take over',
      async () => (await haHistory(ingest(0), s.cluster)).find((c) => c.epoch === before.epoch + 1),
      LEASE_WAIT_MS,
    );
    expect(takeover).toMatchObject({ reason: 'takeover', oldLeader: oldLeader.name, newLeader: follower.name, splice: 'committed' });
    expect(takeover.newStart, 'the new lease starts where the old one ended').toBe(takeover.oldUntil);
    expect(takeover.newStart, 'the splice point lies before the old lease’s until').toBeLessThan(takeover.leaseUntil ?? Number.NaN);
    await wait('the new leader’s data past the takeover', async () =>
      latestOf(await scraperSamples(), follower.scraper) >= takeover.newStart + 3 * SCRAPE_INTERVAL_MS ? true : undefined,
    );

    // 3. Restart the old leader on the same data directory and configuration. Once its data arrives (and is
    // deduplicated), watch the new leader's data for longer than a lease timeout plus several refreshes.
    const dedupBeforeRestart = await deduplicatedSamples(ingest(oldLeader.index), s.cluster);
    servers.set(oldLeader.name, await start(oldLeader));
    const dedupWhenBack = await wait('the restarted old leader’s data to be deduplicated', async () => {
      const n = await deduplicatedSamples(ingest(oldLeader.index), s.cluster);
      return n > dedupBeforeRestart ? n : undefined;
    });
    const backAt = Date.now();
    await wait(
      'the new leader’s data a lease timeout and several refreshes after the old leader came back',
      async () => (latestOf(await scraperSamples(), follower.scraper) >= backAt + LEASE_TIMEOUT_MS + 3 * LEASE_REFRESH_MS ? true : undefined),
      LEASE_WAIT_MS,
    );
    // Every instance that buffered the follower's requests filled its share into the new lease.
    const filled = (await haHistory(ingest(1), s.cluster)).find((c) => c.epoch === takeover.epoch)?.filled ?? {};
    expect(Object.values(filled).reduce((a, b) => a + b, 0), `filled per instance: ${JSON.stringify(filled)}`).toBeGreaterThan(0);
    expect(await deduplicatedSamples(ingest(oldLeader.index), s.cluster), 'the old leader kept sending and was deduplicated').toBeGreaterThan(dedupWhenBack);
    const history = await haHistory(ingest(1), s.cluster);
    const describeChange = (c: LeaseChangeJson): unknown[] => [c.reason, c.oldLeader, c.newLeader, c.epoch];
    expect(history.slice(0, 2).map(describeChange), 'no leader change since the takeover').toEqual([describeChange(takeover), describeChange(before)]);
    expect(history.at(-1)?.reason).toBe('initial');
    for (const i of ingests) {
      expect(await haLease(i, s.cluster), `lease as ${i.name} knows it`).toMatchObject({ leader: follower.name, epoch: takeover.epoch });
    }

    // 4. PromQL through the third Prometheus (remote read only) returns exactly what promha stored. The query time
    // lies behind the newest stored sample: one remote-write shard per replica delivers in data-time order, so
    // nothing older can still arrive.
    const snapshot = await scraperSamples();
    const firstStored = Math.min(...snapshot.map((x) => x.timestamp));
    const near = latestOf(snapshot, follower.scraper) - 2 * SCRAPE_INTERVAL_MS;
    const windowMs = near - firstStored + SCRAPE_INTERVAL_MS;
    const at = offGridTime(near, windowMs, snapshot.map((x) => x.timestamp));
    const raw = await instantQuery(reader.port, `${SCRAPER_METRIC}{${s.clusterLabel}="${s.cluster}"}[${windowMs}ms]`, at);
    expect(raw.resultType).toBe('matrix');
    expect(raw.result).toHaveLength(1);
    const viaPromQL = (raw.result[0]?.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)]);
    const inWindow = snapshot
      .filter((x) => x.timestamp >= at - windowMs && x.timestamp <= at)
      .sort((a, b) => a.timestamp - b.timestamp)
      .map((x) => [x.timestamp, x.value]);
    expect(viaPromQL, 'remote read returns the stored samples, across the failover').toEqual(inWindow);
    expect(new Set(viaPromQL.map(([, v]) => v)), 'the window spans both leaders').toEqual(new Set([oldLeader.scraper, follower.scraper]));
    expect(Object.keys(raw.result[0]?.metric ?? {})).not.toContain(s.replicaLabel);

    const upSeries = await stored('up');
    const liveUp = upSeries.filter((x) => x.samples.some((p) => p.timestamp >= at - 300_000 && p.timestamp <= at)).length;
    expect(liveUp, 'up of the app target and of both ingest instances').toBe(3);
    const counted = await instantQuery(reader.port, `count by (${s.clusterLabel}) (up)`, at);
    expect(counted.result.map((r) => [r.metric, Number(r.value?.[1])])).toEqual([[{ [s.clusterLabel]: s.cluster }, liveUp]]);

    // 5. What is stored: no replica label anywhere, the cluster label on every series of the cluster, and one
    // replica's data at a time: the leader's samples, then the new leader's, never interleaved.
    const labels = (await (await fetch(`${ingest(0).url}/api/v1/labels`)).json()) as { data: string[] };
    expect(labels.data).toContain(s.clusterLabel);
    expect(labels.data).not.toContain(s.replicaLabel);
    const clusterSeries = await db.series([inCluster], 0, Number.MAX_SAFE_INTEGER);
    expect(clusterSeries.length).toBeGreaterThan(50);
    for (const series of clusterSeries) expect(series.map((l) => l.name)).not.toContain(s.replicaLabel);
    // Oldest change first: the k-th run of stored `e2e_scraper` values is the k-th leader's, inside its lease.
    const changes = [...history].reverse();
    const runs = runsOf(await scraperSamples());
    const runsText = `runs of ${SCRAPER_METRIC}: ${JSON.stringify(runs)}; history: ${JSON.stringify(changes)}`;
    expect(runs.map((r) => r.value), runsText).toEqual(changes.map((c) => replicaNamed(c.newLeader).scraper));
    runs.forEach((run, k) => {
      expect(run.first, runsText).toBeGreaterThanOrEqual(changes[k]!.newStart);
      const next = changes[k + 1];
      if (next !== undefined) expect(run.last, runsText).toBeLessThan(next.oldUntil ?? Number.NaN);
    });
    expect(target.scrapes(oldLeader.scraper) > 0 && target.scrapes(follower.scraper) > 0, 'both replicas scraped the same target').toBe(true);

    // 6. The failover hole in data time: across the takeover, the widest over every stored `up` series of the
    // cluster. No hole anywhere else in those series may be wider either.
    const across = upSeries.map((x) => {
      const times = x.samples.map((p) => p.timestamp);
      const lastBefore = Math.max(...times.filter((t) => t < takeover.newStart));
      const firstAfter = Math.min(...times.filter((t) => t >= takeover.newStart));
      return { instance: x.labels['instance'] ?? '?', from: lastBefore, to: firstAfter, ms: firstAfter - lastBefore };
    });
    const failover = across.reduce((a, b) => (b.ms > a.ms ? b : a));
    const gapMs = failover.ms;
    const line =
      `failover ${s.name}: largest gap in stored up samples across the takeover ${gapMs} ms ` +
      `(${failover.instance}, ${failover.from} → ${failover.to}), bound ${FAILOVER_BOUND_MS} ms; ` +
      `lease timeout ${LEASE_TIMEOUT_MS} ms, refresh ${LEASE_REFRESH_MS} ms, scrape ${SCRAPE_INTERVAL_MS} ms`;
    process.stdout.write(`${line}\n`);
    await recordFailover({
      scenario: s.name,
      gapMs,
      boundMs: FAILOVER_BOUND_MS,
      leaseTimeoutMs: LEASE_TIMEOUT_MS,
      leaseRefreshMs: LEASE_REFRESH_MS,
      scrapeIntervalMs: SCRAPE_INTERVAL_MS,
      measuredAt: new Date().toISOString(),
    });
    expect(Number.isFinite(gapMs) && gapMs > 0, `stored up samples on both sides of the takeover: ${JSON.stringify(across)}`).toBe(true);
    expect(gapMs, line).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    for (const x of upSeries) {
      const widest = largestGap(x.samples.map((p) => p.timestamp));
      expect(widest?.ms ?? 0, `widest hole in up{instance="${x.labels['instance'] ?? '?'}"}: ${JSON.stringify(widest)}`).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    }
  });
});
