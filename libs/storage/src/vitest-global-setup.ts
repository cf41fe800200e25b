/**
 * Vitest `globalSetup` shared by every package whose integration tests need PostgreSQL: one server per test run.
 * Reference it from a vitest config as `globalSetup: ['<path to libs/storage>/src/vitest-global-setup.ts']`
 * (or resolve `@promha/storage/vitest-global-setup`). Test files then call `startTestDatabase()`, which finds
 * this server through `PROMHA_TEST_DB_URI`, and `createDatabase()` for a database of their own.
 */
import { startTestDatabase, TEST_DB_URI_ENV } from './testing/provider.js';

export async function setup(): Promise<() => Promise<void>> {
  const db = await startTestDatabase();
  // Workers are started after global setup and inherit the environment, so `startTestDatabase()` in a test file
  // reuses this server instead of starting one per file.
  process.env[TEST_DB_URI_ENV] = db.uri;
  return async () => {
    await db.stop();
  };
}
