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
  it('a leading (?i) is ARE\'s whole-pattern flag; elsewhere letters are expanded to both cases', () => {
    expect(translateRegex('(?i)foo.*')).toBe('(?i)^(?:foo.*)$');
    expect(translateRegex('a(?i)b')).toBe('^(?:a[bB])$');
    expect(translateRegex('x(?i:ab)y')).toBe('^(?:x(?:[aA][bB])y)$');
    expect(translateRegex('(?i:[a-c])')).toBe('^(?:(?:[a-cA-C]))$');
    expect(() => translateRegex('(?i)a(?-i)b')).toThrow(/not supported/);
  });
  it('keeps POSIX classes and rewrites Perl classes and escapes to explicit ones', () => {
    expect(translateRegex('[[:alpha:]]+')).toBe('^(?:[[:alpha:]]+)$');
    expect(translateRegex('\\d\\s\\W')).toBe('^(?:[0-9][\\t\\n\\f\\r ][^0-9A-Za-z_])$');
    expect(translateRegex('[\\d_]')).toBe('^(?:[0-9_])$');
    expect(translateRegex('[]a]')).toBe('^(?:[\\]a])$');
    expect(translateRegex('\\bx\\B\\z')).toBe('^(?:\\yx\\Y$)$');
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
