/** Lease store operations, as counted by `promha_ha_store_round_trips_total{op}`. */
export type StoreOp = 'load' | 'create' | 'extend' | 'takeover' | 'refresh' | 'history';

/**
 * What the election reports about itself (docs/metrics.md); the service implements it with prom-client. Sample
 * counts (deduplicated, non-HA, unled) are the ingest's: it sees the samples and counts them directly.
 */
export interface ElectionMetrics {
  /** `promha_ha_leader{cluster,replica}`: `replica` now leads `cluster` (as this instance knows); `previous` no longer does. */
  leader(cluster: string, replica: string, previous: string | undefined): void;
  /** `promha_ha_leader_changes_total{cluster}`: a change this instance performed or observed. */
  leaderChange(cluster: string): void;
  /** `promha_ha_store_round_trips_total{op}`. */
  storeRoundTrip(op: StoreOp): void;
  /** `promha_ha_fence_failures_total{cluster}`. */
  fenceFailure(cluster: string): void;
}

const ignore = (): void => undefined;

/** Metrics that record nothing (the default when the election is given none). */
export const noopElectionMetrics: ElectionMetrics = {
  leader: ignore,
  leaderChange: ignore,
  storeRoundTrip: ignore,
  fenceFailure: ignore,
};
