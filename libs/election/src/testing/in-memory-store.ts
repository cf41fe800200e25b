import type {
  CasResult,
  ExtendRequest,
  Fence,
  FenceFailure,
  Lease,
  LeaseChange,
  LeaseStore,
  TakeoverRequest,
} from '../ports.js';

export type LeaseStoreOp = 'loadAll' | 'get' | 'create' | 'extend' | 'takeOver' | 'history' | 'pruneHistory' | 'recordFill';

/**
 * Failure and latency injection. `before` runs before the operation takes effect (reject = the database was
 * unreachable; await = latency, e.g. a `fc.scheduler()` task); `after` runs after it took effect (reject = the
 * commit happened but the answer was lost).
 */
export interface InMemoryLeaseStoreHooks {
  before?(op: LeaseStoreOp): Promise<void> | void;
  after?(op: LeaseStoreOp): Promise<void> | void;
}

/**
 * A {@link LeaseStore} with the semantics of the PostgreSQL one: every mutation is one atomic compare-and-set
 * (it runs synchronously between the hooks, so no interleaving can split it), history rows are written with the
 * change, and {@link checkFence} is the check a fenced storage write runs in its transaction.
 */
export class InMemoryLeaseStore implements LeaseStore {
  private readonly rows = new Map<string, Lease>();
  private readonly changes: LeaseChange[] = [];
  /** Commit marks: the greatest data time committed under each cluster's current epoch (rule 6). */
  private readonly marks = new Map<string, { readonly epoch: number; readonly t: number }>();
  private readonly hooks: InMemoryLeaseStoreHooks;

  constructor(hooks: InMemoryLeaseStoreHooks = {}) {
    this.hooks = hooks;
  }

  private async run<T>(op: LeaseStoreOp, body: () => T): Promise<T> {
    await this.hooks.before?.(op);
    const result = body();
    await this.hooks.after?.(op);
    return result;
  }

  loadAll(): Promise<readonly Lease[]> {
    return this.run('loadAll', () => [...this.rows.values()]);
  }

  get(cluster: string): Promise<Lease | undefined> {
    return this.run('get', () => this.rows.get(cluster));
  }

  create(cluster: string, leader: string, start: number, until: number, wallNow: number): Promise<CasResult> {
    return this.run('create', (): CasResult => {
      const existing = this.rows.get(cluster);
      if (existing !== undefined) return { kind: 'lost', current: existing };
      const lease: Lease = {
        cluster,
        leader,
        epoch: 1,
        start,
        until,
        // create() does not carry the part's max time; its start is a safe lower bound.
        lastLeaderSampleTime: start,
        leaderLastSeenWall: wallNow,
        updatedWall: wallNow,
      };
      this.rows.set(cluster, lease);
      this.changes.push({
        cluster,
        epoch: 1,
        oldLeader: null,
        newLeader: leader,
        oldStart: null,
        oldUntil: null,
        newStart: start,
        wallTime: wallNow,
        reason: 'initial',
      });
      return { kind: 'won', lease };
    });
  }

  extend(request: ExtendRequest): Promise<CasResult> {
    return this.run('extend', (): CasResult => {
      const row = this.rows.get(request.cluster);
      if (row === undefined || row.leader !== request.leader || row.epoch !== request.epoch) {
        return { kind: 'lost', current: row };
      }
      const lease = this.extended(row, request.until, request.lastLeaderSampleTime, request.wallNow);
      return { kind: 'won', lease };
    });
  }

  takeOver(request: TakeoverRequest): Promise<CasResult> {
    return this.run('takeOver', (): CasResult => {
      const row = this.rows.get(request.cluster);
      if (
        row === undefined ||
        row.epoch !== request.expectedEpoch ||
        row.leader === request.newLeader ||
        request.challengerMaxTime < row.until ||
        row.leaderLastSeenWall > request.wallNow - request.leaseTimeout ||
        request.newUntil <= row.until
      ) {
        return { kind: 'lost', current: row };
      }
      // The splice point: just after the old epoch's last committed data time, the old until without any.
      const mark = this.marks.get(row.cluster);
      const committed = mark?.epoch === row.epoch ? mark.t : undefined;
      const start = committed === undefined ? row.until : Math.min(row.until, Math.max(row.start, committed + 1));
      this.marks.delete(row.cluster);
      const lease: Lease = {
        cluster: row.cluster,
        leader: request.newLeader,
        epoch: row.epoch + 1,
        start,
        until: request.newUntil,
        lastLeaderSampleTime: request.challengerMaxTime,
        leaderLastSeenWall: request.wallNow,
        updatedWall: request.wallNow,
      };
      this.rows.set(row.cluster, lease);
      this.changes.push({
        cluster: row.cluster,
        epoch: lease.epoch,
        oldLeader: row.leader,
        newLeader: lease.leader,
        oldStart: row.start,
        oldUntil: lease.start,
        newStart: lease.start,
        wallTime: request.wallNow,
        reason: 'takeover',
        leaseUntil: row.until,
        splice: committed === undefined ? 'lease-until: nothing committed' : 'committed',
        filled: {},
      });
      return { kind: 'won', lease };
    });
  }

