import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics, createSupervisorMetrics, promhaMetricNames } from './metrics.js';

describe('metrics', () => {
  it('registers exactly the names, types and labels of docs/metrics.md', async () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/metrics.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| `(promha_[a-z_]+)` \| (\w+) \|([^|]*)\|/gm)].map((m) => ({
      name: m[1]!,
      type: m[2]!,
      // Label names are the backticked words outside the parenthesised value lists.
      labels: [...m[3]!.replace(/\([^)]*\)/g, '').matchAll(/`(\w+)`/g)].map((l) => l[1]!),
    }));
    expect(rows.length).toBeGreaterThan(10);
    const metrics = [createMetrics({ defaultMetrics: false }), createSupervisorMetrics({ defaultMetrics: false })];
    expect(metrics.flatMap(promhaMetricNames).sort()).toEqual(rows.map((r) => r.name).sort());
    for (const row of rows) {
      const registry = metrics.find((m) => m.registry.getSingleMetric(row.name) !== undefined)!.registry;
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === row.name)!;
      expect(m.type, row.name).toBe(row.type);
      const labelNames = (registry.getSingleMetric(row.name) as unknown as { labelNames: string[] }).labelNames;
      expect(labelNames, row.name).toEqual(row.labels);
    }
  });

  it('adds the default process metrics', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_total_bytes');
  });
});
