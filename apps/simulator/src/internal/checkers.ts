import type { Fault } from './faults.js';
import type { Scenario } from './scenario.js';
import { clusterIndex, clusterName, decodeValue } from './values.js';

/** A sample read back from the database. `cluster` is the stored cluster label value, `series` the series key. */
export interface StoredSample {
  readonly cluster: string;
  readonly series: string;
  readonly t: number;
  readonly value: number;
}

/** One sample as a replica sent it. */
export interface SentSample {
  readonly series: string;
  readonly t: number;
  readonly value: number;
}

/** The final answer to one remote-write request (after its retries), as the replica saw it. */
export interface AckRecord {
  readonly cluster: number;
  readonly replica: number;
  /** HTTP status of the last attempt; 0 when the replica crashed or the run ended before an answer. */
  readonly status: number;
  readonly attempts: number;
  readonly samples: readonly SentSample[];
  /** Sim time of the first send and of the final answer. */
  readonly sentAtMs: number;
  readonly answeredAtMs: number;
}

/** A leader change as recorded by the ingest tier (epoch order per cluster). `start` is data time. */
export interface LeaderChange {
  readonly cluster: number;
  readonly epoch: number;
  readonly leader: number;
  readonly start: number;
  /** Sim time at which the change was made, when known. */
  readonly atMs?: number;
}

/** An ingest instance that exited although no fault killed it and the run did not stop it. */
export interface IngestCrash {
  readonly instance: number;
  /** Sim time of the exit. */
  readonly atMs: number;
  /** Exit code or signal, and the last lines it logged. */
  readonly how: string;
  readonly lastLines: readonly string[];
}

export interface CheckInput {
  readonly scenario: Scenario;
  readonly faults: readonly Fault[];
  /** Data time = dataBaseMs + sim time + skew + clock jumps taken. */
  readonly dataBaseMs: number;
  /** skews[cluster][replica] */
  readonly skews: readonly (readonly number[])[];
  readonly stored: readonly StoredSample[];
  readonly acks: readonly AckRecord[];
  /** Absent when the ingest tier keeps no history (HA off) or it could not be read. */
  readonly history?: readonly LeaderChange[];
  /** Extra tolerance added to the failover bound for scheduling noise on a busy machine. */
  readonly gapSlackMs?: number;
  /** Ingest instances that exited unasked (check 6). */
  readonly crashes?: readonly IngestCrash[];
  /**
   * Non-leader samples the ingest tier's standby buffers dropped at their byte bound, per cluster index
   * (`promha_ha_standby_overflow_samples_total`): a takeover of such a cluster may keep a hole (check 3 excuses it).
   */
  readonly standbyOverflow?: readonly number[];
}

export type CheckId = 1 | 2 | 3 | 4 | 5 | 6;

export const CHECK_NAMES: Readonly<Record<CheckId, string>> = {
  1: 'no overlap of replicas',
  2: 'acknowledged samples stored exactly once',
  3: 'failover gap bounded',
  4: 'no flapping',
  5: 'clusters independent',
  6: 'no ingest crash',
};

/** Where a violation happened: its cluster, or the ingest tier for check 6 (cluster -1). */
export function violationScope(v: Violation): string {
  return v.cluster < 0 ? 'ingest tier' : clusterName(v.cluster);
}

export interface Violation {
  readonly check: CheckId;
  /** -1 for violations of the ingest tier as a whole (check 6). */
  readonly cluster: number;
  readonly message: string;
}

/** A stretch of data time during which one replica's data was stored (inclusive bounds). */
export interface Segment {
  readonly replica: number;
  readonly from: number;
  readonly to: number;
}

export interface Gap {
  readonly from: number;
  readonly to: number;
  /** Replicas whose samples bound the gap (for placing it on the run's time axis). */
  readonly fromReplica: number;
  readonly toReplica: number;
  readonly ms: number;
  readonly cause: string;
  readonly excused: boolean;
}

