import type { WriteRequest } from '@promha/codec';
import type { Lease, LeaseStore } from '@promha/election';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { resolveConfig, type Config } from './config.js';
import type { Decision, StorePart } from './internal/ports.js';
import { redactUri, startService, type ElectionService, type Libraries, type StorageService } from './service.js';

function config(argv: string[] = []): Config {
  const r = resolveConfig(['--db.uri=postgres://u:secret@db/x', '--ha.lease-refresh=20ms', '--ha.lease-timeout=1s', ...argv], {});
  if (r.kind !== 'run') throw new Error('config');
  return r.config;
}

const noLeases: LeaseStore = {
  loadAll: () => Promise.resolve([]),
  get: () => Promise.resolve(undefined),
  create: () => Promise.reject(new Error('unused')),
  extend: () => Promise.reject(new Error('unused')),
  takeOver: () => Promise.reject(new Error('unused')),
  history: () => Promise.resolve([]),
  pruneHistory: () => Promise.resolve(0),
};

function fakes() {
  const state = { pingFails: false, migrateFailures: 0, writes: [] as StorePart[], closed: false, started: 0 };
  const down = <T>(answer: () => Promise<T>) => (): Promise<T> => (state.pingFails ? Promise.reject(new Error('down')) : answer());
  const storage: StorageService = {
    migrate: () => (state.migrateFailures-- > 0 ? Promise.reject(new Error('connection refused')) : Promise.resolve()),
    leases: noLeases,
    maintain: () => Promise.resolve(),
    ping: () => (state.pingFails ? Promise.reject(new Error('down')) : Promise.resolve()),
    stats: () => ({
      seriesCacheSize: 1,
      seriesCacheHits: 2,
      seriesCacheMisses: 3,
      seriesCacheEvictions: 0,
      labelPairCacheSize: 0,
      labelPairCacheHits: 0,
      labelPairCacheMisses: 0,
      labelPairCacheEvictions: 0,
      poolTotal: 4,
      poolIdle: 5,
      poolWaiting: 0,
      readPoolTotal: 1,
      readPoolIdle: 1,
      readPoolWaiting: 0,
    }),
    close: () => {
      state.closed = true;
      return Promise.resolve();
    },
    write: (part) => {
      state.writes.push(part);
      return Promise.resolve({ kind: 'stored', samples: part.series.reduce((n, s) => n + s.samples.length, 0), histograms: 0, exemplars: 0 });
    },
    upsertMetadata: () => Promise.resolve(),
    // eslint-disable-next-line require-yield
    querySamples: async function* () {
      await Promise.resolve();
    },
    series: () => Promise.resolve([]),
    labelNames: () => Promise.resolve([]),
    labelValues: () => Promise.resolve([]),
  };
  const leases: Lease[] = [];
  const election: ElectionService = {
    start: () => {
      state.started++;
      return Promise.resolve();
    },
    // The database being down fails the lease sync too: with HA on, that is the round trip readiness follows.
    sync: down(() => Promise.resolve()),
    isReady: () => state.started > 0,
    leases: () => leases,
    onFenceFailure: () => undefined,
    onWriteFailed: () => undefined,
    decide: (p): Promise<Decision> =>
      Promise.resolve({ kind: 'store', fence: { cluster: p.cluster, replica: p.replica, epoch: 1, minTime: p.minTime, maxTime: p.maxTime, wallNow: 0 }, from: 0, until: 1e15 }),
  };
  const libs: Libraries = {
    codec: {
      parseWriteContentType: () => 1,
      decodeWriteRequest: (b) => JSON.parse(Buffer.from(b).toString()) as WriteRequest,
      countWritten: (r) => ({ samples: r.series.reduce((n, s) => n + s.samples.length, 0), histograms: 0, exemplars: 0 }),
      decodeReadRequest: () => ({ queries: [] }),
      encodeReadResponse: () => Uint8Array.of(),
    },
    split: (series) => ({ kind: 'ok', nonHa: series, parts: [] }),
    decoderCaches: {
      configure: () => undefined,
      stats: () => ({ size: 0, max: 0, hits: 0, misses: 0, evictions: 0 }),
    },
    openStorage: () => Promise.resolve(storage),
    createElection: () => election,
    startEmbeddedPostgres: () => Promise.reject(new Error('not in this test')),
  };
  return { state, libs };
}

