import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, SCHEMA_VERSION } from './internal/migrations.js';
import { openStorage, StorageError } from './index.js';
import { startTestDatabase, type TestDatabase } from './testing.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await startTestDatabase();
});
afterAll(async () => {
  await db.stop();
});

describe('migrations', () => {
  it('instances migrating at once apply each version exactly once', async () => {
    const uri = await db.createDatabase();
    // Each listens for 'error', as production pools do (a connection still closing when the server stops).
    const pools = Array.from({ length: 5 }, () => new pg.Pool({ connectionString: uri, max: 1 }).on('error', () => undefined));
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p)));
      expect(applied.flat().sort()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      expect(applied.filter((a) => a.length > 0)).toHaveLength(1);
      const rows = await pools[0]!.query<{ n: number }>('SELECT count(*)::int AS n FROM promha.schema_version');
      expect(rows.rows[0]!.n).toBe(SCHEMA_VERSION);
      expect(await migrate(pools[0]!)).toEqual([]);
      // Migration 6: the series label index gathers new entries in a pending list of at most 256 kB.
      const gin = await pools[0]!.query<{ options: string[] }>(`SELECT reloptions AS options FROM pg_class WHERE relname = 'series_label_ids_gin'`);
      expect(gin.rows[0]!.options.sort()).toEqual(['fastupdate=on', 'gin_pending_list_limit=256']);
      // Migration 7: a series' id array is unique through a hash exclusion constraint, and the btree is gone.
      const keys = await pools[0]!.query<{ def: string }>(
        `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'promha.series'::regclass AND contype IN ('u', 'x')`,
      );
      expect(keys.rows.map((r) => r.def)).toEqual(['EXCLUDE USING hash (label_ids WITH =)']);
      await pools[0]!.query(`INSERT INTO promha.series (label_ids) VALUES ('{1,2,3}')`);
      const again = await pools[0]!.query(`INSERT INTO promha.series (label_ids) VALUES ('{1,2,3}')`).then(
        () => undefined,
        (e: unknown) => (e as { code?: string }).code,
      );
      expect(again).toBe('23P01');
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuses a database migrated by a newer build', async () => {
    const uri = await db.createDatabase();
    const s = await openStorage({ uri });
    await s.migrate();
    await s.close();
    const c = new pg.Client({ connectionString: uri });
    await c.connect();
    await c.query(`INSERT INTO promha.schema_version (version, name) VALUES (${SCHEMA_VERSION + 1}, 'from the future')`);
    await c.end();
    const err = await openStorage({ uri }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_SCHEMA_TOO_NEW');
  });
});
