/**
 * Lease-store round trips and leader state as metrics, measured at the port so the election library needs no
 * metrics dependency: a counting decorator around the LeaseStore, and a tracker fed with the election's cached
 * leases every refresh interval.
 */
import type { Lease, LeaseStore } from '@promha/election';
import type { IngestMetrics } from '../metrics.js';

export function countingLeaseStore(store: LeaseStore, metrics: IngestMetrics): LeaseStore {
  let loaded = false;
  const count = (op: 'load' | 'create' | 'extend' | 'takeover' | 'refresh'): void => metrics.haStoreRoundTrips.inc({ op });
  return {
    loadAll: () => {
      // The first full load is the start-up load; later ones are the periodic refresh.
      count(loaded ? 'refresh' : 'load');
      loaded = true;
      return store.loadAll();
    },
    get: (cluster) => {
      count('refresh');
      return store.get(cluster);
    },
    create: (cluster, leader, start, until, wallNow) => {
      count('create');
      return store.create(cluster, leader, start, until, wallNow);
    },
    extend: (request) => {
      count('extend');
      return store.extend(request);
    },
    takeOver: (request) => {
      count('takeover');
      return store.takeOver(request);
    },
    history: (options) => store.history(options),
    pruneHistory: (wallBefore) => store.pruneHistory(wallBefore),
  };
}

/** Publishes `promha_ha_leader` and counts `promha_ha_leader_changes_total` from successive lease snapshots. */
export class LeaderTracker {
  private readonly known = new Map<string, { leader: string; epoch: number }>();

  constructor(private readonly metrics: IngestMetrics) {}

  observe(leases: readonly Lease[]): void {
    for (const lease of leases) {
      const before = this.known.get(lease.cluster);
      if (before !== undefined && lease.epoch > before.epoch) {
        this.metrics.haLeaderChanges.inc({ cluster: lease.cluster }, lease.epoch - before.epoch);
      }
      if (before === undefined || lease.epoch > before.epoch || before.leader !== lease.leader) {
        if (before !== undefined) this.metrics.haLeader.remove({ cluster: lease.cluster, replica: before.leader });
        this.metrics.haLeader.set({ cluster: lease.cluster, replica: lease.leader }, 1);
        this.known.set(lease.cluster, { leader: lease.leader, epoch: lease.epoch });
      }
    }
  }
}
