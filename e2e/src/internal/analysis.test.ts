import { describe, expect, it } from 'vitest';
import { largestGap, offGridTime, runsOf } from './analysis.js';

describe('runsOf', () => {
  it('groups equal values in time order, whatever the input order', () => {
    const samples = [
      { timestamp: 3000, value: 2 },
      { timestamp: 1000, value: 1 },
      { timestamp: 2000, value: 1 },
      { timestamp: 4000, value: 2 },
      { timestamp: 5000, value: 1 },
    ];
    expect(runsOf(samples)).toEqual([
      { value: 1, first: 1000, last: 2000, count: 2 },
      { value: 2, first: 3000, last: 4000, count: 2 },
      { value: 1, first: 5000, last: 5000, count: 1 },
    ]);
    expect(runsOf([])).toEqual([]);
  });
});

describe('largestGap', () => {
  it('finds the widest hole between consecutive timestamps', () => {
    expect(largestGap([5000, 1000, 2000, 9000, 10_000])).toEqual({ from: 5000, to: 9000, ms: 4000 });
    expect(largestGap([1000])).toBeUndefined();
  });
});

describe('offGridTime', () => {
  it('moves off stored timestamps at both ends of the window', () => {
    expect(offGridTime(10_000, 5000, [10_000, 5001, 7000])).toBe(10_002);
    expect(offGridTime(10_000, 5000, [])).toBe(10_000);
  });
});
