/**
 * Worker processes (`--workers=2`): a worker killed mid-stream is logged, counted and replaced while the other
 * keeps serving; every sample answered 2xx is stored exactly once; `/metrics` sums every worker; SIGTERM to the
 * primary drains them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { freePort } from '@promha/storage/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, startHarness } from './testing/int-harness.js';
import { ingestCommand, REPO_ROOT } from './testing/process-kit.js';
import { series, writeBody, writeContentType } from './testing/testkit.js';

const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function http(port: number, method: string, path: string, body?: Buffer): Promise<number> {
  return httpText(port, method, path, body).then((r) => r.status);
}

function httpText(port: number, method: string, path: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((ok) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: body === undefined ? {} : { 'content-type': writeContentType(1), 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    // A refused or reset connection is "no answer": the sender must resend. So is no answer within 30 s
    // (Prometheus' remote_timeout): a connection handed to a worker the moment it was killed may never be answered.
    req.on('error', () => ok({ status: 0, text: '' }));
    req.setTimeout(30_000, () => req.destroy());
    req.end(body);
  });
}

/** Starts main.ts (one process unless `workers` says otherwise); `log` collects its stdout and stderr. */
async function startProcess(uri: string, port: number, workers = 1, log: string[] = []): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ingestCommand([`--db.uri=${uri}`, `--web.listen-address=127.0.0.1:${port}`, `--workers=${workers}`, '--log.level=info']),
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`ingest exited: ${stderr}`);
    if ((await http(port, 'GET', '/ready')) === 200) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`ingest did not become ready: ${stderr}`);
}

describe('workers', () => {
  it('with workers: a worker killed mid-stream is logged, counted and replaced; every 2xx sample stored once; /metrics sums the workers', async () => {
    const uri = await freshDatabase();
    const port = await freePort();
    const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const batch = (i: number): Buffer =>
      writeBody([series('workers_ha', { cluster: 'c', __replica__: 'r1' }, Array.from({ length: 50 }, (_, k) => [base + i * 50 + k, i] as const))]);
    const log: string[] = [];
    const primary = await startProcess(uri, port, 2, log);
    const workerPids = (): number[] =>
      [...log.join('').matchAll(/"workerPid":(\d+),"msg":"worker \d+ started/g)].map((m) => Number(m[1]));
    expect(workerPids()).toHaveLength(2);
    const metric = async (line: string): Promise<number> => {
      const { text } = await httpText(port, 'GET', '/metrics');
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found === undefined ? NaN : Number(found.slice(line.length + 1));
    };

    // A new connection per request: the primary hands connections to the workers in turn, so both serve.
    const batches = 60;
    const answered = new Set<number>();
    for (let i = 0; i < 10; i++) {
      expect(await http(port, 'POST', '/write', batch(i))).toBe(204);
      answered.add(i);
    }
    expect(await metric('promha_requests_total{endpoint="/write",code="204"}')).toBe(10);
    expect(await metric('promha_samples_total{outcome="stored"}')).toBe(500);
    expect(await metric('promha_workers')).toBe(2);
    expect(await metric('promha_ready')).toBe(1);

    const pending = new Set<Promise<void>>();
    for (let i = 10; i < batches; i++) {
      const p: Promise<void> = http(port, 'POST', '/write', batch(i)).then((status) => {
        pending.delete(p);
        if (status >= 200 && status < 300) answered.add(i);
      });
      pending.add(p);
      if (pending.size >= 4) await Promise.race(pending);
      if (i === 30) process.kill(workerPids()[1]!, 'SIGKILL');
    }
    await Promise.all(pending);
    // The replacement serves and /ready is 200 again once every worker is ready.
    for (let i = 0; i < 600 && !(workerPids().length === 3 && (await http(port, 'GET', '/ready')) === 200); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(workerPids()).toHaveLength(3);
    expect(log.join('')).toMatch(/worker 2 exited unexpectedly \(SIGKILL\); replacing it/);
    expect(await metric('promha_worker_unexpected_exits_total')).toBe(1);
    expect(await metric('promha_workers')).toBe(2);
    for (let i = 0; i < batches; i++) {
      if (!answered.has(i)) expect(await http(port, 'POST', '/write', batch(i))).toBe(204);
    }

    // SIGTERM to the primary alone drains every worker; all exit, then the primary with 0.
    const exited = new Promise<number | null>((r) => primary.once('exit', (code) => r(code)));
    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of workerPids()) expect(() => process.kill(pid, 0)).toThrow();

    const h = await startHarness([], uri);
    try {
      const stored = await h.stored([{ type: 'EQ', name: '__name__', value: 'workers_ha' }]);
      expect([...stored.values()]).toEqual([Array.from({ length: batches * 50 }, (_, k) => base + k)]);
    } finally {
      await h.close();
    }
  }, 240_000);
});
