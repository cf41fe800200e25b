import type { LabelMatcher } from '@promha/codec';
import { StorageError, StorageErrorCodes } from './errors.js';
import { RegexError, translateRe2, type TranslatedRegex } from './re2.js';

/**
 * Default of the longest regex (not plain alternatives) a matcher may carry, in UTF-8 bytes; 400 above
 * (`StorageOptions.maxRegexBytes`). Plain alternatives are a set lookup and are not bounded here.
 */
export const MAX_REGEX_BYTES = 16 * 1024;

/**
 * Translates an RE2 matcher pattern to a fully anchored PostgreSQL ARE matching the same strings (re2.ts), and says
 * whether it matches the empty string. Throws a non-retryable INVALID_INPUT StorageError (answered 400) for a
 * pattern that is not valid RE2, that ARE cannot express exactly, or that is longer than `maxBytes` UTF-8 bytes and not
 * plain alternatives (those are a set lookup, never a regex PostgreSQL compiles; the selector bound covers them).
 */
export function analyzeRegex(re2: string, maxBytes: number = MAX_REGEX_BYTES): TranslatedRegex {
  // A UTF-16 length over the bound is over it in bytes too: no need to measure a huge string.
  const bytes = re2.length > maxBytes ? re2.length : Buffer.byteLength(re2);
  if (bytes > maxBytes && literalAlternatives(re2) === undefined) unsupported(re2, `longer than ${maxBytes} bytes`);
  try {
    return translateRe2(re2);
  } catch (e: unknown) {
    if (e instanceof RegexError) unsupported(re2, e.message);
    throw e;
  }
}

export function translateRegex(re2: string, maxBytes: number = MAX_REGEX_BYTES): string {
  return analyzeRegex(re2, maxBytes).are;
}

function unsupported(re: string, what: string): never {
  const shown = re.length > 200 ? `${re.slice(0, 200)}...` : re;
  throw new StorageError(StorageErrorCodes.INVALID_INPUT, `regex ${JSON.stringify(shown)}: ${what}`);
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

export function planMatchers(matchers: readonly LabelMatcher[], emptyMatches: readonly boolean[], maxRegexBytes: number = MAX_REGEX_BYTES): MatcherPlan {
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
        } else valueCond = `value ~ ${p(translateRegex(m.value, maxRegexBytes))}`;
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
