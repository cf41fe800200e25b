/**
 * RE2 (Prometheus matcher syntax) to a PostgreSQL ARE matching exactly the same strings, in one pass over the
 * pattern (linear time and output: a selector is translated on the event loop that also serves writes).
 *
 * Prometheus anchors a matcher as `^(?s:pattern)$`: `.` matches a newline unless the pattern says `(?-s)`. What
 * ARE can express is translated exactly; what it cannot is refused with INVALID_INPUT (400 `bad_data`), never
 * approximated:
 * PostgreSQL's own classes, word boundaries and case folding follow the database's locale (`[[:alpha:]]` matches `é`
 * in most UTF-8 locales, `\y` takes it for a word character, `(?i)` folds by the locale's rules); RE2's classes are
 * ASCII and it folds by Unicode simple case folding. So nothing locale-dependent of ARE is used; every set is spelled
 * out:
 * - escapes: `\d \w \s` (and negations) become explicit ASCII classes (ARE's `\s` also matches `\v`, RE2's does
 *   not); `\b \B` become lookarounds on the ASCII word class; `\A \z` are `^`/`$` of the text; `\Q…\E` becomes
 *   escaped literals; `\x{…}` a literal; `\pN`, `\p{…}`, `\C` and octal escapes are refused;
 * - classes: POSIX classes (`[[:alpha:]]`) become their ASCII sets, `[[:^alpha:]]` is refused; escapes inside a
 *   class are rewritten; `\D \S \W` inside a class are refused;
 * - flags: `(?i)` (at the start, anywhere, as `(?i:…)`, and `(?-i)` likewise) expands each character and class to
 *   what RE2 folds it to (`k` to `[kK\u212a]`, `s` to `[sS\u017f]`, `[a-c]` to `[a-cA-C]`), which is exact for
 *   ASCII; a cased non-ASCII character, or a range reaching past ASCII, under `(?i)` is refused;
 *   `(?s)`/`(?-s)` switch `.` between any character and `[^\n]`; `m` and `U` are refused;
 * - repetition counts above 255 (ARE's limit; RE2 allows 1000) are refused; a `{` that does not start a valid
 *   count is a literal, as in RE2;
 * - unbalanced parentheses, a trailing backslash, an unterminated class, nothing to repeat: refused, as RE2 does.
 *
 * Also computes whether the pattern matches the empty string (a matcher that does also selects series without the
 * label), from the same parse.
 */

export class RegexError extends Error {}

export interface TranslatedRegex {
  /** The ARE, fully anchored. */
  readonly are: string;
  /** Whether the anchored pattern matches the empty string. */
  readonly matchesEmpty: boolean;
}

const ARE_DUP_MAX = 255;
const SPECIAL = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);
const CLASS_SPECIAL = new Set(['\\', ']', '[', '^', '-']);
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\\n', t: '\\t', r: '\\r', f: '\\f', v: '\\v', a: '\\a' };
const CONTROL: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', a: '\x07' };

/** A set of code points as inclusive ranges. */
type CodeRanges = readonly (readonly [number, number])[];
const cp = (c: string): number => c.codePointAt(0)!;
const span = (lo: string, hi: string): readonly [number, number] => [cp(lo), cp(hi)];
const DIGIT: CodeRanges = [span('0', '9')];
const WORD: CodeRanges = [span('0', '9'), span('A', 'Z'), span('_', '_'), span('a', 'z')];
/** RE2's Perl classes. */
const PERL: Readonly<Record<string, CodeRanges>> = { d: DIGIT, w: WORD, s: [span('\t', '\n'), span('\f', '\r'), span(' ', ' ')] };
/** RE2's POSIX classes, ASCII whatever the locale (`ascii` and `cntrl` without NUL, which text cannot hold). */
const POSIX: Readonly<Record<string, CodeRanges>> = {
  alnum: [span('0', '9'), span('A', 'Z'), span('a', 'z')],
  alpha: [span('A', 'Z'), span('a', 'z')],
  ascii: [[1, 0x7f]],
  blank: [span('\t', '\t'), span(' ', ' ')],
  cntrl: [[1, 0x1f], [0x7f, 0x7f]],
  digit: DIGIT,
  graph: [span('!', '~')],
  lower: [span('a', 'z')],
  print: [span(' ', '~')],
  punct: [span('!', '/'), span(':', '@'), span('[', '`'), span('{', '~')],
  space: [span('\t', '\r'), span(' ', ' ')],
  upper: [span('A', 'Z')],
  word: WORD,
  xdigit: [span('0', '9'), span('A', 'F'), span('a', 'f')],
};
const KELVIN = 0x212a;
const LONG_S = 0x17f;
/** The first cased code point past ASCII (µ): below it, folding only pairs ASCII letters. */
const FIRST_CASED_NON_ASCII = 0xb5;
const WORD_CLASS = '[0-9A-Za-z_]';
/** RE2's `\b` and `\B` (ASCII word characters), as lookarounds: ARE's `\y` and `\Y` follow the locale. */
const WORD_BOUNDARY = `(?:(?<=${WORD_CLASS})(?!${WORD_CLASS})|(?<!${WORD_CLASS})(?=${WORD_CLASS}))`;
const NOT_WORD_BOUNDARY = `(?:(?<=${WORD_CLASS})(?=${WORD_CLASS})|(?<!${WORD_CLASS})(?!${WORD_CLASS}))`;

