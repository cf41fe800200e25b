/**
 * The ports the election core talks to. The core never reads a clock or touches a database itself: the
 * service passes a system clock and the PostgreSQL store (`@promha/storage`), tests pass the fakes from
 * `@promha/election/testing`.
 *
 * All times are integer milliseconds. *Data time* is sample time as sent by a replica; *wall time* is the
 * ingest instance's clock, only ever read through {@link Clock}.
 */

/** Wall-clock time source. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/**
 * The lease of one cluster: `leader` may store data with data time in `[start, until)` under `epoch`.
 * `epoch` increases by one at every leader change.
 */
export interface Lease {
  readonly cluster: string;
  readonly leader: string;
  readonly epoch: number;
  /** Data time (inclusive) from which this leader's samples are stored. */
  readonly start: number;
  /** Data time (exclusive) up to which the leader may store without extending the lease in the store. */
  readonly until: number;
  /** Greatest data time the leader was seen sending when the row was last written. */
  readonly lastLeaderSampleTime: number;
  /** Wall time at which an instance last heard from the leader (written with every extension). */
  readonly leaderLastSeenWall: number;
  /** Wall time of the last write of the row. */
  readonly updatedWall: number;
}

export type LeaseChangeReason = 'initial' | 'takeover';

/**
 * A leader change, as recorded in the history. For a takeover, `[oldStart, oldUntil)` is the closed interval the
 * old leader held under `epoch - 1`: it never changes again, and the old leader's late samples inside it stay
 * storable (docs/design.md rule 6).
 */
export interface LeaseChange {
  readonly cluster: string;
  readonly epoch: number;
  readonly oldLeader: string | null;
  readonly newLeader: string;
  readonly oldStart: number | null;
  readonly oldUntil: number | null;
  readonly newStart: number;
  readonly wallTime: number;
  readonly reason: LeaseChangeReason;
  /**
   * A takeover: where the old lease ended when it was taken over. The new lease starts at the splice point
   * (`newStart`, also the closed interval's end), at or before it: `leaseUntil - newStart` is the data time the
   * standby buffers had to fill (docs/design.md rules 6 and 11).
   */
  readonly leaseUntil?: number | null;
  /** How the splice point was chosen: `committed` (after the last committed sample) or `lease-until: <why>`. */
  readonly splice?: string | null;
  /** Samples each instance filled from its standby buffer into this lease, by instance name. */
  readonly filled?: Readonly<Record<string, number>>;
}

/**
 * A takeover an instance learnt of: `leader` leads `cluster` under `epoch` from `start` (the splice point) on. The
 * ingest fills that lease from its standby buffer (docs/design.md rule 11).
 */
export interface TakeoverNotice {
  readonly cluster: string;
  readonly leader: string;
  readonly epoch: number;
  readonly start: number;
}

/** Outcome of a compare-and-set on the store: either the new row, or the row that made it fail. */
export type CasResult =
  | { readonly kind: 'won'; readonly lease: Lease }
  | { readonly kind: 'lost'; readonly current: Lease | undefined };

export interface TakeoverRequest {
  readonly cluster: string;
  /** The epoch the challenger saw; the CAS fails if the row has moved on. */
  readonly expectedEpoch: number;
  readonly newLeader: string;
  /** Greatest data time of the challenger's request: must have reached the row's `until`. */
  readonly challengerMaxTime: number;
  /** `until` of the new lease (challenger's max time + timeout). */
  readonly newUntil: number;
  /** Wall now of the deciding instance. */
  readonly wallNow: number;
  /** The row's `leaderLastSeenWall` must be at or before `wallNow - leaseTimeout`. */
  readonly leaseTimeout: number;
}

export interface ExtendRequest {
  readonly cluster: string;
  readonly leader: string;
  readonly epoch: number;
  /** New `until`; the store keeps the greater of this and the current value. */
  readonly until: number;
  readonly lastLeaderSampleTime: number;
  readonly wallNow: number;
}

