import type { LabelMatcher } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realLibraries } from './internal/libraries.js';
import type { StorageService } from './service.js';
import { freshDatabase, startHarness, type Harness } from './testing/int-harness.js';
import { series, writeBody, writeContentType } from './testing/testkit.js';

/**
 * docs/design.md rules 6 and 11 end to end on PostgreSQL: two instances, the leader's requests reach one, the
 * follower's the other. The leader goes silent; the follower takes over at the splice point, and the instance that
 * buffered its requests fills the gap: every timestamp is stored once, the old leader's before the splice, the new
 * leader's from it on.
 */
const TIMEOUT = 1000;
const ARGS = [`--ha.lease-timeout=${String(TIMEOUT)}ms`, '--ha.lease-refresh=200ms'];
const STEP = 100;
const D = Math.floor((Date.now() - 600_000) / 1000) * 1000;

let one: Harness;
let two: Harness;
let reader: StorageService;

beforeAll(async () => {
  const uri = await freshDatabase();
  one = await startHarness(ARGS, uri);
  two = await startHarness(ARGS, uri);
  reader = await realLibraries().openStorage({
    uri,
    maxConnections: 2,
    seriesCacheMax: 1000,
    retentionDays: 90,
    historyRetentionMs: 86_400_000,
    applicationName: 'promha-ingest-test',
  });
});
afterAll(async () => {
  await Promise.all([one.close(), two.close(), reader.close()]);
});

const send = async (h: Harness, cluster: string, replica: string, times: readonly number[]): Promise<number> => {
  // Each replica's value tells whose sample was stored.
  const value = replica === 'a' ? 1 : 2;
  const body = writeBody(['up', 'load'].map((m) => series(m, { cluster, __replica__: replica, job: 'node' }, times.map((t) => [t, value] as const))));
  const r = await h.service.app.inject({
    method: 'POST',
    url: '/write',
    payload: body,
    headers: { 'content-type': writeContentType(1), 'content-encoding': 'snappy' },
  });
  return r.statusCode;
};

/** Stored samples of a cluster: per series, timestamp → value. */
async function stored(cluster: string): Promise<Map<string, Map<number, number>>> {
  const m: LabelMatcher[] = [{ type: 'EQ', name: 'cluster', value: cluster }];
  const out = new Map<string, Map<number, number>>();
  for await (const s of reader.querySamples(m, 0, Number.MAX_SAFE_INTEGER)) {
    const key = s.labels.map((l) => `${l.name}=${l.value}`).join(',');
    const points = out.get(key) ?? new Map<number, number>();
    for (const x of s.samples) {
      expect(points.has(x.timestamp)).toBe(false);
      points.set(x.timestamp, x.value);
    }
    out.set(key, points);
  }
  return out;
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('failover without a gap', () => {
  it('splices after the old leader’s last committed sample and fills the gap from the standby buffer', async () => {
    const c = 'fill';
    const ticks = (from: number, to: number): number[] => Array.from({ length: (to - from) / STEP }, (_, i) => D + from + i * STEP);
    // a leads through instance one; b's copies reach instance two, answered 202 and buffered.
    expect(await send(one, c, 'a', ticks(0, 100))).toBe(204);
    for (const t of ticks(0, 1000)) {
      if (t > D) expect(await send(one, c, 'a', [t])).toBe(204);
      expect(await send(two, c, 'b', [t])).toBe(202);
    }
    // a goes silent after D + 900. b keeps sending; until is D + 900 + timeout, and the wall-time guard needs the
    // timeout of silence too.
    for (const t of ticks(1000, 1900)) expect(await send(two, c, 'b', [t])).toBe(202);
    await new Promise((r) => setTimeout(r, TIMEOUT + 100));
    expect(await send(two, c, 'b', [D + 1900])).toBe(204);
    await waitFor('the fill', async () => (await two.service.metrics.haFilled.get()).values.length > 0);

    const series = await stored(c);
    expect([...series.keys()].sort()).toEqual(['__name__=load,cluster=fill,job=node', '__name__=up,cluster=fill,job=node']);
    for (const points of series.values()) {
      const times = [...points.keys()].sort((x, y) => x - y);
      // No hole: every tick from D to the takeover request is there, once; a's before the splice, b's from it on.
      expect(times).toEqual(ticks(0, 2000));
      for (const t of times) expect([t, points.get(t)]).toEqual([t, t <= D + 900 ? 1 : 2]);
    }
    const [h] = await reader.leases.history({ cluster: c, limit: 1 });
    expect(h).toMatchObject({ reason: 'takeover', oldLeader: 'a', newLeader: 'b', newStart: D + 901, splice: 'committed' });
    // The old lease reached up to a timeout past a's last extension (written once per refresh of data time).
    expect(h?.leaseUntil).toBeGreaterThan(D + 900);
    // Instance two filled b's 9 buffered requests from the splice on (2 series each); the takeover's own request was live.
    expect(Object.values(h?.filled ?? {})).toEqual([2 * 9]);
    // The buffer dropped what it filled. Left: b's requests before the splice, down to a window (timeout + 2
    // refreshes = 1,400 ms) before b's newest data: D+400 … D+900, 6 requests of 2 samples.
    expect((await two.service.metrics.haStandbySamples.get()).values[0]?.value ?? 0).toBe(12);

    // Two requests instance two filled reach instance one again (resent after a lost answer): written live there,
    // with the key the fill gave them, they are stored once, not twice.
    // (Instance one learns of the takeover first, at b's next request there: the lease store refuses its own.)
    expect(await send(one, c, 'b', [D + 2000])).toBe(204);
    for (const t of ticks(1100, 1300)) expect(await send(one, c, 'b', [t])).toBe(204);
    const admin = new pg.Client({ connectionString: one.uri });
    await admin.connect();
    try {
      const r = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM promha.sample_chunk c, unnest(c.ts) t WHERE t = ANY($1::bigint[])',
        [ticks(1100, 1300)],
      );
      expect(r.rows[0]!.n).toBe(2 * 2);
    } finally {
      await admin.end();
    }
  });

  it('the first lease reaches back to the beginning of data time: an older batch of the first leader is stored', async () => {
    const c = 'first';
    expect(await send(one, c, 'a', [D + 5_000])).toBe(204);
    expect(await send(two, c, 'a', [D + 1_000])).toBe(204);
    expect(await send(two, c, 'b', [D + 500])).toBe(202);
    const times = [...(await stored(c)).values()].map((p) => [...p.keys()].sort((x, y) => x - y));
    expect(times).toEqual([
      [D + 1_000, D + 5_000],
      [D + 1_000, D + 5_000],
    ]);
  });
});
