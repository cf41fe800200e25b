/**
 * Narrow local views of the libraries the service wires, written against the cross-package contract. The
 * pipeline and readers depend on these, not on the libraries' full surfaces, so they are unit-tested with fakes
 * and keep compiling while a library's implementation is still landing. service.ts adapts the real libraries.
 */
import type { Label, LabelMatcher, MetricMetadata, Sample, Histogram, TimeSeries, WriteLimits, WritePeek, WriteRequest } from '@promha/codec';
import type { Fence, FenceFailure, Lease, LeaseChange } from '@promha/election';

export interface WrittenCounts {
  readonly samples: number;
  readonly histograms: number;
  readonly exemplars: number;
}

/** The codec's process-wide label-set cache (remote write 1.0): its bound, and its cumulative counters. */
export interface DecoderCachesPort {
  configure(labelSetsMax: number): void;
  stats(): { readonly size: number; readonly max: number; readonly hits: number; readonly misses: number; readonly evictions: number };
}

/** The codec functions the write and read paths use (errors carry `status` 400/413/415). */
export interface CodecPort {
  parseWriteContentType(contentType: string | undefined): 1 | 2;
  decodeWriteRequest(body: Uint8Array, options: { version: 1 | 2; maxDecodedBytes: number; limits: WriteLimits }): WriteRequest;
  countWritten(request: WriteRequest): WrittenCounts;
  /**
   * Reads only each series' HA label values and time range, so a request that is all non-leader data is answered
   * without a full decode. A codec without it (test fakes) makes the pipeline decode every request in full.
   */
  peekWriteRequest?(
    body: Uint8Array,
    options: { version: 1 | 2; maxDecodedBytes: number; limits?: WriteLimits; labels: readonly [string, string] },
  ): WritePeek;
}

export interface ReadQuery {
  readonly startTimestampMs: number;
  readonly endTimestampMs: number;
  readonly matchers: readonly LabelMatcher[];
}

export interface ReadCodecPort {
  decodeReadRequest(body: Uint8Array, options: { maxDecodedBytes: number }): { readonly queries: readonly ReadQuery[] };
  encodeReadResponse(
    results: readonly { readonly timeseries: readonly { readonly labels: readonly Label[]; readonly samples: readonly Sample[]; readonly histograms: readonly Histogram[] }[] }[],
  ): Uint8Array;
}

/**
 * One (cluster, replica) part of a request with its data-time range. Its series still carry the replica label: the
 * pipeline removes it from what a `store` decision keeps (rule 3).
 */
export interface HaPart {
  readonly cluster: string;
  readonly replica: string;
  readonly minTime: number;
  readonly maxTime: number;
  readonly series: readonly TimeSeries[];
  /** Float samples plus histogram samples of `series` (counted by the split, so the pipeline need not walk them). */
  readonly samples: number;
}

export type SplitResult =
  | { readonly kind: 'ok'; readonly nonHa: readonly TimeSeries[]; readonly parts: readonly HaPart[] }
  | { readonly kind: 'invalid'; readonly seriesIndex: number; readonly message: string };

export type SplitFn = (series: readonly TimeSeries[], labels: { clusterLabel: string; replicaLabel: string }) => SplitResult;

export type Decision =
  | { readonly kind: 'store'; readonly fence: Fence; readonly from: number; readonly until: number }
  | { readonly kind: 'dedupe'; readonly leader: string }
  | { readonly kind: 'retry'; readonly reason: string };

/** The election as the pipeline sees it. */
export interface ElectionPort {
  /** `replay`: data from the standby buffer, stored or dropped but never moving a lease (`PartRange.replay`). */
  decide(part: { cluster: string; replica: string; minTime: number; maxTime: number; replay?: boolean }): Promise<Decision>;
  onFenceFailure(failure: FenceFailure): void;
  /** A fenced write failed for another reason (database error): an extension it carried may not have committed. */
  onWriteFailed(fence: Fence): void;
}

export type StoreOutcome =
  | { readonly kind: 'stored'; readonly samples: number; readonly histograms: number; readonly exemplars: number }
  | FenceFailure;

export interface StorePart {
  readonly series: readonly TimeSeries[];
  readonly fence?: Fence;
  readonly idempotencyKey?: string;
}

/** The storage writer as the pipeline sees it (throws on database trouble). */
export interface WriterPort {
  write(part: StorePart): Promise<StoreOutcome>;
  upsertMetadata(metadata: readonly MetricMetadata[]): Promise<void>;
}

export interface SeriesSamples {
  readonly labels: readonly Label[];
  readonly samples: readonly Sample[];
  readonly histograms: readonly Histogram[];
}

/** The storage readers as the HTTP API sees them. */
export interface ReaderPort {
  querySamples(matchers: readonly LabelMatcher[], start: number, end: number, limits?: { readonly maxSeries?: number }): AsyncIterable<SeriesSamples>;
  series(matchers: readonly LabelMatcher[], start: number, end: number, limit?: number): Promise<readonly (readonly Label[])[]>;
  labelNames(matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]>;
  labelValues(name: string, matchers: readonly LabelMatcher[], start: number, end: number): Promise<readonly string[]>;
}

export interface LeaseViewPort {
  leases(): readonly Lease[];
  history(options: { readonly cluster?: string; readonly limit: number }): Promise<readonly LeaseChange[]>;
}
