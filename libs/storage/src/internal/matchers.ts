import type { LabelMatcher } from '@promha/codec';
import { StorageError, StorageErrorCodes } from './errors.js';

/**
 * Translates an RE2 pattern (Prometheus matcher syntax) to a PostgreSQL ARE matching the same strings, fully
 * anchored as Prometheus anchors matchers. Differences handled: `\b`/`\B` are `\y`/`\Y` in ARE (`\b` is a
 * backspace there), `\z` is `\Z`, named groups become non-capturing, and leading flag groups such as `(?i)` must
 * come before the anchor. `.` matches a newline in both (Prometheus 3 semantics). Constructs ARE lacks (`\p{..}`,
 * `\Q..\E`, mid-pattern flag groups) are rejected rather than silently meaning something else.
 */
export function translateRegex(re2: string): string {
  let flags = '';
  let rest = re2;
  const lead = /^\(\?([imsU]+)\)/.exec(rest);
  if (lead !== null) {
    const f = lead[1]!;
    if (f.includes('U')) unsupported(re2, 'the U flag');
    if (f.includes('i')) flags += 'i';
    // `s` is the default here; `m` (multi-line ^$) has no meaning inside our full anchors for label values.
    rest = rest.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i]!;
    if (c === '\\') {
      const n = rest[i + 1];
      if (n === undefined) unsupported(re2, 'a trailing backslash');
      i++;
      if (!inClass && n === 'b') out += '\\y';
      else if (!inClass && n === 'B') out += '\\Y';
      else if (n === 'z') out += '\\Z';
      else if (n === 'p' || n === 'P' || n === 'Q' || n === 'E' || n === 'C') unsupported(re2, `\\${n}`);
      else out += `\\${n}`;
      continue;
    }
    if (inClass) {
      if (c === ']' && !/\[\^?$/.test(out)) inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      continue;
    }
    if (c === '(' && rest[i + 1] === '?') {
      const named = /^\(\?P?<[A-Za-z_][A-Za-z0-9_]*>/.exec(rest.slice(i));
      if (named !== null) {
        out += '(?:';
        i += named[0].length - 1;
        continue;
      }
      if (rest[i + 2] !== ':') unsupported(re2, 'a flag group inside the pattern');
    }
    out += c;
  }
  return `${flags === '' ? '' : `(?${flags})`}^(?:${out})$`;
}

function unsupported(re: string, what: string): never {
  throw new StorageError(StorageErrorCodes.INVALID_INPUT, `regex ${JSON.stringify(re)}: ${what} is not supported`, { retryable: false });
}

/** A regex that is only literal alternatives (`a|b|c`) is answered as a set lookup, as Prometheus does. */
export function literalAlternatives(re: string): string[] | undefined {
  if (/[.^$*+?()[\]{}\\]/.test(re)) return undefined;
  return re.split('|');
}

/**
 * Builds a WHERE clause over `series s` for the matchers. Each matcher resolves against the small `label` table
 * into an id array, tested with `&&` (GIN-indexed) on `s.label_ids`. A matcher that matches the empty string also
 * matches series without the label, as in Prometheus. `params` receives the bind values.
 */
export function matchersWhere(matchers: readonly LabelMatcher[], params: unknown[], emptyMatches: readonly boolean[]): string {
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const conds: string[] = [];
  matchers.forEach((m, i) => {
    const name = p(m.name);
    const allOfName = `ARRAY(SELECT id FROM label WHERE name = ${name})`;
    const ids = (valueCond: string): string => `ARRAY(SELECT id FROM label WHERE name = ${name} AND ${valueCond})`;
    switch (m.type) {
      case 'EQ':
        conds.push(m.value === '' ? `NOT s.label_ids && ${allOfName}` : `s.label_ids && ${ids(`value = ${p(m.value)}`)}`);
        break;
      case 'NEQ':
        conds.push(m.value === '' ? `s.label_ids && ${allOfName}` : `NOT s.label_ids && ${ids(`value = ${p(m.value)}`)}`);
        break;
      case 'RE':
      case 'NRE': {
        const literals = literalAlternatives(m.value);
        const valueCond = literals !== undefined ? `value = ANY(${p(literals)}::text[])` : `value ~ ${p(translateRegex(m.value))}`;
        const matchesEmpty = emptyMatches[i] === true;
        if (m.type === 'RE') {
          conds.push(matchesEmpty ? `(s.label_ids && ${ids(valueCond)} OR NOT s.label_ids && ${allOfName})` : `s.label_ids && ${ids(valueCond)}`);
        } else {
          conds.push(matchesEmpty ? `s.label_ids && ${ids(`NOT (${valueCond})`)}` : `NOT s.label_ids && ${ids(valueCond)}`);
        }
        break;
      }
    }
  });
  return conds.length === 0 ? 'true' : conds.join(' AND ');
}
