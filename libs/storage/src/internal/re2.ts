/**
 * RE2 (Prometheus matcher syntax) to a PostgreSQL ARE matching exactly the same strings, in one pass over the
 * pattern (linear time and output: a selector is translated on the event loop that also serves writes).
 *
 * Prometheus anchors a matcher as `^(?s:pattern)$`: `.` matches a newline unless the pattern says `(?-s)`. What
 * ARE can express is translated exactly; what it cannot is refused with INVALID_INPUT (400 `bad_data`), never
 * approximated:
 * - escapes: `\d \w \s` (and negations) become explicit classes (ARE's `\s` also matches `\v`, RE2's does not);
 *   `\b \B` are `\y \Y`; `\A \z` are `^`/`$` of the text; `\Q…\E` becomes escaped literals; `\x{…}` a literal;
 *   `\pN`, `\p{…}`, `\C` and octal escapes are refused;
 * - classes: POSIX classes (`[[:alpha:]]`) are kept (ARE has the same ones), `[[:^alpha:]]` is refused; escapes
 *   inside a class are rewritten; `\D \S \W` inside a class are refused;
 * - flags: `(?i)` at the very start becomes ARE's whole-pattern `(?i)`; anywhere else (`a(?i)b`, `(?i:…)`) letters
 *   are expanded to both cases (`[bB]`), which is exact for ASCII letters and refused for a class range that is not
 *   within one case of a-z; `(?s)`/`(?-s)` switch `.` between any character and `[^\n]`; `m` and `U` are refused;
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
const PERL: Readonly<Record<string, string>> = { d: '0-9', w: '0-9A-Za-z_', s: '\\t\\n\\f\\r ' };
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\\n', t: '\\t', r: '\\r', f: '\\f', v: '\\v', a: '\\a' };
const CONTROL: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', a: '\x07' };
const POSIX = new Set(['alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit']);

interface Frame {
  /** Output of the group so far (alternatives joined by `|`). */
  out: string;
  /** Nullability: of the alternatives finished so far (any), and of the current concatenation (all). */
  anyAlt: boolean;
  cur: boolean;
  /** Nullability of the last atom of the current concatenation (a quantifier changes it). */
  last: boolean | undefined;
  /** Flags in force (a `(?i)` inside a group lasts to the group's end); `fold` only when ARE's own `(?i)` is not. */
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

function isLetter(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

function swapCase(c: string): string {
  return c >= 'a' && c <= 'z' ? c.toUpperCase() : c.toLowerCase();
}

export function translateRe2(re2: string): TranslatedRegex {
  const fail = (what: string, at: number): never => {
    throw new RegexError(`${what} at position ${at}`);
  };
  let i = 0;
  let globalFold = false;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(re2);
  if (lead !== null && /^[is]+$/.test(lead[1]!) && lead[1]!.includes('i')) {
    globalFold = true;
    i = lead[0].length;
  }
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
    if (n in PERL) return [`[${PERL[n]}]`, at + 2, false];
    if (n === 'D' || n === 'W' || n === 'S') return [`[^${PERL[n.toLowerCase()]}]`, at + 2, false];
    if (n === 'b') return ['\\y', at + 2, false];
    if (n === 'B') return ['\\Y', at + 2, true];
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

  const emitLiteral = (c: string): void => {
    if (f.fold && isLetter(c)) atom(`[${c}${swapCase(c)}]`, false);
    else atom(lit(c), false);
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
    const addChar = (c: string): void => {
      items += classLit(c);
      if (f.fold && isLetter(c)) items += classLit(swapCase(c));
    };
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
      const ch = String.fromCodePoint(re2.codePointAt(j)!);
      j += ch.length;
      return ch;
    };
    for (;;) {
      const c = re2[j];
      if (c === undefined) return fail('missing ]', start);
      if (c === ']' && !first) break;
      first = false;
      if (c === '[' && re2[j + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(re2.slice(j, j + 12));
        if (m !== null) {
          if (m[1] === '^' || !POSIX.has(m[2]!)) return fail(`[:${m[1]}${m[2]}:] is not supported`, j);
          const name = m[2] === 'word' ? null : m[2]!;
          if (f.fold && (name === 'lower' || name === 'upper')) items += '[:alpha:]';
          else items += name === null ? '[:alnum:]_' : `[:${name}:]`;
          j += m[0].length;
          continue;
        }
      }
      if (c === '\\' && re2[j + 1] !== undefined && re2[j + 1]! in PERL) {
        items += PERL[re2[j + 1]!] ?? '';
        j += 2;
        continue;
      }
      const lo = readChar();
      if (re2[j] === '-' && re2[j + 1] !== ']' && re2[j + 1] !== undefined) {
        j++;
        const hi = readChar();
        if (hi < lo) return fail(`bad range ${lo}-${hi}`, j);
        items += `${classLit(lo)}-${classLit(hi)}`;
        if (f.fold) {
          const lower = lo >= 'a' && hi <= 'z';
          const upper = lo >= 'A' && hi <= 'Z';
          if (lower || upper) items += `${swapCase(lo)}-${swapCase(hi)}`;
          else if (!(hi < 'A' || lo > 'z' || (lo > 'Z' && hi < 'a'))) return fail('a case-insensitive range across cases is not supported', j);
        }
        continue;
      }
      addChar(lo);
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
          for (const ch of out) emitLiteral(ch);
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
            if (globalFold && !fold) return fail('(?-i) inside a case-insensitive pattern is not supported', i);
            j += m[0].length;
            if (m[3] === ')') {
              // (?flags): for the rest of the current group
              f.fold = fold && !globalFold;
              f.dotAll = dotAll;
              i = j;
              break;
            }
            out = '(?:';
          }
        }
        const frame: Frame = { out: '', anyAlt: false, cur: true, last: undefined, fold: fold && !globalFold, dotAll, open: out };
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
          emitLiteral('{');
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
        const cp = re2.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        emitLiteral(ch);
        i += ch.length;
      }
    }
  }
  if (stack.length > 1) return fail('missing )', re2.length);
  const matchesEmpty = closeAlt();
  return { are: `${globalFold ? '(?i)' : ''}^(?:${root.out})$`, matchesEmpty };
}