interface Frame {
  /** Output of the group so far (alternatives joined by `|`). */
  out: string;
  /** Nullability: of the alternatives finished so far (any), and of the current concatenation (all). */
  anyAlt: boolean;
  cur: boolean;
  /** Nullability of the last atom of the current concatenation (a quantifier changes it). */
  last: boolean | undefined;
  /** Flags in force (a `(?i)` inside a group lasts to the group's end). */
  fold: boolean;
  dotAll: boolean;
  /** What opens the group in the output. */
  readonly open: string;
}

function lit(c: string): string {
  return SPECIAL.has(c) ? `\\${c}` : c;
}

function classLit(c: string): string {
  return CLASS_SPECIAL.has(c) ? `\\${c}` : c;
}

/** One code point inside an ARE bracket expression; control characters as escapes, so the pattern reads plainly. */
function classChar(c: number): string {
  return c < 0x20 || c === 0x7f ? `\\u${c.toString(16).padStart(4, '0')}` : classLit(String.fromCodePoint(c));
}

function rangeText(lo: number, hi: number): string {
  return lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`;
}

function isCased(c: number): boolean {
  const s = String.fromCodePoint(c);
  return s.toLowerCase() !== s || s.toUpperCase() !== s;
}

/**
 * What RE2's case folding adds to the code points [lo, hi], as bracket items: the other case of ASCII letters, and
 * the two non-ASCII characters whose simple case folding is an ASCII letter (KELVIN SIGN with k, LONG S with s).
 * Undefined for a set that holds any other cased non-ASCII character: its folding is not spelled out here.
 */
function foldExtra(lo: number, hi: number): string | undefined {
  if (lo === hi && lo === KELVIN) return 'kK';
  if (lo === hi && lo === LONG_S) return 'sS';
  if (hi >= FIRST_CASED_NON_ASCII && (lo !== hi || isCased(lo))) return undefined;
  let out = '';
  const upperLo = Math.max(lo, cp('A'));
  const upperHi = Math.min(hi, cp('Z'));
  if (upperLo <= upperHi) out += rangeText(upperLo + 32, upperHi + 32);
  const lowerLo = Math.max(lo, cp('a'));
  const lowerHi = Math.min(hi, cp('z'));
  if (lowerLo <= lowerHi) out += rangeText(lowerLo - 32, lowerHi - 32);
  const has = (c: number): boolean => lo <= c && c <= hi;
  if (has(cp('k')) || has(cp('K'))) out += String.fromCodePoint(KELVIN);
  if (has(cp('s')) || has(cp('S'))) out += String.fromCodePoint(LONG_S);
  return out;
}

export function translateRe2(re2: string): TranslatedRegex {
  const fail = (what: string, at: number): never => {
    throw new RegexError(`${what} at position ${at}`);
  };
  let i = 0;
  const root: Frame = { out: '', anyAlt: false, cur: true, last: undefined, fold: false, dotAll: true, open: '' };
  const stack: Frame[] = [root];
  let f = root;

  const atom = (out: string, nullable: boolean): void => {
    if (f.last !== undefined) f.cur = f.cur && f.last;
    f.out += out;
    f.last = nullable;
  };
  const closeAlt = (): boolean => {
    if (f.last !== undefined) f.cur = f.cur && f.last;
    return f.anyAlt || f.cur;
  };

  /** Translates one escape outside a class (`re2[at]` is the backslash); returns the output and the next index. */
  const escape = (at: number): [string, number, boolean] => {
    const n = re2[at + 1];
    if (n === undefined) return fail('trailing backslash', at);
    if (n in PERL) return [`[${setItems(PERL[n]!, at)}]`, at + 2, false];
    if (n === 'D' || n === 'W' || n === 'S') return [`[^${setItems(PERL[n.toLowerCase()]!, at)}]`, at + 2, false];
    if (n === 'b') return [WORD_BOUNDARY, at + 2, false];
    if (n === 'B') return [NOT_WORD_BOUNDARY, at + 2, true];
    if (n === 'A') return ['^', at + 2, true];
    if (n === 'z') return ['$', at + 2, true];
    if (n in SIMPLE_ESCAPES) return [SIMPLE_ESCAPES[n]!, at + 2, false];
    if (n === 'x') {
      const m = /^\\x(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{2}))/.exec(re2.slice(at, at + 12));
      if (m === null) return fail('bad \\x escape', at);
      const cp = parseInt(m[1] ?? m[2]!, 16);
      if (cp > 0x10ffff) return fail('bad \\x escape', at);
      return [String.fromCodePoint(cp), at + m[0].length, false];
    }
    if (n === 'Q') {
      const end = re2.indexOf('\\E', at + 2);
      const text = re2.slice(at + 2, end < 0 ? re2.length : end);
      return [text, end < 0 ? re2.length : end + 2, text.length === 0];
    }
    if (/[0-9a-zA-Z]/.test(n)) return fail(`\\${n} is not supported`, at);
    return [n, at + 2, false]; // escaped punctuation: the character itself
  };

  /** Bracket items for the code points [lo, hi] as the current flags have them: folded under `(?i)`. */
  const rangeItems = (lo: number, hi: number, at: number): string => {
    const text = rangeText(lo, hi);
    if (!f.fold) return text;
    const extra = foldExtra(lo, hi);
    if (extra === undefined) return fail('(?i) with a cased non-ASCII character or a range past ASCII is not supported', at);
    return text + extra;
  };
  const setItems = (set: CodeRanges, at: number): string => set.map(([lo, hi]) => rangeItems(lo, hi, at)).join('');

  const emitLiteral = (c: string, at: number): void => {
    const items = rangeItems(cp(c), cp(c), at);
    atom(items === classChar(cp(c)) ? lit(c) : `[${items}]`, false);
  };

  const parseClass = (start: number): number => {
    let j = start + 1;
    let out = '[';
    if (re2[j] === '^') {
      out += '^';
      j++;
    }
    let first = true;
    let items = '';
    const readChar = (): string => {
      const c = re2[j];
      if (c === undefined) return fail('missing ]', start);
      if (c === '\\') {
        const n = re2[j + 1];
        if (n === undefined) return fail('trailing backslash', j);
        if (n === 'x') {
          const [s, next] = escape(j);
          j = next;
          return s;
        }
        if (n in CONTROL) {
          j += 2;
          return CONTROL[n]!;
        }
        if (/[0-9a-zA-Z]/.test(n)) return fail(`\\${n} is not supported in a class`, j);
        j += 2;
        return n;
      }
      const whole = String.fromCodePoint(re2.codePointAt(j)!);
      j += whole.length;
      return whole;
    };
    for (;;) {
      const c = re2[j];
      if (c === undefined) return fail('missing ]', start);
      if (c === ']' && !first) break;
      first = false;
      if (c === '[' && re2[j + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(re2.slice(j, j + 12));
        if (m !== null) {
          const set = POSIX[m[2]!];
          if (m[1] === '^' || set === undefined) return fail(`[:${m[1]}${m[2]}:] is not supported`, j);
          items += setItems(set, j);
          j += m[0].length;
          continue;
        }
      }
      if (c === '\\' && re2[j + 1] !== undefined && re2[j + 1]! in PERL) {
        items += setItems(PERL[re2[j + 1]!]!, j);
        j += 2;
        continue;
      }
      const at = j;
      const lo = readChar();
      if (re2[j] === '-' && re2[j + 1] !== ']' && re2[j + 1] !== undefined) {
        j++;
        const hi = readChar();
        if (cp(hi) < cp(lo)) return fail(`bad range ${lo}-${hi}`, j);
        items += rangeItems(cp(lo), cp(hi), at);
        continue;
      }
      items += rangeItems(cp(lo), cp(lo), at);
    }
    atom(`${out}${items}]`, false);
    return j + 1;
  };

  while (i < re2.length) {
    const c = re2[i]!;
    switch (c) {
      case '\\': {
        const [out, next, nullable] = escape(i);
        const kind = re2[i + 1];
        if (kind === 'Q' || kind === 'x' || !/[0-9a-zA-Z]/.test(kind ?? '')) {
          // Literal text: \Q…\E, \x{…}, escaped punctuation.
          if (out.length === 0) atom('', true);
          for (const ch of out) emitLiteral(ch, i);
        } else atom(out, nullable);
        i = next;
        break;
      }
      case '[':
        i = parseClass(i);
        break;
      case '.':
        atom(f.dotAll ? '.' : '[^\\n]', false);
        i++;
        break;
      case '^':
      case '$':
        atom(c, true);
        i++;
        break;
      case '|':
        f.anyAlt = closeAlt();
        f.cur = true;
        f.last = undefined;
        f.out += '|';
        i++;
        break;
      case '(': {
        let out = '(';
        let fold = f.fold;
        let dotAll = f.dotAll;
        let j = i + 1;
        if (re2[j] === '?') {
          const named = /^\?P?<[A-Za-z_][A-Za-z0-9_]*>/.exec(re2.slice(j, j + 200));
          if (named !== null) {
            out = '(?:';
            j += named[0].length;
          } else {
            const m = /^\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(re2.slice(j, j + 20));
            if (m === null) return fail('bad group', i);
            for (const [flags, on] of [
              [m[1]!, true],
              [m[2] ?? '', false],
            ] as const) {
              for (const fl of flags) {
                if (fl === 'i') fold = on;
                else if (fl === 's') dotAll = on;
                else return fail(`the ${fl} flag is not supported`, i);
              }
            }
            j += m[0].length;
            if (m[3] === ')') {
              // (?flags): for the rest of the current group
              f.fold = fold;
              f.dotAll = dotAll;
              i = j;
              break;
            }
            out = '(?:';
          }
        }
        const frame: Frame = { out: '', anyAlt: false, cur: true, last: undefined, fold, dotAll, open: out };
        stack.push(frame);
        f = frame;
        i = j;
        break;
      }
      case ')': {
        if (stack.length === 1) return fail('unexpected )', i);
        const done = stack.pop()!;
        const nullable = ((): boolean => {
          if (done.last !== undefined) done.cur = done.cur && done.last;
          return done.anyAlt || done.cur;
        })();
        f = stack[stack.length - 1]!;
        atom(`${done.open}${done.out})`, nullable);
        i++;
        break;
      }
      case '*':
      case '+':
      case '?': {
        if (f.last === undefined) return fail('missing argument to repetition operator', i);
        let q = c;
        i++;
        if (re2[i] === '?') {
          q += '?';
          i++;
        }
        if (re2[i] === '*' || re2[i] === '+' || re2[i] === '?') return fail('invalid nested repetition operator', i);
        f.out += q;
        if (c !== '+') f.last = true;
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(re2.slice(i, i + 24));
        if (m === null) {
          emitLiteral('{', i);
          i++;
          break;
        }
        if (f.last === undefined) return fail('missing argument to repetition operator', i);
        const lo = Number(m[1]);
        const hi = m[2] === undefined ? lo : m[3] === '' ? undefined : Number(m[3]);
        if (lo > 1000 || (hi !== undefined && (hi > 1000 || hi < lo))) return fail('invalid repeat count', i);
        if (lo > ARE_DUP_MAX || (hi !== undefined && hi > ARE_DUP_MAX)) return fail(`a repeat count above ${ARE_DUP_MAX} is not supported`, i);
        i += m[0].length;
        let q = m[0];
        if (re2[i] === '?') {
          q += '?';
          i++;
        }
        f.out += q;
        if (lo === 0) f.last = true;
        break;
      }
      default: {
        const ch = String.fromCodePoint(re2.codePointAt(i)!);
        emitLiteral(ch, i);
        i += ch.length;
      }
    }
  }
  if (stack.length > 1) return fail('missing )', re2.length);
  const matchesEmpty = closeAlt();
  return { are: `^(?:${root.out})$`, matchesEmpty };
}
