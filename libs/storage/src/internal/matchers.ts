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
  throw new StorageError(StorageErrorCodes.INVALID_INPUT, `regex ${JSON.stringify(re)}: ${what} is not supported`);
}

/** A regex that is only literal alternatives (`a|b|c`) is answered as a set lookup, as Prometheus does. */
export function literalAlternatives(re: string): string[] | undefined {
  if (/[.^$*+?()[\]{}\\]/.test(re)) return undefined;
  return re.split('|');
}

/**
 * How to select series for a set of matchers, in two steps. Step one resolves every matcher against the small
 * `label` table into label-id arrays (`arrays`, one SQL expression each, bind values in `params`). Step two tests
 * those arrays with `&&` on `series.label_ids` (GIN-indexed): `where(i)` builds the clause once the arrays are
 * bind parameters, so the planner sees their real contents and uses the GIN index (with the arrays as a
 * sub-select it cannot estimate them and scans every series). A matcher that matches the empty string also
 * matches series without the label, as in Prometheus.
 */
/** Equality on a label value through the (name, md5(value)) index; the value compare settles md5 collisions. */
function valueIs(param: string): string {
  return `md5(value) = md5(${param}) AND value = ${param}`;
}

export interface MatcherPlan {
  readonly arrays: readonly string[];
  readonly params: readonly unknown[];
  where(arrayParam: (index: number) => string): string;
}

export function planMatchers(matchers: readonly LabelMatcher[], emptyMatches: readonly boolean[]): MatcherPlan {
  const params: unknown[] = [];
  const arrays: string[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const arr = (sql: string): number => arrays.push(sql) - 1;
  type Cond = (a: (i: number) => string) => string;
  const conds: Cond[] = [];
  for (const [i, m] of matchers.entries()) {
    const name = p(m.name);
    const all = (): number => arr(`ARRAY(SELECT id FROM label WHERE name = ${name})`);
    const ids = (valueCond: string): number => arr(`ARRAY(SELECT id FROM label WHERE name = ${name} AND ${valueCond})`);
    switch (m.type) {
      case 'EQ': {
        const k = m.value === '' ? all() : ids(valueIs(p(m.value)));
        conds.push(m.value === '' ? (a) => `NOT s.label_ids && ${a(k)}` : (a) => `s.label_ids && ${a(k)}`);
        break;
      }
      case 'NEQ': {
        const k = m.value === '' ? all() : ids(valueIs(p(m.value)));
        conds.push(m.value === '' ? (a) => `s.label_ids && ${a(k)}` : (a) => `NOT s.label_ids && ${a(k)}`);
        break;
      }
      case 'RE':
      case 'NRE': {
        const literals = literalAlternatives(m.value);
        let valueCond: string;
        if (literals !== undefined) {
          const lp = p(literals);
          valueCond = `md5(value) IN (SELECT md5(x) FROM unnest(${lp}::text[]) x) AND value = ANY(${lp}::text[])`;
        } else valueCond = `value ~ ${p(translateRegex(m.value))}`;
        const matchesEmpty = emptyMatches[i] === true;
        if (m.type === 'RE') {
          const k = ids(valueCond);
          if (matchesEmpty) {
            const n = all();
            conds.push((a) => `(s.label_ids && ${a(k)} OR NOT s.label_ids && ${a(n)})`);
          } else conds.push((a) => `s.label_ids && ${a(k)}`);
        } else if (matchesEmpty) {
          const k = ids(`NOT (${valueCond})`);
          conds.push((a) => `s.label_ids && ${a(k)}`);
        } else {
          const k = ids(valueCond);
          conds.push((a) => `NOT s.label_ids && ${a(k)}`);
        }
        break;
      }
    }
  }
  return {
    arrays,
    params,
    where: (a) => (conds.length === 0 ? 'true' : conds.map((c) => c(a)).join(' AND ')),
  };
}
