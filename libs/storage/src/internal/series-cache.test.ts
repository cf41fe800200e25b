import { describe, expect, it } from 'vitest';
import { SeriesCache, seriesKey } from './series-cache.js';

describe('SeriesCache', () => {
  it('keeps series used in the last generation, evicts the rest, stays within its bound', () => {
    const c = new SeriesCache(4); // generations of 2
    c.set('a', 1);
    c.set('b', 2); // young = {a, b}
    c.set('c', 3); // old = {a, b}, young = {c}
    expect(c.get('a')).toBe(1); // promoted: young = {c, a}
    c.set('d', 4); // old = {c, a}, young = {d}; b evicted
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBeLessThanOrEqual(4);
    expect(c.hits).toBe(3);
    expect(c.misses).toBe(1);
  });

  it('never exceeds its bound', () => {
    const c = new SeriesCache(10);
    for (let i = 0; i < 1000; i++) c.set(String(i), i);
    expect(c.size).toBeLessThanOrEqual(10);
    expect(c.get('999')).toBe(999);
  });

  it('keys are unambiguous for values that contain separators of other encodings', () => {
    const a = seriesKey([{ name: 'a', value: 'x,b=y' }]);
    const b = seriesKey([{ name: 'a', value: 'x' }, { name: 'b', value: 'y' }]);
    expect(a).not.toBe(b);
  });
});
