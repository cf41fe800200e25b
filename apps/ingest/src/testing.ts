/**
 * `@promha/ingest/testing`: request builders for tests and benchmarks (real remote-write bodies, protobuf +
 * snappy, as Prometheus sends them).
 */
export { series, writeBody, writeContentType } from './testing/testkit.js';
