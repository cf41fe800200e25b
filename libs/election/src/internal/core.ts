import type { Decision, PartRange } from '../decision.js';
import type { ResolvedElectionOptions } from '../options.js';
import type { ExtendRequest, Fence, Lease, TakeoverRequest } from '../ports.js';

/**
 * The beginning of data time: the first lease of a cluster starts here (rule 5), so nothing its leader sent before
 * the deciding part (an older batch of another shard that arrives second) is dropped. The earliest storable sample
 * time (0001-01-01T00:00:00Z, as the codec's `MIN_TIMESTAMP_MS`).
 */
export const DATA_TIME_BEGIN = -62_135_596_800_000;

/**
 * A closed interval `[start, until)` that `leader` held under `epoch`. It never changes again once the next
 * leader took over, so a cache can never hold a stale one (docs/design.md rule 6).
 */
export interface ClosedInterval {
  readonly leader: string;
  readonly epoch: number;
  readonly start: number;
  readonly until: number;
}

/** What one instance knows about one cluster. */
export interface ClusterView {
  readonly lease: Lease | undefined;
  /** Closed intervals of recent epochs, any order. */
  readonly closed: readonly ClosedInterval[];
}

/** One step of a decision: a final {@link Decision}, or a compare-and-set the caller runs before deciding again. */
export type Step =
  | Extract<Decision, { kind: 'store' } | { kind: 'dedupe' }>
  | { readonly kind: 'create'; readonly cluster: string; readonly leader: string; readonly start: number; readonly until: number }
  | { readonly kind: 'extend'; readonly request: ExtendRequest }
  | { readonly kind: 'takeover'; readonly request: TakeoverRequest };

/** The shape of the decision core; tests swap it for broken policies to prove the properties can fail. */
export type Policy = (view: ClusterView, part: PartRange, wallNow: number, options: ResolvedElectionOptions) => Step;

/**
 * The decision core (docs/design.md rules 4-8): a pure function of what the instance knows, the part's data-time range
 * and the wall time passed in. It never reads a clock and does no I/O; a CAS step is answered by the store and
 * the caller decides again with the store's answer, so the database decides leadership, never a cache.
 */
export const decideStep: Policy = (view, part, wallNow, options) => {
  const { cluster, replica, minTime, maxTime } = part;
  const timeout = options.leaseTimeoutMs;
  const lease = view.lease;
  if (minTime > maxTime) return { kind: 'dedupe', leader: lease?.leader ?? '' };
  if (part.replay === true) return replayStep(view, part, wallNow, options);
  if (lease === undefined) {
    // First replica seen leads (rule 5) from the beginning of data time; the store's CAS settles a race.
    return { kind: 'create', cluster, leader: replica, start: DATA_TIME_BEGIN, until: maxTime + timeout };
  }
  if (lease.leader === replica && maxTime >= lease.start) {
    if (maxTime >= lease.until) {
      // The lease lapsed in data time: a challenger may be taking over right now, so ask the store (CAS on
      // leader and epoch) instead of betting a write on it.
      const request: ExtendRequest = {
        cluster,
        leader: replica,
        epoch: lease.epoch,
        until: maxTime + timeout,
        lastLeaderSampleTime: maxTime,
        wallNow,
      };
      return { kind: 'extend', request };
    }
    const from = Math.max(minTime, lease.start);
    const base = { cluster, replica, epoch: lease.epoch, minTime: from, maxTime, wallNow };
    if (maxTime + timeout - lease.until >= options.leaseRefreshMs) {
      // Rule 5 + 8: the row is written at most once per refresh interval of data time, and then by the fenced
      // write itself, in its own transaction: no extra round trip.
      const until = maxTime + timeout;
      const fence: Fence = { ...base, extendUntil: until };
      return { kind: 'store', fence, from, until };
    }
    // maxTime < until holds: the last extension was less than `refresh < timeout` of data time ago.
    return { kind: 'store', fence: base, from, until: lease.until };
  }
  if (lease.leader !== replica && maxTime >= lease.until && wallNow - lease.leaderLastSeenWall >= timeout) {
    // Rule 5: both data time and wall time say the leader is gone. The store re-checks both in its CAS.
    const request: TakeoverRequest = {
      cluster,
      expectedEpoch: lease.epoch,
      newLeader: replica,
      challengerMaxTime: maxTime,
      newUntil: maxTime + timeout,
      wallNow,
      leaseTimeout: timeout,
    };
    return { kind: 'takeover', request };
  }
  return closedStep(view, part, wallNow);
};

/**
 * A replayed part (rule 11): stored inside its replica's current lease or a closed interval, else dropped; never a
 * compare-and-set. Data past `until` (another instance decided the takeover on an earlier request of the replica)
 * extends the lease inside the fenced write, which fails and is decided again should the lease have moved on, and
 * leaves last-seen alone.
 */
function replayStep(view: ClusterView, part: PartRange, wallNow: number, options: ResolvedElectionOptions): Step {
  const lease = view.lease;
  if (lease === undefined) return { kind: 'dedupe', leader: '' };
  if (lease.leader === part.replica && part.maxTime >= lease.start) {
    const from = Math.max(part.minTime, lease.start);
    const base: Fence = { cluster: part.cluster, replica: part.replica, epoch: lease.epoch, minTime: from, maxTime: part.maxTime, wallNow };
    const until = part.maxTime + options.leaseTimeoutMs;
    if (until - lease.until >= options.leaseRefreshMs) {
      return { kind: 'store', fence: { ...base, extendUntil: until, refreshesLastSeen: false }, from, until };
    }
    return { kind: 'store', fence: base, from, until: lease.until };
  }
  return closedStep(view, part, wallNow);
}

/** Late data of a former leader stays storable inside its closed interval (rule 6); anything else is dropped. */
function closedStep(view: ClusterView, part: PartRange, wallNow: number): Step {
  const { cluster, replica, minTime, maxTime } = part;
  const lease = view.lease;
  let best: ClosedInterval | undefined;
  for (const c of view.closed) {
    if (c.leader === replica && minTime < c.until && maxTime >= c.start && (best === undefined || c.epoch > best.epoch)) {
      best = c;
    }
  }
  if (best !== undefined) {
    const from = Math.max(minTime, best.start);
    const fence: Fence = {
      cluster,
      replica,
      epoch: best.epoch,
      minTime: from,
      maxTime: Math.min(maxTime, best.until - 1),
      wallNow,
    };
    return { kind: 'store', fence, from, until: best.until };
  }
  return { kind: 'dedupe', leader: lease?.leader ?? '' };
}
