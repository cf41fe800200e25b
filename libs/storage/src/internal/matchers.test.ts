import { describe, expect, it } from 'vitest';
import { literalAlternatives, translateRegex } from './matchers.js';

describe('translateRegex', () => {
  it('anchors the whole pattern, alternations included', () => {
    expect(translateRegex('a|b')).toBe('^(?:a|b)$');
  });
  it('moves a leading case-insensitive flag before the anchor', () => {
    expect(translateRegex('(?i)foo.*')).toBe('(?i)^(?:foo.*)$');
  });
  it('rewrites RE2 word boundaries and end-of-text, and named groups', () => {
    expect(translateRegex('\\bx\\B\\z')).toBe('^(?:\\yx\\Y\\Z)$');
    expect(translateRegex('(?P<n>a)(?<m>b)')).toBe('^(?:(?:a)(?:b))$');
  });
  it('keeps escapes inside bracket expressions', () => {
    expect(translateRegex('[\\b]')).toBe('^(?:[\\b])$');
    expect(translateRegex('[]a]')).toBe('^(?:[]a])$');
  });
  it('rejects constructs PostgreSQL would read differently', () => {
    expect(() => translateRegex('\\pL')).toThrow(/not supported/);
    expect(() => translateRegex('a(?i)b')).toThrow(/not supported/);
  });
});

describe('literalAlternatives', () => {
  it('recognises plain alternatives only', () => {
    expect(literalAlternatives('a|bc|d-e')).toEqual(['a', 'bc', 'd-e']);
    expect(literalAlternatives('a.b')).toBeUndefined();
    expect(literalAlternatives('')).toEqual(['']);
  });
});
