/**
 * End to end with a real Prometheus HA pair while PostgreSQL dies: two ingest processes, two replicas writing
 * through them, then `kill -9` of PostgreSQL's postmaster and a start again after a few seconds. No ingest
 * process may exit; Prometheus gets 503s while the database is away and resends, so it never counts a sample as
 * failed (`prometheus_remote_storage_samples_failed_total` stays 0); and what is stored is continuous: the leader's
 * data has no hole wider than the outage itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type Storage } from '@promha/storage';
import { freePorts, createFreshDatabase, startFaultyPostgres, type FaultyPostgres } from '@promha/storage/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { largestGap, type TimedValue } from './internal/analysis.js';
import { haHistory, startIngest, type IngestInstance } from './internal/ingest.js';
import { ProcessSet, waitFor } from './internal/processes.js';
import { findPrometheus, prometheusConfig, startPrometheus, type PrometheusServer } from './internal/prometheus.js';
import { SCRAPER_METRIC, startScrapeTarget, type ScrapeTarget } from './internal/target.js';

const SCRAPE_INTERVAL_MS = 1000;
/** Long enough that the outage cannot hand leadership over: the test is about the database, not a failover. */
const LEASE_TIMEOUT_MS = 120_000;
const OUTAGE_MS = 5000;
const CLUSTER = 'e2e-db';

/** The sum of every sample of `name` in a text exposition (whatever its labels). */
function sumOf(exposition: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const value = Number(line.slice(line.lastIndexOf('}') + 1 || name.length).trim().split(' ')[0]);
    if (!Number.isNaN(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

describe('PostgreSQL killed under a real Prometheus HA pair', () => {
  const processes = new ProcessSet();
  let dir: string | undefined;
  let server: FaultyPostgres | undefined;
  let target: ScrapeTarget | undefined;
  let storage: Storage | undefined;

  afterAll(async () => {
    try {
      await processes.stopAll(5_000);
    } finally {
      await storage?.close();
      await target?.close();
      await server?.destroy();
      if (dir !== undefined && process.env['PROMHA_E2E_KEEP'] === '1') process.stdout.write(`e2e database outage: kept ${dir}\n`);
      else if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the ingest up, loses no sample Prometheus sent, and stores continuous data apart from the outage', async () => {
    const bin = findPrometheus();
    dir = await mkdtemp(join(tmpdir(), 'promha-e2e-db-'));
    const workDir = dir;
    server = await startFaultyPostgres();
    const dbUri = await createFreshDatabase(server.uri);
    target = await startScrapeTarget();
    const context = (): Promise<string> => processes.describe();
    const wait = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> =>
      waitFor(what, probe, { timeoutMs, intervalMs: 250, context });

    const ports = await freePorts(4);
    const port = (i: number): number => ports[i]!;
    const flags = [`--ha.lease-timeout=${LEASE_TIMEOUT_MS}ms`, '--ha.lease-refresh=1s', '--db.connect-timeout=2s', '--db.write-timeout=5s'];
    const ingests: readonly IngestInstance[] = await Promise.all(
      [port(0), port(1)].map((listen, i) => startIngest({ name: `ingest-${i}`, dbUri, port: listen, dir: workDir, flags, processes })),
    );
    const replicas = ['replica-a', 'replica-b'].map((name, i) => ({
      name,
      scraper: i + 1,
      port: port(2 + i),
      config: prometheusConfig({
        scrapeIntervalMs: SCRAPE_INTERVAL_MS,
        externalLabels: { cluster: CLUSTER, __replica__: name },
        scrapeJobs: [{ job: 'app', targets: [`127.0.0.1:${target!.port}`], params: { scraper: String(i + 1) } }],
        remoteWriteUrl: `${ingests[i]!.url}/write`,
      }),
    }));
    const servers: PrometheusServer[] = await Promise.all(
      replicas.map((r) => startPrometheus({ bin, name: `prometheus ${r.name}`, dir: join(workDir, r.name), port: r.port, config: r.config, processes })),
    );

    storage = await openStorage({ uri: dbUri, maxConnections: 2, seriesCacheMax: 10_000, applicationName: 'promha-e2e' });
    const db = storage;
    const scraperSamples = async (): Promise<TimedValue[]> => {
      const out: TimedValue[] = [];
      for await (const s of db.querySamples([{ type: 'EQ', name: '__name__', value: SCRAPER_METRIC }, { type: 'EQ', name: 'cluster', value: CLUSTER }], 0, Number.MAX_SAFE_INTEGER)) {
        out.push(...s.samples);
      }
      return out;
    };

    const leader = await wait('a leader with stored data', async () => {
      const current = (await haHistory(ingests[0]!, CLUSTER))[0];
      if (current === undefined) return undefined;
      const scraper = replicas.find((r) => r.name === current.newLeader)!.scraper;
      return (await scraperSamples()).filter((x) => x.value === scraper).length >= 5 ? scraper : undefined;
    });

    // The outage: kill -9 of the postmaster (its backends follow), the database away for OUTAGE_MS, then back.
    const killedAt = Date.now();
    await server.shutdown('kill');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await server.start();
    const backAt = Date.now();
    const outageMs = backAt - killedAt;

    await wait('the leader’s data well past the restart', async () => {
      const latest = Math.max(-Infinity, ...(await scraperSamples()).filter((x) => x.value === leader).map((x) => x.timestamp));
      return latest >= backAt + 5 * SCRAPE_INTERVAL_MS ? true : undefined;
    });

    for (const i of ingests) expect(i.process.running(), `${i.name} exited:\n${await i.process.logTail()}`).toBe(true);
    for (const s of servers) {
      const res = await fetch(`http://127.0.0.1:${s.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      expect(sumOf(text, 'prometheus_remote_storage_samples_failed_total'), `${s.name}: samples failed`).toBe(0);
      // The outage reached Prometheus: it had to retry.
      if (s.name.endsWith(replicas[leader - 1]!.name)) {
        expect(sumOf(text, 'prometheus_remote_storage_samples_retried_total'), `${s.name}: samples retried`).toBeGreaterThan(0);
      }
    }
    const history = await haHistory(ingests[1]!, CLUSTER);
    expect(history.map((c) => c.reason), 'no leader change through the outage').toEqual(['initial']);

    const times = (await scraperSamples()).filter((x) => x.value === leader).map((x) => x.timestamp);
    const widest = largestGap(times);
    const line = `database outage: ${outageMs} ms without PostgreSQL; widest hole in the leader's stored data ${widest?.ms ?? 0} ms`;
    process.stdout.write(`${line}\n`);
    // Prometheus resends what got 503, so normally there is no hole at all; never one wider than the outage.
    expect(widest?.ms ?? 0, line).toBeLessThanOrEqual(outageMs + 3 * SCRAPE_INTERVAL_MS);
  });
});
