export type {
  GatedOperation,
  GuardClock,
  ReadLimits,
  SeriesSamples,
  StatementGate,
  Storage,
  StorageOptions,
  StorageStats,
  WriteOutcome,
  WritePart,
} from './api.js';
export { startEmbeddedPostgres } from './internal/embedded.js';
export type { EmbeddedPostgresOptions, EmbeddedServer } from './internal/embedded.js';
export { STORAGE_ERRORS, StorageError, StorageErrorCodes, toStorageError } from './internal/errors.js';
export type { StorageErrorCode, StorageFault } from './internal/errors.js';
export { analyzeRegex, MAX_REGEX_BYTES } from './internal/matchers.js';
export type { TranslatedRegex } from './internal/re2.js';
export { SCHEMA_VERSION } from './internal/migrations.js';
export { openStorage, resolveStorageOptions } from './internal/storage.js';
export type { ResolvedStorageOptions } from './internal/storage.js';