/**
 * Durable lease state shared by every ingest instance: the single source of truth for who leads.
 * Every mutating method is one atomic compare-and-set; history rows are written in the same transaction.
 */
export interface LeaseStore {
  /** Every lease, for the cache's initial load and periodic refresh. */
  loadAll(): Promise<readonly Lease[]>;
  get(cluster: string): Promise<Lease | undefined>;
  /** Creates the first lease of a cluster; loses (returning the existing row) if one exists already. */
  create(cluster: string, leader: string, start: number, until: number, wallNow: number): Promise<CasResult>;
  /** Extends the current leader's lease; loses if leader or epoch no longer match. */
  extend(request: ExtendRequest): Promise<CasResult>;
  /**
   * Replaces the leader: new lease `[splice, newUntil)` under `epoch + 1`, history row written. The splice point is
   * just after the old leader's last committed data time (once the fenced writes in flight finished), or the row's
   * `until` when the store cannot know it (docs/design.md rule 6).
   */
  takeOver(request: TakeoverRequest): Promise<CasResult>;
  /** Leader changes, newest first. */
  history(options: { readonly cluster?: string; readonly limit: number }): Promise<readonly LeaseChange[]>;
  /** Adds `samples` that `instance` filled from its standby buffer into the lease of `epoch` to that history row. */
  recordFill?(cluster: string, epoch: number, instance: string, samples: number): Promise<void>;
  /** Deletes history rows older than `wallBefore`, keeping each cluster's newest row. Returns rows deleted. */
  pruneHistory(wallBefore: number): Promise<number>;
  /**
   * The clock the store stamps last-seen with and tests the lease timeout by (the PostgreSQL store: the database
   * server's). The engine reads it at every refresh and decides on its own clock corrected by the offset, so its
   * takeover attempts agree with the store's guard. Absent, or resolving to undefined: the store trusts the wall
   * time each step carries.
   */
  readonly now?: (() => Promise<number | undefined>) | undefined;
  /**
   * What a refresh reads, in one round trip: `now()` (when the store has a clock), every lease and the newest
   * `historyLimit` changes. Absent, the engine asks `now`, `loadAll` and `history` one after another.
   */
  snapshot?(historyLimit: number): Promise<StoreSnapshot>;
}

/** One refresh's view of the store (see {@link LeaseStore.snapshot}). */
export interface StoreSnapshot {
  /** The store's clock when it read, or undefined when it trusts the wall time each step carries. */
  readonly now: number | undefined;
  readonly leases: readonly Lease[];
  /** Leader changes, newest first. */
  readonly history: readonly LeaseChange[];
}

/**
 * The precondition a storage write checks in its own transaction (docs/design.md rule 7) before its samples commit.
 * It holds when either
 * - the cluster's current lease has `leader === replica`, `epoch === epoch`, `start <= minTime` and
 *   `maxTime < until` (after applying `extendUntil`, if given, as an extension in the same transaction), or
 * - a history row records a closed interval `[oldStart, oldUntil)` of `replica` containing `[minTime, maxTime]`.
 * Concurrent fenced writes of one cluster must not serialize on it, while a takeover waits for them.
 */
export interface Fence {
  readonly cluster: string;
  readonly replica: string;
  readonly epoch: number;
  readonly minTime: number;
  readonly maxTime: number;
  /** When set, the write also extends the lease to this `until` (and refreshes last-seen) in its transaction. */
  readonly extendUntil?: number;
  /**
   * `false`: the extension leaves last-seen alone. A replay from a standby buffer (rule 11) carries data received
   * earlier, which must not make its replica look alive now (rule 5's wall-time guard).
   */
  readonly refreshesLastSeen?: boolean;
  readonly wallNow: number;
}

/** Why a fence failed: the write rolled back and the caller must re-decide with fresh lease state. */
export interface FenceFailure {
  readonly kind: 'fence-failed';
  readonly cluster: string;
  readonly current: Lease | undefined;
}
