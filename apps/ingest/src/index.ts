/**
 * @promha/ingest: the service's building blocks for the process entry point (main.ts), the benchmark and
 * black-box tests. The Fastify app is a plugin (`ingestApp`); `startService` wires it to the libraries.
 */
export { ingestApp, statusOf } from './app.js';
export type { AppDeps, HaApi, HealthSource, QueryApi, RemoteReader, WritePipeline, WriteResult, Written } from './app.js';
export { hashPassword } from './auth.js';
export { ConfigError, flagTable, helpText, parseDuration, resolveConfig } from './config.js';
export type { CliResult, Config, ListenAddress, LogFormat, LogLevel } from './config.js';
export { IngestError, INGEST_ERROR_STATUS } from './errors.js';
export type { IngestErrorCode } from './errors.js';
export { createMetrics } from './metrics.js';
export type { IngestMetrics } from './metrics.js';
export { realLibraries } from './internal/libraries.js';
export { redactUri, startService } from './service.js';
export type { ElectionService, Libraries, RunningService, ServiceOptions, StorageService } from './service.js';
