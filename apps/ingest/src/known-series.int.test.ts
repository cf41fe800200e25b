/**
 * Known series never reach PostgreSQL again, however many label sets the caches see: every cache is sized from
 * --cache.series-max, so a load of as many series as that bound (two label sets each, from an HA pair's two
 * replicas) is resolved in memory on every pass after the first. Statements are counted at the client (every query
 * the service's pool sends), not timed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './testing/int-harness.js';
import { series, writeBody, writeContentType } from './testing/testkit.js';

/** The series cache's bound in this test; far below the defaults, so the test stays small. */
const SERIES_MAX = 4_000;
const CLUSTERS = 2;
const REPLICAS = 2;
/** Series per cluster: together exactly the bound, so no cache may evict a series a later pass sends again. */
const PER_CLUSTER = SERIES_MAX / CLUSTERS;
const PER_REQUEST = 500;

let h: Harness;
const statements: string[] = [];
type Query = (this: pg.Client, ...args: unknown[]) => unknown;
/** The original method, restored after the tests. */
const query = Object.getOwnPropertyDescriptor(pg.Client.prototype, 'query')!.value as Query;

beforeAll(async () => {
  h = await startHarness([`--cache.series-max=${SERIES_MAX}`]);
  // Every statement of every pooled client goes through Client#query.
  const counting: Query = function (this: pg.Client, ...args: unknown[]): unknown {
    const first = args[0];
    statements.push(typeof first === 'string' ? first : typeof first === 'object' && first !== null && 'text' in first ? String(first.text) : '?');
    return query.apply(this, args);
  };
  Object.defineProperty(pg.Client.prototype, 'query', { value: counting, configurable: true, writable: true });
}, 120_000);

afterAll(async () => {
  Object.defineProperty(pg.Client.prototype, 'query', { value: query, configurable: true, writable: true });
  await h.close();
});

async function pass(t: number): Promise<void> {
  for (let c = 0; c < CLUSTERS; c++) {
    for (let from = 0; from < PER_CLUSTER; from += PER_REQUEST) {
      const answers = [];
      for (let r = 0; r < REPLICAS; r++) {
        const list = [];
        for (let s = from; s < from + PER_REQUEST; s++) {
          list.push(series(`m_${s % 7}`, { cluster: `c${c}`, __replica__: `r${r}`, pod: `pod-${s}`, job: 'node' }, [[t, s]]));
        }
        answers.push(
          h.service.app.inject({
            method: 'POST',
            url: '/api/v1/write',
            payload: writeBody(list),
            headers: { 'content-type': writeContentType(1), 'content-encoding': 'snappy' },
          }),
        );
      }
      for (const a of await Promise.all(answers)) expect([202, 204]).toContain(a.statusCode);
    }
  }
}

const interning = (sql: string): boolean => /\bINSERT INTO (label|series)\s/i.test(sql);

describe('known series at the bound of the caches', () => {
  it('are not asked of PostgreSQL again on later passes', async () => {
    const t0 = Date.now() - 600_000;
    await pass(t0);
    const first = statements.filter(interning).length;
    expect(first).toBeGreaterThan(0); // the first pass interned them: the counting sees those statements
    for (let p = 1; p <= 3; p++) {
      statements.length = 0;
      await pass(t0 + p * 15_000);
      expect(statements.filter(interning)).toEqual([]);
      expect(statements.length).toBeGreaterThan(0); // samples were written (the counting works on this pass)
    }
  });
});