export interface ClusterResult {
  readonly cluster: number;
  readonly leaderChanges: number;
  readonly largestGap: Gap | undefined;
  /** The widest gap across a leader change (what the standby buffers left), in ms. */
  readonly largestTakeoverGapMs: number | undefined;
  /** Data-time ranges where stretches of two replicas overlap (check 1), at most 50. */
  readonly overlaps: readonly {
    readonly from: number;
    readonly to: number;
    readonly replicas: readonly [number, number];
  }[];
  /** Gaps over the failover bound (excused or not). */
  readonly gaps: readonly Gap[];
  readonly segments: readonly Segment[];
  readonly samplesSent: number;
  readonly samplesAcked: number;
  readonly samplesDeduplicated: number;
  readonly samplesStored: number;
  readonly violations: number;
}

export interface CheckResult {
  /** Check 3's bound for a gap with no leader change (a leader back before its lease ran out). */
  readonly gapBoundMs: number;
  /** Check 3's bound across a takeover no ingest kill, PostgreSQL restart or buffer overflow touched. */
  readonly takeoverBoundMs: number;
  readonly clusters: readonly ClusterResult[];
  readonly violations: readonly Violation[];
}

const MAX_MESSAGES_PER_KIND = 5;

interface Interval {
  readonly replica: number;
  readonly from: number;
  readonly to: number;
}

