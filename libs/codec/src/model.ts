/**
 * The normalized in-memory form of a remote-write request. Remote write 1.0 and 2.0 both decode into it and
 * encode from it; nothing downstream (election, storage, ingest) knows which version arrived.
 *
 * Invariants after a successful decode (the decoder validates them and throws {@link CodecError} otherwise):
 * - every series has at least one label, a `__name__` label, label names non-empty, unique, sorted by name
 *   (byte order of the UTF-8 encoding, as Prometheus sorts them), and no NUL byte in names or values;
 * - timestamps are integer milliseconds since the Unix epoch, within Number.MAX_SAFE_INTEGER;
 * - sample values are float64 exactly as sent: a stale marker (NaN with bits 0x7ff0000000000002) keeps its bits
 *   in the Float64Array-backed accessors used by the encoders.
 */

/** A label pair. */
export interface Label {
  readonly name: string;
  readonly value: string;
}

/** A float sample. `timestamp` is milliseconds since the Unix epoch. */
export interface Sample {
  readonly value: number;
  readonly timestamp: number;
}

/** An exemplar attached to a series. */
export interface Exemplar {
  readonly labels: readonly Label[];
  readonly value: number;
  readonly timestamp: number;
}

/** A span of consecutive buckets in a native histogram. */
export interface BucketSpan {
  readonly offset: number;
  readonly length: number;
}

export type HistogramResetHint = 'unknown' | 'yes' | 'no' | 'gauge';

/**
 * A native histogram sample. Integer histograms carry delta-encoded bucket counts (`negativeDeltas`,
 * `positiveDeltas`, `count` and `zeroCount` are integers); float histograms carry absolute float counts
 * (`negativeCounts`, `positiveCounts`). `isFloat` says which.
 */
export interface Histogram {
  readonly isFloat: boolean;
  readonly count: number;
  readonly zeroCount: number;
  readonly sum: number;
  readonly schema: number;
  readonly zeroThreshold: number;
  readonly negativeSpans: readonly BucketSpan[];
  readonly negativeDeltas: readonly number[];
  readonly negativeCounts: readonly number[];
  readonly positiveSpans: readonly BucketSpan[];
  readonly positiveDeltas: readonly number[];
  readonly positiveCounts: readonly number[];
  readonly resetHint: HistogramResetHint;
  readonly timestamp: number;
  /** Custom bucket bounds (schema -53, remote write 2.0 only); empty otherwise. */
  readonly customValues: readonly number[];
}

export type MetricType =
  | 'unknown'
  | 'counter'
  | 'gauge'
  | 'summary'
  | 'histogram'
  | 'gaugehistogram'
  | 'info'
  | 'stateset';

/** Metric family metadata. In 1.0 it travels beside the series; in 2.0 it is attached to each series. */
export interface MetricMetadata {
  readonly metricFamilyName: string;
  readonly type: MetricType;
  readonly help: string;
  readonly unit: string;
}

/** One series of a request with everything sent for it. */
export interface TimeSeries {
  readonly labels: readonly Label[];
  readonly samples: readonly Sample[];
  readonly histograms: readonly Histogram[];
  readonly exemplars: readonly Exemplar[];
  /** 2.0 only: the series' own metadata (type, help, unit); `metricFamilyName` is the series' `__name__`. */
  readonly metadata?: MetricMetadata;
  /** 2.0 only: created/start timestamp in ms, when the sender set it (0 on the wire means unset). */
  readonly createdTimestamp?: number;
}

/** A decoded remote-write request, whatever its wire version. */
export interface WriteRequest {
  readonly version: 1 | 2;
  readonly series: readonly TimeSeries[];
  /** 1.0 only: metadata sent beside the series (metadata-only requests have no series at all). */
  readonly metadata: readonly MetricMetadata[];
}

/** A label matcher of a remote-read query (PromQL semantics: regexes are fully anchored, RE2 syntax). */
export interface LabelMatcher {
  readonly type: 'EQ' | 'NEQ' | 'RE' | 'NRE';
  readonly name: string;
  readonly value: string;
}

/** Hints of a remote-read query: what the PromQL engine will do with the data (a storage may ignore them). */
export interface ReadHints {
  readonly stepMs: number;
  readonly func: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly grouping: readonly string[];
  readonly by: boolean;
  readonly rangeMs: number;
}

/** One remote-read query: series matching every matcher, samples with start <= t <= end (inclusive). */
export interface ReadQuery {
  readonly startTimestampMs: number;
  readonly endTimestampMs: number;
  readonly matchers: readonly LabelMatcher[];
  readonly hints?: ReadHints;
}

/** The response types of remote read; an empty list from the client means SAMPLES. */
export type ReadResponseType = 'SAMPLES' | 'STREAMED_XOR_CHUNKS';

/** A decoded remote-read request. */
export interface ReadRequest {
  readonly queries: readonly ReadQuery[];
  /** In the client's order of preference, as sent (may be empty: then only SAMPLES is accepted). */
  readonly acceptedResponseTypes: readonly ReadResponseType[];
}

/** One series of a remote-read answer. */
export interface ReadSeries {
  readonly labels: readonly Label[];
  readonly samples: readonly Sample[];
  readonly histograms: readonly Histogram[];
}

/** The answer to one remote-read query. */
export interface QueryResult {
  readonly timeseries: readonly ReadSeries[];
}
