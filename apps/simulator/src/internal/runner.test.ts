import { describe, expect, it } from 'vitest';
import { startFakeTier } from './fake-tier.js';
import { realTimers } from './real-timers.js';
import { runScenario } from './runner.js';
import { resolveScenario, type ScenarioOptions } from './scenario.js';
import { encodeWriteRequestV1, snappyLiteral } from './wire.js';

// The whole pipeline (replicas, queue, balancer with link faults, HTTP) against the in-process reference
// model of the ingest tier: a few seconds of real time each.
async function simulate(options: ScenarioOptions) {
  const scenario = resolveScenario({
    clusters: 2,
    replicas: 2,
    ingesters: 2,
    durationMs: 4000,
    scrapeIntervalMs: 100,
    leaseTimeoutMs: 400,
    leaseRefreshMs: 100,
    seriesPerReplica: 3,
    drainMs: 1500,
    ...options,
  });
  const wallNow = (): number => Date.now();
  const tier = await startFakeTier({
    instances: scenario.ingesters,
    highAvailability: scenario.highAvailability,
    leaseTimeoutMs: scenario.leaseTimeoutMs,
    wallNow,
  });
  try {
    return await runScenario(scenario, {
      tier,
      wallNow,
      timers: realTimers(),
      encode: (s) => snappyLiteral(encodeWriteRequestV1(s)),
      gapSlackMs: 300,
    });
  } finally {
    await tier.close();
  }
}

describe('runScenario against the reference ingest model', () => {
  it('a run with faults passes every check', async () => {
    const result = await simulate({
      seed: 7,
      faultKinds: ['replica-crash', 'replica-cut', 'lossy-link', 'duplicate-delivery', 'ingest-kill', 'slow-link'],
      faultRate: 20,
    });
    console.log(
      `seed ${result.scenario.seed}: ${result.faults.length} faults, violations ${JSON.stringify(result.check.violations)}`,
    );
    expect(result.faults.length).toBeGreaterThan(0);
    expect(result.check.violations).toEqual([]);
    for (const c of result.check.clusters) expect(c.samplesStored).toBeGreaterThan(0);
  });

  it('with HA off, check 1 reports the overlap', async () => {
    const result = await simulate({
      seed: 8,
      highAvailability: false,
      skewMinMs: 0,
      skewMaxMs: 50,
    });
    expect(result.check.violations.some((v) => v.check === 1)).toBe(true);
  });
});