  history(options: { readonly cluster?: string; readonly limit: number }): Promise<readonly LeaseChange[]> {
    return this.run('history', () => {
      const out: LeaseChange[] = [];
      for (let i = this.changes.length - 1; i >= 0 && out.length < options.limit; i--) {
        const c = this.changes[i]!;
        if (options.cluster === undefined || c.cluster === options.cluster) out.push(c);
      }
      return out;
    });
  }

  recordFill(cluster: string, epoch: number, instance: string, samples: number): Promise<void> {
    return this.run('recordFill', () => {
      const i = this.changes.findIndex((c) => c.cluster === cluster && c.epoch === epoch);
      const c = this.changes[i];
      if (c === undefined) return;
      this.changes[i] = { ...c, filled: { ...c.filled, [instance]: (c.filled?.[instance] ?? 0) + samples } };
    });
  }

  pruneHistory(wallBefore: number): Promise<number> {
    return this.run('pruneHistory', () => {
      const newest = new Map<string, LeaseChange>();
      for (const c of this.changes) newest.set(c.cluster, c);
      const keep = this.changes.filter((c) => c.wallTime >= wallBefore || newest.get(c.cluster) === c);
      const deleted = this.changes.length - keep.length;
      this.changes.splice(0, this.changes.length, ...keep);
      return deleted;
    });
  }

  /**
   * The fence check of a storage write (docs/design.md rule 7), atomic like the write's transaction: passes when the
   * current lease matches (after applying `extendUntil`, which then stays applied, as the committed write's
   * extension does) or when a history row holds a closed interval of the replica containing the range. With
   * `committed` (the write commits data up to `fence.maxTime`), a pass on the current lease records the commit mark
   * a takeover splices after, as the write's transaction does.
   */
  checkFence(fence: Fence, committed = false): FenceFailure | undefined {
    const row = this.rows.get(fence.cluster);
    if (row !== undefined && row.leader === fence.replica && row.epoch === fence.epoch && row.start <= fence.minTime) {
      const until = Math.max(row.until, fence.extendUntil ?? row.until);
      if (fence.maxTime < until) {
        if (fence.extendUntil !== undefined && fence.extendUntil > row.until) {
          this.extended(row, fence.extendUntil, fence.maxTime, fence.refreshesLastSeen === false ? row.leaderLastSeenWall : fence.wallNow);
        }
        if (committed) {
          const m = this.marks.get(fence.cluster);
          this.marks.set(fence.cluster, { epoch: row.epoch, t: m?.epoch === row.epoch ? Math.max(m.t, fence.maxTime) : fence.maxTime });
        }
        return undefined;
      }
    }
    for (const c of this.changes) {
      if (
        c.cluster === fence.cluster &&
        c.oldLeader === fence.replica &&
        c.oldStart !== null &&
        c.oldUntil !== null &&
        c.oldStart <= fence.minTime &&
        fence.maxTime < c.oldUntil
      ) {
        return undefined;
      }
    }
    return { kind: 'fence-failed', cluster: fence.cluster, current: row };
  }

  /** Synchronous snapshot of one row (test assertions). */
  peek(cluster: string): Lease | undefined {
    return this.rows.get(cluster);
  }

  /** Synchronous snapshot of the whole history, oldest first (test assertions). */
  allChanges(): readonly LeaseChange[] {
    return [...this.changes];
  }

  private extended(row: Lease, until: number, lastSample: number, wallNow: number): Lease {
    const lease: Lease = {
      ...row,
      until: Math.max(row.until, until),
      lastLeaderSampleTime: Math.max(row.lastLeaderSampleTime, lastSample),
      leaderLastSeenWall: Math.max(row.leaderLastSeenWall, wallNow),
      updatedWall: wallNow,
    };
    this.rows.set(row.cluster, lease);
    return lease;
  }
}
