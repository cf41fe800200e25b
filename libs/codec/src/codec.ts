/** The public entry points of the codec: snappy body in, normalized model out, and back. */
import { CodecError } from './errors.js';
import { type CacheStats, clearDecoderCaches, configureLabelSetCache, countSeries, decodeV1, decodeV2, labelSetCacheStats } from './internal/decode.js';
import { checkSeriesCount, checkWriteLimits, DEFAULT_WRITE_LIMITS, type WriteLimits } from './limits.js';
import { encodeV1, encodeV2 } from './internal/encode.js';
import { peekProto, type PeekGroup } from './internal/peek.js';
import { decodeRead, encodeReadRequestProto, encodeReadResponseProto } from './internal/read.js';
import type { QueryResult, ReadRequest, TimeSeries, WriteRequest } from './model.js';
import { snappyCompress, snappyUncompress } from './snappy.js';

/** Options of {@link decodeWriteRequest}. */
export interface DecodeWriteOptions {
  /** Remote-write version, from {@link parseWriteContentType}. */
  readonly version: 1 | 2;
  /** Cap on the decompressed size, checked against the snappy header before allocating (413 beyond it). */
  readonly maxDecodedBytes: number;
  /** Limits checked after decoding (400 naming the series beyond them); {@link DEFAULT_WRITE_LIMITS} when absent. */
  readonly limits?: WriteLimits;
}

/**
 * Decodes a remote-write HTTP body (snappy block-compressed protobuf) into the normalized model, validating labels
 * and timestamps, then checks the limits ({@link checkWriteLimits}). Throws {@link CodecError} on anything
 * malformed, invalid or beyond a limit, never another exception.
 */
export function decodeWriteRequest(body: Uint8Array, options: DecodeWriteOptions): WriteRequest {
  return decodeWithinLimits(snappyUncompress(body, options.maxDecodedBytes), options.version, options.limits ?? DEFAULT_WRITE_LIMITS);
}

/**
 * Decodes decompressed bytes and checks the limits. The series are counted first, without decoding them: a request
 * of too many series is refused before any of them is built (building 100,000 series holds the event loop for
 * hundreds of milliseconds).
 */
function decodeWithinLimits(bytes: Uint8Array, version: 1 | 2, limits: WriteLimits, seriesCount?: number): WriteRequest {
  checkSeriesCount(seriesCount ?? countSeries(bytes, version), limits);
  const request = decodeWriteRequestProto(bytes, version);
  checkWriteLimits(request, limits);
  return request;
}

