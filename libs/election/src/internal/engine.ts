import type { Decision, PartRange } from '../decision.js';
import { noopElectionMetrics, type ElectionMetrics, type StoreOp } from '../metrics.js';
import { resolveElectionOptions, type ElectionOptions, type ResolvedElectionOptions } from '../options.js';
import type { CasResult, Clock, Fence, FenceFailure, Lease, LeaseChange, LeaseStore, StoreSnapshot, TakeoverNotice } from '../ports.js';
import { decideStep, type ClosedInterval, type ClusterView, type Policy } from './core.js';

/** Constructor arguments of the election. */
export interface ElectionDeps {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly options: ElectionOptions;
  readonly metrics?: ElectionMetrics;
  /**
   * Called (synchronously) once per takeover this instance learns of after it started, its own or another
   * instance's (at a refresh, or from a failed fence), epochs it skipped included (read from the history at the
   * next refresh). The ingest fills the new lease from its standby buffer (docs/design.md rule 11).
   */
  readonly onTakeover?: (notice: TakeoverNotice) => void;
}

/** Closed intervals kept per cluster: enough for a former leader's retry queue across a few leader changes. */
const CLOSED_PER_CLUSTER = 16;
/** History rows read per refresh (all clusters, newest first). */
const HISTORY_PER_REFRESH = 1000;
/** CAS steps per decision before answering 503: each lost CAS teaches the cache the row that beat it. */
const MAX_STEPS = 6;

interface ClusterState {
  /** The lease as this instance uses it: the store's row, possibly with an extension still in flight. */
  lease: Lease | undefined;
  /** The row as last read from the store; `lease` falls back to it when an extending write fails. */
  confirmed: Lease | undefined;
  closed: ClosedInterval[];
  /** Closed intervals read from the history on a miss (rule 12), and the epoch they were read at. */
  looked: readonly ClosedInterval[];
  lookedEpoch: number;
  /** Takeovers announced to `onTakeover`: epochs above `announcedFloor` in `announced` (none at or below the floor). */
  announcedFloor: number;
  announced: Set<number>;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The per-instance lease cache and the loop that runs the decision core against the store. `Election` is the
 * public face; the policy parameter exists so tests can prove that the properties catch a broken core.
 */
export class ElectionEngine {
  readonly options: ResolvedElectionOptions;
  private readonly store: LeaseStore;
  private readonly clock: Clock;
  private readonly metrics: ElectionMetrics;
  private readonly policy: Policy;
  private readonly onTakeover: ((notice: TakeoverNotice) => void) | undefined;
  private readonly clusters = new Map<string, ClusterState>();
  private ready = false;
  /** The store's clock minus this instance's, measured at every refresh (0 when the store has no clock). */
  private offset = 0;

  constructor(deps: ElectionDeps, policy: Policy = decideStep) {
    this.options = resolveElectionOptions(deps.options);
    this.store = deps.store;
    this.clock = deps.clock;
    this.metrics = deps.metrics ?? noopElectionMetrics;
    this.policy = policy;
    this.onTakeover = deps.onTakeover;
  }

  /** Loads every lease and recent history; the instance is ready only after it resolves. */
  async start(): Promise<void> {
    await this.refresh('load');
    // Takeovers from now on are announced; the ones loaded were before this instance had anything buffered.
    for (const s of this.clusters.values()) s.announcedFloor = s.lease?.epoch ?? 0;
    this.ready = true;
  }

  /** One background refresh step (the caller schedules it every refresh interval of wall time). */
  async sync(): Promise<void> {
    await this.refresh('refresh');
  }

  /** The store's clock minus this instance's clock, in ms, as last measured. */
  clockOffset(): number {
    return this.offset;
  }

  /** Wall time on the store's clock: this instance's clock corrected by the last measured offset. */
  private wallNow(): number {
    return this.clock.now() + this.offset;
  }

  isReady(): boolean {
    return this.ready;
  }

  leases(): readonly Lease[] {
    const out: Lease[] = [];
    for (const s of this.clusters.values()) if (s.lease !== undefined) out.push(s.lease);
    return out;
  }

  /** Closed intervals this instance knows for a cluster (for diagnostics and tests). */
  closedIntervals(cluster: string): readonly ClosedInterval[] {
    return this.clusters.get(cluster)?.closed ?? [];
  }

  /** A fenced write rolled back: take the store's row as the truth; the ingest then decides once more. */
  onFenceFailure(failure: FenceFailure): void {
    this.metrics.fenceFailure(failure.cluster);
    if (failure.current === undefined) {
      const s = this.clusters.get(failure.cluster);
      if (s !== undefined) {
        s.lease = undefined;
        s.confirmed = undefined;
      }
      return;
    }
    this.apply(failure.current);
  }

