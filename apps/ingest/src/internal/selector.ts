/**
 * A PromQL series-selector parser for the `match[]` parameters of the HTTP API: `metric`, `{a="b"}`,
 * `metric{a="b", c!="d", e=~"f", g!~"h"}`. Strings are double-, single- or back-quoted with Go-style escapes
 * (back-quoted: raw). Throws IngestError (400) naming the position of the problem.
 */
import type { LabelMatcher } from '@promha/codec';
import { analyzeRegex, MAX_REGEX_BYTES } from '@promha/storage';
import { IngestError } from '../errors.js';

/** Default of the longest selector (one `match[]`) accepted, in UTF-8 bytes; 400 above. Long alternations of literal values stay well below. */
export const MAX_SELECTOR_BYTES = 256 * 1024;

/** Bounds of one selector (`--read.max-selector-bytes`, `--read.max-regex-bytes`), in UTF-8 bytes. */
export interface SelectorLimits {
  readonly maxSelectorBytes: number;
  readonly maxRegexBytes: number;
}

export const DEFAULT_SELECTOR_LIMITS: SelectorLimits = Object.freeze({ maxSelectorBytes: MAX_SELECTOR_BYTES, maxRegexBytes: MAX_REGEX_BYTES });

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const OPERATOR = /(=~|!~|!=|=)/y;
const WS = /\s*/y;

const OPS: Readonly<Record<string, LabelMatcher['type']>> = { '=': 'EQ', '!=': 'NEQ', '=~': 'RE', '!~': 'NRE' };
const ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  fail(what: string): never {
    throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `invalid selector ${JSON.stringify(this.text)}: ${what} at position ${this.pos}`);
  }
  skipWs(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.text);
    this.pos = WS.lastIndex;
  }
  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) return undefined;
    this.pos = re.lastIndex;
    return m[0];
  }
  peek(): string | undefined {
    return this.text[this.pos];
  }
  eat(ch: string): boolean {
    if (this.text[this.pos] !== ch) return false;
    this.pos++;
    return true;
  }
  string(): string {
    const quote = this.peek();
    if (quote !== '"' && quote !== "'" && quote !== '`') this.fail('expected a quoted string');
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.text[this.pos];
      if (ch === undefined) this.fail('unterminated string');
      this.pos++;
      if (ch === quote) return out;
      if (ch === '\\' && quote !== '`') {
        const esc = this.text[this.pos];
        if (esc === undefined) this.fail('unterminated escape');
        this.pos++;
        const simple = ESCAPES[esc];
        if (simple !== undefined) {
          out += simple;
          continue;
        }
        const len = esc === 'x' ? 2 : esc === 'u' ? 4 : esc === 'U' ? 8 : 0;
        const hex = this.text.slice(this.pos, this.pos + len);
        if (len === 0 || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) this.fail(`bad escape \\${esc}`);
        this.pos += len;
        out += String.fromCodePoint(parseInt(hex, 16));
        continue;
      }
      out += ch;
    }
  }
}

/** Parses one selector into its matchers (the metric name becomes `__name__="..."`). */
export function parseSelector(text: string, limits: SelectorLimits = DEFAULT_SELECTOR_LIMITS): LabelMatcher[] {
  // A UTF-16 length over the bound is over it in bytes too: no need to measure a huge string.
  const bytes = text.length > limits.maxSelectorBytes ? text.length : Buffer.byteLength(text);
  if (bytes > limits.maxSelectorBytes) {
    throw new IngestError('PROMHA_INGEST_BAD_REQUEST', `selector longer than ${limits.maxSelectorBytes} bytes (--read.max-selector-bytes)`);
  }
  const c: Cursor = new Cursor(text);
  const matchers: LabelMatcher[] = [];
  let anyNonEmpty = false;
  c.skipWs();
  const name = c.match(METRIC_NAME);
  if (name !== undefined) {
    matchers.push({ type: 'EQ', name: '__name__', value: name });
    anyNonEmpty = true;
  }
  c.skipWs();
  if (c.eat('{')) {
    for (;;) {
      c.skipWs();
      if (c.eat('}')) break;
      const label = c.peek() === '"' ? c.string() : c.match(LABEL_NAME);
      if (label === undefined) c.fail('expected a label name');
      c.skipWs();
      const op = c.match(OPERATOR);
      if (op === undefined) c.fail('expected one of =, !=, =~, !~');
      c.skipWs();
      const value = c.string();
      const type = OPS[op]!;
      let empty = type === 'EQ' ? value === '' : value !== '';
      if (type === 'RE' || type === 'NRE') {
        // The storage's own RE2 translation: what it refuses (invalid RE2, inexpressible in PostgreSQL, too long)
        // is a 400 here, before any query runs.
        try {
          const matched = analyzeRegex(value, limits.maxRegexBytes).matchesEmpty;
          empty = type === 'RE' ? matched : !matched;
        } catch (e: unknown) {
          c.fail(e instanceof Error ? e.message : String(e));
        }
      }
      matchers.push({ type, name: label, value });
      if (!empty) anyNonEmpty = true;
      c.skipWs();
      if (c.eat(',')) continue;
      if (c.eat('}')) break;
      c.fail('expected "," or "}"');
    }
  }
  c.skipWs();
  if (c.pos !== text.length) c.fail('unexpected text');
  if (matchers.length === 0) c.fail('empty selector');
  // Prometheus refuses selectors that match everything, including series without the label.
  if (!anyNonEmpty) c.fail('a selector needs at least one matcher that does not match the empty string');
  return matchers;
}
