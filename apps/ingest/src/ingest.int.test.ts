import { encodeReadRequest, snappyCompress, snappyUncompress, type LabelMatcher } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './testing/int-harness.js';
import { series, writeBody, writeContentType } from './testing/testkit.js';

const name = (n: string): LabelMatcher[] => [{ type: 'EQ', name: '__name__', value: n }];

let h: Harness;
beforeAll(async () => {
  h = await startHarness(['--web.max-body-bytes=64KiB', '--web.max-decoded-bytes=1MiB']);
});
afterAll(async () => {
  await h.close();
});

const write = (body: Buffer, version: 1 | 2 = 1, headers: Record<string, string> = {}) =>
  h.service.app.inject({
    method: 'POST',
    url: version === 2 ? '/api/v1/write' : '/write',
    payload: body,
    headers: { 'content-type': writeContentType(version), 'content-encoding': 'snappy', ...headers },
  });

const ha = (metric: string, cluster: string, replica: string, times: number[]) =>
  series(metric, { cluster, __replica__: replica, job: 'node' }, times.map((t) => [t, t / 1000] as const));

describe('HA writes', () => {
  it('stores the first replica (204), deduplicates the other (202), stores once without the replica label', async () => {
    expect((await write(writeBody([ha('m1', 'a', 'r1', [1000, 2000])]))).statusCode).toBe(204);
    const dup = await write(writeBody([ha('m1', 'a', 'r2', [1000, 2000, 3000])], 2), 2);
    expect(dup.statusCode).toBe(202);
    expect(dup.headers['x-prometheus-remote-write-samples-written']).toBe('3');
    expect(dup.headers['x-prometheus-remote-write-histograms-written']).toBe('0');
    const stored = await h.stored(name('m1'));
    expect([...stored.entries()]).toEqual([['__name__=m1,cluster=a,job=node', [1000, 2000]]]);
  });

  it('answers 2.0 stores with the written headers', async () => {
    const res = await write(writeBody([ha('m2', 'a', 'r1', [3000, 4000])], 2), 2);
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-prometheus-remote-write-samples-written']).toBe('2');
  });

  it('splits a mixed-cluster request and decides every cluster on its own', async () => {
    const mixed = [ha('m3', 'a', 'r1', [5000]), ha('m3', 'b', 'r2', [5000]), series('m3', { job: 'plain' }, [[5000, 1]])];
    expect((await write(writeBody(mixed))).statusCode).toBe(204);
    // Now a is led by r1 and b by r2: the swapped pair is entirely non-leader data.
    expect((await write(writeBody([ha('m3', 'a', 'r2', [5000]), ha('m3', 'b', 'r1', [5000])]))).statusCode).toBe(202);
    const stored = await h.stored(name('m3'));
    expect([...stored.keys()].sort()).toEqual(['__name__=m3,cluster=a,job=node', '__name__=m3,cluster=b,job=node', '__name__=m3,job=plain']);
    for (const times of stored.values()) expect(times).toEqual([5000]);
  });

  it('stores an identical resend once', async () => {
    const body = writeBody([ha('m4', 'a', 'r1', [6000, 7000])]);
    expect((await write(body)).statusCode).toBe(204);
    expect((await write(body)).statusCode).toBe(204);
    expect((await h.stored(name('m4'))).get('__name__=m4,cluster=a,job=node')).toEqual([6000, 7000]);
  });

  it('answers 400 naming the series for a replica label without cluster label, storing none of the request', async () => {
    const bad = [series('m5', { job: 'ok' }, [[8000, 1]]), series('m5', { __replica__: 'r1' }, [[8000, 1]])];
    const res = await write(writeBody(bad));
    expect(res.statusCode).toBe(400);
    expect(res.body).toBe('series 1: replica label "__replica__" without cluster label "cluster"\n');
    expect((await h.stored(name('m5'))).size).toBe(0);
  });

  it('upserts metadata-only requests', async () => {
    const res = await write(writeBody([], 1, [{ metricFamilyName: 'm1', type: 'gauge', help: 'a gauge', unit: '' }]));
    expect(res.statusCode).toBe(204);
  });
});

