/**
 * Process-level durability: run the real service, stream writes into it, kill -9 it mid-stream, restart it on
 * the same database, resend what was not answered (as Prometheus would): every sample answered 2xx is stored,
 * and no sample is stored twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, startHarness } from './internal/int-harness.js';
import { series, writeBody, writeContentType } from './internal/testkit.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => ok(port));
    });
  });
}

function http(port: number, method: string, path: string, body?: Buffer): Promise<number> {
  return new Promise((ok) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': writeContentType(1), 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode ?? 0));
      },
    );
    // A refused or reset connection is "no answer": the sender must resend.
    req.on('error', () => ok(0));
    req.end(body);
  });
}

async function startProcess(uri: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=@promha/source', '--import', 'tsx', 'apps/ingest/src/main.ts', `--db.uri=${uri}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`ingest exited: ${stderr}`);
    if ((await http(port, 'GET', '/ready')) === 200) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`ingest did not become ready: ${stderr}`);
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
      if (i === 30) first.kill('SIGKILL');
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
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
      expect(second.exitCode).toBe(0);
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
    const child = await startProcess(uri, port);
    const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const body = (i: number) => writeBody([series('drain', { job: String(i) }, Array.from({ length: 200 }, (_, k) => [base + k, i] as const))]);
    const sends = Array.from({ length: 8 }, (_, i) => http(port, 'POST', '/write', body(i)).then((status) => ({ i, status })));
    // Signal once the first answer is back, so the others are in flight or queued.
    await Promise.race(sends);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
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
