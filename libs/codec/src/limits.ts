/**
 * Limits on what a remote-write request may carry, checked after decoding and before anything downstream sees the
 * request. Each exceeded limit is a {@link CodecError} (400) naming the series and the limit: a request that can
 * never be stored must be refused as the sender's mistake, not fail later in the database (where it would be a 503
 * and be resent forever).
 */
import { CodecError } from './errors.js';
import { memoOf } from './frozen-labels.js';
import type { Label, TimeSeries, WriteRequest } from './model.js';

/** Limits of {@link checkWriteLimits}. Lengths are in UTF-8 bytes, except the exemplar label set (code points). */
export interface WriteLimits {
  readonly maxLabelNameBytes: number;
  readonly maxLabelValueBytes: number;
  readonly maxLabelsPerSeries: number;
  readonly maxSeriesPerRequest: number;
  /** Names and values of one exemplar's labels together, in code points (OpenMetrics and Prometheus: 128). */
  readonly maxExemplarLabelRunes: number;
}

/**
 * The defaults, chosen so that what real exporters send passes (see the README's "Limits" section): Prometheus
 * itself has no label limits, kube-state-metrics' `*_labels`/`*_annotations` series carry many labels and long
 * values, and Prometheus refuses exemplar label sets over 128 code points itself.
 */
export const DEFAULT_WRITE_LIMITS: WriteLimits = Object.freeze({
  maxLabelNameBytes: 1024,
  maxLabelValueBytes: 16 * 1024,
  maxLabelsPerSeries: 128,
  maxSeriesPerRequest: 100_000,
  maxExemplarLabelRunes: 128,
});

/**
 * Timestamps the database can store: years 1 to 9999 of the proleptic Gregorian calendar (milliseconds since the
 * Unix epoch). PostgreSQL's own range is wider, but daily partitions are named by date and dates outside these
 * years do not have a four-digit, unambiguous name.
 */
export const MIN_TIMESTAMP_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
export const MAX_TIMESTAMP_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/**
 * The series limit alone, for a count taken before decoding (`countSeries`): a request of too many series is then
 * refused without building any of them.
 */
export function checkSeriesCount(count: number, limits: WriteLimits): void {
  if (count > limits.maxSeriesPerRequest) {
    throw new CodecError(
      'CODEC_ERR_LIMIT',
      `request has ${count} series, more than the limit of ${limits.maxSeriesPerRequest} (--limits.max-series-per-request)`,
    );
  }
}

/** UTF-8 length of `s` (a well-formed string: the decoder rejected invalid UTF-8). */
function utf8Bytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1; // a surrogate pair is 4 bytes for 2 units
  }
  return n;
}

/** True when `s` is longer than `max` UTF-8 bytes; measures only when the UTF-16 length cannot decide. */
function longer(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  return utf8Bytes(s) > max;
}

function runes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++; // count a surrogate pair once
  }
  return n;
}

function seriesName(labels: readonly Label[]): string {
  for (const l of labels) if (l.name === '__name__') return l.value.length > 200 ? `${l.value.slice(0, 200)}...` : l.value;
  return '';
}

function fail(what: string, i: number, labels: readonly Label[], detail: string): never {
  throw new CodecError('CODEC_ERR_LIMIT', `${detail} (${what}; metric ${JSON.stringify(seriesName(labels))})`, i);
}

function checkTime(t: number, i: number, labels: readonly Label[], what: string): void {
  if (t < MIN_TIMESTAMP_MS || t > MAX_TIMESTAMP_MS) {
    throw new CodecError(
      'CODEC_ERR_TIMESTAMP_RANGE',
      `${what} timestamp ${t} is outside the storable range (years 1 to 9999; metric ${JSON.stringify(seriesName(labels))})`,
      i,
    );
  }
}

function checkExemplars(s: TimeSeries, i: number, maxExemplarLabelRunes: number): void {
  for (const e of s.exemplars) {
    checkTime(e.timestamp, i, s.labels, 'exemplar');
    let n = 0;
    for (const l of e.labels) n += runes(l.name) + runes(l.value);
    if (n > maxExemplarLabelRunes) {
      fail('--limits.max-exemplar-label-runes', i, s.labels, `exemplar labels have ${n} code points, more than the limit of ${maxExemplarLabelRunes}`);
    }
  }
}

/**
 * Checks `request` against `limits` and the storable timestamp range; throws a 400 {@link CodecError} naming the
 * first offending series. Also checks 1.0 metadata for NUL bytes (PostgreSQL text cannot hold them). Linear in
 * the request; the common case (short ASCII labels) costs two length compares per label.
 */
export function checkWriteLimits(request: WriteRequest, limits: WriteLimits): void {
  const series = request.series;
  checkSeriesCount(series.length, limits);
  const { maxLabelNameBytes, maxLabelValueBytes, maxLabelsPerSeries, maxExemplarLabelRunes } = limits;
  for (let i = 0; i < series.length; i++) {
    const s = series[i]!;
    const labels = s.labels;
    // A frozen set (identity contract) that passed these limits once needs no second look.
    const memo = memoOf(labels);
    if (memo?.limitsPassed !== limits) {
      if (labels.length > maxLabelsPerSeries) {
        fail('--limits.max-labels-per-series', i, labels, `series has ${labels.length} labels, more than the limit of ${maxLabelsPerSeries}`);
      }
      for (const l of labels) {
        if (longer(l.name, maxLabelNameBytes)) {
          fail('--limits.max-label-name-bytes', i, labels, `label name ${JSON.stringify(`${l.name.slice(0, 100)}...`)} is longer than ${maxLabelNameBytes} bytes`);
        }
        if (longer(l.value, maxLabelValueBytes)) {
          fail('--limits.max-label-value-bytes', i, labels, `value of label ${JSON.stringify(l.name)} is longer than ${maxLabelValueBytes} bytes`);
        }
      }
      if (memo !== undefined) memo.limitsPassed = limits;
    }
    // Indexed loops, and exemplars only when there are some: `for...of` over the decoder's shared frozen empty
    // arrays doubled this function's cost per series.
    const samples = s.samples;
    for (let k = 0; k < samples.length; k++) checkTime(samples[k]!.timestamp, i, labels, 'sample');
    const histograms = s.histograms;
    for (let k = 0; k < histograms.length; k++) checkTime(histograms[k]!.timestamp, i, labels, 'histogram');
    if (s.exemplars.length > 0) checkExemplars(s, i, maxExemplarLabelRunes);
  }
  for (const m of request.metadata) {
    if (m.metricFamilyName.includes('\u0000') || m.help.includes('\u0000') || m.unit.includes('\u0000')) {
      throw new CodecError('CODEC_ERR_NUL_BYTE', `metadata of ${JSON.stringify(m.metricFamilyName.replaceAll('\u0000', ''))} contains a NUL byte`);
    }
  }
}
