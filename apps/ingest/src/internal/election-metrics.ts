/**
 * The election's metric hooks implemented with prom-client. The election reports leader state, leader changes,
 * lease-store round trips and fence failures itself; the pipeline, which sees the samples, counts deduplicated,
 * non-HA and unled samples directly.
 */
import type { ElectionMetrics } from '@promha/election';
import type { IngestMetrics } from '../metrics.js';

export function electionMetrics(metrics: IngestMetrics): ElectionMetrics {
  return {
    leader(cluster, replica, previous) {
      if (previous !== undefined && previous !== replica) metrics.haLeader.remove({ cluster, replica: previous });
      metrics.haLeader.set({ cluster, replica }, 1);
    },
    leaderChange: (cluster) => metrics.haLeaderChanges.inc({ cluster }),
    storeRoundTrip: (op) => metrics.haStoreRoundTrips.inc({ op }),
    fenceFailure: (cluster) => metrics.haFenceFailures.inc({ cluster }),
  };
}
