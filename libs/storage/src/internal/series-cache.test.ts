import { freezeLabels, type Label } from '@promha/codec';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HAS_NUL, hashLabels, SeriesCache } from './series-cache.js';

/** The oracle's key of a label set: its content, unambiguously. */
const seriesKey = (labels: readonly Label[]): string => JSON.stringify(labels.map((l) => [l.name, l.value]));

const ls = (...pairs: string[]): Label[] => {
  const out: Label[] = [];
  for (let i = 0; i < pairs.length; i += 2) out.push({ name: pairs[i]!, value: pairs[i + 1]! });
  return out;
};

/** Interns `labels` as `id`, the way the writer does after a miss. */
function set(c: SeriesCache, labels: readonly Label[], id: number): void {
  c.set(labels, hashLabels(labels), id);
}

/** The same code units in a new string object. */
const copy = (s: string): string => Buffer.from(s, 'utf16le').toString('utf16le');

const get = (c: SeriesCache, labels: readonly Label[]): number => c.get(labels, hashLabels(labels));

describe('SeriesCache', () => {
  it('keeps the series hit since the last eviction, evicts the rest, stays within its bound', () => {
    const c = new SeriesCache(4);
    const [a, b, cc, d, e] = [ls('n', 'a'), ls('n', 'b'), ls('n', 'c'), ls('n', 'd'), ls('n', 'e')];
    set(c, a, 1);
    set(c, b, 2);
    set(c, cc, 3);
    set(c, d, 4); // full
    expect(get(c, a)).toBe(1);
    expect(get(c, cc)).toBe(3);
    set(c, e, 5); // eviction: a and c were hit, b and d were not
    expect(c.evictions).toBe(2);
    expect(c.size).toBe(3);
    expect(get(c, b)).toBe(-1);
    expect(get(c, d)).toBe(-1);
    expect(get(c, a)).toBe(1);
    expect(get(c, cc)).toBe(3);
    expect(get(c, e)).toBe(5);
    expect(c.hits).toBe(5);
    expect(c.misses).toBe(2);
  });

  it('a cycle of as many series as the bound never misses after its first pass', () => {
    const c = new SeriesCache(1000);
    for (let pass = 0; pass < 4; pass++) {
      for (let i = 0; i < 1000; i++) {
        const labels = ls('__name__', 'm', 'id', String(i));
        if (get(c, labels) < 0) set(c, labels, i);
      }
    }
    expect(c.misses).toBe(1000);
    expect(c.hits).toBe(3000);
    expect(c.evictions).toBe(0);
  });

  it('never exceeds its bound, and answers what it holds (tables growing past their first size)', () => {
    const c = new SeriesCache(5000);
    for (let i = 0; i < 20_000; i++) set(c, ls('__name__', 'm', 'id', String(i)), i);
    expect(c.size).toBeLessThanOrEqual(5000);
    for (let i = 19_000; i < 20_000; i++) expect(get(c, ls('__name__', 'm', 'id', String(i)))).toBe(i);
    expect(get(c, ls('__name__', 'm', 'id', '0'))).toBe(-1);
  });

  it('a frozen label array seen before resolves by identity, counted as a hit; a mutable one never does', () => {
    const c = new SeriesCache(100);
    const frozen = freezeLabels(ls('a', '1', 'b', '2'));
    expect(c.getByIdentity(frozen)).toBe(-1);
    expect(c.hits + c.misses).toBe(0); // an identity miss counts nothing: the caller looks up by content next
    set(c, frozen, 7);
    expect(c.getByIdentity(frozen)).toBe(7);
    expect(c.hits).toBe(1);
    // Same content in another array: found by content, then remembered by its own identity too.
    const other = freezeLabels(ls('a', '1', 'b', '2'));
    expect(c.getByIdentity(other)).toBe(-1);
    expect(get(c, other)).toBe(7);
    expect(c.getByIdentity(other)).toBe(7);
    // A mutable array (or frozen array of mutable labels) could change after being seen: never by identity.
    const mutable = ls('a', '1', 'b', '2');
    expect(get(c, mutable)).toBe(7);
    expect(c.getByIdentity(mutable)).toBe(-1);
    const shallow = Object.freeze(ls('a', '1', 'b', '2'));
    expect(get(c, shallow)).toBe(7);
    expect(c.getByIdentity(shallow)).toBe(-1);
    // Frozen all through but without a memo (not made by freezeLabels): nowhere to remember it.
    const noMemo = Object.freeze(ls('a', '1', 'b', '2').map((l) => Object.freeze(l)));
    expect(get(c, noMemo)).toBe(7);
    expect(c.getByIdentity(noMemo)).toBe(-1);
    expect(c.size).toBe(1);
  });

  it('identity entries die with the table an eviction replaces (no hit for an evicted series)', () => {
    const c = new SeriesCache(4);
    const f = (v: string): readonly Label[] => freezeLabels(ls('n', v));
    const [a, b, cc, d, e] = [f('a'), f('b'), f('c'), f('d'), f('e')];
    set(c, a, 1);
    set(c, b, 2);
    set(c, cc, 3);
    set(c, d, 4);
    expect(c.getByIdentity(a)).toBe(1); // an identity hit marks the entry too
    set(c, e, 5); // b, c, d evicted
    expect(c.getByIdentity(b)).toBe(-1);
    expect(get(c, b)).toBe(-1);
    expect(c.getByIdentity(a)).toBe(-1); // a new table: found by content, then by identity again
    expect(get(c, a)).toBe(1);
    expect(c.getByIdentity(a)).toBe(1);
    expect(c.size).toBeLessThanOrEqual(4);
  });

  it('setting a series twice (two flushes interned it) keeps one entry', () => {
    const c = new SeriesCache(100);
    set(c, ls('a', '1'), 7);
    set(c, ls('a', '1'), 7);
    expect(c.size).toBe(1);
  });

  it('a bound of 0 caches nothing', () => {
    const c = new SeriesCache(0);
    set(c, ls('a', '1'), 7);
    expect(get(c, ls('a', '1'))).toBe(-1);
    expect(c.size).toBe(0);
  });

  it('hashLabels depends on content only (not on string objects), is a non-negative int31, and flags NUL', () => {
    expect(hashLabels(ls('a', 'x\u0000y'))).toBe(HAS_NUL);
    expect(hashLabels(ls('a\u0000', 'x'))).toBe(HAS_NUL);
    const label = fc.record({ name: fc.string({ unit: 'grapheme', minLength: 1 }), value: fc.string({ unit: 'grapheme' }) });
    fc.assert(
      fc.property(fc.array(label, { maxLength: 6 }), (labels) => {
        const clean = labels.filter((l) => !l.name.includes('\u0000') && !l.value.includes('\u0000'));
        const h = hashLabels(clean);
        expect(hashLabels(clean.map((l) => ({ name: copy(l.name), value: copy(l.value) })))).toBe(h);
        expect(Number.isInteger(h) && h >= 0 && h < 2 ** 31).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('finds exactly the label sets it holds: same content in other objects hits, any difference misses', () => {
    // Strings with tabs, newlines, backslashes, quotes, non-ASCII and astral characters, and sets that differ only
    // in where a name ends and a value starts.
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '=', ',', '\t', '\n', '\\', '"', "'", 'é', '日', '😀', '') });
    const labelSet = fc.array(fc.record({ name: text.filter((s) => s.length > 0), value: text }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(fc.uniqueArray(labelSet, { selector: seriesKey, minLength: 1, maxLength: 30 }), fc.array(labelSet, { maxLength: 30 }), (held, probes) => {
        const c = new SeriesCache(1000);
        held.forEach((labels, i) => set(c, labels, i));
        // Equal content in other string objects (as a decoder builds them per request) must hit too.
        held.forEach((labels, i) => expect(get(c, labels.map((l) => ({ name: copy(l.name), value: copy(l.value) })))).toBe(i));
        const index = new Map(held.map((labels, i) => [seriesKey(labels), i]));
        for (const p of probes) expect(get(c, p)).toBe(index.get(seriesKey(p)) ?? -1);
      }),
      { numRuns: 150 },
    );
  });
});