  /**
   * A fenced write failed for another reason than its fence (database error, timeout): an extension it carried
   * may not have committed, so the cache forgets it and the leader's next write extends again. Without this the
   * row's last-seen could go stale while the leader keeps sending.
   */
  onWriteFailed(fence: Fence): void {
    if (fence.extendUntil === undefined) return;
    const s = this.clusters.get(fence.cluster);
    if (s?.lease === undefined || s.confirmed === undefined) return;
    if (s.lease.epoch === fence.epoch && s.confirmed.epoch === fence.epoch && s.lease.until > s.confirmed.until) {
      s.lease = s.confirmed;
    }
  }

  async decide(part: PartRange): Promise<Decision> {
    if (!this.ready) return { kind: 'retry', reason: 'election not ready: leases not loaded yet' };
    for (let step = 0; step < MAX_STEPS; step++) {
      const state = this.state(part.cluster);
      const wallNow = this.wallNow();
      let next = this.policy(this.view(state), part, wallNow, this.options);
      if (next.kind === 'dedupe' && state.lease !== undefined && part.minTime < state.lease.start && state.lookedEpoch !== state.lease.epoch) {
        // Rule 12: data from before the current lease may belong to a former leader's closed interval this cache
        // never saw (older than the ones kept, or not yet synced). Read the cluster's history once per epoch.
        const epoch = state.lease.epoch;
        const looked = await this.lookUpHistory(part.cluster);
        if (typeof looked === 'string') return { kind: 'retry', reason: looked };
        state.looked = looked;
        state.lookedEpoch = epoch;
        next = this.policy(this.view(state), part, wallNow, this.options);
      }
      let result: CasResult;
      switch (next.kind) {
        case 'dedupe':
          return next;
        case 'store': {
          const ext = next.fence.extendUntil;
          const lease = state.lease;
          if (ext !== undefined && lease !== undefined && lease.epoch === next.fence.epoch && ext > lease.until) {
            // Optimistic: the fenced write extends the row. Should it not commit, the next fence fails or the
            // next sync restores the row, and a later write extends again; meanwhile the row is written at most
            // once per refresh interval of data time.
            // Last-seen stays as confirmed by the store: the write may pass on a closed interval of a leader
            // this cache does not know is replaced yet, and must not make that leader look alive.
            state.lease = { ...lease, until: ext, lastLeaderSampleTime: Math.max(lease.lastLeaderSampleTime, next.fence.maxTime) };
          }
          return next;
        }
        case 'create': {
          const r = await this.call('create', () => this.store.create(next.cluster, next.leader, next.start, next.until, wallNow));
          if (typeof r === 'string') return { kind: 'retry', reason: r };
          result = r;
          break;
        }
        case 'extend': {
          const r = await this.call('extend', () => this.store.extend(next.request));
          if (typeof r === 'string') return { kind: 'retry', reason: r };
          result = r;
          break;
        }
        case 'takeover': {
          const r = await this.call('takeover', () => this.store.takeOver(next.request));
          if (typeof r === 'string') return { kind: 'retry', reason: r };
          result = r;
          break;
        }
      }
      const row = result.kind === 'won' ? result.lease : result.current;
      if (row === undefined) return { kind: 'retry', reason: `lease store lost a CAS on ${part.cluster} without a row` };
      this.apply(row);
      if (next.kind === 'takeover' && result.kind === 'lost' && row.epoch === next.request.expectedEpoch) {
        // The store's guard held the leader alive (on its clock, which this instance's estimate can miss by half a
        // round trip): not a contention to retry, the leader still leads.
        return { kind: 'dedupe', leader: row.leader };
      }
    }
    return { kind: 'retry', reason: `lease of ${part.cluster} still contended after ${MAX_STEPS} steps` };
  }

  /** The view the policy decides on: the cache's closed intervals and any read from the history on a miss. */
  private view(state: ClusterState): ClusterView {
    return state.looked.length === 0 ? state : { lease: state.lease, closed: [...state.closed, ...state.looked] };
  }

  private async lookUpHistory(cluster: string): Promise<readonly ClosedInterval[] | string> {
    this.metrics.storeRoundTrip('history');
    try {
      const changes = await this.store.history({ cluster, limit: HISTORY_PER_REFRESH });
      const out: ClosedInterval[] = [];
      for (const c of changes) {
        if (c.oldLeader === null || c.oldStart === null || c.oldUntil === null) continue;
        out.push({ leader: c.oldLeader, epoch: c.epoch - 1, start: c.oldStart, until: c.oldUntil });
      }
      return out;
    } catch (e: unknown) {
      return `lease store history failed: ${message(e)}`;
    }
  }

