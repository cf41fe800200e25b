import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB_URI_ENV, createFreshDatabase, type DatabaseAdmin } from '@promha/storage/testing';
import { CHECK_NAMES } from './internal/checkers.js';
import { reproduceCommand } from './internal/cli.js';
import { FAULT_KINDS, resolveScenario, type ScenarioOptions } from './internal/scenario.js';
import { POLICIES } from './internal/virtual/policies.js';
import { prepareVirtualDatabase, runVirtual, type VirtualDatabase } from './internal/virtual/run.js';
import { shrinkFaults } from './internal/virtual/shrink.js';

// The deterministic mode: real ingest services in this process on virtual time over a real PostgreSQL. Small
// scenarios (short leases, fast scrapes) keep a seed to a fraction of a second on a quiet machine.
const SEEDS = Number(process.env['PROMHA_SIM_VIRTUAL_SEEDS'] ?? 100);
const SMALL: ScenarioOptions = {
  clusters: 1,
  replicas: 2,
  ingesters: 2,
  durationMs: 6500,
  scrapeIntervalMs: 200,
  leaseTimeoutMs: 1000,
  leaseRefreshMs: 250,
  seriesPerReplica: 2,
  skewMaxMs: 500,
  faultKinds: FAULT_KINDS,
  faultRate: 30,
  drainMs: 2000,
  // Each instance's clock is off by up to 3 lease timeouts: leadership must not notice (one clock, the database's).
  ingestSkewMs: 3000,
};

let db: VirtualDatabase;
beforeAll(async () => {
  const server = process.env[TEST_DB_URI_ENV];
  db = await prepareVirtualDatabase({ dbUri: server === undefined || server === '' ? undefined : await createFreshDatabase(server) });
}, 120_000);
afterAll(async () => {
  await db.close();
});

const describeViolations = (r: Awaited<ReturnType<typeof runVirtual>>): string[] =>
  r.check.violations.map((v) => `seed ${r.scenario.seed}: check ${v.check} (${CHECK_NAMES[v.check]}): ${v.message}\n  replay: ${reproduceCommand(r.scenario, { virtual: true })}`);

describe('deterministic simulator (virtual time, real ingest services, real PostgreSQL)', () => {
  it('replays a seed bit for bit: same seed, same digest; another seed, another digest', async () => {
    const scenario = resolveScenario({ ...SMALL, seed: 4242 });
    const first = await runVirtual({ scenario, db });
    const second = await runVirtual({ scenario, db });
    console.log(`seed 4242: digest ${first.digest}, ${first.faults.length} faults, ${first.scheduler.operations} database operations, ${first.scheduler.lockWaits} lock waits`);
    expect(first.faults.length).toBeGreaterThan(0);
    expect(first.stored.length).toBeGreaterThan(0);
    expect(second.digest).toBe(first.digest);
    expect(second.events).toEqual(first.events);
    const other = await runVirtual({ scenario: { ...scenario, seed: 4243 }, db });
    expect(other.digest).not.toBe(first.digest);
  }, 300_000);

  it('gives the same digest however slowly the work outside the scheduler runs on the wall clock', async () => {
    // Seed 12 kills sessions (an ingest crash, a database restart). Terminating them, and every other admin
    // statement, takes real time; a loaded machine stretches it. The run must not move on meanwhile.
    const scenario = resolveScenario({ ...SMALL, seed: 12 });
    const quick = await runVirtual({ scenario, db });
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 150));
    const slowAdmin: DatabaseAdmin = {
      terminateBackends: async (options) => {
        const pids = await db.admin.terminateBackends(options);
        await pause();
        return pids;
      },
      cancelStatement: async (pid) => {
        await pause();
        await db.admin.cancelStatement(pid);
      },
      isBlocked: async (pid) => {
        await pause();
        return db.admin.isBlocked(pid);
      },
      truncateAll: () => db.admin.truncateAll(),
      close: () => Promise.resolve(),
    };
    const slow = await runVirtual({ scenario, db: { ...db, admin: slowAdmin } });
    console.log(`seed 12: digest ${quick.digest} (${quick.faults.map((f) => f.kind).join(', ')}), slowed admin ${slow.digest}`);
    expect(quick.faults.some((f) => f.kind === 'ingest-kill' || f.kind === 'postgres-restart' || f.kind === 'backend-kill')).toBe(true);
    expect(slow.digest).toBe(quick.digest);
  }, 300_000);

  it('a load burst slows every database operation: the run differs from the same seed without it, and passes', async () => {
    const scenario = resolveScenario({ ...SMALL, seed: 7, faultKinds: ['load-burst'], faultRate: 10 });
    const burst = await runVirtual({ scenario, db });
    const quiet = await runVirtual({ scenario, db, keepFaults: new Set() });
    const actions = burst.faultEvents.map((e) => e.action);
    console.log(`seed 7: ${burst.faults.length} load burst(s), ${burst.scheduler.operations} database operations; without: ${quiet.scheduler.operations}`);
    expect(burst.faults.length).toBeGreaterThan(0);
    expect(actions).toContain('start');
    expect(actions).not.toContain('skipped');
    expect(burst.digest).not.toBe(quiet.digest);
    expect(describeViolations(burst)).toEqual([]);
  }, 300_000);

  it(`${SEEDS} seeds with every fault kind pass every check`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runVirtual({ scenario: resolveScenario({ ...SMALL, seed }), db });
      failures.push(...describeViolations(r));
    }
    console.log(`${SEEDS} seeds (PROMHA_SIM_VIRTUAL_SEEDS), ${failures.length} violation(s)`);
    expect(failures).toEqual([]);
  }, 1_200_000);

  it('catches a broken election policy (takeover on data time alone) within 100 seeds and shrinks its schedule', async () => {
    const policy = POLICIES['data-time-only']!;
    const options: ScenarioOptions = { ...SMALL, skewMaxMs: 1500, faultKinds: ['clock-jump', 'replica-cut', 'slow-link'], faultRate: 20 };
    for (let seed = 1; seed <= 100; seed++) {
      const scenario = resolveScenario({ ...options, seed });
      const r = await runVirtual({ scenario, db, policy });
      if (r.check.violations.length === 0) continue;
      const checks = new Set(r.check.violations.map((v) => v.check));
      const shrunk = await shrinkFaults(
        r.faults.map((f) => f.id),
        async (keep) => (await runVirtual({ scenario, db, policy, keepFaults: keep })).check.violations.some((v) => checks.has(v.check)),
      );
      console.log(`broken policy caught at seed ${seed} (checks ${[...checks].join(', ')}); schedule shrunk from ${r.faults.length} to ${shrunk.length} fault(s)`);
      expect(checks.has(4) || checks.has(1)).toBe(true);
      expect(shrunk.length).toBeLessThanOrEqual(r.faults.length);
      const again = await runVirtual({ scenario, db, policy, keepFaults: new Set(shrunk) });
      expect(again.check.violations.length).toBeGreaterThan(0);
      return;
    }
    expect.fail('the broken policy passed 100 seeds');
  }, 1_200_000);
});