describe('hostile bodies', () => {
  const valid = writeBody([ha('m6', 'a', 'r1', [9000])]);
  const cases: [string, Buffer, number][] = [
    ['truncated snappy', valid.subarray(0, valid.length - 3), 400],
    ['a snappy header claiming a huge length', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), 413],
    ['protobuf garbage', snappyOf(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])), 400],
    ['an oversized body', Buffer.alloc(65 * 1024, 1), 413],
  ];
  it.each(cases)('answers %s with a clear 4xx, stores nothing, keeps serving', async (_what, body, status) => {
    const res = await write(body);
    expect(res.statusCode).toBe(status);
    expect(res.body.length).toBeGreaterThan(0);
    expect((await h.stored(name('m6'))).size).toBe(0);
    expect((await h.service.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers 415 for an unsupported content type', async () => {
    const res = await write(valid, 1, { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(415);
    expect(res.body).toMatch(/Content-Type/);
  });
});

function snappyOf(data: Buffer): Buffer {
  // A valid snappy block: varint length, then one literal element (tag = (len-1) << 2 for len <= 60).
  return Buffer.concat([Buffer.from([data.length, (data.length - 1) << 2]), data]);
}

describe('read endpoints', () => {
  it('lists series, label names and label values', async () => {
    const series = await h.service.app.inject({ url: '/api/v1/series?match[]=m1{cluster="a"}' });
    expect(series.statusCode).toBe(200);
    expect(series.json()).toEqual({ status: 'success', data: [{ __name__: 'm1', cluster: 'a', job: 'node' }] });
    const labels = await h.service.app.inject({ url: '/api/v1/labels?match[]=m3' });
    expect(labels.json<{ data: string[] }>().data).toEqual(['__name__', 'cluster', 'job']);
    const values = await h.service.app.inject({ url: '/api/v1/label/job/values?match[]={__name__=~"m3|m1"}' });
    expect(values.json<{ data: string[] }>().data).toEqual(['node', 'plain']);
  });

  it('answers remote read with a snappy protobuf body', async () => {
    const req = snappyCompress(
      encodeReadRequest({ queries: [{ startTimestampMs: 0, endTimestampMs: 10_000, matchers: name('m1') }], acceptedResponseTypes: ['SAMPLES'] }),
    );
    const res = await h.service.app.inject({ method: 'POST', url: '/api/v1/read', payload: Buffer.from(req), headers: { 'content-type': 'application/x-protobuf' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('snappy');
    const bytes = snappyUncompress(res.rawPayload, 1 << 20);
    expect(Buffer.from(bytes).includes(Buffer.from('cluster'))).toBe(true);
  });

  it('answers a malformed remote-read request 400', async () => {
    const res = await h.service.app.inject({ method: 'POST', url: '/read', payload: Buffer.from([1, 2, 3]), headers: { 'content-type': 'application/x-protobuf' } });
    expect(res.statusCode).toBe(400);
  });

  it('shows lease state and history', async () => {
    const clusters = (await h.service.app.inject({ url: '/api/v1/ha/clusters' })).json<{ data: { cluster: string; leader: string }[] }>();
    expect(clusters.data.map((c) => [c.cluster, c.leader])).toEqual([
      ['a', 'r1'],
      ['b', 'r2'],
    ]);
    const history = (await h.service.app.inject({ url: '/api/v1/ha/history?cluster=a' })).json<{ data: { newLeader: string }[] }>();
    expect(history.data[0]?.newLeader).toBe('r1');
  });

  it('exports the contract metrics', async () => {
    const text = (await h.service.app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/promha_samples_total\{outcome="stored"\} [1-9]/);
    expect(text).toMatch(/promha_ha_deduplicated_samples_total\{cluster="a"\} [1-9]/);
    expect(text).toContain('promha_requests_total{endpoint="/write",code="204"}');
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('is ready', async () => {
    expect((await h.service.app.inject({ url: '/ready' })).statusCode).toBe(200);
  });
});

describe('backpressure', () => {
  it('answers 503 + Retry-After while the in-flight bound is reached, and stores the requests it accepted', async () => {
    const own = await startHarness(['--ingest.max-in-flight-samples=1']);
    try {
      const bodies = Array.from({ length: 8 }, (_, i) => writeBody([series('bp', { job: String(i) }, [[1000, i]])]));
      const answers = await Promise.all(
        bodies.map((payload) =>
          own.service.app.inject({ method: 'POST', url: '/write', payload, headers: { 'content-type': writeContentType(1) } }),
        ),
      );
      const codes = answers.map((a) => a.statusCode);
      expect(codes).toContain(204);
      expect(codes).toContain(503);
      expect(codes.every((c) => c === 204 || c === 503)).toBe(true);
      expect(answers.filter((a) => a.statusCode === 503).every((a) => a.headers['retry-after'] !== undefined)).toBe(true);
      const stored = await own.stored([{ type: 'EQ', name: '__name__', value: 'bp' }]);
      expect(stored.size).toBe(codes.filter((c) => c === 204).length);
    } finally {
      await own.close();
    }
  });
});

describe('database trouble', () => {
  it('answers 503 with Retry-After, never 4xx, while the database refuses connections', async () => {
    const own = await startHarness();
    const dbName = new URL(own.uri).pathname.slice(1);
    const admin = new pg.Client({ connectionString: own.uri.replace(`/${dbName}`, '/postgres') });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [dbName]);
      const res = await own.service.app.inject({
        method: 'POST',
        url: '/write',
        payload: writeBody([ha('m7', 'z', 'r1', [1000])]),
        headers: { 'content-type': writeContentType(1) },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      const plain = await own.service.app.inject({
        method: 'POST',
        url: '/write',
        payload: writeBody([series('m7', { job: 'x' }, [[1000, 1]])]),
        headers: { 'content-type': writeContentType(1) },
      });
      expect(plain.statusCode).toBe(503);
    } finally {
      await admin.query(`ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
      await admin.end();
      await own.close();
    }
  });
});
