import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HashIndex } from './internal/decode.js';
import { propertySeed } from './test-util/arbitraries.js';

describe('the label-set cache index (HashIndex)', () => {
  it('answers as a Map from hash to entry would: a later entry under a hash replaces the earlier one', () => {
    const seed = propertySeed('hash index vs Map');
    // Hashes from a small set that share their low bits (they probe the same slots), and any 32-bit hash.
    const hash = fc.oneof(
      fc.integer({ min: 0, max: 63 }).map((k) => (k << 20) | 5),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(hash, fc.nat({ max: 1 << 20 })), { maxLength: 3_000 }), fc.array(hash, { maxLength: 200 }), (puts, probes) => {
        const index = new HashIndex();
        const model = new Map<number, number>();
        for (const [h, e] of puts) {
          index.set(h, e);
          model.set(h, e);
        }
        expect(index.size).toBe(model.size);
        for (const h of [...model.keys(), ...probes]) expect(index.get(h)).toBe(model.get(h) ?? -1);
        const entries: number[] = [];
        index.forEach((e) => entries.push(e));
        expect(entries.sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
      }),
      { seed, numRuns: 200 },
    );
  });
});
