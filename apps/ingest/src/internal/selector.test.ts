import { describe, expect, it } from 'vitest';
import { parseSelector } from './selector.js';

describe('parseSelector', () => {
  it('parses a metric name with every operator', () => {
    expect(parseSelector(`up{a="b", c!='d',e=~"f.*" ,g!~\`h\\d\`}`)).toEqual([
      { type: 'EQ', name: '__name__', value: 'up' },
      { type: 'EQ', name: 'a', value: 'b' },
      { type: 'NEQ', name: 'c', value: 'd' },
      { type: 'RE', name: 'e', value: 'f.*' },
      { type: 'NRE', name: 'g', value: 'h\\d' },
    ]);
  });
  it('handles escapes, a bare name, a colon name and a trailing comma', () => {
    expect(parseSelector('{job="a\\"b\\n\\u00e9",}')).toEqual([{ type: 'EQ', name: 'job', value: 'a"b\né' }]);
    expect(parseSelector(' rule:x_total ')).toEqual([{ type: 'EQ', name: '__name__', value: 'rule:x_total' }]);
  });
  it.each(['', '{}', '{a=""}', '{a=~".*"}', 'up{a="b"', 'up{a~"b"}', 'up{a="b"} x', '{a=~"("}', 'up{a="\\q"}'])(
    'refuses %j with a position',
    (s) => {
      expect(() => parseSelector(s)).toThrow(/invalid selector/);
    },
  );
});

describe('parseSelector refuses hostile input cheaply', () => {
  it('answers a valid RE2 regex of 40,000 classes with a 400, not a server error', () => {
    expect(() => parseSelector(`{a=~"${'[a]'.repeat(40_000)}"}`)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(/longer than/) as unknown }));
  });
  it('answers RE2 that PostgreSQL cannot express with a 400', () => {
    expect(() => parseSelector('{a=~"\\\\pL"}')).toThrow(expect.objectContaining({ status: 400 }));
  });
  it('refuses selectors above the size cap', () => {
    expect(() => parseSelector(`{a="${'x'.repeat(300 * 1024)}"}`)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(/longer than/) as unknown }));
  });
  it('takes its bounds from the flags, in UTF-8 bytes', () => {
    const limits = { maxSelectorBytes: 20, maxRegexBytes: 6 };
    expect(parseSelector('{a=~"éé.."}', limits)).toHaveLength(1);
    expect(() => parseSelector('{a=~"éé..."}', limits)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(/longer than 6 bytes/) as unknown }));
    expect(parseSelector('{a="ééééééé"}', limits)).toHaveLength(1);
    expect(() => parseSelector('{a="éééééééé"}', limits)).toThrow(/longer than 20 bytes \(--read.max-selector-bytes\)/);
    // Plain alternatives are a set lookup: the regex bound does not apply to them.
    expect(parseSelector('{a=~"abc|def"}', limits)).toHaveLength(1);
  });
  it('decides "matches the empty string" by RE2 semantics', () => {
    expect(() => parseSelector('{a=~"(?i)x*"}')).toThrow(/empty string/);
    expect(parseSelector('{a=~"(?i)x+"}')).toHaveLength(1);
  });
});