const writeBody = JSON.stringify({ version: 1, metadata: [], series: [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ timestamp: 1, value: 1 }], histograms: [], exemplars: [] }] });

describe('startService', () => {
  it('is not ready until migrations succeeded and leases loaded, retrying start-up', async () => {
    const { state, libs } = fakes();
    state.migrateFailures = 2;
    const svc = await startService(config(), libs, { startupRetryMs: 10 });
    try {
      expect((await svc.app.inject({ url: '/ready' })).statusCode).toBe(503);
      expect((await svc.app.inject({ url: '/healthz' })).statusCode).toBe(200);
      await svc.started();
      expect(state.started).toBe(1);
      expect((await svc.app.inject({ url: '/ready' })).statusCode).toBe(200);
    } finally {
      await svc.close();
    }
    expect(state.closed).toBe(true);
  });

  it('serves /healthz and answers writes 503 while the database cannot even be opened, then recovers', async () => {
    const { state, libs } = fakes();
    let refuse = true;
    const real = libs.openStorage.bind(libs);
    const flaky: Libraries = {
      ...libs,
      openStorage: (o) => (refuse ? Promise.reject(new Error('ECONNREFUSED')) : real(o)),
    };
    const svc = await startService(config(), flaky, { startupRetryMs: 10 });
    try {
      expect((await svc.app.inject({ url: '/healthz' })).statusCode).toBe(200);
      const early = await svc.app.inject({ method: 'POST', url: '/write', payload: writeBody, headers: { 'content-type': 'application/x-protobuf' } });
      expect(early.statusCode).toBe(503);
      expect(svc.ready()).toBe(false);
      refuse = false;
      await svc.started();
      expect(svc.ready()).toBe(true);
      expect(state.writes).toHaveLength(0);
    } finally {
      await svc.close();
    }
  });

  it('turns not ready while the database does not answer, and ready again after', async () => {
    const { state, libs } = fakes();
    const svc = await startService(config(), libs);
    try {
      await svc.started();
      state.pingFails = true;
      await vi.waitFor(() => expect(svc.ready()).toBe(false), { timeout: 5000, interval: 10 });
      state.pingFails = false;
      await vi.waitFor(() => expect(svc.ready()).toBe(true), { timeout: 5000, interval: 10 });
    } finally {
      await svc.close();
    }
  });

  it('stores writes once started and publishes storage stats as metrics', async () => {
    const { state, libs } = fakes();
    const svc = await startService(config(), libs);
    try {
      await svc.started();
      const res = await svc.app.inject({ method: 'POST', url: '/write', payload: writeBody, headers: { 'content-type': 'application/x-protobuf' } });
      expect(res.statusCode).toBe(204);
      expect(state.writes).toHaveLength(1);
      const text = await svc.metrics.registry.metrics();
      expect(text).toContain('promha_db_pool_connections{pool="write",state="idle"} 5');
      expect(text).toContain('promha_db_pool_connections{pool="read",state="total"} 1');
      expect(text).toContain('promha_series_cache_misses_total 3');
    } finally {
      await svc.close();
    }
  });

  it('answers HA writes 503 before leases are loaded', async () => {
    const { state, libs } = fakes();
    state.migrateFailures = 1_000_000;
    const haLibs: Libraries = {
      ...libs,
      split: (series) => ({ kind: 'ok', nonHa: [], parts: [{ cluster: 'a', replica: 'r', minTime: 1, maxTime: 1, series, samples: series.length }] }),
    };
    const svc = await startService(config(), haLibs);
    try {
      const res = await svc.app.inject({ method: 'POST', url: '/write', payload: writeBody, headers: { 'content-type': 'application/x-protobuf' } });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(state.writes).toHaveLength(0);
    } finally {
      await svc.close();
    }
  });

  it('serves HTTPS with the configured certificate and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'promha-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], {
      stdio: 'ignore',
    });
    const { libs } = fakes();
    const svc = await startService(config([`--web.tls-cert-file=${cert}`, `--web.tls-key-file=${key}`]), libs);
    try {
      await svc.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (svc.app.server.address() as AddressInfo).port;
      const status = await new Promise<number>((ok, fail) => {
        get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
          res.resume();
          ok(res.statusCode ?? 0);
        }).on('error', fail);
      });
      expect(status).toBe(200);
    } finally {
      await svc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('redacts passwords for logs', () => {
    expect(redactUri('postgres://u:secret@db:5432/x')).toBe('postgres://u:***@db:5432/x');
  });
});
