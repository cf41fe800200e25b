import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { ingestApp, type AppDeps, type WritePipeline, type WriteResult } from './app.js';
import { createAuthenticator, hashPassword, parseUsersFile } from './auth.js';
import { StorageError } from '@promha/storage';
import { IngestError } from './errors.js';
import { createMetrics } from './metrics.js';

class CodecLikeError extends Error {
  override readonly name = 'CodecError';
  constructor(
    message: string,
    readonly status: 400 | 413 | 415,
  ) {
    super(message);
  }
}
/** Has the name of a storage error but is not one: the status must not be guessed from names. */
class StorageLikeError extends Error {
  override readonly name = 'StorageError';
}

function fakePipeline(behaviour: (body: Buffer, ct: string | undefined) => WriteResult | Error): WritePipeline & { overload: boolean; calls: number } {
  return {
    overload: false,
    calls: 0,
    overloaded() {
      return this.overload;
    },
    write(body, ct) {
      this.calls++;
      const r = behaviour(body, ct);
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
  };
}

const stored: WriteResult = { kind: 'stored', version: 1, written: { samples: 3, histograms: 0, exemplars: 0 } };

async function build(overrides: Partial<AppDeps> = {}): Promise<{ app: FastifyInstance; deps: AppDeps }> {
  const deps: AppDeps = {
    pipeline: fakePipeline(() => stored),
    reader: { read: () => Promise.resolve(Uint8Array.of(1, 2, 3)) },
    query: {
      series: (sel) => Promise.resolve(sel.map((m) => m.map((x) => ({ name: x.name, value: x.value })))),
      labelNames: () => Promise.resolve(['__name__', 'job']),
      labelValues: (name) => Promise.resolve([`${name}-a`]),
    },
    ha: {
      clusters: () => Promise.resolve([
        { cluster: 'b', leader: 'r1', epoch: 1, start: 0, until: 30_000, lastLeaderSampleTime: 0, leaderLastSeenWall: 0, updatedWall: 0 },
        { cluster: 'a', leader: 'r2', epoch: 2, start: 0, until: 30_000, lastLeaderSampleTime: 0, leaderLastSeenWall: 0, updatedWall: 0 },
      ]),
      history: (o) => Promise.resolve([
        { cluster: o.cluster ?? 'a', epoch: 1, oldLeader: null, newLeader: 'r1', oldStart: null, oldUntil: null, newStart: 0, wallTime: 1, reason: 'initial' },
      ]),
    },
    health: { ready: () => true },
    metrics: createMetrics({ defaultMetrics: false }),
    maxBodyBytes: 1024,
    ...overrides,
  };
  const app = Fastify({ logger: false });
  await app.register(ingestApp, deps);
  await app.ready();
  return { app, deps };
}

const post = (app: FastifyInstance, url: string, body: Buffer, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/x-protobuf', ...headers } });

describe('write routes', () => {
  it('answers 204 for a stored 1.0 write on both paths, without 2.0 headers', async () => {
    const { app } = await build();
    for (const url of ['/write', '/api/v1/write']) {
      const res = await post(app, url, Buffer.from('x'));
      expect(res.statusCode).toBe(204);
      expect(res.headers['x-prometheus-remote-write-samples-written']).toBeUndefined();
    }
  });

  it('answers 202 for a deduplicated 2.0 write, with the written headers', async () => {
    const { app } = await build({
      pipeline: fakePipeline(() => ({ kind: 'deduplicated', version: 2, written: { samples: 5, histograms: 2, exemplars: 1 } })),
    });
    const res = await post(app, '/api/v1/write', Buffer.from('x'));
    expect(res.statusCode).toBe(202);
    expect(res.headers['x-prometheus-remote-write-samples-written']).toBe('5');
    expect(res.headers['x-prometheus-remote-write-histograms-written']).toBe('2');
    expect(res.headers['x-prometheus-remote-write-exemplars-written']).toBe('1');
  });

  it.each([
    [new CodecLikeError('snappy: truncated input at byte 7', 400), 400],
    [new CodecLikeError('decoded size 1e9 exceeds 64MiB', 413), 413],
    [new CodecLikeError('unsupported content type text/plain', 415), 415],
    [new IngestError('PROMHA_INGEST_REPLICA_WITHOUT_CLUSTER', 'series 3: replica label "__replica__" without cluster label "cluster"'), 400],
  ])('passes the message and status of %s as text, on both write paths', async (err, status) => {
    const { app } = await build({ pipeline: fakePipeline(() => err) });
    for (const url of ['/write', '/api/v1/write']) {
      const res = await post(app, url, Buffer.from('x'));
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.body).toBe(`${err.message}\n`);
      expect(res.headers['retry-after']).toBeUndefined();
    }
  });

  it('answers 503 with Retry-After for database and lease-store errors, never 4xx', async () => {
    for (const err of [new StorageError('STORAGE_UNAVAILABLE', 'connection refused'), new IngestError('PROMHA_INGEST_UNAVAILABLE', 'no leader')]) {
      const { app } = await build({ pipeline: fakePipeline(() => err), retryAfterSeconds: 2 });
      const res = await post(app, '/write', Buffer.from('x'));
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
    }
  });

  it('maps storage errors by their fault, not by their name: 400 sender, 500 bug', async () => {
    const cases: [Error, number][] = [
      [new StorageError('STORAGE_INVALID_INPUT', 'nul byte'), 400],
      [new StorageError('STORAGE_DATABASE', 'bug'), 500],
      [new StorageLikeError('named like one'), 500],
    ];
    for (const [err, status] of cases) {
      const { app } = await build({ pipeline: fakePipeline(() => err) });
      const res = await post(app, '/write', Buffer.from('x'));
      expect(res.statusCode).toBe(status);
      expect(res.headers['retry-after']).toBeUndefined();
    }
  });

  it('sheds load with 503 before calling the pipeline when overloaded', async () => {
    const pipeline = fakePipeline(() => stored);
    pipeline.overload = true;
    const { app } = await build({ pipeline });
    const res = await post(app, '/write', Buffer.alloc(100));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(pipeline.calls).toBe(0);
  });

  it('answers 413 for a body over the limit without calling the pipeline', async () => {
    const pipeline = fakePipeline(() => stored);
    const { app } = await build({ pipeline, maxBodyBytes: 10 });
    const res = await post(app, '/write', Buffer.alloc(11));
    expect(res.statusCode).toBe(413);
    expect(pipeline.calls).toBe(0);
  });

  it('hands bodies of any content type to the pipeline (the codec answers 415)', async () => {
    const seen: (string | undefined)[] = [];
    const { app } = await build({
      pipeline: fakePipeline((_b, ct) => {
        seen.push(ct);
        return new CodecLikeError(`unsupported content type ${ct}`, 415);
      }),
    });
    const res = await post(app, '/write', Buffer.from('x'), { 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(415);
    expect(seen).toEqual(['text/plain']);
  });

  it('hands a body without Content-Type to the pipeline (1.0 is assumed by the codec)', async () => {
    const seen: (string | undefined)[] = [];
    const { app } = await build({
      pipeline: fakePipeline((body, ct) => {
        seen.push(`${ct}:${body.length}`);
        return stored;
      }),
    });
    const res = await app.inject({ method: 'POST', url: '/write', payload: Buffer.from('abc') });
    expect(res.statusCode).toBe(204);
    expect(seen).toEqual(['undefined:3']);
  });

  it('answers 500 for an unexpected error (a bug, not the client)', async () => {
    const { app } = await build({ pipeline: fakePipeline(() => new TypeError('boom')) });
    expect((await post(app, '/write', Buffer.from('x'))).statusCode).toBe(500);
  });

  it('counts requests by endpoint and code', async () => {
    const { app, deps } = await build();
    await post(app, '/write', Buffer.from('x'));
    const text = await deps.metrics.registry.metrics();
    expect(text).toContain('promha_requests_total{endpoint="/write",code="204"} 1');
  });
});

describe('read route', () => {
  it('returns the snappy protobuf body', async () => {
    const { app } = await build();
    const res = await post(app, '/api/v1/read', Buffer.from('x'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(res.headers['content-encoding']).toBe('snappy');
    expect([...res.rawPayload]).toEqual([1, 2, 3]);
  });
});

describe('query API', () => {
  it('parses match[] selectors and answers Prometheus JSON', async () => {
    const { app } = await build();
    const res = await app.inject({ url: '/api/v1/series?match[]=up{job="a"}&match[]={__name__=~"x.*"}' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'success', data: [{ __name__: 'up', job: 'a' }, { __name__: 'x.*' }] });
  });

  it('accepts form-encoded POST', async () => {
    const { app } = await build();
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/series',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'match[]=up',
    });
    expect(res.json()).toEqual({ status: 'success', data: [{ __name__: 'up' }] });
  });

  it('answers 400 JSON for a missing or bad selector and bad times', async () => {
    const { app } = await build();
    for (const url of ['/api/v1/series', '/api/v1/series?match[]={a=', '/api/v1/series?match[]=up&start=yesterday', '/api/v1/labels?match[]={a=""}']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ status: 'error', errorType: 'bad_data' });
    }
  });

  it('validates API parameters by schema: 400 bad_data, never a 5xx', async () => {
    const { app } = await build();
    for (const url of [
      '/api/v1/series?match[]=up&limit=-1',
      '/api/v1/series?match[]=up&start=1&start=2',
      '/api/v1/label/0bad/values',
      '/api/v1/ha/history?limit=ten',
      '/api/v1/ha/history?cluster=a&cluster=b',
      `/api/v1/series?match[]={a=~"${'[a]'.repeat(40_000)}"}`,
      '/api/v1/series?match[]={a=~"\\p{Greek}"}',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url.slice(0, 80)).toBe(400);
      expect(res.json()).toMatchObject({ status: 'error', errorType: 'bad_data' });
    }
  });

  it('serves labels and label values', async () => {
    const { app } = await build();
    expect((await app.inject({ url: '/api/v1/labels' })).json()).toEqual({ status: 'success', data: ['__name__', 'job'] });
    expect((await app.inject({ url: '/api/v1/label/job/values' })).json()).toEqual({ status: 'success', data: ['job-a'] });
  });

  it('answers 503 JSON when the database fails a query', async () => {
    const { app } = await build({
      query: {
        series: () => Promise.reject(new StorageError('STORAGE_TIMEOUT', 'down')),
        labelNames: () => Promise.reject(new StorageError('STORAGE_TIMEOUT', 'down')),
        labelValues: () => Promise.reject(new StorageError('STORAGE_TIMEOUT', 'down')),
      },
    });
    const res = await app.inject({ url: '/api/v1/labels' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'error', errorType: 'unavailable' });
  });

  it('lists HA clusters sorted and history with a cluster filter', async () => {
    const { app } = await build();
    const clusters = (await app.inject({ url: '/api/v1/ha/clusters' })).json<{ data: { cluster: string }[] }>();
    expect(clusters.data.map((c) => c.cluster)).toEqual(['a', 'b']);
    const history = (await app.inject({ url: '/api/v1/ha/history?cluster=zz&limit=5' })).json<{ data: { cluster: string }[] }>();
    expect(history.data[0]?.cluster).toBe('zz');
  });
});

describe('health, readiness, metrics', () => {
  it('answers /healthz always and /ready by the health source', async () => {
    let ready = false;
    const { app, deps } = await build({ health: { ready: () => ready } });
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(503);
    ready = true;
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200);
    expect(await deps.metrics.registry.getSingleMetricAsString('promha_ready')).toContain('promha_ready 1');
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const { app } = await build();
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('# TYPE promha_samples_total counter');
  });

  it('answers 404 for unknown routes', async () => {
    const { app } = await build();
    expect((await app.inject({ url: '/nope' })).statusCode).toBe(404);
  });
});

