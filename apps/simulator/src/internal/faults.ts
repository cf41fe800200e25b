import type { Prng } from './prng.js';
import type { FaultKind, Scenario } from './scenario.js';

/**
 * One scheduled fault. `atMs` and `durationMs` are sim time. Replica faults name `cluster` and `replica`;
 * `ingest-kill` names `ingester`; `postgres-restart`, `backend-kill` and `load-burst` name nothing (a backend
 * kill is instant, durationMs 0). A `clock-jump` moves the replica's clock
 * forward by `jumpMs` at `atMs` and stays (durationMs 0).
 */
export interface Fault {
  readonly id: number;
  readonly kind: FaultKind;
  readonly atMs: number;
  readonly durationMs: number;
  readonly cluster?: number;
  readonly replica?: number;
  readonly ingester?: number;
  /** slow-link: added latency per request. */
  readonly delayMs?: number;
  /** lossy-link: probability a request or its answer is lost; duplicate-delivery: probability of a resend. */
  readonly probability?: number;
  /** clock-jump: forward jump. */
  readonly jumpMs?: number;
  /**
   * Replica faults only: hit whichever replica leads the cluster when the fault starts (asked from the ingest
   * tier), `replica` being the fallback. The run records the replica actually hit. Without this most faults
   * would hit followers, which exercises little.
   */
  readonly targetLeader?: boolean;
}

/** Faults that leave the ingest tier and the database alone and affect one replica only. */
export function isReplicaFault(f: Fault): boolean {
  return f.cluster !== undefined && f.replica !== undefined;
}

/**
 * Draws the fault schedule of a run from its seed. Faults start in the middle part of the run (after a warm-up
 * of two lease timeouts, ending before the last three lease timeouts) so that every fault has time to show its
 * effect and the system has time to recover before the data is checked.
 */
export function generateFaults(scenario: Scenario, rng: Prng): readonly Fault[] {
  const kinds = scenario.faultKinds.filter((k) => k !== 'ingest-kill' || scenario.ingesters >= 1);
  if (kinds.length === 0) return [];
  const t = scenario.leaseTimeoutMs;
  const earliest = 2 * t + scenario.scrapeIntervalMs;
  const latestEnd = scenario.durationMs - 3 * t;
  if (latestEnd - earliest < t) return [];
  const count = Math.max(1, Math.round((scenario.faultRate * scenario.clusters * scenario.durationMs) / 60_000));
  const faults: Fault[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rng.pick(kinds);
    const durationMs =
      kind === 'clock-jump' || kind === 'backend-kill'
        ? 0
        : kind === 'ingest-kill' || kind === 'postgres-restart'
          ? rng.int(Math.floor(t / 4), t)
          : rng.int(t, 3 * t);
    const start = rng.int(earliest, Math.max(earliest, latestEnd - durationMs));
    const base = { id: i + 1, kind, atMs: start, durationMs };
    const cluster = rng.int(0, scenario.clusters - 1);
    const replica = rng.int(0, scenario.replicas - 1);
    const targetLeader = rng.chance(0.6);
    switch (kind) {
      case 'replica-crash':
      case 'replica-cut':
        faults.push({ ...base, cluster, replica, targetLeader });
        break;
      case 'slow-link':
        faults.push({
          ...base,
          cluster,
          replica,
          targetLeader,
          delayMs: rng.int(20, Math.max(20, Math.floor(t / 4))),
        });
        break;
      case 'lossy-link':
        faults.push({
          ...base,
          cluster,
          replica,
          targetLeader,
          probability: rng.int(10, 50) / 100,
        });
        break;
      case 'duplicate-delivery':
        faults.push({
          ...base,
          cluster,
          replica,
          targetLeader,
          probability: rng.int(20, 80) / 100,
        });
        break;
      case 'clock-jump':
        faults.push({
          ...base,
          cluster,
          replica,
          targetLeader,
          jumpMs: rng.int(Math.floor(t / 2), 2 * t),
        });
        break;
      case 'ingest-kill':
        faults.push({ ...base, ingester: rng.int(0, scenario.ingesters - 1) });
        break;
      case 'postgres-restart':
      case 'backend-kill':
      case 'load-burst':
        faults.push(base);
        break;
    }
  }
  faults.sort((a, b) => a.atMs - b.atMs || a.id - b.id);
  return faults.map((f, i) => ({ ...f, id: i + 1 }));
}

/** One line per fault, for logs and the failure message. */
export function describeFault(f: Fault): string {
  const who =
    f.cluster !== undefined && f.replica !== undefined
      ? ` c${f.cluster}/r${f.replica}`
      : f.ingester !== undefined
        ? ` ingester ${f.ingester}`
        : '';
  const extra =
    f.delayMs !== undefined
      ? ` +${f.delayMs}ms`
      : f.probability !== undefined
        ? ` p=${f.probability}`
        : f.jumpMs !== undefined
          ? ` +${f.jumpMs}ms`
          : '';
  return `#${f.id} ${f.kind}${who}${f.targetLeader === true ? ' (leader)' : ''}${extra} at ${f.atMs}ms for ${f.durationMs}ms`;
}
