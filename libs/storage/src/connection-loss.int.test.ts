import type { EventEmitter } from 'node:events';
import type { TimeSeries } from '@promha/codec';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StatementGate } from './api.js';
import { withClient } from './internal/connection.js';
import { gatedClient } from './internal/gate.js';
import { StorageError } from './internal/errors.js';
import { migrate } from './internal/migrations.js';
import { promhaTypes } from './internal/pg-types.js';
import { SeriesCache } from './internal/series-cache.js';
import { SampleWriter } from './internal/writer.js';
import { openStorage } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

/**
 * A connection that dies while checked out (a terminated backend, a restart) must not end the process: pg emits
 * `'error'` on the client, and pg-pool listens only on idle ones. Vitest fails the run on the uncaught error, so
 * each test here fails without the listener.
 */
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
let db: TestDatabase;
let uri: string;
let admin: pg.Pool;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  db = await startTestDatabase();
  uri = await db.createDatabase();
  admin = new pg.Pool({ connectionString: uri, max: 2 });
  // As every production pool does: pool.end() resolves before its connections have closed, and the server
  // stopping in afterAll then reports 57P01 through the pool's 'error', which unheard ends the test process.
  admin.on('error', () => undefined);
  const p = pool('migrate');
  await migrate(p);
});
afterAll(async () => {
  for (const p of pools) await p.end();
  await admin.end();
  await db.stop();
});

function pool(applicationName: string): pg.Pool {
  const p = new pg.Pool({ connectionString: uri, max: 4, application_name: applicationName, options: '-c search_path=promha', types: promhaTypes });
  p.on('error', () => undefined);
  pools.push(p);
  return p;
}

/** Terminates every backend of `applicationName` and waits until they are gone and their sockets had time to hear it. */
async function terminate(applicationName: string): Promise<number> {
  // Two statements: in one WHERE clause PostgreSQL may call pg_terminate_backend before checking the name.
  const r = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [
    applicationName,
  ]);
  await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [r.rows.map((x) => x.pid)]);
  for (let i = 0; i < 100; i++) {
    const left = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1::int[])', [r.rows.map((x) => x.pid)]);
    if (left.rowCount === 0) break;
    await new Promise((ok) => setTimeout(ok, 20));
  }
  await new Promise((ok) => setTimeout(ok, 50));
  return r.rowCount ?? 0;
}

function series(name: string, t: number): TimeSeries[] {
  return [{ labels: [{ name: '__name__', value: name }], samples: [{ timestamp: t, value: 1 }], histograms: [], exemplars: [] }];
}

async function count(name: string): Promise<number> {
  const r = await admin.query<{ n: string }>(
    `SELECT coalesce(sum(cardinality(c.ts)), 0) AS n FROM promha.sample_chunk c JOIN promha.series s ON s.id = ANY(c.series)
     JOIN promha.label l ON l.id = ANY(s.label_ids) WHERE l.name = '__name__' AND l.value = $1`,
    [name],
  );
  return Number(r.rows[0]?.n ?? 0);
}

describe('a connection dying while checked out', () => {
  it('fails the flush it carried as transient, stores nothing of it, and the next flush succeeds', async () => {
    let kill = true;
    const w = new SampleWriter(pool('victim-writer'), new SeriesCache(100), {
      maxBatchSamples: 10_000,
      maxConcurrentFlushes: 1,
      databaseClock: 'server',
      afterFence: async () => {
        if (!kill) return;
        kill = false;
        expect(await terminate('victim-writer')).toBeGreaterThan(0);
      },
    });
    const err = await w.write({ series: series('loss_flush', T0), idempotencyKey: 'k-loss-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retryable).toBe(true);
    // The commit went out in the round trip that failed (pipelined.ts): whether it ran, nobody can tell.
    expect((err as StorageError).code).toBe('STORAGE_OUTCOME_UNKNOWN');
    expect(await count('loss_flush')).toBe(0);
    // The resend goes through on a fresh connection and is stored once.
    expect(await w.write({ series: series('loss_flush', T0), idempotencyKey: 'k-loss-1' })).toMatchObject({ kind: 'stored', samples: 1 });
    expect(await count('loss_flush')).toBe(1);
  });

  it('is released as broken: the pool drops it and hands out a live one', async () => {
    const p = pool('victim-checkout');
    const removed: pg.Client[] = [];
    p.on('remove', (c) => removed.push(c));
    const err = await withClient(p, async (client) => {
      await client.query('SELECT 1');
      await terminate('victim-checkout');
      return client.query('SELECT 2');
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'StorageError', code: 'STORAGE_UNAVAILABLE' });
    expect(removed).toHaveLength(1);
    expect((await withClient(p, (c) => c.query<{ x: number }>('SELECT 3 AS x'))).rows[0]?.x).toBe(3);
  });

  it('dies between statements of a checkout that then succeeds: still discarded, never reused', async () => {
    const p = pool('victim-idle');
    const removed: pg.Client[] = [];
    p.on('remove', (c) => removed.push(c));
    await withClient(p, async (client) => {
      await client.query('SELECT 1');
      await terminate('victim-idle');
    });
    expect(removed).toHaveLength(1);
    expect(p.totalCount).toBe(0);
  });

  it('in compaction, migrations and the lease store, leaves the storage usable', async () => {
    const storage = await openStorage({ uri, applicationName: 'victim-storage' });
    try {
      await storage.write({ series: series('loss_storage', T0) });
      await terminate('victim-storage');
      await storage.maintain(T0 + 86_400_000);
      await terminate('victim-storage');
      await storage.migrate();
      await terminate('victim-storage');
      await storage.leases.loadAll();
      const samples = [];
      for await (const s of storage.querySamples([{ type: 'EQ', name: '__name__', value: 'loss_storage' }], 0, T0 + 1)) samples.push(...s.samples);
      expect(samples).toEqual([{ timestamp: T0, value: 1 }]);
    } finally {
      await storage.close();
    }
  });
});

describe('a gated connection dying while the gate holds its finished connect', () => {
  it("fails the connect instead of emitting an 'error' nobody listens for (pg-pool listens once connected)", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let connection: EventEmitter | undefined;
    const gate: StatementGate = {
      run: async (operation, start) => {
        const answer = await start();
        if (operation.kind === 'connect') {
          connection = operation.connection;
          await held;
        }
        return answer;
      },
    };
    const p = new pg.Pool({ connectionString: uri, max: 1, application_name: 'victim-gated', Client: gatedClient(gate, undefined) });
    p.on('error', () => undefined);
    pools.push(p);
    const connecting = p.connect();
    connecting.catch(() => undefined);
    await vi.waitFor(() => expect(connection).toBeDefined());
    const ended = new Promise((r) => connection!.once('end', r));
    expect(await terminate('victim-gated')).toBe(1);
    await ended;
    release();
    await expect(connecting).rejects.toThrow(/terminat/);
    expect(p.totalCount).toBe(0);
  });
});
