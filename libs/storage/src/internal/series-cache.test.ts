import { describe, expect, it } from 'vitest';
import { SeriesCache, seriesKey } from './series-cache.js';

describe('SeriesCache', () => {
  it('evicts the least recently used entry and counts hits and misses', () => {
    const c = new SeriesCache(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
    expect(c.hits).toBe(3);
    expect(c.misses).toBe(1);
  });

  it('keys are unambiguous for values that contain separators of other encodings', () => {
    const a = seriesKey([{ name: 'a', value: 'x,b=y' }]);
    const b = seriesKey([{ name: 'a', value: 'x' }, { name: 'b', value: 'y' }]);
    expect(a).not.toBe(b);
  });
});
