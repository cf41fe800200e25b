import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateFaults } from './faults.js';
import { Prng } from './prng.js';
import { FAULT_KINDS, parseDuration, parseFaultKinds, parseSkew, resolveScenario } from './scenario.js';
import { decodeValue, encodeValue } from './values.js';

describe('Prng', () => {
  it('same seed, same numbers; forks are independent of later draws', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    expect(Array.from({ length: 5 }, () => a.nextUint32())).toEqual(Array.from({ length: 5 }, () => b.nextUint32()));
    expect(new Prng(1).next()).not.toBe(new Prng(2).next());
    expect(new Prng(7).fork('x').int(0, 1000)).toBe(new Prng(7).fork('x').int(0, 1000));
  });
  it('int stays in range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: -50, max: 50 }),
        fc.integer({ min: 0, max: 100 }),
        (seed, min, span) => {
          const v = new Prng(seed).int(min, min + span);
          expect(v >= min && v <= min + span && Number.isInteger(v)).toBe(true);
        },
      ),
      { seed: 1, numRuns: 200 },
    );
  });
});

describe('generateFaults', () => {
  it('same seed, same schedule; faults lie inside the run and name valid targets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (seed, clusters, replicas) => {
          const s = resolveScenario({
            seed,
            clusters,
            replicas,
            ingesters: 2,
            durationMs: 30_000,
            faultKinds: FAULT_KINDS,
            leaseTimeoutMs: 2000,
            leaseRefreshMs: 500,
          });
          const a = generateFaults(s, new Prng(seed));
          expect(generateFaults(s, new Prng(seed))).toEqual(a);
          expect(a.length).toBeGreaterThan(0);
          for (const f of a) {
            expect(f.atMs).toBeGreaterThanOrEqual(0);
            expect(f.atMs + f.durationMs).toBeLessThanOrEqual(s.durationMs);
            if (f.cluster !== undefined) expect(f.cluster).toBeLessThan(clusters);
            if (f.replica !== undefined) expect(f.replica).toBeLessThan(replicas);
            if (f.ingester !== undefined) expect(f.ingester).toBeLessThan(2);
          }
        },
      ),
      { seed: 3, numRuns: 50 },
    );
  });
});

describe('values and flags', () => {
  it('a value gives back its origin', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (cluster, replica, seq) => {
          expect(decodeValue(encodeValue({ cluster, replica, seq }))).toEqual({
            cluster,
            replica,
            seq,
          });
        },
      ),
      { seed: 5, numRuns: 200 },
    );
  });
  it('parses durations, skews and fault lists', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('-2s')).toBe(-2000);
    expect(() => parseDuration('2 s')).toThrow(/not a duration: "2 s"/);
    expect(parseSkew('-1s-2s')).toEqual({ min: -1000, max: 2000 });
    expect(parseSkew('0-3s')).toEqual({ min: 0, max: 3000 });
    expect(parseSkew('100ms-1s')).toEqual({ min: 100, max: 1000 });
    expect(parseFaultKinds('all')).toEqual(FAULT_KINDS);
    expect(parseFaultKinds('replica-crash,clock-jump')).toEqual(['replica-crash', 'clock-jump']);
    expect(() => parseFaultKinds('meteor')).toThrow(/unknown fault kind/);
    expect(() => resolveScenario({ leaseTimeoutMs: 500, leaseRefreshMs: 500 })).toThrow(/lease refresh/);
  });

  it('keeps a healthy leader inside its lease: default batch deadline fits, a cadence past the timeout is refused', () => {
    // Seed 101's flap: 1 s scrapes with a 1 s batch deadline sent the leader's requests up to 2.1 s apart under
    // a 2 s lease timeout.
    const d = resolveScenario({});
    expect(d.scrapeIntervalMs + d.jitterMs + d.batchDeadlineMs).toBeLessThan(d.leaseTimeoutMs);
    expect(() => resolveScenario({ batchDeadlineMs: 1000 })).toThrow(/must exceed scrape interval/);
    expect(resolveScenario({ leaseTimeoutMs: 1000, scrapeIntervalMs: 200 }).batchDeadlineMs).toBe(200);
  });
});
