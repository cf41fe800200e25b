import type { Fence } from './ports.js';

/** What {@link Election.decide} is asked about: one (cluster, replica) part of a request and its data-time range. */
export interface PartRange {
  readonly cluster: string;
  readonly replica: string;
  readonly minTime: number;
  readonly maxTime: number;
  /**
   * Data replayed from a standby buffer after a takeover (docs/design.md rule 11): decided `store` or `dedupe` only. It
   * never creates, extends or takes over a lease and never refreshes the leader's last-seen: it was received earlier,
   * and must not make its replica look alive now.
   */
  readonly replay?: boolean;
}

/**
 * The outcome for one part.
 * - `store`: write the part's samples with `from <= t < until` under `fence` (the rest is deduplicated);
 * - `dedupe`: the replica does not lead for this data time; drop and answer 202 (rule 4);
 * - `retry`: the lease store failed or stayed contended; answer 503 so Prometheus resends (rule 8).
 */
export type Decision =
  | { readonly kind: 'store'; readonly fence: Fence; readonly from: number; readonly until: number }
  | { readonly kind: 'dedupe'; readonly leader: string }
  | { readonly kind: 'retry'; readonly reason: string };
