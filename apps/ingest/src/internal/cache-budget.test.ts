import { describe, expect, it } from 'vitest';
import { parseSize } from '../config.js';
import { BYTES_PER_SERIES, HEAP_BASE_BYTES, MIN_SERIES, heapLimitGiven, heapShortfall, parseMemoryTarget, planCaches, workerNodeFlags } from './cache-budget.js';

const GiB = 2 ** 30;

describe('planCaches', () => {
  it('shares a percentage of the memory evenly between the workers and sizes each worker heap for its share', () => {
    const plan = planCaches({ cacheMemoryTarget: { percent: 50 }, seriesCacheMax: undefined, labelSetCacheMax: undefined, workers: 2 }, 16 * GiB, undefined);
    expect(plan.budgetBytes).toBe(4 * GiB);
    expect(plan.seriesMax).toBe(Math.floor((4 * GiB) / BYTES_PER_SERIES));
    expect(plan.labelSetsMax).toBe(2 * plan.seriesMax);
    expect(plan.heapMiB * 2 ** 20).toBeGreaterThanOrEqual(plan.seriesMax * BYTES_PER_SERIES + HEAP_BASE_BYTES);
  });

  it('holds two million stored series per worker with an absolute target of 12 GiB over two workers', () => {
    const plan = planCaches({ cacheMemoryTarget: { bytes: 12 * GiB }, seriesCacheMax: undefined, labelSetCacheMax: undefined, workers: 2 }, 16 * GiB, undefined);
    expect(plan.seriesMax).toBeGreaterThan(2_000_000);
  });

  it('cuts a derived bound to what an instance heap holds, so the caches cannot outgrow it', () => {
    const heap = 4 * GiB;
    const plan = planCaches({ cacheMemoryTarget: { percent: 80 }, seriesCacheMax: undefined, labelSetCacheMax: undefined, workers: 1 }, 64 * GiB, heap);
    expect(plan.seriesMax).toBe(Math.floor((heap - HEAP_BASE_BYTES) / BYTES_PER_SERIES));
    expect(heapShortfall(plan, heap)).toBe(0);
  });

  it('keeps bounds given by flag, and reports the heap they would need beyond the one there is', () => {
    const plan = planCaches({ cacheMemoryTarget: { percent: 50 }, seriesCacheMax: 3_000_000, labelSetCacheMax: 0, workers: 1 }, 16 * GiB, 4 * GiB);
    expect(plan.seriesMax).toBe(3_000_000);
    expect(plan.labelSetsMax).toBe(0);
    expect(heapShortfall(plan, 4 * GiB)).toBeGreaterThan(3_000_000 * BYTES_PER_SERIES - 4 * GiB);
  });

  it('never derives fewer than the minimum number of series', () => {
    const plan = planCaches({ cacheMemoryTarget: { bytes: 1024 }, seriesCacheMax: undefined, labelSetCacheMax: undefined, workers: 8 }, GiB, GiB);
    expect(plan.seriesMax).toBe(MIN_SERIES);
  });
});

describe('parseMemoryTarget', () => {
  it('reads a share of memory or a size', () => {
    expect(parseMemoryTarget('50%', parseSize)).toEqual({ percent: 50 });
    expect(parseMemoryTarget(' 12.5 % ', parseSize)).toEqual({ percent: 12.5 });
    expect(parseMemoryTarget('4GiB', parseSize)).toEqual({ bytes: 4 * GiB });
  });

  it.each(['0%', '101%', '0', 'lots', '-5%'])('refuses %j', (raw) => {
    expect(() => parseMemoryTarget(raw, parseSize)).toThrow(/share|size|greater/);
  });
});

describe('heapLimitGiven', () => {
  it('sees a heap limit on the command line or in NODE_OPTIONS', () => {
    expect(heapLimitGiven(['--max-old-space-size=8192'], undefined)).toBe(true);
    expect(heapLimitGiven([], '--enable-source-maps --max_old_space_size=8192')).toBe(true);
    expect(heapLimitGiven(['--conditions=@promha/source', '--import', 'tsx'], '--enable-source-maps')).toBe(false);
  });
});

describe('workerNodeFlags', () => {
  it('gives each worker its heap and a 64 MiB semi-space, unless node was given its own', () => {
    expect(workerNodeFlags(3000, ['--import', 'tsx'], undefined)).toEqual(['--max-old-space-size=3000', '--max-semi-space-size=64']);
    expect(workerNodeFlags(3000, ['--max-old-space-size=8192'], undefined)).toEqual(['--max-semi-space-size=64']);
    expect(workerNodeFlags(3000, [], '--max_semi_space_size=16')).toEqual(['--max-old-space-size=3000']);
    expect(workerNodeFlags(3000, ['--max-semi-space-size=32'], '--max-old-space-size=1024')).toEqual([]);
  });
});