/** Runs the six checks over a finished run. Pure: same input, same result. */
export function checkRun(input: CheckInput): CheckResult {
  const { scenario } = input;
  const violations: Violation[] = [];
  const report = (
    check: CheckId,
    cluster: number,
    counts: Map<string, number>,
    kind: string,
    message: string,
  ): void => {
    const key = `${check}/${cluster}/${kind}`;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n <= MAX_MESSAGES_PER_KIND) violations.push({ check, cluster, message });
  };
  const counts = new Map<string, number>();
  // Check 6: a process that exits when nothing asked it to is always a bug.
  for (const crash of input.crashes ?? []) {
    report(
      6,
      -1,
      counts,
      'crash',
      `ingest instance ${crash.instance} exited unasked at run time ${Math.round(crash.atMs)} ms (${crash.how}); last lines:\n${crash.lastLines.map((l) => `      ${l}`).join('\n')}`,
    );
  }
  // Data times in messages, relative to the run's start (data base), e.g. +12.345s.
  const rel = (t: number): string => `+${((t - input.dataBaseMs) / 1000).toFixed(3)}s`;
  // Without a takeover (a leader back before its lease ran out), nothing fills its silence: up to a lease timeout.
  const gapBoundMs =
    scenario.leaseTimeoutMs +
    scenario.leaseRefreshMs +
    scenario.scrapeIntervalMs +
    scenario.jitterMs +
    (input.gapSlackMs ?? 0);
  // Across a takeover the standby buffers fill from the splice point (docs/design.md rules 6 and 11): what is left is the
  // scrape the old leader never sent and the new leader's first one, two intervals plus jitter.
  const takeoverBoundMs = 2 * scenario.scrapeIntervalMs + scenario.jitterMs + (input.gapSlackMs ?? 0);
  // Two samples of one replica's series closer than this are one continuous stretch of stored data. It stays
  // below the lease timeout, so a legitimate A -> B -> A handover (A silent for a timeout) never links up.
  const linkMs = Math.max(1, Math.min(2 * scenario.scrapeIntervalMs + scenario.jitterMs, scenario.leaseTimeoutMs - 1));

  const byCluster = new Map<number, { origin: number; s: StoredSample }[]>();
  for (const s of input.stored) {
    const c = clusterIndex(s.cluster);
    const origin = decodeValue(s.value);
    if (c === undefined || origin === undefined || origin.cluster !== c) {
      report(
        5,
        c ?? -1,
        counts,
        'foreign',
        `stored sample ${s.series}@${rel(s.t)} value ${s.value} under cluster "${s.cluster}" does not come from that cluster (origin ${origin === undefined ? 'unknown' : `c${origin.cluster}/r${origin.replica}`})`,
      );
      continue;
    }
    let list = byCluster.get(c);
    if (list === undefined) byCluster.set(c, (list = []));
    list.push({ origin: origin.replica, s });
  }

  const historyByCluster = new Map<number, LeaderChange[]>();
  for (const h of input.history ?? []) {
    let list = historyByCluster.get(h.cluster);
    if (list === undefined) historyByCluster.set(h.cluster, (list = []));
    list.push(h);
  }
  for (const list of historyByCluster.values()) list.sort((a, b) => a.epoch - b.epoch);

  const simOf = (cluster: number, replica: number, dataT: number): number => {
    const skew = input.skews[cluster]?.[replica] ?? 0;
    let sim = dataT - input.dataBaseMs - skew;
    for (const f of input.faults) {
      if (
        f.kind === 'clock-jump' &&
        f.cluster === cluster &&
        f.replica === replica &&
        f.jumpMs !== undefined &&
        f.atMs + f.jumpMs <= sim
      ) {
        sim -= f.jumpMs;
      }
    }
    return sim;
  };
  const overlaps = (f: Fault, from: number, to: number): boolean => f.atMs <= to && f.atMs + f.durationMs >= from;
  const ownFaults = (cluster: number, replica: number, from: number, to: number): Fault[] =>
    input.faults.filter((f) => f.cluster === cluster && f.replica === replica && overlaps(f, from, to));
  // What empties standby buffers: a killed instance loses its buffer, a database restart fails the fill.
  const bufferFaults = (from: number, to: number): Fault[] =>
    input.faults.filter((f) => overlaps(f, from, to) && (f.kind === 'postgres-restart' || f.kind === 'ingest-kill'));
  const globalFaults = (from: number, to: number): Fault[] =>
    input.faults.filter(
      (f) =>
        overlaps(f, from, to) &&
        (f.kind === 'postgres-restart' || (f.kind === 'ingest-kill' && scenario.ingesters === 1)),
    );

  // Whether a replica sent a request in [from, to] of sim time (a first send, or a retried request still in
  // flight). Rule 5 allows a takeover once the leader sent nothing for a lease timeout; without acks (unit
  // tests of other checks) every replica counts as sending.
  const sentWithin = (cluster: number, replica: number, from: number, to: number): boolean =>
    input.acks.length === 0 ||
    input.acks.some(
      (a) =>
        a.cluster === cluster &&
        a.replica === replica &&
        a.sentAtMs <= to &&
        (a.sentAtMs >= from || (a.attempts > 1 && a.answeredAtMs >= from)),
    );

  const results: ClusterResult[] = [];
  for (let c = 0; c < scenario.clusters; c++) {
    const samples = byCluster.get(c) ?? [];
    const history = historyByCluster.get(c);

    // Check 2, first half: nothing stored twice.
    const seen = new Map<string, number>();
    for (const { s } of samples) {
      const key = `${s.series}\u0000${s.t}\u0000${s.value}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (const [key, n] of seen) {
      if (n > 1) {
        const [series, t] = key.split('\u0000');
        report(2, c, counts, 'dup', `sample ${series ?? ''}@${rel(Number(t))} stored ${n} times`);
      }
    }

    // Check 1: per replica, continuous stretches of stored data; stretches of different replicas must not meet.
    const perReplicaSeries = new Map<string, number[]>();
    for (const { origin, s } of samples) {
      const key = `${origin}\u0000${s.series}`;
      let ts = perReplicaSeries.get(key);
      if (ts === undefined) perReplicaSeries.set(key, (ts = []));
      ts.push(s.t);
    }
    const intervals: Interval[] = [];
    for (const [key, ts] of perReplicaSeries) {
      const replica = Number(key.split('\u0000')[0]);
      ts.sort((a, b) => a - b);
      let from = ts[0]!;
      let prev = from;
      for (let i = 1; i <= ts.length; i++) {
        const t = ts[i];
        if (t === undefined || t - prev > linkMs) {
          intervals.push({ replica, from, to: prev });
          if (t !== undefined) from = t;
        }
        if (t !== undefined) prev = t;
      }
    }
    const coverage = mergeByReplica(intervals);
    // Sweep the merged stretches (one per replica and continuous stretch, whatever the number of series).
    const stretches = [...coverage.values()].flat().sort((a, b) => a.from - b.from || a.to - b.to);
    const overlapRanges: { from: number; to: number; replicas: [number, number] }[] = [];
    let top1: Interval | undefined;
    let top2: Interval | undefined;
    for (const iv of stretches) {
      const other = top1 !== undefined && top1.replica !== iv.replica ? top1 : top2;
      if (other !== undefined && other.to >= iv.from) {
        if (overlapRanges.length < 50) {
          overlapRanges.push({ from: iv.from, to: Math.min(other.to, iv.to), replicas: [other.replica, iv.replica] });
        }
        report(
          1,
          c,
          counts,
          'overlap',
          `r${other.replica} stored [${rel(other.from)}, ${rel(other.to)}] overlaps r${iv.replica} stored [${rel(iv.from)}, ${rel(iv.to)}] (${Math.min(other.to, iv.to) - iv.from} ms of data time)`,
        );
      }
      if (top1 === undefined || iv.to > top1.to) {
        if (top1 !== undefined && top1.replica !== iv.replica) top2 = top1;
        top1 = iv;
      } else if (iv.replica !== top1.replica && (top2 === undefined || iv.to > top2.to)) {
        top2 = iv;
      }
    }
    // Check 1 against the recorded leases: every stored sample lies in an interval its replica held.
    const held = (replica: number, t: number): boolean => {
      if (history === undefined) return coverage.get(replica)?.some((iv) => iv.from <= t && t <= iv.to) ?? false;
      for (let i = 0; i < history.length; i++) {
        const h = history[i]!;
        const end = history[i + 1]?.start ?? Number.POSITIVE_INFINITY;
        if (h.leader === replica && h.start <= t && t < end) return true;
      }
      return false;
    };
    if (history !== undefined && scenario.highAvailability) {
      for (const { origin, s } of samples) {
        if (!held(origin, s.t)) {
          report(
            1,
            c,
            counts,
            'outside-lease',
            `r${origin}'s sample ${s.series}@${rel(s.t)} is stored outside every lease r${origin} held`,
          );
        }
      }
    }

    // Check 2, second half: every sample acknowledged as stored is there. A 204 stores the part of a request
    // inside the sender's lease, so a sample counts as acknowledged-as-stored when its replica held data time t
    // (HA off: always). A 202 acknowledges deduplication, not storage.
    const storedKeys = new Set(seen.keys());
    let sent = 0;
    let acked = 0;
    let deduplicated = 0;
    for (const a of input.acks) {
      if (a.cluster !== c) continue;
      sent += a.samples.length;
      if (a.status === 202) {
        deduplicated += a.samples.length;
        // Deduplicated data may be stored later from a standby buffer (rule 11), but only inside its replica's lease.
        if (scenario.highAvailability) {
          for (const s of a.samples) {
            if (storedKeys.has(`${s.series}\u0000${s.t}\u0000${s.value}`) && !held(a.replica, s.t)) {
              report(2, c, counts, 'filled-outside', `r${a.replica}'s sample ${s.series}@${rel(s.t)} was answered 202 and is stored outside r${a.replica}'s lease`);
            }
          }
        }
      }
      if (a.status < 200 || a.status >= 300 || a.status === 202) continue;
      acked += a.samples.length;
      for (const s of a.samples) {
        if (scenario.highAvailability && !held(a.replica, s.t)) continue;
        if (!storedKeys.has(`${s.series}\u0000${s.t}\u0000${s.value}`)) {
          report(
            2,
            c,
            counts,
            'lost',
            `r${a.replica}'s sample ${s.series}@${rel(s.t)} was answered ${a.status} but is not stored`,
          );
        }
      }
    }

    // Segments (who was stored when) for the report, and leader changes.
    const byTime = [...samples].sort((a, b) => a.s.t - b.s.t || a.origin - b.origin);
    const segments: Segment[] = [];
    for (const { origin, s } of byTime) {
      const last = segments[segments.length - 1];
      // A stretch without data longer than the link distance starts a new segment, so gaps show in the report.
      if (last !== undefined && last.replica === origin && s.t - last.to <= linkMs) {
        segments[segments.length - 1] = { ...last, to: s.t };
      } else segments.push({ replica: origin, from: s.t, to: s.t });
    }
    const changes: { from: number; to: number; at: number; data: number }[] = [];
    if (history !== undefined && history.length > 0) {
      for (let i = 1; i < history.length; i++) {
        const prev = history[i - 1]!;
        const h = history[i]!;
        changes.push({
          from: prev.leader,
          to: h.leader,
          at: h.atMs ?? simOf(c, h.leader, h.start),
          data: h.start,
        });
      }
    } else if (scenario.highAvailability) {
      for (let i = 1; i < segments.length; i++) {
        const prev = segments[i - 1]!;
        const seg = segments[i]!;
        if (prev.replica === seg.replica) continue;
        changes.push({
          from: prev.replica,
          to: seg.replica,
          at: simOf(c, seg.replica, seg.from),
          data: seg.from,
        });
      }
    }

    // Check 4 (and 5): a leader change while the old leader kept sending, i.e. nothing happened to it, to the
    // database, or to the whole ingest tier in the lease timeout (plus retry slack) before the change.
    if (scenario.highAvailability) {
      for (const ch of changes) {
        const from =
          ch.at -
          scenario.leaseTimeoutMs -
          2 * scenario.scrapeIntervalMs -
          scenario.maxBackoffMs -
          scenario.batchDeadlineMs;
        const own = ownFaults(c, ch.from, from, ch.at);
        const global = globalFaults(from, ch.at);
        if (own.length === 0 && global.length === 0 && sentWithin(c, ch.from, ch.at - scenario.leaseTimeoutMs, ch.at)) {
          report(
            4,
            c,
            counts,
            'flap',
            `leader changed r${ch.from} -> r${ch.to} at data time ${rel(ch.data)} (run time ${Math.round(ch.at)} ms) while r${ch.from} kept sending`,
          );
          const foreign = input.faults.filter(
            (f) => f.cluster !== undefined && f.cluster !== c && overlaps(f, from, ch.at),
          );
          if (foreign.length > 0) {
            report(
              5,
              c,
              counts,
              'cross',
              `leader change in c${c} at sim ${ch.at} ms coincides only with faults of other clusters (${foreign.map((f) => `#${f.id}`).join(', ')})`,
            );
          }
        }
      }
    }

    // Check 3: gaps in the cluster's stored data time.
    const originAt = new Map<number, number>();
    for (const x of samples) originAt.set(x.s.t, x.origin);
    const times = [...originAt.keys()].sort((a, b) => a - b);
    let largest: Gap | undefined;
    let largestTakeover: number | undefined;
    const gaps: Gap[] = [];
    for (let i = 1; i < times.length; i++) {
      const g0 = times[i - 1]!;
      const g1 = times[i]!;
      const ms = g1 - g0;
      const change = changes.find((ch) => ch.data > g0 && ch.data <= g1);
      if (change !== undefined) largestTakeover = Math.max(largestTakeover ?? 0, ms);
      if (largest !== undefined && ms <= largest.ms && ms <= takeoverBoundMs) continue;
      const healthy: number[] = [];
      const involved = new Set<Fault>();
      for (let r = 0; r < scenario.replicas; r++) {
        const s0 = simOf(c, r, g0) - scenario.leaseTimeoutMs - scenario.batchDeadlineMs;
        const s1 = simOf(c, r, g1);
        const own = ownFaults(c, r, s0, s1);
        for (const f of own) involved.add(f);
        for (const f of globalFaults(s0, s1)) involved.add(f);
        if (own.length === 0) healthy.push(r);
      }
      // Leases live in data time (docs/design.md rule 5), so skew stretches a failover: a challenger running ahead of the
      // leader reaches the lease end before the wall-clock guard lets it take over (what it sends meanwhile is
      // deduplicated), and one running behind reaches it late (if the leader comes back first, its own gap is all
      // there is). Either way the gap grows by the skew difference between the leader and the replica that could
      // take over.
      const leader = change?.from ?? originAt.get(g0) ?? 0;
      const leaderSkew = input.skews[c]?.[leader] ?? 0;
      const candidates = change === undefined ? healthy : [change.to, ...healthy];
      const skewAllowance = Math.max(
        0,
        ...candidates.filter((r) => r !== leader).map((r) => Math.abs((input.skews[c]?.[r] ?? 0) - leaderSkew)),
      );
      // A takeover is held to the tight bound unless something emptied or overflowed the buffers that fill it.
      // The buffers must hold the new leader's data from the gap's start until every instance learnt of the takeover
      // (a lease refresh after it) and filled it.
      const replicas = [...Array(scenario.replicas).keys()];
      const emptied =
        change === undefined
          ? []
          : bufferFaults(
              Math.min(...replicas.map((r) => simOf(c, r, g0))) - scenario.leaseTimeoutMs - scenario.batchDeadlineMs,
              Math.max(...replicas.map((r) => simOf(c, r, g1))) + scenario.leaseRefreshMs,
            );
      for (const f of emptied) involved.add(f);
      const overflowed = input.standbyOverflow?.[c] ?? 0;
      const tight = change !== undefined && emptied.length === 0 && overflowed === 0;
      const bound = (tight ? takeoverBoundMs : gapBoundMs) + skewAllowance;
      let cause = change === undefined ? 'no leader change' : `failover r${change.from} -> r${change.to}`;
      if (change !== undefined && overflowed > 0) cause = `${cause}; standby buffer overflow (${overflowed} samples)`;
      const faultText = [...involved]
        .map((f) => `#${f.id} ${f.kind}${f.replica === undefined ? '' : ` r${f.replica}`}`)
        .join(', ');
      cause = `${cause}${faultText === '' ? '' : `; faults: ${faultText}`}${healthy.length === 0 ? '; no replica healthy' : ''}`;
      let excused = true;
      if (ms > bound) {
        const jumped = [...involved].some((f) => f.kind === 'clock-jump');
        // A tight-bound gap is excused by neither a global fault (those made the bound loose) nor a lone slow link.
        const global = !tight && [...involved].some((f) => f.cluster === undefined);
        excused = healthy.length === 0 || jumped || global;
        gaps.push({
          from: g0,
          to: g1,
          fromReplica: originAt.get(g0) ?? 0,
          toReplica: originAt.get(g1) ?? 0,
          ms,
          cause,
          excused,
        });
        if (!excused) {
          report(
            3,
            c,
            counts,
            'gap',
            `gap of ${ms} ms in stored data time [${rel(g0)}, ${rel(g1)}] exceeds ${bound} ms (skew allowance ${skewAllowance} ms) while r${healthy.join(', r')} stayed healthy (${cause})`,
          );
        }
      }
      if (largest === undefined || ms > largest.ms)
        largest = {
          from: g0,
          to: g1,
          fromReplica: originAt.get(g0) ?? 0,
          toReplica: originAt.get(g1) ?? 0,
          ms,
          cause,
          excused,
        };
    }

    results.push({
      cluster: c,
      leaderChanges: changes.length,
      largestGap: largest,
      largestTakeoverGapMs: largestTakeover,
      overlaps: overlapRanges,
      gaps,
      segments,
      samplesSent: sent,
      samplesAcked: acked,
      samplesDeduplicated: deduplicated,
      samplesStored: samples.length,
      violations: 0,
    });
  }
  for (const [key, n] of counts) {
    if (n > MAX_MESSAGES_PER_KIND) {
      const [check, cluster, kind] = key.split('/');
      violations.push({
        check: Number(check) as CheckId,
        cluster: Number(cluster),
        message: `... and ${n - MAX_MESSAGES_PER_KIND} more ${kind ?? ''} violations`,
      });
    }
  }
  const perCluster = new Map<number, number>();
  for (const [key, n] of counts) {
    const cluster = Number(key.split('/')[1]);
    perCluster.set(cluster, (perCluster.get(cluster) ?? 0) + n);
  }
  return {
    gapBoundMs,
    takeoverBoundMs,
    clusters: results.map((r) => ({
      ...r,
      violations: perCluster.get(r.cluster) ?? 0,
    })),
    violations,
  };
}

function mergeByReplica(intervals: readonly Interval[]): Map<number, Interval[]> {
  const out = new Map<number, Interval[]>();
  const sorted = [...intervals].sort((a, b) => a.replica - b.replica || a.from - b.from);
  for (const iv of sorted) {
    let list = out.get(iv.replica);
    if (list === undefined) out.set(iv.replica, (list = []));
    const last = list[list.length - 1];
    if (last !== undefined && iv.from <= last.to) list[list.length - 1] = { ...last, to: Math.max(last.to, iv.to) };
    else list.push(iv);
  }
  return out;
}
