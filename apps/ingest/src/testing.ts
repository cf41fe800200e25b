/**
 * `@promha/ingest/testing`: request builders for tests and benchmarks (real remote-write bodies, protobuf +
 * snappy, as Prometheus sends them), and the command that runs the service from source.
 */
export { ingestCommand, REPO_ROOT } from './testing/process-kit.js';
export { series, writeBody, writeContentType } from './testing/testkit.js';