  private async call(op: StoreOp, run: () => Promise<CasResult>): Promise<CasResult | string> {
    this.metrics.storeRoundTrip(op);
    try {
      return await run();
    } catch (e: unknown) {
      // Rule 8: a database error during a lease step is retryable (503), never a 4xx and never a throw.
      return `lease store ${op} failed: ${message(e)}`;
    }
  }

  private async refresh(op: 'load' | 'refresh'): Promise<void> {
    const snapshot = await this.read(op);
    for (const change of snapshot.history) this.learn(change);
    for (const lease of snapshot.leases) this.apply(lease);
  }

  /**
   * The store's clock, leases and history; the clock offset is measured on the way. The store's time is taken to
   * lie halfway through the round trip: off by at most half of it.
   */
  private async read(op: 'load' | 'refresh'): Promise<StoreSnapshot> {
    const measure = (before: number, storeNow: number | undefined): void => {
      this.offset = storeNow === undefined ? 0 : Math.round(storeNow - (before + this.clock.now()) / 2);
    };
    if (this.store.snapshot !== undefined) {
      this.metrics.storeRoundTrip(op);
      const before = this.clock.now();
      const snapshot = await this.store.snapshot(HISTORY_PER_REFRESH);
      measure(before, snapshot.now);
      return snapshot;
    }
    let now: number | undefined;
    if (this.store.now !== undefined) {
      this.metrics.storeRoundTrip(op);
      const before = this.clock.now();
      now = await this.store.now();
      measure(before, now);
    }
    this.metrics.storeRoundTrip(op);
    const leases = await this.store.loadAll();
    this.metrics.storeRoundTrip(op);
    const history = await this.store.history({ limit: HISTORY_PER_REFRESH });
    return { now, leases, history };
  }

  private state(cluster: string): ClusterState {
    let s = this.clusters.get(cluster);
    if (s === undefined) {
      // Before start() completes nothing is announced: an instance that just started has no buffer to fill from.
      s = { lease: undefined, confirmed: undefined, closed: [], looked: [], lookedEpoch: 0, announcedFloor: this.ready ? 0 : Infinity, announced: new Set() };
      this.clusters.set(cluster, s);
    }
    return s;
  }

  private close(cluster: string, interval: ClosedInterval): void {
    const s = this.state(cluster);
    if (s.closed.some((c) => c.epoch === interval.epoch)) return;
    s.closed.push(interval);
    if (s.closed.length > CLOSED_PER_CLUSTER) {
      s.closed.sort((a, b) => b.epoch - a.epoch);
      s.closed.length = CLOSED_PER_CLUSTER;
    }
  }

  private learn(change: LeaseChange): void {
    if (change.reason === 'takeover') this.announce({ cluster: change.cluster, leader: change.newLeader, epoch: change.epoch, start: change.newStart });
    if (change.oldLeader === null || change.oldStart === null || change.oldUntil === null) return;
    this.close(change.cluster, {
      leader: change.oldLeader,
      epoch: change.epoch - 1,
      start: change.oldStart,
      until: change.oldUntil,
    });
  }

  /** Tells `onTakeover` of a takeover once; never of one that happened before this instance started. */
  private announce(notice: TakeoverNotice): void {
    const s = this.state(notice.cluster);
    if (notice.epoch <= s.announcedFloor || s.announced.has(notice.epoch)) return;
    s.announced.add(notice.epoch);
    if (s.announced.size > CLOSED_PER_CLUSTER) {
      const oldest = Math.min(...s.announced);
      s.announced.delete(oldest);
      s.announcedFloor = Math.max(s.announcedFloor, oldest);
    }
    this.onTakeover?.({ cluster: notice.cluster, leader: notice.leader, epoch: notice.epoch, start: notice.start });
  }

  /** Merges a row read from the store: never moves back to an older epoch; within an epoch the store wins. */
  private apply(lease: Lease): void {
    const s = this.state(lease.cluster);
    const current = s.lease;
    if (current !== undefined && lease.epoch < current.epoch) return;
    if (current !== undefined && lease.epoch === current.epoch + 1) {
      // The new lease starts exactly where the old one ended (rule 6): that end is now fixed.
      this.close(lease.cluster, { leader: current.leader, epoch: current.epoch, start: current.start, until: lease.start });
    }
    s.lease = lease;
    s.confirmed = lease;
    if (current !== undefined && lease.epoch > current.epoch) this.announce(lease);
    if (current?.leader !== lease.leader || current.epoch !== lease.epoch) {
      if (current?.leader !== lease.leader) this.metrics.leader(lease.cluster, lease.leader, current?.leader);
      if (current !== undefined && current.epoch !== lease.epoch) this.metrics.leaderChange(lease.cluster);
    }
  }
}
