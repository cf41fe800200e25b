import type { Decision, PartRange } from './decision.js';
import type { ResolvedElectionOptions } from './options.js';
import type { Fence, FenceFailure, Lease } from './ports.js';
import { ElectionEngine, type ElectionDeps } from './internal/engine.js';

/**
 * The HA election of one ingest instance: a cache of every cluster's lease over a shared {@link LeaseStore}.
 *
 * Lifecycle: `start()` before reporting ready; `sync()` every refresh interval of wall time; `decide()` per
 * (cluster, replica) part of a request; `onFenceFailure()` when a fenced write rolled back, then decide once
 * more; `onWriteFailed()` when it failed otherwise. Never throws for expected failures: those are `retry` decisions.
 */
export class Election {
  private readonly engine: ElectionEngine;

  constructor(deps: ElectionDeps) {
    this.engine = new ElectionEngine(deps);
  }

  get options(): ResolvedElectionOptions {
    return this.engine.options;
  }

  /** Loads every lease (and recent history); rejects when the store is unavailable. */
  start(): Promise<void> {
    return this.engine.start();
  }

  /** One background refresh of every lease; rejects when the store is unavailable (the cache stays as it was). */
  sync(): Promise<void> {
    return this.engine.sync();
  }

  decide(part: PartRange): Promise<Decision> {
    return this.engine.decide(part);
  }

  onFenceFailure(failure: FenceFailure): void {
    this.engine.onFenceFailure(failure);
  }

  /**
   * A `store` decision's write failed for another reason than its fence (database error, timeout): forget the
   * lease extension it carried, so the next write of the leader extends again (keeps rule 5's last-seen fresh).
   */
  onWriteFailed(fence: Fence): void {
    this.engine.onWriteFailed(fence);
  }

  /** The leases this instance knows (for `/api/v1/ha/clusters`). */
  leases(): readonly Lease[] {
    return this.engine.leases();
  }

  isReady(): boolean {
    return this.engine.isReady();
  }

  /**
   * The lease store's clock minus this instance's, in ms, measured at every refresh (0 when the store has no clock
   * of its own). Takeover decisions read this instance's clock corrected by it.
   */
  clockOffsetMs(): number {
    return this.engine.clockOffset();
  }
}
