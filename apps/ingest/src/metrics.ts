/**
 * The service's Prometheus metrics: exactly the names of docs/metrics.md (alerts are written against them),
 * plus prom-client's default process metrics. One {@link IngestMetrics} per process (or per test) with its own
 * registry, so tests never share global state.
 *
 * With several worker processes, `/metrics` is the sum over the workers and the primary (prom-client's cluster
 * aggregation), as one process would have counted it: counters, histograms and most gauges add up; each gauge
 * that must not names its `aggregator` here.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type SampleOutcome = 'stored' | 'deduplicated' | 'rejected' | 'failed';
export type LeaseStoreOp = 'load' | 'create' | 'extend' | 'takeover' | 'refresh' | 'history';

/** Every metric of docs/metrics.md, typed, on one registry. */
export interface IngestMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'endpoint' | 'code'>;
  readonly requestDuration: Histogram<'endpoint'>;
  readonly samples: Counter<'outcome'>;
  readonly haDeduplicated: Counter<'cluster'>;
  readonly haNonHa: Counter;
  readonly haLeader: Gauge<'cluster' | 'replica'>;
  readonly haLeaderChanges: Counter<'cluster'>;
  readonly haFenceFailures: Counter<'cluster'>;
  readonly haStoreRoundTrips: Counter<'op'>;
  readonly haUnled: Counter<'cluster'>;
  readonly haStandbyBytes: Gauge;
  readonly haStandbySamples: Gauge;
  readonly haStandbyOverflow: Counter<'cluster'>;
  readonly haFilled: Counter<'cluster'>;
  readonly writeBatchSize: Histogram;
  readonly writeBatchDuration: Histogram;
  readonly writeErrors: Counter<'code'>;
  readonly seriesCacheHits: Counter;
  readonly seriesCacheMisses: Counter;
  readonly seriesCacheSize: Gauge;
  readonly seriesCacheMax: Gauge;
  readonly seriesCacheEvictions: Counter;
  readonly labelSetCacheHits: Counter;
  readonly labelSetCacheMisses: Counter;
  readonly labelSetCacheEvictions: Counter;
  readonly labelSetCacheSize: Gauge;
  readonly labelSetCacheMax: Gauge;
  readonly labelPairCacheHits: Counter;
  readonly labelPairCacheMisses: Counter;
  readonly labelPairCacheEvictions: Counter;
  readonly labelPairCacheSize: Gauge;
  readonly labelPairCacheMax: Gauge;
  readonly inFlightSamples: Gauge;
  readonly dbPoolConnections: Gauge<'pool' | 'state'>;
  readonly dbUp: Gauge;
  readonly clockOffset: Gauge;
  readonly ready: Gauge;
}

/**
 * `ready`, when given, is what `/ready` answers: `promha_ready` reads it at every collection, so a scrape sees the
 * answer of that moment (in a worker, its own readiness and every other worker's), not the last probe's.
 */
