import { describe, expect, it } from 'vitest';
import { analyzeRegex, literalAlternatives, translateRegex } from './matchers.js';

describe('translateRegex', () => {
  it('anchors the whole pattern, alternations and unbalanced-looking text included', () => {
    expect(translateRegex('a|b')).toBe('^(?:a|b)$');
    expect(translateRegex('^a|b$')).toBe('^(?:^a|b$)$');
    expect(translateRegex('(a|b)c')).toBe('^(?:(a|b)c)$');
  });
  it('refuses unbalanced parentheses, as RE2 does', () => {
    expect(() => translateRegex('a)|(b')).toThrow(/unexpected \)/);
    expect(() => translateRegex('(a')).toThrow(/missing \)/);
    expect(() => translateRegex('[a')).toThrow(/missing \]/);
    expect(() => translateRegex('*a')).toThrow(/missing argument/);
  });
  it('(?i) expands letters to what RE2 folds them to, wherever it stands, and (?-i) ends it', () => {
    expect(translateRegex('(?i)foo.*')).toBe('^(?:[fF][oO][oO].*)$');
    expect(translateRegex('a(?i)b')).toBe('^(?:a[bB])$');
    expect(translateRegex('x(?i:ab)y')).toBe('^(?:x(?:[aA][bB])y)$');
    expect(translateRegex('(?i:[a-c])')).toBe('^(?:(?:[a-cA-C]))$');
    expect(translateRegex('(?i)a(?-i)b')).toBe('^(?:[aA]b)$');
    // The Kelvin sign and the long s fold to k and s in RE2 (Unicode simple case folding).
    expect(translateRegex('(?i)ks')).toBe('^(?:[kK\u212a][sS\u017f])$');
    expect(translateRegex('(?i)[^a-z]')).toBe('^(?:[^a-zA-Z\u212a\u017f])$');
  });
  it('refuses (?i) over cased non-ASCII characters, whose folding is not spelled out', () => {
    for (const re of ['(?i)é', '(?i)[à-ÿ]', '(?i:[^É])', '(?i)\\x{3a9}']) expect(() => translateRegex(re), re).toThrow(/not supported/);
    expect(translateRegex('(?i)€')).toBe('^(?:€)$');
  });
  it('spells POSIX and Perl classes out as RE2 defines them (ASCII, whatever the locale)', () => {
    expect(translateRegex('[[:alpha:]]+')).toBe('^(?:[A-Za-z]+)$');
    expect(translateRegex('[[:word:][:cntrl:]]')).toBe('^(?:[0-9A-Z_a-z\\u0001-\\u001f\\u007f])$');
    expect(translateRegex('\\d\\s\\W')).toBe('^(?:[0-9][\\u0009-\\u000a\\u000c-\\u000d ][^0-9A-Z_a-z])$');
    expect(translateRegex('[\\d_]')).toBe('^(?:[0-9_])$');
    expect(translateRegex('[]a]')).toBe('^(?:[\\]a])$');
    expect(translateRegex('\\bx\\B\\z')).toBe(
      '^(?:(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))x(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))$)$',
    );
    expect(translateRegex('(?P<n>a)(?<m>b)')).toBe('^(?:(?:a)(?:b))$');
    expect(translateRegex('\\Qa.b\\E')).toBe('^(?:a\\.b)$');
    expect(translateRegex('a{2,3}b{0}c{1,}')).toBe('^(?:a{2,3}b{0}c{1,})$');
    expect(translateRegex('a{x')).toBe('^(?:a\\{x)$');
    expect(translateRegex('(?-s).')).toBe('^(?:[^\\n])$');
  });
  it('refuses what ARE cannot express exactly', () => {
    for (const re of ['\\pL', '\\p{Greek}', '[[:^alpha:]]', '[\\D]', '(?m)^a', '(?U)a*', 'a{256}', '\\C', '\\1']) {
      expect(() => translateRegex(re), re).toThrow(/not supported|invalid/);
    }
  });
  it('is linear in the pattern: 16 KiB of classes translate at once, and longer patterns are refused', () => {
    const classes = '[a]'.repeat(5000);
    expect(translateRegex(classes)).toBe(`^(?:${classes})$`);
    expect(() => translateRegex('[a]'.repeat(40_000))).toThrow(/longer than/);
  });
  it('bounds a pattern that is not plain alternatives in UTF-8 bytes, at the bound it is given', () => {
    expect(translateRegex('é.'.repeat(5), 15)).toBe(`^(?:${'é.'.repeat(5)})$`);
    expect(() => translateRegex('é.'.repeat(6), 17)).toThrow(/longer than 17 bytes/);
    expect(() => translateRegex('a.'.repeat(9), 17)).toThrow(/longer than 17 bytes/);
    // Plain alternatives are a set lookup, never a regex PostgreSQL compiles.
    expect(translateRegex('abc|def', 3)).toBe('^(?:abc|def)$');
  });
  it('tells whether the pattern matches the empty string', () => {
    const empty = (re: string) => analyzeRegex(re).matchesEmpty;
    expect([empty('a*'), empty('a|'), empty('(a|b?)'), empty('^$'), empty('\\B'), empty('x{0}')]).toEqual([true, true, true, true, true, true]);
    expect([empty('a'), empty('a+'), empty('\\b'), empty('.'), empty('(a|b)c*'), empty('[a]?b')]).toEqual([false, false, false, false, false, false]);
  });
});

describe('literalAlternatives', () => {
  it('recognises plain alternatives only', () => {
    expect(literalAlternatives('a|bc|d-e')).toEqual(['a', 'bc', 'd-e']);
    expect(literalAlternatives('a.b')).toBeUndefined();
    expect(literalAlternatives('')).toEqual(['']);
  });
});
