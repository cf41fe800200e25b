import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from './auth.js';
import { startHarness } from './testing/int-harness.js';
import { series, writeBody, writeContentType } from './testing/testkit.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'promha-ingest-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ha = (metric: string, replica: string, t: number) => series(metric, { cluster: 'a', __replica__: replica }, [[t, 1]]);

describe('HA off', () => {
  it('stores every replica as sent, replica label kept, and answers 204 to each', async () => {
    const h = await startHarness(['--metrics.high-availability=false']);
    try {
      for (const replica of ['r1', 'r2']) {
        const res = await h.service.app.inject({
          method: 'POST',
          url: '/write',
          payload: writeBody([ha('off', replica, 1000)]),
          headers: { 'content-type': writeContentType(1) },
        });
        expect(res.statusCode).toBe(204);
      }
      const stored = await h.stored([{ type: 'EQ', name: '__name__', value: 'off' }]);
      expect([...stored.keys()].sort()).toEqual(['__name__=off,__replica__=r1,cluster=a', '__name__=off,__replica__=r2,cluster=a']);
      expect((await h.service.app.inject({ url: '/api/v1/ha/clusters' })).json()).toEqual({ status: 'success', data: [] });
    } finally {
      await h.close();
    }
  });
});

describe('auth on', () => {
  it('requires the bearer token or a basic user on every endpoint but the probes', async () => {
    const tokenFile = join(dir, 'token');
    const usersFile = join(dir, 'users');
    await writeFile(tokenFile, 'tok-123\n');
    await writeFile(usersFile, `# promha users\nprom:${await hashPassword('pw', { n: 1024 })}\n`);
    const h = await startHarness([`--web.auth.bearer-token-file=${tokenFile}`, `--web.auth.basic-users-file=${usersFile}`]);
    const body = writeBody([ha('auth', 'r1', 1000)]);
    const send = (authorization?: string) =>
      h.service.app.inject({
        method: 'POST',
        url: '/api/v1/write',
        payload: body,
        headers: { 'content-type': writeContentType(1), ...(authorization === undefined ? {} : { authorization }) },
      });
    try {
      expect((await send()).statusCode).toBe(401);
      expect((await send('Bearer wrong')).statusCode).toBe(401);
      expect((await send(`Basic ${Buffer.from('prom:nope').toString('base64')}`)).statusCode).toBe(401);
      expect((await h.stored([{ type: 'EQ', name: '__name__', value: 'auth' }])).size).toBe(0);
      expect((await send('Bearer tok-123')).statusCode).toBe(204);
      expect((await send(`Basic ${Buffer.from('prom:pw').toString('base64')}`)).statusCode).toBe(204);
      for (const url of ['/api/v1/labels', '/api/v1/ha/clusters', '/metrics']) {
        expect((await h.service.app.inject({ url })).statusCode).toBe(401);
        expect((await h.service.app.inject({ url, headers: { authorization: 'Bearer tok-123' } })).statusCode).toBe(200);
      }
      expect((await h.service.app.inject({ url: '/ready' })).statusCode).toBe(200);
      expect((await h.service.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await h.close();
    }
  });
});
