import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createFreshDatabase, TEST_DB_URI_ENV } from '@promha/storage/testing';
import { CHECK_NAMES } from './internal/checkers.js';
import { reproduceCommand } from './internal/cli.js';
import { describeFault } from './internal/faults.js';
import { FAULT_KINDS, resolveScenario, type FaultKind, type ScenarioOptions } from './internal/scenario.js';
import { simulate } from './internal/simulate.js';
import type { IngestTier } from './internal/tier.js';

// Real promha ingest processes over a real PostgreSQL (PROMHA_TEST_DB_URI, else an embedded server per run, which
// is what makes the postgres-restart fault possible). Short lease timeouts keep each run to a few seconds of
// scraping; fast-check picks the scenarios and shrinks a failing one.
const FC_SEED = Number(process.env['PROMHA_FC_SEED'] ?? 20261125);
const RUNS = Number(process.env['PROMHA_FC_RUNS'] ?? 3);

async function run(options: ScenarioOptions, onTier?: (tier: IngestTier | undefined) => void) {
  const scenario = resolveScenario({
    durationMs: 9000,
    scrapeIntervalMs: 200,
    leaseTimeoutMs: 1000,
    leaseRefreshMs: 250,
    seriesPerReplica: 4,
    drainMs: 3000,
    ...options,
  });
  const server = process.env[TEST_DB_URI_ENV];
  const dbUri = server === undefined || server === '' ? undefined : await createFreshDatabase(server);
  return simulate({ scenario, ingest: 'real', dbUri, gapSlackMs: 400, ...(onTier === undefined ? {} : { onTier }) });
}

describe('simulator against real ingest instances and PostgreSQL', () => {
  it('generated scenarios with faults pass every check', async () => {
    console.log(`fast-check seed ${FC_SEED} (replay with PROMHA_FC_SEED=${FC_SEED}), ${RUNS} runs (PROMHA_FC_RUNS)`);
    const scenarios = fc.record({
      seed: fc.integer({ min: 0, max: 0xffff_ffff }),
      clusters: fc.integer({ min: 1, max: 2 }),
      replicas: fc.integer({ min: 2, max: 3 }),
      ingesters: fc.integer({ min: 1, max: 2 }),
      // Worker processes per instance: every worker is an instance of its own on the database.
      workers: fc.integer({ min: 1, max: 2 }),
      skewMaxMs: fc.integer({ min: 0, max: 1000 }),
      faultKinds: fc.subarray([...FAULT_KINDS] as FaultKind[], { minLength: 1 }),
      faultRate: fc.integer({ min: 10, max: 30 }),
    });
    await fc.assert(
      fc.asyncProperty(scenarios, async (options) => {
        const result = await run(options);
        const changes = result.check.clusters.reduce((n, c) => n + c.leaderChanges, 0);
        console.log(
          `run seed ${result.scenario.seed}: ${result.scenario.clusters}x${result.scenario.replicas}, ${result.scenario.ingesters} ingester(s) x ${result.scenario.workers} worker(s), ${result.faults.length} fault(s) [${result.faults.map((f) => f.kind).join(', ')}], ${changes} leader change(s), ${result.check.violations.length} violation(s)`,
        );
        const text = result.check.violations.map((v) => `check ${v.check} (${CHECK_NAMES[v.check]}): ${v.message}`);
        if (text.length > 0) {
          console.log(
            `violations:\n${text.join('\n')}\nfaults:\n${result.faults.map(describeFault).join('\n')}\nreproduce: ${reproduceCommand(result.scenario)}`,
          );
        }
        expect(text).toEqual([]);
        for (const c of result.check.clusters) expect(c.samplesStored).toBeGreaterThan(0);
      }),
      // Every run runs: no time limit that could end the property early and still pass it.
      { seed: FC_SEED, numRuns: RUNS },
    );
  }, 300_000);

  it('an ingest process that exits unasked is a violation (check 6) with its last log lines', async () => {
    // The process is killed from outside the tier, as a crash looks to it: no fault asked for it.
    let pid: number | undefined;
    const result = await run({ seed: 5, clusters: 1, replicas: 2, ingesters: 2, durationMs: 3000 }, (tier) => {
      if (tier === undefined || pid !== undefined) return;
      const target = (pid = tier.pid(1));
      if (target !== undefined) setTimeout(() => process.kill(target, 'SIGKILL'), 1000).unref();
    });
    expect(pid).toBeDefined();
    const crashes = result.check.violations.filter((v) => v.check === 6);
    expect(crashes).toHaveLength(1);
    expect(crashes[0]?.message).toMatch(/ingest instance 1 exited unasked .*signal SIGKILL/);
  }, 300_000);

  it('with HA turned off in the ingest, check 1 reports the overlap', async () => {
    const result = await run({
      seed: 3,
      clusters: 1,
      replicas: 2,
      ingesters: 1,
      highAvailability: false,
      durationMs: 3000,
    });
    expect(result.check.violations.some((v) => v.check === 1)).toBe(true);
    expect(result.check.clusters[0]?.samplesStored).toBeGreaterThan(0);
  }, 120_000);
});
