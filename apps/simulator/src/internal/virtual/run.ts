import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Policy } from '@promha/election/testing';
import { openStorage } from '@promha/storage';
import { startEmbeddedPostgres, type EmbeddedServer } from '@promha/storage';
import { createFreshDatabase, openDatabaseAdmin, type DatabaseAdmin } from '@promha/storage/testing';
import { SimError } from '../errors.js';
import { Prng } from '../prng.js';
import { runScenario, type RunResult } from '../runner.js';
import type { Scenario } from '../scenario.js';
import { encodeBody } from '../simulate.js';
import { VirtualNetwork } from './network.js';
import { VirtualScheduler } from './scheduler.js';
import { virtualTier } from './tier.js';

/**
 * Virtual time 0 on the wall clock of every instance (a constant: the same seed gives the same bytes in any
 * process on any day). In the past, so rows the database stamps with its own clock look recent, never expired.
 */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

/** One migrated database that runs reuse: emptied before each run, so a seed runs on the same state every time. */
export interface VirtualDatabase {
  readonly uri: string;
  readonly admin: DatabaseAdmin;
  close(): Promise<void>;
}

/** An embedded PostgreSQL (or the database given), migrated, with the partitions virtual time needs. */
export async function prepareVirtualDatabase(options: { readonly dbUri?: string | undefined; readonly log?: (line: string) => void } = {}): Promise<VirtualDatabase> {
  let server: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let uri = options.dbUri;
  try {
    if (uri === undefined) {
      dataDir = await mkdtemp(join(tmpdir(), 'promha-sim-pg-'));
      server = await startEmbeddedPostgres({ dataDir, settings: { fsync: 'off', synchronous_commit: 'off', max_connections: '200' } });
      uri = await createFreshDatabase(server.uri);
      options.log?.(`embedded PostgreSQL on port ${server.port} (${dataDir})`);
    }
    const storage = await openStorage({ uri });
    try {
      await storage.migrate();
      // Partitions for the days around virtual time exist before any run, so no run creates them (a run that
      // did would take other locks than the next run of the same seed).
      await storage.maintain(VIRTUAL_EPOCH_MS);
    } finally {
      await storage.close();
    }
  } catch (e: unknown) {
    await server?.stop().catch(() => undefined);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    throw new SimError('SIM_DATABASE', `could not prepare the database: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const admin = await openDatabaseAdmin(uri);
  return {
    uri,
    admin,
    close: async () => {
      await admin.close().catch(() => undefined);
      await server?.stop().catch(() => undefined);
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface VirtualRunOptions {
  readonly scenario: Scenario;
  readonly db: VirtualDatabase;
  /** Replace the election's decision core (a deliberately broken one). */
  readonly policy?: Policy;
  /** Only these scheduled faults (a shrunk schedule). */
  readonly keepFaults?: ReadonlySet<number>;
  readonly gapSlackMs?: number;
}

export interface VirtualRunResult extends RunResult {
  /** sha256 over every decision, every answer and every stored sample, and the leader history: same seed, same digest. */
  readonly digest: string;
  readonly scheduler: VirtualScheduler['stats'];
  /** Decisions, fence failures and crashes in order (what the digest covers besides answers and data). */
  readonly events: readonly (readonly unknown[])[];
}

/** One run in virtual time: a function of the scenario (its seed), the policy and the faults kept. */
export async function runVirtual(o: VirtualRunOptions): Promise<VirtualRunResult> {
  const { scenario, db } = o;
  await db.admin.terminateBackends();
  await db.admin.truncateAll();
  const root = new Prng(scenario.seed).fork('virtual');
  const dbLatency = root.fork('db-latency');
  const hops = root.fork('hops');
  const instanceSkews = root.fork('ingest-skews');
  const scheduler = new VirtualScheduler(root.fork('db-order'), db.admin, () => dbLatency.int(1, 4));
  const events: (readonly unknown[])[] = [];
  const tier = virtualTier({
    scenario,
    dbUri: db.uri,
    admin: db.admin,
    scheduler,
    wallBase: VIRTUAL_EPOCH_MS,
    skews: Array.from({ length: scenario.ingesters }, () => {
      const ms = instanceSkews.int(0, scenario.ingestSkewMs);
      return instanceSkews.int(0, 1) === 0 ? ms : -ms;
    }),
    ...(o.policy === undefined ? {} : { policy: o.policy }),
    record: (e) => events.push(e),
  });
  const loop = scheduler.run();
  const work = (async () => {
    await tier.start();
    return runScenario(scenario, {
      tier,
      wallNow: () => VIRTUAL_EPOCH_MS + scheduler.now(),
      timers: scheduler.timersFor(-1),
      encode: encodeBody,
      network: (n) => {
        const net = new VirtualNetwork({ endpoints: tier.endpoints, link: n.link, rng: n.rng, sleep: n.sleep, hopMs: () => hops.int(0, 2) });
        return Promise.resolve({ transport: net, stats: net.stats, close: () => Promise.resolve() });
      },
      ...(o.keepFaults === undefined ? {} : { keepFaults: o.keepFaults }),
      ...(o.gapSlackMs === undefined ? {} : { gapSlackMs: o.gapSlackMs }),
    });
  })();
  let result: RunResult;
  try {
    // The loop only ends early by failing (a stall): then the run's own promise would never settle.
    result = await Promise.race([work, loop.then(() => work)]);
  } finally {
    await tier.close();
  }
  const hash = createHash('sha256');
  for (const e of events) hash.update(`${JSON.stringify(e)}\n`);
  for (const a of result.acks) hash.update(`${JSON.stringify(a)}\n`);
  const stored = [...result.stored].sort((a, b) => (a.series < b.series ? -1 : a.series > b.series ? 1 : a.t - b.t || a.value - b.value));
  for (const s of stored) hash.update(`${s.series} ${s.t} ${s.value}\n`);
  for (const h of result.history ?? []) hash.update(`${JSON.stringify(h)}\n`);
  return { ...result, digest: hash.digest('hex'), scheduler: { ...scheduler.stats }, events };
}