export function createMetrics(
  options: {
    readonly defaultMetrics?: boolean;
    readonly ready?: () => boolean;
    readonly clockOffsetMs?: () => number;
    /** What the standby buffer holds, read at every scrape. */
    readonly standby?: () => { readonly bytes: number; readonly samples: number };
  } = {},
): IngestMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const readyNow = options.ready;
  const clockOffsetMs = options.clockOffsetMs;
  const standby = options.standby;
  return {
    registry,
    requests: new Counter({
      name: 'promha_requests_total',
      help: 'HTTP requests answered, by route and status code.',
      labelNames: ['endpoint', 'code'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'promha_request_duration_seconds',
      help: 'Request latency.',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    samples: new Counter({
      name: 'promha_samples_total',
      help: 'Samples (floats and histograms) by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    haDeduplicated: new Counter({
      name: 'promha_ha_deduplicated_samples_total',
      help: "Samples dropped because their replica is not the cluster's leader.",
      labelNames: ['cluster'],
      registers,
    }),
    haNonHa: new Counter({
      name: 'promha_ha_non_ha_samples_total',
      help: 'Samples without HA labels, stored as sent.',
      registers,
    }),
    haLeader: new Gauge({
      name: 'promha_ha_leader',
      help: '1 for the current leader of a cluster (as this instance knows it).',
      labelNames: ['cluster', 'replica'],
      // Every worker knows the leader: 1, not the number of workers.
      aggregator: 'max',
      registers,
    }),
    haLeaderChanges: new Counter({
      name: 'promha_ha_leader_changes_total',
      help: 'Leader changes this instance performed or observed.',
      labelNames: ['cluster'],
      registers,
    }),
    haFenceFailures: new Counter({
      name: 'promha_ha_fence_failures_total',
      help: 'Fenced writes rolled back because the lease moved on.',
      labelNames: ['cluster'],
      registers,
    }),
    haStoreRoundTrips: new Counter({
      name: 'promha_ha_store_round_trips_total',
      help: 'Lease store calls.',
      labelNames: ['op'],
      registers,
    }),
    haUnled: new Counter({
      name: 'promha_ha_unled_samples_total',
      help: 'Samples of a cluster for which no replica could be made leader (answered 503).',
      labelNames: ['cluster'],
      registers,
    }),
    haStandbyBytes: new Gauge({
      name: 'promha_ha_standby_buffer_bytes',
      help: 'Bytes held by the standby buffer (non-leader requests kept to fill a takeover).',
      registers,
      ...(standby === undefined
        ? {}
        : {
            collect(this: Gauge) {
              this.set(standby().bytes);
            },
          }),
    }),
    haStandbySamples: new Gauge({
      name: 'promha_ha_standby_buffer_samples',
      help: 'Samples held by the standby buffer.',
      registers,
      ...(standby === undefined
        ? {}
        : {
            collect(this: Gauge) {
              this.set(standby().samples);
            },
          }),
    }),
    haStandbyOverflow: new Counter({
      name: 'promha_ha_standby_overflow_samples_total',
      help: 'Non-leader samples the standby buffer dropped at its byte bound (--ha.standby-buffer-bytes): a takeover may not fill them.',
      labelNames: ['cluster'],
      registers,
    }),
    haFilled: new Counter({
      name: 'promha_ha_filled_samples_total',
      help: "Samples this instance wrote from its standby buffer into a new leader's lease after a takeover.",
      labelNames: ['cluster'],
      registers,
    }),
    writeBatchSize: new Histogram({
      name: 'promha_write_batch_size',
      help: 'Samples per committed database batch.',
      buckets: [10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000],
      registers,
    }),
    writeBatchDuration: new Histogram({
      name: 'promha_write_batch_duration_seconds',
      help: 'Database write latency per batch.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    writeErrors: new Counter({
      name: 'promha_write_errors_total',
      help: 'Database write errors by storage error code.',
      labelNames: ['code'],
      registers,
    }),
    seriesCacheHits: new Counter({ name: 'promha_series_cache_hits_total', help: 'Series cache hits.', registers }),
    seriesCacheMisses: new Counter({
      name: 'promha_series_cache_misses_total',
      help: 'Series cache misses.',
      registers,
    }),
    seriesCacheSize: new Gauge({ name: 'promha_series_cache_size', help: 'Series in the cache.', registers }),
    seriesCacheMax: new Gauge({
      name: 'promha_series_cache_max',
      help: 'Bound of the series cache (--cache.series-max, or what --cache.memory-target gives this instance).',
      registers,
    }),
    seriesCacheEvictions: new Counter({
      name: 'promha_series_cache_evictions_total',
      help: 'Series dropped from the series cache to stay within --cache.series-max.',
      registers,
    }),
    labelSetCacheHits: new Counter({
      name: 'promha_label_set_cache_hits_total',
      help: 'Remote-write 1.0 series whose labels the decoder took from its label-set cache.',
      registers,
    }),
    labelSetCacheMisses: new Counter({
      name: 'promha_label_set_cache_misses_total',
      help: 'Remote-write 1.0 series whose labels the decoder decoded in full.',
      registers,
    }),
    labelSetCacheEvictions: new Counter({
      name: 'promha_label_set_cache_evictions_total',
      help: 'Label sets dropped from the decoder cache to stay within --cache.label-sets-max.',
      registers,
    }),
    labelSetCacheSize: new Gauge({ name: 'promha_label_set_cache_size', help: 'Label sets in the decoder cache.', registers }),
    labelSetCacheMax: new Gauge({ name: 'promha_label_set_cache_max', help: 'Bound of the decoder label-set cache.', registers }),
    labelPairCacheHits: new Counter({
      name: 'promha_label_pair_cache_hits_total',
      help: 'Lookups of a label pair of a new series that the writer label-pair cache answered.',
      registers,
    }),
    labelPairCacheMisses: new Counter({
      name: 'promha_label_pair_cache_misses_total',
      help: 'Lookups of a label pair of a new series that the writer label-pair cache missed (each missed pair is asked of the database once per flush).',
      registers,
    }),
    labelPairCacheEvictions: new Counter({
      name: 'promha_label_pair_cache_evictions_total',
      help: 'Label pairs dropped when the writer label-pair cache started over at its bound.',
      registers,
    }),
    labelPairCacheSize: new Gauge({ name: 'promha_label_pair_cache_size', help: 'Label pairs in the writer label-pair cache.', registers }),
    labelPairCacheMax: new Gauge({ name: 'promha_label_pair_cache_max', help: 'Bound of the writer label-pair cache (--cache.label-pairs-max).', registers }),
    inFlightSamples: new Gauge({
      name: 'promha_in_flight_samples',
      help: 'Samples decoded and not yet answered.',
      registers,
    }),
    dbPoolConnections: new Gauge({
      name: 'promha_db_pool_connections',
      help: 'Database pool state: the write pool (flushes, interning, maintenance) and the read pool.',
      labelNames: ['pool', 'state'],
      registers,
    }),
    // 1 only while every worker says so.
    dbUp: new Gauge({ name: 'promha_db_up', help: '1 while the database answers the readiness probe.', aggregator: 'min', registers }),
    clockOffset: new Gauge({
      name: 'promha_ha_clock_offset_seconds',
      help: "The database server's clock minus this instance's, measured at every lease sync. Leadership reads the database's clock, so an offset changes no decision; a large one points at this host's time sync.",
      aggregator: 'average',
      registers,
      ...(clockOffsetMs === undefined
        ? {}
        : {
            collect(this: Gauge) {
              this.set(clockOffsetMs() / 1000);
            },
          }),
    }),
    ready: new Gauge({
      name: 'promha_ready',
      help: '1 while /ready answers 200.',
      aggregator: 'min',
      registers,
      ...(readyNow === undefined
        ? {}
        : {
            collect(this: Gauge) {
              this.set(readyNow() ? 1 : 0);
            },
          }),
    }),
  };
}

/** The primary process's own metrics when it supervises workers (docs/metrics.md, "Workers"). */
export interface SupervisorMetrics {
  readonly registry: Registry;
  readonly workers: Gauge;
  readonly unexpectedExits: Counter;
}

export function createSupervisorMetrics(options: { readonly defaultMetrics?: boolean } = {}): SupervisorMetrics {
  const registry = new Registry();
  // The primary's own CPU and memory belong to the service's totals (it accepts and hands out the connections).
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    workers: new Gauge({ name: 'promha_workers', help: 'Worker processes running.', registers }),
    unexpectedExits: new Counter({
      name: 'promha_worker_unexpected_exits_total',
      help: 'Worker processes that exited when nothing asked them to (each is replaced; each is a bug).',
      registers,
    }),
  };
}

/** Names of every promha_* metric this module registers (for the contract test against docs/metrics.md). */
export function promhaMetricNames(metrics: { readonly registry: Registry }): readonly string[] {
  return metrics.registry
    .getMetricsAsArray()
    .map((m) => m.name)
    .filter((n) => n.startsWith('promha_'))
    .sort();
}