/** Decodes uncompressed remote-write protobuf bytes; see {@link decodeWriteRequest}. */
export function decodeWriteRequestProto(bytes: Uint8Array, version: 1 | 2): WriteRequest {
  try {
    return version === 2 ? decodeV2(bytes) : decodeV1(bytes);
  } catch (e: unknown) {
    if (e instanceof CodecError) throw e;
    // A RangeError from an allocation (e.g. a packed field claiming millions of entries) is still bad input.
    throw new CodecError('CODEC_ERR_PROTOBUF', `malformed protobuf: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Options of {@link peekWriteRequest}. */
export interface PeekWriteOptions extends DecodeWriteOptions {
  /** The two label names whose values group the series (an HA pair's cluster and replica labels). */
  readonly labels: readonly [string, string];
}

/**
 * What {@link peekWriteRequest} read: the series grouped by the values of two labels, with each group's counts
 * and time range, and a way to decode the whole request after all.
 */
export interface WritePeek {
  readonly version: 1 | 2;
  /** Groups in order of first appearance; absent and empty values are `undefined`. */
  readonly groups: readonly PeekGroup[];
  /** Request-level metadata entries (1.0 only). */
  readonly metadata: number;
  /** What the request carries, for the 2.0 `X-Prometheus-Remote-Write-*-Written` headers. */
  readonly written: { readonly samples: number; readonly histograms: number; readonly exemplars: number };
  /**
   * Decodes and validates the whole request (limits included) from the bytes already decompressed, as
   * {@link decodeWriteRequest}.
   */
  decode(): WriteRequest;
}

/**
 * Reads only what a decision to keep or drop a request needs: per series the values of two labels and the time
 * range and counts of its data, grouped by those values (internal/peek.ts says what is and is not validated).
 * Costs the decompression and one walk over the bytes without building the series; call `decode()` for what is
 * kept. Throws {@link CodecError} on malformed framing, as {@link decodeWriteRequest}.
 */
export function peekWriteRequest(body: Uint8Array, options: PeekWriteOptions): WritePeek {
  const bytes = snappyUncompress(body, options.maxDecodedBytes);
  const { version } = options;
  let peek;
  try {
    peek = peekProto(bytes, version, options.labels);
  } catch (e: unknown) {
    if (e instanceof CodecError) throw e;
    throw new CodecError('CODEC_ERR_PROTOBUF', `malformed protobuf: ${e instanceof Error ? e.message : String(e)}`);
  }
  let series = 0;
  let samples = 0;
  let histograms = 0;
  let exemplars = 0;
  for (const g of peek.groups) {
    series += g.series;
    samples += g.samples;
    histograms += g.histograms;
    exemplars += g.exemplars;
  }
  return {
    version,
    groups: peek.groups,
    metadata: peek.metadata,
    written: { samples, histograms, exemplars },
    // The walk counted the series already.
    decode: () => decodeWithinLimits(bytes, version, options.limits ?? DEFAULT_WRITE_LIMITS, series),
  };
}

/**
 * Encodes a request as remote-write protobuf bytes of the given version (uncompressed; wrap with
 * {@link snappyCompress} for an HTTP body). Throws CODEC_ERR_ENCODE for values the wire cannot carry.
 */
export function encodeWriteRequest(request: WriteRequest, version: 1 | 2): Uint8Array {
  return version === 2 ? encodeV2(request) : encodeV1(request);
}

/** Options of {@link decodeReadRequest}. */
export interface DecodeReadOptions {
  readonly maxDecodedBytes: number;
}

/** Decodes a remote-read HTTP body (snappy-compressed `prometheus.ReadRequest`). */
export function decodeReadRequest(body: Uint8Array, options: DecodeReadOptions): ReadRequest {
  const bytes = snappyUncompress(body, options.maxDecodedBytes);
  try {
    return decodeRead(bytes);
  } catch (e: unknown) {
    if (e instanceof CodecError) throw e;
    throw new CodecError('CODEC_ERR_PROTOBUF', `malformed protobuf: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Encodes a remote-read request body (snappy-compressed); for clients, tests and the simulator. */
export function encodeReadRequest(request: ReadRequest): Uint8Array {
  return snappyCompress(encodeReadRequestProto(request));
}

/** Encodes a SAMPLES remote-read response body: a snappy-compressed `prometheus.ReadResponse`, one result per query. */
export function encodeReadResponse(results: readonly QueryResult[]): Uint8Array {
  return snappyCompress(encodeReadResponseProto(results));
}

/** What a request carries, for the 2.0 `X-Prometheus-Remote-Write-*-Written` response headers. */
export function countWritten(request: Pick<WriteRequest, 'series'>): {
  samples: number;
  histograms: number;
  exemplars: number;
} {
  let samples = 0;
  let histograms = 0;
  let exemplars = 0;
  for (const s of request.series) {
    samples += s.samples.length;
    histograms += s.histograms.length;
    exemplars += s.exemplars.length;
  }
  return { samples, histograms, exemplars };
}

/**
 * Empties the decoder's process-wide intern caches of label names, values and label objects (bounded, reused
 * across requests). Only benchmarks need it, to measure a cold decoder.
 */
export function resetDecoderCaches(): void {
  clearDecoderCaches();
}

export type { CacheStats };

/**
 * Bounds the remote-write 1.0 decoder's label-set cache (process-wide) to `labelSetsMax` label sets; 0 turns it
 * off. Size it from the active series: an HA pair's two replicas send two label sets per series. Default 131,072.
 */
export function configureDecoderCaches(options: { readonly labelSetsMax: number }): void {
  configureLabelSetCache(options.labelSetsMax);
}

/** Size, bound and cumulative hits, misses and evictions of the decoder's label-set cache. */
export function decoderCacheStats(): { readonly labelSets: CacheStats } {
  return { labelSets: labelSetCacheStats() };
}

/**
 * Smallest and greatest data time of the float samples and histograms of `series` (exemplars excluded: they are
 * not stored as samples). `{ minTime: Infinity, maxTime: -Infinity }` when there are none.
 */
export function seriesTimeRange(series: readonly TimeSeries[]): { minTime: number; maxTime: number } {
  let minTime = Infinity;
  let maxTime = -Infinity;
  // Indexed loops: `for...of` over the decoder's shared frozen empty arrays costs about 20 ns a series.
  for (let i = 0; i < series.length; i++) {
    const { samples, histograms } = series[i]!;
    for (let k = 0; k < samples.length; k++) {
      const t = samples[k]!.timestamp;
      if (t < minTime) minTime = t;
      if (t > maxTime) maxTime = t;
    }
    for (let k = 0; k < histograms.length; k++) {
      const t = histograms[k]!.timestamp;
      if (t < minTime) minTime = t;
      if (t > maxTime) maxTime = t;
    }
  }
  return { minTime, maxTime };
}
