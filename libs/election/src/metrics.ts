/** Lease store operations, as counted by `promha_ha_store_round_trips_total{op}`. */
export type StoreOp = 'load' | 'create' | 'extend' | 'takeover' | 'refresh';

/**
 * Metric hooks (docs/metrics.md); the service implements them with prom-client. The election calls
 * `leader`, `leaderChange`, `storeRoundTrip` and `fenceFailure` itself; the ingest, which sees the samples,
 * calls `samplesDeduplicated`, `nonHaSamples` and `unledSamples` after applying a decision.
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
  /** `promha_ha_deduplicated_samples_total{cluster}`. */
  samplesDeduplicated(cluster: string, samples: number): void;
  /** `promha_ha_non_ha_samples_total`. */
  nonHaSamples(samples: number): void;
  /** `promha_ha_unled_samples_total{cluster}`: samples answered 503 because no leader could be settled. */
  unledSamples(cluster: string, samples: number): void;
}

const ignore = (): void => undefined;

/** Metrics that record nothing (the default). */
export const noopElectionMetrics: ElectionMetrics = {
  leader: ignore,
  leaderChange: ignore,
  storeRoundTrip: ignore,
  fenceFailure: ignore,
  samplesDeduplicated: ignore,
  nonHaSamples: ignore,
  unledSamples: ignore,
};
