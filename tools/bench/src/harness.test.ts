import { describe, expect, it } from 'vitest';
import { measurement, median } from './harness.js';

describe('measurement', () => {
  it('orients the ratio so that more than 1 is better for rates and for costs', () => {
    expect(measurement('x', 'samples/s', 300, 'base', 100).ratio).toBe(3);
    expect(measurement('x', 'ms', 2, 'base', 10).ratio).toBe(5);
  });
});

describe('median', () => {
  it('takes the middle of odd and the mean of the two middles of even lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