describe('auth', () => {
  it('requires the bearer token everywhere but the probes', async () => {
    const { app } = await build({ auth: createAuthenticator({ bearerToken: 's3cret' }) });
    expect((await post(app, '/write', Buffer.from('x'))).statusCode).toBe(401);
    expect((await post(app, '/write', Buffer.from('x'), { authorization: 'Bearer nope' })).statusCode).toBe(401);
    expect((await post(app, '/write', Buffer.from('x'), { authorization: 'Bearer s3cret' })).statusCode).toBe(204);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200);
  });

  it('accepts basic users with scrypt hashes', async () => {
    const line = `alice:${await hashPassword('wonderland', { n: 1024 })}`;
    const { app } = await build({ auth: createAuthenticator({ basicUsers: parseUsersFile(`# users\n${line}\n`) }) });
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    expect((await post(app, '/write', Buffer.from('x'), basic('alice', 'wonderland'))).statusCode).toBe(204);
    expect((await post(app, '/write', Buffer.from('x'), basic('alice', 'wonderland'))).statusCode).toBe(204);
    expect((await post(app, '/write', Buffer.from('x'), basic('alice', 'nope'))).statusCode).toBe(401);
    expect((await post(app, '/write', Buffer.from('x'), basic('bob', 'wonderland'))).statusCode).toBe(401);
  });

  it('refuses cheaply: a repeated wrong password costs no scrypt, and a flood of new ones is answered 503 beyond a small queue', async () => {
    const line = `alice:${await hashPassword('wonderland', { n: 1024 })}`;
    const auth = createAuthenticator({ basicUsers: parseUsersFile(`${line}\n`) })!;
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    expect(await auth.check(basic('alice', 'wonderland'))).toBe('ok');
    const flood = await Promise.all(Array.from({ length: 40 }, (_, i) => auth.check(basic('mallory', `guess-${i}`))));
    expect(flood.filter((v) => v === 'busy').length).toBeGreaterThanOrEqual(40 - 1 - 8);
    expect(flood.every((v) => v !== 'ok')).toBe(true);
    // the known-good header never waits behind the flood
    expect(await auth.check(basic('alice', 'wonderland'))).toBe('ok');
    // a failed header is remembered: checking it again while the queue is full is still an immediate 'denied'
    const first = flood.findIndex((v) => v === 'denied');
    expect(first).toBeGreaterThanOrEqual(0);
    const again = await Promise.all([...Array.from({ length: 20 }, (_, i) => auth.check(basic('eve', `x${i}`))), auth.check(basic('mallory', `guess-${first}`))]);
    expect(again.at(-1)).toBe('denied');
  });

  it('refuses malformed users files with the line number', () => {
    expect(() => parseUsersFile('alice:plain\n')).toThrow(/line 1/);
  });
});
