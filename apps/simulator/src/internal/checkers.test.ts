import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRun, type AckRecord, type CheckInput, type LeaderChange, type StoredSample } from './checkers.js';
import type { Fault } from './faults.js';
import { resolveScenario } from './scenario.js';
import { clusterName, encodeValue } from './values.js';

const BASE = 1_700_000_000_000;
const scenario = resolveScenario({
  clusters: 2,
  replicas: 2,
  scrapeIntervalMs: 100,
  jitterMs: 0,
  leaseTimeoutMs: 400,
  leaseRefreshMs: 100,
});

/** A history where `leaders[i]` of cluster c stores the scrapes of [from_i, to_i) (sim ms, step 100). */
function run(
  plan: readonly {
    cluster: number;
    replica: number;
    from: number;
    to: number;
  }[],
  extra?: Partial<CheckInput>,
): CheckInput {
  const stored: StoredSample[] = [];
  const acks: AckRecord[] = [];
  for (const p of plan) {
    for (let t = p.from; t < p.to; t += 100) {
      const samples = [0, 1].map((s) => ({
        series: `s${s}`,
        t: BASE + t,
        value: encodeValue({
          cluster: p.cluster,
          replica: p.replica,
          seq: t / 100,
        }),
      }));
      for (const s of samples) stored.push({ cluster: clusterName(p.cluster), ...s });
      acks.push({
        cluster: p.cluster,
        replica: p.replica,
        status: 204,
        attempts: 1,
        samples,
        sentAtMs: t,
        answeredAtMs: t + 5,
      });
    }
  }
  return {
    scenario,
    faults: [],
    dataBaseMs: BASE,
    skews: [
      [0, 0],
      [0, 0],
    ],
    stored,
    acks,
    ...extra,
  };
}

