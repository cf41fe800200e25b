import type { Lease } from '@promha/election';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { LeaderTracker } from './lease-metrics.js';

const lease = (cluster: string, leader: string, epoch: number): Lease => ({
  cluster, leader, epoch, start: 0, until: 1, lastLeaderSampleTime: 0, leaderLastSeenWall: 0, updatedWall: 0,
});

describe('LeaderTracker', () => {
  it('shows one leader per cluster and counts epoch changes after the first sighting', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const t = new LeaderTracker(metrics);
    t.observe([lease('a', 'r1', 3)]);
    t.observe([lease('a', 'r1', 3)]);
    t.observe([lease('a', 'r2', 4)]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('promha_ha_leader{cluster="a",replica="r2"} 1');
    expect(text).not.toContain('replica="r1"');
    expect(text).toContain('promha_ha_leader_changes_total{cluster="a"} 1');
  });
});
