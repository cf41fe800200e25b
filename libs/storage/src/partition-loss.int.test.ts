import type { TimeSeries } from '@promha/codec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, StorageError, type Storage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

/**
 * Retention drops a day's partition in one instance while another still remembers having created it. Late data
 * for that day must get its partition again: at most one transient failure in an instance that did not drop it
 * (the resend succeeds), none in the one that did. Never a failure that repeats forever.
 */
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
let db: TestDatabase;
let a: Storage;
let b: Storage;

beforeAll(async () => {
  db = await startTestDatabase();
  const uri = await db.createDatabase();
  a = await openStorage({ uri, retentionDays: 30 });
  await a.migrate();
  b = await openStorage({ uri, retentionDays: 30 });
});
afterAll(async () => {
  await a.close();
  await b.close();
  await db.stop();
});

function part(t: number): { series: TimeSeries[] } {
  return { series: [{ labels: [{ name: '__name__', value: 'late' }], samples: [{ timestamp: t, value: 1 }], histograms: [], exemplars: [] }] };
}

describe('a partition dropped by retention', () => {
  it('is created again for late data, in the instance that dropped it and in the others', async () => {
    expect(await a.write(part(T0))).toMatchObject({ kind: 'stored' });
    expect(await b.write(part(T0 + 1))).toMatchObject({ kind: 'stored' });
    // b's maintenance, 40 days on, drops the day both of them wrote into.
    await b.maintain(T0 + 40 * DAY);
    expect(await b.write(part(T0 + 2))).toMatchObject({ kind: 'stored' });
    await b.maintain(T0 + 40 * DAY);
    // a still remembers the day: its COPY finds no partition once, transiently; the resend creates it.
    const first = await a.write(part(T0 + 3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(first).toBeInstanceOf(StorageError);
    expect((first as StorageError).retryable).toBe(true);
    expect(await a.write(part(T0 + 3))).toMatchObject({ kind: 'stored' });
  });
});
