/**
 * Process-level durability: run the real service, stream writes into it, kill -9 it mid-stream, restart it on
 * the same database, resend what was not answered (as Prometheus would): every sample answered 2xx is stored,
 * and no sample is stored twice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, startHarness } from './testing/int-harness.js';
import { freePort, http, startIngestProcess, type IngestProcess } from './testing/process-kit.js';
import { series, writeBody } from './testing/testkit.js';

const started: IngestProcess[] = [];

afterAll(() => {
  for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

async function startProcess(uri: string, port: number): Promise<IngestProcess> {
  const p = await startIngestProcess(port, [`--db.uri=${uri}`, '--log.level=warn', '--workers=1']);
  started.push(p);
  return p;
}

describe('kill -9 mid-stream', () => {
  it('keeps every 2xx-answered sample exactly once across a crash and restart', async () => {
    const uri = await freshDatabase();
    const port = await freePort();
    // Batch i: HA cluster "c" replica r1 and a non-HA series, 50 samples each at distinct timestamps.
    // Recent data time: the restarted process runs retention maintenance, which drops data older than 90 days.
    const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const batch = (i: number): Buffer => {
      const times = Array.from({ length: 50 }, (_, k) => base + i * 50 + k);
      return writeBody([
        series('crash_ha', { cluster: 'c', __replica__: 'r1' }, times.map((t) => [t, i] as const)),
        series('crash_plain', { job: 'p' }, times.map((t) => [t, i] as const)),
      ]);
    };
    const batches = 60;
    const answered = new Set<number>();

    const first = await startProcess(uri, port);
    // The first batch alone: it creates the cluster's lease, whose start is that batch's first sample (a batch
    // with older samples arriving after it would be outside every lease of the cluster, by design).
    expect(await http(port, 'POST', '/write', batch(0))).toBe(204);
    answered.add(0);
    // Then a stream with up to 4 requests in flight, killed mid-way.
    const pending = new Set<Promise<void>>();
    for (let i = 1; i < batches; i++) {
      const p: Promise<void> = http(port, 'POST', '/write', batch(i)).then((status) => {
        pending.delete(p);
        if (status >= 200 && status < 300) answered.add(i);
      });
      pending.add(p);
      if (pending.size >= 4) await Promise.race(pending);
      if (i === 30) first.child.kill('SIGKILL');
    }
    await Promise.all(pending);
    expect(answered.size).toBeGreaterThan(0);
    expect(answered.size).toBeLessThan(batches);

    await startProcess(uri, port).then(async (second) => {
      // Prometheus resends whatever was not answered 2xx.
      for (let i = 0; i < batches; i++) {
        if (answered.has(i)) continue;
        expect(await http(port, 'POST', '/write', batch(i))).toBe(204);
      }
      expect(await second.stop()).toBe(0);
    });

    const h = await startHarness([], uri);
    try {
      for (const metric of ['crash_ha', 'crash_plain']) {
        const stored = await h.stored([{ type: 'EQ', name: '__name__', value: metric }]);
        expect(stored.size).toBe(1);
        const times = [...stored.values()][0]!;
        const expected = Array.from({ length: batches * 50 }, (_, k) => base + k);
        expect(times).toEqual(expected);
      }
    } finally {
      await h.close();
    }
  });

  it('drains in-flight writes on SIGTERM and exits 0', async () => {
    const uri = await freshDatabase();
    const port = await freePort();
    const ingest = await startProcess(uri, port);
    const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const body = (i: number) => writeBody([series('drain', { job: String(i) }, Array.from({ length: 200 }, (_, k) => [base + k, i] as const))]);
    const sends = Array.from({ length: 8 }, (_, i) => http(port, 'POST', '/write', body(i)).then((status) => ({ i, status })));
    // Signal once the first answer is back, so the others are in flight or queued.
    await Promise.race(sends);
    const exited = ingest.stop();
    const results = await Promise.all(sends);
    expect(await exited).toBe(0);
    for (const r of results) expect([0, 204, 503]).toContain(r.status);
    const h = await startHarness([], uri);
    try {
      const stored = await h.stored([{ type: 'EQ', name: '__name__', value: 'drain' }]);
      for (const r of results.filter((x) => x.status === 204)) expect(stored.get(`__name__=drain,job=${r.i}`)?.length).toBe(200);
    } finally {
      await h.close();
    }
  });
});
