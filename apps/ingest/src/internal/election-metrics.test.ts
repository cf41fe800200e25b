import { describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { electionMetrics } from './election-metrics.js';

describe('electionMetrics', () => {
  it('keeps one leader series per cluster and counts changes, round trips and fence failures', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const m = electionMetrics(metrics);
    m.leader('a', 'r1', undefined);
    m.leader('a', 'r2', 'r1');
    m.leaderChange('a');
    m.storeRoundTrip('takeover');
    m.fenceFailure('a');
    const text = await metrics.registry.metrics();
    expect(text).toContain('promha_ha_leader{cluster="a",replica="r2"} 1');
    expect(text).not.toContain('replica="r1"');
    expect(text).toContain('promha_ha_leader_changes_total{cluster="a"} 1');
    expect(text).toContain('promha_ha_store_round_trips_total{op="takeover"} 1');
    expect(text).toContain('promha_ha_fence_failures_total{cluster="a"} 1');
  });
});