describe('checkRun', () => {
  it('accepts a clean handover after a crash', () => {
    const crash: Fault = {
      id: 1,
      kind: 'replica-crash',
      atMs: 1000,
      durationMs: 2000,
      cluster: 0,
      replica: 0,
    };
    // The standby buffers filled the takeover from the splice point: r1's data follows r0's last scrape.
    const input = run(
      [
        { cluster: 0, replica: 0, from: 0, to: 1000 },
        { cluster: 0, replica: 1, from: 1100, to: 3000 },
        { cluster: 1, replica: 1, from: 0, to: 3000 },
      ],
      { faults: [crash] },
    );
    const result = checkRun(input);
    expect(result.violations).toEqual([]);
    expect(result.takeoverBoundMs).toBe(200);
    expect(result.clusters[0]?.leaderChanges).toBe(1);
    expect(result.clusters[0]?.largestGap?.ms).toBe(200);
    expect(result.clusters[1]?.leaderChanges).toBe(0);
  });

  it('holds a takeover to two scrape intervals plus jitter (check 3) unless an ingest kill, a restart or an overflow touched it', () => {
    // A takeover nothing filled (the new lease at the old until, as before the standby buffer): a 400 ms hole.
    const plan = [
      { cluster: 0, replica: 0, from: 0, to: 1000 },
      { cluster: 0, replica: 1, from: 1300, to: 3000 },
    ];
    const crash: Fault = { id: 1, kind: 'replica-crash', atMs: 1000, durationMs: 2000, cluster: 0, replica: 0 };
    const bad = checkRun(run(plan, { faults: [crash] }));
    expect(bad.violations.map((v) => [v.check, v.message])).toEqual([[3, expect.stringContaining('gap of 400 ms')]]);
    expect(bad.violations[0]?.message).toContain('exceeds 200 ms');
    for (const [extra, cause] of [
      [{ faults: [crash, { id: 2, kind: 'ingest-kill', atMs: 900, durationMs: 300, ingester: 0 } satisfies Fault] }, 'ingest-kill'],
      [{ faults: [crash, { id: 2, kind: 'postgres-restart', atMs: 1100, durationMs: 100 } satisfies Fault] }, 'postgres-restart'],
      [{ faults: [crash], standbyOverflow: [12, 0] }, 'standby buffer overflow (12 samples)'],
    ] as const) {
      const r = checkRun(run(plan, extra));
      expect(r.violations).toEqual([]);
      expect(r.clusters[0]?.largestGap).toMatchObject({ ms: 400, excused: true });
      expect(r.clusters[0]?.largestGap?.cause).toContain(cause);
    }
    // An overflow of another cluster excuses nothing here.
    expect(checkRun(run(plan, { faults: [crash], standbyOverflow: [0, 12] })).violations.map((v) => v.check)).toEqual([3]);
  });

  it('a 202 may be stored from a standby buffer, only inside its replica’s lease (check 2)', () => {
    const input = run([
      { cluster: 0, replica: 0, from: 0, to: 1000 },
      { cluster: 0, replica: 1, from: 1000, to: 2000 },
    ]);
    const history: LeaderChange[] = [
      { cluster: 0, epoch: 1, leader: 0, start: BASE - 1e6 },
      { cluster: 0, epoch: 2, leader: 1, start: BASE + 1000, atMs: 1500 },
    ];
    // r1's acks before the takeover was decided were 202 (buffered, then filled).
    const filled = input.acks.map((a) => (a.replica === 1 && a.sentAtMs < 1500 ? { ...a, status: 202 } : a));
    expect(checkRun({ ...input, acks: filled, history }).violations).toEqual([]);
    // With the splice later, r1's filled samples before it lie outside its lease.
    const late: LeaderChange[] = [history[0]!, { ...history[1]!, start: BASE + 1200 }];
    const messages = checkRun({ ...input, acks: filled, history: late }).violations.filter((v) => v.check === 2).map((v) => v.message);
    expect(messages[0]).toContain('answered 202 and is stored outside');
  });

  it('reports overlapping replicas (check 1), as with HA turned off', () => {
    const input = run([
      { cluster: 0, replica: 0, from: 0, to: 2000 },
      { cluster: 0, replica: 1, from: 1000, to: 3000 },
    ]);
    const result = checkRun({
      ...input,
      stored: input.stored.map((s) => (s.value % 16 === 1 ? { ...s, t: s.t + 7 } : s)),
    });
    expect(result.violations.some((v) => v.check === 1 && v.cluster === 0)).toBe(true);
  });

  it('reports a lost acknowledged sample and a duplicate (check 2)', () => {
    const input = run([{ cluster: 0, replica: 0, from: 0, to: 2000 }]);
    const stored = input.stored.filter((s) => !(s.series === 's1' && s.t === BASE + 500));
    stored.push(stored[3]!);
    const result = checkRun({ ...input, stored });
    expect(result.violations.filter((v) => v.check === 2).map((v) => v.message)).toEqual([
      expect.stringContaining('stored 2 times'),
      expect.stringContaining('not stored'),
    ]);
  });

  it('does not count a 202 as stored', () => {
    const input = run([{ cluster: 0, replica: 0, from: 0, to: 1000 }]);
    const acks = [
      ...input.acks,
      {
        cluster: 0,
        replica: 1,
        status: 202,
        attempts: 1,
        samples: [
          {
            series: 's0',
            t: BASE + 50,
            value: encodeValue({ cluster: 0, replica: 1, seq: 1 }),
          },
        ],
        sentAtMs: 50,
        answeredAtMs: 55,
      },
    ];
    const result = checkRun({
      ...input,
      acks,
      history: [{ cluster: 0, epoch: 1, leader: 0, start: BASE }],
    });
    expect(result.violations).toEqual([]);
    expect(result.clusters[0]?.samplesDeduplicated).toBe(1);
  });

  it('reports an unbounded failover gap while a replica is healthy (check 3), excuses it when none is', () => {
    const plan = [
      { cluster: 0, replica: 0, from: 0, to: 1000 },
      { cluster: 0, replica: 1, from: 3000, to: 4000 },
    ];
    const crash: Fault = {
      id: 1,
      kind: 'replica-crash',
      atMs: 1000,
      durationMs: 2000,
      cluster: 0,
      replica: 0,
    };
    const bad = checkRun(run(plan, { faults: [crash] }));
    expect(bad.violations.map((v) => v.check)).toEqual([3]);
    const cut: Fault = {
      id: 2,
      kind: 'replica-cut',
      atMs: 500,
      durationMs: 2600,
      cluster: 0,
      replica: 1,
    };
    const excused = checkRun(run(plan, { faults: [crash, cut] }));
    expect(excused.violations).toEqual([]);
    expect(excused.clusters[0]?.largestGap?.excused).toBe(true);
  });

  it('widens the failover bound by the skew between the leader and a healthy replica (check 3)', () => {
    const plan = [
      { cluster: 0, replica: 0, from: 0, to: 1000 },
      { cluster: 0, replica: 0, from: 1800, to: 3000 },
    ];
    const crash: Fault = { id: 1, kind: 'replica-crash', atMs: 1000, durationMs: 700, cluster: 0, replica: 0 };
    // Gap 900 ms; bound 600 ms without skew: a violation while r1 is healthy.
    expect(checkRun(run(plan, { faults: [crash] })).violations.map((v) => v.check)).toEqual([3]);
    // r1 runs 300 ms behind: it could only take over 300 ms later, so r0 coming back first is within bounds.
    const skewed = run(plan, {
      faults: [crash],
      skews: [
        [300, 0],
        [0, 0],
      ],
    });
    const shifted = {
      ...skewed,
      stored: skewed.stored.map((x) => ({ ...x, t: x.t + 300 })),
      acks: skewed.acks.map((a) => ({ ...a, samples: a.samples.map((x) => ({ ...x, t: x.t + 300 })) })),
    };
    expect(checkRun(shifted).violations).toEqual([]);
  });

  it('reports flapping while the leader keeps sending (check 4) and a cross-cluster effect (check 5)', () => {
    const history: LeaderChange[] = [
      { cluster: 0, epoch: 1, leader: 0, start: BASE },
      { cluster: 0, epoch: 2, leader: 1, start: BASE + 1000, atMs: 1000 },
    ];
    const foreign: Fault = {
      id: 1,
      kind: 'replica-crash',
      atMs: 800,
      durationMs: 1000,
      cluster: 1,
      replica: 0,
    };
    const result = checkRun(
      run(
        [
          { cluster: 0, replica: 0, from: 0, to: 1000 },
          { cluster: 0, replica: 1, from: 1000, to: 2000 },
        ],
        { history, faults: [foreign] },
      ),
    );
    expect(result.violations.map((v) => v.check).sort()).toEqual([4, 5]);
  });

  it('does not call a takeover flapping when the leader sent nothing for a lease timeout before it (rule 5)', () => {
    // Seed 101 of the real-process mode: the leader's requests were 2.07 s apart (scrape interval + jitter + batch
    // deadline) with a 2 s lease, so rule 5 let a follower take over although nothing was wrong with the leader.
    const history: LeaderChange[] = [
      { cluster: 0, epoch: 1, leader: 0, start: BASE },
      { cluster: 0, epoch: 2, leader: 1, start: BASE + 1000, atMs: 1000 },
    ];
    const input = run(
      [
        { cluster: 0, replica: 0, from: 0, to: 1000 },
        { cluster: 0, replica: 1, from: 1000, to: 2000 },
      ],
      { history },
    );
    const silent = { ...input, acks: input.acks.filter((a) => a.replica !== 0 || a.sentAtMs < 1000 - 400) };
    expect(checkRun(silent).violations).toEqual([]);
    // One request of the leader inside the lease timeout before the change makes it flapping again.
    const oneLate = { ...input, acks: input.acks.filter((a) => a.replica !== 0 || a.sentAtMs < 600 || a.sentAtMs === 700) };
    expect(checkRun(oneLate).violations.map((v) => v.check)).toEqual([4]);
  });

  it('reports an ingest instance that exited unasked (check 6), with its last lines', () => {
    const input = run([{ cluster: 0, replica: 0, from: 0, to: 300 }]);
    expect(checkRun(input).violations).toEqual([]);
    const crashed = checkRun({
      ...input,
      crashes: [{ instance: 1, atMs: 150, how: 'exit code 1', lastLines: ["Emitted 'error' event on Client instance"] }],
    });
    expect(crashed.violations).toEqual([
      { check: 6, cluster: -1, message: expect.stringMatching(/instance 1 exited unasked .*exit code 1.*\n.*Emitted 'error'/s) as unknown },
    ]);
  });

  it('reports a sample stored under the wrong cluster (check 5)', () => {
    const input = run([{ cluster: 0, replica: 0, from: 0, to: 300 }]);
    const stored = [
      ...input.stored,
      {
        cluster: clusterName(1),
        series: 's0',
        t: BASE,
        value: encodeValue({ cluster: 0, replica: 0, seq: 9 }),
      },
    ];
    expect(checkRun({ ...input, stored }).violations.map((v) => v.check)).toEqual([5]);
  });

  it('property: any non-overlapping handover sequence passes check 1; shifting one replica into another fails it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            replica: fc.integer({ min: 0, max: 1 }),
            len: fc.integer({ min: 2, max: 10 }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (parts) => {
          const plan: {
            cluster: number;
            replica: number;
            from: number;
            to: number;
          }[] = [];
          let t = 0;
          for (const p of parts) {
            const last = plan[plan.length - 1];
            // A real handover leaves the lease timeout between different leaders.
            if (last !== undefined && last.replica !== p.replica) t += 400;
            else if (last !== undefined) t += 500;
            plan.push({
              cluster: 0,
              replica: p.replica,
              from: t,
              to: t + p.len * 100,
            });
            t += p.len * 100;
          }
          const input = run(plan, {
            faults: [
              {
                id: 1,
                kind: 'replica-crash',
                atMs: 0,
                durationMs: 100_000,
                cluster: 0,
                replica: 0,
              },
              {
                id: 2,
                kind: 'replica-crash',
                atMs: 0,
                durationMs: 100_000,
                cluster: 0,
                replica: 1,
              },
            ],
          });
          const ok = checkRun(input);
          expect(ok.violations.filter((v) => v.check === 1)).toEqual([]);
          const both = new Set(plan.map((p) => p.replica)).size === 2;
          if (both) {
            // Replay replica 0's stretches as replica 1's, 1 ms later: the stretches meet (a stretch has >= 2 scrapes).
            const stolen = input.stored
              .filter((s) => s.value % 16 === 0)
              .map((s) => ({ ...s, t: s.t + 1, value: s.value + 1 }));
            const bad = checkRun({
              ...input,
              stored: [...input.stored, ...stolen],
            });
            expect(bad.violations.some((v) => v.check === 1)).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 100 },
    );
  });
});
