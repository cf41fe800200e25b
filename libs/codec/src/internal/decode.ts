/**
 * Hand-written decoders from remote-write protobuf bytes (1.0 `prometheus.WriteRequest`, 2.0
 * `io.prometheus.write.v2.Request`) to the normalized model, validating as they go. Message decoders are plain
 * functions over one {@link Reader} (no closures per field); the field numbers are those of ../../proto.
 */
import type {
  BucketSpan,
  Exemplar,
  Histogram,
  HistogramResetHint,
  Label,
  MetricMetadata,
  MetricType,
  Sample,
  TimeSeries,
  WriteRequest,
} from '../model.js';
import { CodecError } from '../errors.js';
import { freezeLabels, type FrozenLabels } from '../frozen-labels.js';
import { fields, Reader, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './reader.js';
import { BytesCache, clearStringCache, compareCodePoints, FLAG_NUL, internString, scan, scanFlags, scanHash } from './strings.js';

const EMPTY: readonly never[] = Object.freeze([]);

export const METRIC_TYPES: readonly MetricType[] = [
  'unknown',
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
];
export const RESET_HINTS: readonly HistogramResetHint[] = ['unknown', 'yes', 'no', 'gauge'];

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

/** Reads a length-delimited string field's bytes through the intern cache; fails on invalid UTF-8. */
export function readString(r: Reader, end: number, what: string): string {
  const len = r.length(end);
  const start = r.pos;
  r.pos = start + len;
  const s = internString(r.buf, start, start + len);
  if (s === undefined) throw r.fail('CODEC_ERR_UTF8', `${what} is not valid UTF-8`);
  return s;
}

/** Checks the label invariants of the model: at least __name__, names non-empty, sorted, unique. */
export function validateLabels(r: Reader, labels: readonly Label[]): void {
  let hasName = false;
  let prev = '';
  for (let i = 0; i < labels.length; i++) {
    const name = labels[i]!.name;
    if (name.length === 0) throw r.fail('CODEC_ERR_EMPTY_LABEL_NAME', `label ${i} has an empty name`);
    if (name === '__name__') hasName = true;
    if (i > 0) {
      const c = compareCodePoints(prev, name);
      if (c === 0) throw r.fail('CODEC_ERR_DUPLICATE_LABEL', `duplicate label name ${JSON.stringify(name)}`);
      if (c > 0) {
        throw r.fail(
          'CODEC_ERR_UNSORTED_LABELS',
          `labels not sorted by name: ${JSON.stringify(prev)} before ${JSON.stringify(name)}`,
        );
      }
    }
    prev = name;
  }
  if (!hasName) throw r.fail('CODEC_ERR_MISSING_METRIC_NAME', 'series has no __name__ label');
}

const SPAN_FIELDS = fields(1, 2);

function readSpans(r: Reader, end: number, into: BucketSpan[]): void {
  const len = r.length(end);
  const stop = r.pos + len;
  let offset = 0;
  let length = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) offset = r.sint32(stop);
    else if (tag === 0x10) length = r.uint32(stop);
    else r.skip(tag, stop, SPAN_FIELDS);
  }
  into.push({ offset, length });
}

/** A repeated sint64 field, packed (wire type 2) or not (wire type 0). */
function readSint64s(r: Reader, end: number, wire: number, into: number[], what: string): void {
  if (wire === WIRE_VARINT) {
    into.push(r.sint64(end, what));
    return;
  }
  const stop = r.limit(end);
  while (r.pos < stop) into.push(r.sint64(stop, what));
}

/** A repeated double field, packed (wire type 2) or not (wire type 1). */
function readDoubles(r: Reader, end: number, wire: number, into: number[]): void {
  if (wire === WIRE_I64) {
    into.push(r.double(end));
    return;
  }
  const len = r.length(end);
  if (len % 8 !== 0) throw r.malformed('packed doubles length is not a multiple of 8');
  const stop = r.pos + len;
  while (r.pos < stop) into.push(r.double(stop));
}

const HISTOGRAM_FIELDS = fields(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/** Histogram messages have the same layout in 1.0 and 2.0. */
function readHistogram(r: Reader, end: number): Histogram {
  const stop = r.limit(end);
  let isFloat = false;
  let count = 0;
  let zeroCount = 0;
  let sum = 0;
  let schema = 0;
  let zeroThreshold = 0;
  let resetHint: HistogramResetHint = 'unknown';
  let timestamp = 0;
  const negativeSpans: BucketSpan[] = [];
  const negativeDeltas: number[] = [];
  const negativeCounts: number[] = [];
  const positiveSpans: BucketSpan[] = [];
  const positiveDeltas: number[] = [];
  const positiveCounts: number[] = [];
  const customValues: number[] = [];
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wire !== WIRE_VARINT) break;
        count = r.uint64(stop, 'histogram count');
        isFloat = false;
        continue;
      case 2:
        if (wire !== WIRE_I64) break;
        count = r.double(stop);
        isFloat = true;
        continue;
      case 3:
        if (wire !== WIRE_I64) break;
        sum = r.double(stop);
        continue;
      case 4:
        if (wire !== WIRE_VARINT) break;
        schema = r.sint32(stop);
        continue;
      case 5:
        if (wire !== WIRE_I64) break;
        zeroThreshold = r.double(stop);
        continue;
      case 6:
        if (wire !== WIRE_VARINT) break;
        zeroCount = r.uint64(stop, 'histogram zero count');
        continue;
      case 7:
        if (wire !== WIRE_I64) break;
        zeroCount = r.double(stop);
        isFloat = true;
        continue;
      case 8:
        if (wire !== WIRE_LEN) break;
        readSpans(r, stop, negativeSpans);
        continue;
      case 9:
        if (wire !== WIRE_LEN && wire !== WIRE_VARINT) break;
        readSint64s(r, stop, wire, negativeDeltas, 'histogram bucket delta');
        continue;
      case 10:
        if (wire !== WIRE_LEN && wire !== WIRE_I64) break;
        readDoubles(r, stop, wire, negativeCounts);
        continue;
      case 11:
        if (wire !== WIRE_LEN) break;
        readSpans(r, stop, positiveSpans);
        continue;
      case 12:
        if (wire !== WIRE_LEN && wire !== WIRE_VARINT) break;
        readSint64s(r, stop, wire, positiveDeltas, 'histogram bucket delta');
        continue;
      case 13:
        if (wire !== WIRE_LEN && wire !== WIRE_I64) break;
        readDoubles(r, stop, wire, positiveCounts);
        continue;
      case 14:
        if (wire !== WIRE_VARINT) break;
        resetHint = RESET_HINTS[r.uint32(stop)] ?? 'unknown';
        continue;
      case 15:
        if (wire !== WIRE_VARINT) break;
        timestamp = r.int64(stop, 'histogram timestamp');
        continue;
      case 16:
        if (wire !== WIRE_LEN && wire !== WIRE_I64) break;
        readDoubles(r, stop, wire, customValues);
        continue;
      default:
        break;
    }
    r.skip(tag, stop, HISTOGRAM_FIELDS);
  }
  if (!isFloat && (negativeCounts.length > 0 || positiveCounts.length > 0)) isFloat = true;
  return {
    isFloat,
    count,
    zeroCount,
    sum,
    schema,
    zeroThreshold,
    negativeSpans,
    negativeDeltas,
    negativeCounts,
    positiveSpans,
    positiveDeltas,
    positiveCounts,
    resetHint,
    timestamp,
    customValues,
  };
}

const SAMPLE_FIELDS = fields(1, 2);

function readSample(r: Reader, end: number): Sample {
  // Fast path for the shape Prometheus sends: one-byte length, value (tag 0x09), then timestamp (tag 0x10).
  const buf = r.buf;
  const at = r.pos;
  const len = buf[at]!;
  if (len >= 11 && len < 0x80 && at + 1 + len <= end && buf[at + 1] === 0x09 && buf[at + 10] === 0x10) {
    const value = r.view.getFloat64(at + 2, true);
    r.pos = at + 11;
    const timestamp = r.int64(at + 1 + len, 'sample timestamp');
    if (r.pos === at + 1 + len) return { value, timestamp };
    r.pos = at; // more fields follow: take the general path
  }
  const stop = r.limit(end);
  let value = 0;
  let timestamp = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x09) value = r.double(stop);
    else if (tag === 0x10) timestamp = r.int64(stop, 'sample timestamp');
    else r.skip(tag, stop, SAMPLE_FIELDS);
  }
  return { value, timestamp };
}

// ---------------------------------------------------------------------------------------------------------------
// Remote write 1.0

const LABEL_FIELDS = fields(1, 2);

/**
 * Label messages are cached whole, keyed by their bytes: a hit yields the (immutable, already validated) Label
 * object without decoding either string. Only labels that passed the per-label checks are cached.
 */
const labelCache = new BytesCache<Label>(1 << 14, 96);

/** Empties the decoders' intern caches (label objects and strings); for measuring a cold decoder. */
export function clearDecoderCaches(): void {
  labelCache.clear();
  labelSetsV1.clear();
  clearStringCache();
}

function readLabelV1(r: Reader, end: number): Label {
  const len = r.length(end);
  const start = r.pos;
  const stop = start + len;
  const buf = r.buf;
  if (len <= labelCache.maxKey) {
    scan(buf, start, stop);
    const hit = labelCache.get(buf, start, stop, scanHash);
    if (hit !== undefined) {
      r.pos = stop;
      return hit;
    }
  }
  const hash = scanHash;
  let name = '';
  let value = '';
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x0a) {
      name = readString(r, stop, 'label name');
      if (scanFlags & FLAG_NUL) throw r.fail('CODEC_ERR_NUL_BYTE', `label name ${JSON.stringify(name)} contains a NUL byte`);
    } else if (tag === 0x12) {
      value = readString(r, stop, 'label value');
      if (scanFlags & FLAG_NUL) throw r.fail('CODEC_ERR_NUL_BYTE', `label value of ${JSON.stringify(name)} contains a NUL byte`);
    } else r.skip(tag, stop, LABEL_FIELDS);
  }
  if (name.length === 0) throw r.fail('CODEC_ERR_EMPTY_LABEL_NAME', 'a label has an empty name');
  const label: Label = Object.freeze({ name, value });
  if (len <= labelCache.maxKey) labelCache.set(buf, start, stop, hash, label);
  return label;
}

const EXEMPLAR_V1_FIELDS = fields(1, 2, 3);

function readExemplarV1(r: Reader, end: number): Exemplar {
  const stop = r.limit(end);
  const labels: Label[] = [];
  let value = 0;
  let timestamp = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x0a) labels.push(readLabelV1(r, stop));
    else if (tag === 0x11) value = r.double(stop);
    else if (tag === 0x18) timestamp = r.int64(stop, 'exemplar timestamp');
    else r.skip(tag, stop, EXEMPLAR_V1_FIELDS);
  }
  return { labels, value, timestamp };
}

const SERIES_V1_FIELDS = fields(1, 2, 3, 4);

/**
 * Whole label sets, keyed by the exact bytes of a series' leading run of label fields (Prometheus writes labels
 * first). The same series arrive in every request, so a hit replaces ten label decodes and the label validation
 * with one hash pass and one compare pass over the bytes, four bytes at a time. Values are validated arrays under
 * the identity contract (frozen-labels.ts).
 *
 * An index from the 32-bit hash of the bytes to an entry index ({@link HashIndex}); the entries' key bytes live back
 * to back in one arena (no object per key: a copy of 200-odd bytes in an ArrayBuffer of its own with a DataView
 * costs about 150 bytes more, and three dependent loads before the first byte compares). Different bytes with the
 * same hash replace the entry (a miss, never a wrong answer). Checking the bytes against the cached labels' strings
 * instead, which needs no arena at all, was measured at half the speed of this byte compare (0.47x on this load).
 *
 * Bounded by a count of label sets, `max`, which the service sizes from the series cache (an HA pair sends two
 * label sets per stored series). Eviction is second chance in batches: an entry records that it was hit; when the
 * cache is full, one pass keeps the entries hit since the previous pass (at most three quarters of the bound, the
 * most recently inserted first) in a new arena and drops the rest, so a working set that fits is never evicted
 * however it is scanned (Prometheus sends every series in a cycle), and the pass costs O(1) per insert. The FIFO
 * eviction it replaced asked the Map for its oldest key on every insert once full, and V8 finds it by walking over
 * the holes earlier deletions left: about 100 us per insert at 131,072 entries; FIFO also evicts every entry of a
 * cycle longer than the cache before its next use (docs/decisions/0005-series-at-scale.md).
 */
/** Counters of a decoder cache, cumulative since the process started. */
export interface CacheStats {
  readonly size: number;
  readonly max: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
}

/**
 * Hash -> entry index of the label-set cache: open addressing with linear probing in two Int32Arrays, at most half
 * full, each hash in one slot at most (a new entry under a hash replaces the old one). Nothing is deleted: the
 * cache rebuilds it at each eviction pass. A `Map<number, number>` here was found by `perf` at 4-6% of a worker's
 * CPU (its lookup `FindOrderedHashMapEntry`), the probe that replaces it reads two adjacent arrays.
 */
export class HashIndex {
  /** Entry index + 1 per slot; 0: empty. */
  private entries = new Int32Array(1024);
  private hashes = new Int32Array(1024);
  private mask = 1023;
  size = 0;

  /** The entry under `hash`, or -1. */
  get(hash: number): number {
    const entries = this.entries;
    const hashes = this.hashes;
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      const e = entries[s]!;
      if (e === 0) return -1;
      if (hashes[s] === hash) return e - 1;
    }
  }

  /** Puts `entry` under `hash`, replacing what was there. */
  set(hash: number, entry: number): void {
    if ((this.size + 1) * 2 > this.entries.length) this.grow();
    this.place(hash, entry);
  }

  /** Calls `f` with every entry. */
  forEach(f: (entry: number) => void): void {
    for (let s = 0; s < this.entries.length; s++) if (this.entries[s] !== 0) f(this.entries[s]! - 1);
  }

  private place(hash: number, entry: number): void {
    for (let s = hash & this.mask; ; s = (s + 1) & this.mask) {
      if (this.entries[s] === 0) {
        this.entries[s] = entry + 1;
        this.hashes[s] = hash;
        this.size++;
        return;
      }
      if (this.hashes[s] === hash) {
        this.entries[s] = entry + 1;
        return;
      }
    }
  }

  private grow(): void {
    const { entries, hashes } = this;
    this.entries = new Int32Array(entries.length * 2);
    this.hashes = new Int32Array(entries.length * 2);
    this.mask = this.entries.length - 1;
    this.size = 0;
    for (let s = 0; s < entries.length; s++) if (entries[s] !== 0) this.place(hashes[s]!, entries[s]! - 1);
  }
}

class LabelSetCache {
  private index = new HashIndex();
  /** Entry e's key is keys[starts[e], starts[e] + lengths[e]). Entries are only appended between evictions. */
  private keys = new Uint8Array(1 << 16);
  private keyView = new DataView(this.keys.buffer);
  private keyEnd = 0;
  /** Float64: an arena of millions of label sets can pass 2 GiB. */
  private starts = new Float64Array(1024);
  private lengths = new Int32Array(1024);
  /** 1 when the entry was hit since the last eviction pass. */
  private used = new Uint8Array(1024);
  private labels: (FrozenLabels | undefined)[] = [];
  /** Entries appended since the last eviction (replaced ones included until then). */
  private count = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(public max: number) {}

  get size(): number {
    return this.index.size;
  }

  get(view: DataView, start: number, end: number, hash: number): FrozenLabels | undefined {
    const e = this.index.get(hash);
    if (e < 0 || !this.matches(e, view, start, end)) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.used[e] = 1;
    return this.labels[e];
  }

  private matches(e: number, view: DataView, start: number, end: number): boolean {
    const len = end - start;
    if (this.lengths[e] !== len) return false;
    const keys = this.keyView;
    const at = this.starts[e]!;
    let i = 0;
    // Eight bytes a step: two independent compares, one branch.
    for (; i + 8 <= len; i += 8) {
      if ((keys.getInt32(at + i, true) ^ view.getInt32(start + i, true)) | (keys.getInt32(at + i + 4, true) ^ view.getInt32(start + i + 4, true))) return false;
    }
    for (; i < len; i++) if (keys.getUint8(at + i) !== view.getUint8(start + i)) return false;
    return true;
  }

  set(buf: Uint8Array, start: number, end: number, hash: number, labels: FrozenLabels): void {
    if (this.max <= 0) return;
    // Replaced entries stay in the arena until the next pass: count them too, so collisions cannot grow it.
    if ((this.index.get(hash) < 0 && this.index.size >= this.max) || this.count >= 2 * this.max) this.evict();
    this.index.set(hash, this.append(buf, start, end, labels));
  }

  private append(buf: Uint8Array, start: number, end: number, labels: FrozenLabels): number {
    const len = end - start;
    if (this.keyEnd + len > this.keys.length) {
      const grown = new Uint8Array(Math.max(this.keys.length * 2, this.keyEnd + len));
      grown.set(this.keys.subarray(0, this.keyEnd));
      this.keys = grown;
      this.keyView = new DataView(grown.buffer);
    }
    if (this.count === this.starts.length) {
      const n = this.count * 2;
      const starts = new Float64Array(n);
      starts.set(this.starts);
      this.starts = starts;
      this.lengths = growInt32(this.lengths, n);
      const used = new Uint8Array(n);
      used.set(this.used);
      this.used = used;
    }
    const e = this.count++;
    this.keys.set(buf.subarray(start, end), this.keyEnd);
    this.starts[e] = this.keyEnd;
    this.lengths[e] = len;
    this.used[e] = 0;
    this.labels[e] = labels;
    this.keyEnd += len;
    return e;
  }

  /** Rebuilds the arena with the entries hit since the last pass (see the class comment). */
  private evict(): void {
    const kept: number[] = [];
    this.index.forEach((e) => {
      if (this.used[e] === 1) kept.push(e);
    });
    const order = Int32Array.from(kept).sort(); // insertion order (a typed array sorts numerically, natively)
    const from = Math.max(0, order.length - Math.floor((this.max * 3) / 4));
    const old = { keys: this.keys, starts: this.starts, lengths: this.lengths, labels: this.labels };
    const size = this.index.size;
    this.index = new HashIndex();
    this.keys = new Uint8Array(Math.max(1 << 16, this.keyEnd));
    this.keyView = new DataView(this.keys.buffer);
    this.keyEnd = 0;
    this.labels = [];
    this.count = 0;
    this.used.fill(0);
    const oldView = new DataView(old.keys.buffer);
    for (let k = from; k < order.length; k++) {
      const e = order[k]!;
      const at = old.starts[e]!;
      const end = at + old.lengths[e]!;
      this.index.set(hashRange(oldView, at, end), this.append(old.keys, at, end, old.labels[e]!));
    }
    this.evictions += size - this.index.size;
  }

  stats(): CacheStats {
    return { size: this.index.size, max: this.max, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  clear(): void {
    this.index = new HashIndex();
    this.keyEnd = 0;
    this.labels = [];
    this.count = 0;
    this.used.fill(0);
  }
}

function growInt32(a: Int32Array, n: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/**
 * A 32-bit hash of `[start, end)`, eight bytes at a time in two independent lanes (murmur-like mixing), which the CPU
 * runs side by side: half the dependent multiplies of one lane over four bytes at a time.
 */
function hashRange(view: DataView, start: number, end: number): number {
  let a = (end - start) ^ 0x9e3779b9;
  let b = 0x27d4eb2f;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    a = Math.imul(a ^ view.getInt32(i, true), 0x5bd1e995);
    b = Math.imul(b ^ view.getInt32(i + 4, true), 0x5bd1e995);
    a ^= a >>> 15;
    b ^= b >>> 15;
  }
  for (; i < end; i++) a = Math.imul(a ^ view.getUint8(i), 0x5bd1e995);
  let h = a ^ Math.imul(b, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Label sets the 1.0 decoder keeps before {@link configureDecoderCaches} is called. */
export const DEFAULT_LABEL_SETS_MAX = 1 << 17;

const labelSetsV1 = new LabelSetCache(DEFAULT_LABEL_SETS_MAX);

/**
 * Bounds the 1.0 decoder's label-set cache to `labelSetsMax` label sets (0 turns it off). A smaller bound evicts
 * at the next insert. The cache is process-wide, as the decoder is.
 */
export function configureLabelSetCache(labelSetsMax: number): void {
  labelSetsV1.max = labelSetsMax;
  if (labelSetsMax <= 0) labelSetsV1.clear();
}

/** The label-set cache's counters. */
export function labelSetCacheStats(): CacheStats {
  return labelSetsV1.stats();
}

function readSeriesV1(r: Reader, end: number): TimeSeries {
  const stop = r.limit(end);
  // The leading run of label fields (tag 0x0a) is the cache key.
  const runStart = r.pos;
  const buf = r.buf;
  let p = runStart;
  while (p < stop && buf[p] === 0x0a) {
    const len = buf[p + 1]!;
    if (len < 0x80 && p + 2 + len <= stop) {
      p += 2 + len; // one-byte length: the common case
    } else {
      r.pos = p + 1;
      p = r.limit(stop);
    }
  }
  r.pos = runStart;
  let labels: readonly Label[] | undefined;
  const hash = p > runStart ? hashRange(r.view, runStart, p) : 0;
  if (p > runStart) {
    labels = labelSetsV1.get(r.view, runStart, p, hash);
    if (labels !== undefined) r.pos = p;
  }
  const decoded: Label[] = [];
  const samples: Sample[] = [];
  let histograms: Histogram[] | undefined;
  let exemplars: Exemplar[] | undefined;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x12) samples.push(readSample(r, stop));
    else if (tag === 0x0a) decoded.push(readLabelV1(r, stop));
    else if (tag === 0x1a) (exemplars ??= []).push(readExemplarV1(r, stop));
    else if (tag === 0x22) (histograms ??= []).push(readHistogram(r, stop));
    else r.skip(tag, stop, SERIES_V1_FIELDS);
  }
  if (labels === undefined || decoded.length > 0) {
    // A miss, or labels after other fields (legal protobuf, never sent by Prometheus): decode in full.
    if (labels !== undefined) labels = [...labels, ...decoded];
    else labels = decoded;
    validateLabels(r, labels);
    if (p > runStart && decoded.length === labels.length) {
      // Only a set made entirely of the leading run may be cached under that run's bytes.
      let leading = 0;
      for (let q = runStart; q < p; ) {
        r.pos = q + 1;
        q = r.limit(stop);
        leading++;
      }
      r.pos = stop;
      if (leading === labels.length) labelSetsV1.set(buf, runStart, p, hash, freezeLabels(labels));
    }
  }
  return { labels, samples, histograms: histograms ?? EMPTY, exemplars: exemplars ?? EMPTY };
}

const METADATA_V1_FIELDS = fields(1, 2, 4, 5);

function readMetadataV1(r: Reader, end: number): MetricMetadata {
  const stop = r.limit(end);
  let type: MetricType = 'unknown';
  let metricFamilyName = '';
  let help = '';
  let unit = '';
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) type = METRIC_TYPES[r.uint32(stop)] ?? 'unknown';
    else if (tag === 0x12) metricFamilyName = readString(r, stop, 'metric family name');
    else if (tag === 0x22) help = readString(r, stop, 'metadata help');
    else if (tag === 0x2a) unit = readString(r, stop, 'metadata unit');
    else r.skip(tag, stop, METADATA_V1_FIELDS);
  }
  return { metricFamilyName, type, help, unit };
}

const WRITE_V1_FIELDS = fields(1, 3);

/**
 * Counts the series of an uncompressed 1.0 or 2.0 request in one walk over its top-level fields, each skipped by
 * its length: nothing is decoded or built. Malformed framing ends the count where it is (the full decode names the
 * problem).
 */
export function countSeries(buf: Uint8Array, version: 1 | 2): number {
  const r = new Reader(buf);
  const end = buf.length;
  const seriesTag = version === 2 ? 0x2a : 0x0a;
  let n = 0;
  try {
    while (r.pos < end) {
      const tag = r.uint32(end);
      if (tag === seriesTag) n++;
      r.skip(tag, end, 0);
    }
  } catch (e: unknown) {
    if (!(e instanceof CodecError)) throw e;
  }
  return n;
}

/** Decodes an uncompressed `prometheus.WriteRequest`. */
export function decodeV1(buf: Uint8Array): WriteRequest {
  const r = new Reader(buf);
  const end = buf.length;
  const series: TimeSeries[] = [];
  const metadata: MetricMetadata[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === 0x0a) {
      r.series = series.length;
      series.push(readSeriesV1(r, end));
      r.series = -1;
    } else if (tag === 0x1a) metadata.push(readMetadataV1(r, end));
    else r.skip(tag, end, WRITE_V1_FIELDS);
  }
  return { version: 1, series, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Remote write 2.0

interface Symbols {
  readonly strings: string[];
  /** Per request: the Label last built for a value ref, and its name ref, so repeated pairs share one object. */
  readonly byValue: (Label | undefined)[];
  readonly byValueName: Int32Array;
  /** 1 when the symbol holds a NUL byte (only an error where a symbol is used as a label). */
  readonly nul: Uint8Array;
}

/** Scratch space for label refs (decoding is synchronous, so one buffer serves every call). */
let refScratch = new Uint32Array(256);

function pushRef(count: number, ref: number): number {
  if (count === refScratch.length) {
    const grown = new Uint32Array(refScratch.length * 2);
    grown.set(refScratch);
    refScratch = grown;
  }
  refScratch[count] = ref;
  return count + 1;
}

/** Reads a repeated uint32 field (packed or not) into {@link refScratch} after `count` refs; returns the new count. */
function readRefs(r: Reader, end: number, wire: number, count: number): number {
  if (wire === WIRE_VARINT) return pushRef(count, r.uint32(end));
  const stop = r.limit(end);
  const buf = r.buf;
  while (r.pos < stop) {
    const b = buf[r.pos]!;
    if (b < 0x80) {
      r.pos++;
      count = pushRef(count, b);
    } else count = pushRef(count, r.uint32(stop));
  }
  return count;
}

function resolveLabels(r: Reader, count: number, sym: Symbols, what: string): Label[] {
  if (count % 2 !== 0) throw r.fail('CODEC_ERR_ODD_LABEL_REFS', `${what} has an odd number of label refs (${count})`);
  const refs = refScratch;
  const n = sym.strings.length;
  const labels: Label[] = new Array<Label>(count / 2);
  for (let i = 0; i < count; i += 2) {
    const nameRef = refs[i]!;
    const valueRef = refs[i + 1]!;
    if (nameRef >= n || valueRef >= n) {
      throw r.fail('CODEC_ERR_SYMBOL_REF', `${what} label ref ${nameRef >= n ? nameRef : valueRef} is out of range (${n} symbols)`);
    }
    const known = sym.byValue[valueRef];
    if (known !== undefined && sym.byValueName[valueRef] === nameRef) {
      labels[i >> 1] = known;
      continue;
    }
    const name = sym.strings[nameRef]!;
    if (sym.nul[nameRef] === 1 || sym.nul[valueRef] === 1) {
      throw r.fail('CODEC_ERR_NUL_BYTE', `label ${JSON.stringify(name)} contains a NUL byte`);
    }
    const label: Label = Object.freeze({ name, value: sym.strings[valueRef]! });
    sym.byValue[valueRef] = label;
    sym.byValueName[valueRef] = nameRef;
    labels[i >> 1] = label;
  }
  return labels;
}

function symbolAt(r: Reader, sym: Symbols, ref: number, what: string): string {
  const s = sym.strings[ref];
  if (s === undefined) throw r.fail('CODEC_ERR_SYMBOL_REF', `${what} ref ${ref} is out of range (${sym.strings.length} symbols)`);
  return s;
}

const EXEMPLAR_V2_FIELDS = fields(1, 2, 3);

function readExemplarV2(r: Reader, end: number, sym: Symbols): Exemplar {
  const stop = r.limit(end);
  let count = 0;
  let value = 0;
  let timestamp = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x0a || tag === 0x08) count = readRefs(r, stop, tag & 7, count);
    else if (tag === 0x11) value = r.double(stop);
    else if (tag === 0x18) timestamp = r.int64(stop, 'exemplar timestamp');
    else r.skip(tag, stop, EXEMPLAR_V2_FIELDS);
  }
  return { labels: resolveLabels(r, count, sym, 'exemplar'), value, timestamp };
}

const METADATA_V2_FIELDS = fields(1, 3, 4);

/** Returns the metadata, or undefined when it carries nothing (type unspecified, no help, no unit). */
function readMetadataV2(r: Reader, end: number, sym: Symbols, labels: readonly Label[]): MetricMetadata | undefined {
  const stop = r.limit(end);
  let type = 0;
  let helpRef = 0;
  let unitRef = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x08) type = r.uint32(stop);
    else if (tag === 0x18) helpRef = r.uint32(stop);
    else if (tag === 0x20) unitRef = r.uint32(stop);
    else r.skip(tag, stop, METADATA_V2_FIELDS);
  }
  const help = symbolAt(r, sym, helpRef, 'metadata help');
  const unit = symbolAt(r, sym, unitRef, 'metadata unit');
  if (sym.nul[helpRef] === 1 || sym.nul[unitRef] === 1) throw r.fail('CODEC_ERR_NUL_BYTE', 'metadata help or unit contains a NUL byte');
  if (type === 0 && help === '' && unit === '') return undefined;
  let metricFamilyName = '';
  for (const l of labels) if (l.name === '__name__') metricFamilyName = l.value;
  return { metricFamilyName, type: METRIC_TYPES[type] ?? 'unknown', help, unit };
}

const SERIES_V2_FIELDS = fields(1, 2, 3, 4, 5, 6);

/**
 * A series' labels from its refs. (A label-set cache keyed by the joined strings was measured slower than building
 * and validating the labels: the key string costs more than the objects it saves.)
 */
function seriesLabelsV2(r: Reader, count: number, sym: Symbols): readonly Label[] {
  const labels = resolveLabels(r, count, sym, 'series');
  validateLabels(r, labels);
  return labels;
}

function readSeriesV2(r: Reader, start: number, stop: number, sym: Symbols): TimeSeries {
  r.pos = start;
  let count = 0;
  const samples: Sample[] = [];
  let histograms: Histogram[] | undefined;
  let exemplarStarts: number[] | undefined;
  let metadataStart = -1;
  let createdTimestamp = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x12) samples.push(readSample(r, stop));
    else if (tag === 0x0a || tag === 0x08) count = readRefs(r, stop, tag & 7, count);
    else if (tag === 0x1a) (histograms ??= []).push(readHistogram(r, stop));
    else if (tag === 0x22 || tag === 0x2a) {
      // Exemplars reuse the ref scratch and metadata needs the labels: remember where they are, decode them after.
      if (tag === 0x22) (exemplarStarts ??= []).push(r.pos);
      else metadataStart = r.pos;
      r.pos = r.limit(stop);
    } else if (tag === 0x30) createdTimestamp = r.int64(stop, 'created timestamp');
    else r.skip(tag, stop, SERIES_V2_FIELDS);
  }
  const labels = seriesLabelsV2(r, count, sym);
  let exemplars: Exemplar[] | undefined;
  if (exemplarStarts !== undefined) {
    exemplars = [];
    for (const at of exemplarStarts) {
      r.pos = at;
      exemplars.push(readExemplarV2(r, stop, sym));
    }
  }
  let metadata: MetricMetadata | undefined;
  if (metadataStart >= 0) {
    r.pos = metadataStart;
    metadata = readMetadataV2(r, stop, sym, labels);
  }
  r.pos = stop;
  const series: { -readonly [K in keyof TimeSeries]: TimeSeries[K] } = {
    labels,
    samples,
    histograms: histograms ?? EMPTY,
    exemplars: exemplars ?? EMPTY,
  };
  if (metadata !== undefined) series.metadata = metadata;
  if (createdTimestamp !== 0) series.createdTimestamp = createdTimestamp;
  return series;
}

const REQUEST_V2_FIELDS = fields(4, 5);

/**
 * Decodes an uncompressed `io.prometheus.write.v2.Request`. Series may precede symbols on the wire, so the first
 * pass collects the symbols and the series' byte ranges, the second decodes the series.
 */
export function decodeV2(buf: Uint8Array): WriteRequest {
  const r = new Reader(buf);
  const end = buf.length;
  const strings: string[] = [];
  let nul = new Uint8Array(64);
  const ranges: number[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === 0x22) {
      const s = readString(r, end, `symbol ${strings.length}`);
      if (strings.length === nul.length) {
        const grown = new Uint8Array(nul.length * 2);
        grown.set(nul);
        nul = grown;
      }
      if (scanFlags & FLAG_NUL) nul[strings.length] = 1;
      strings.push(s);
    } else if (tag === 0x2a) {
      const len = r.length(end);
      ranges.push(r.pos, r.pos + len);
      r.pos += len;
    } else r.skip(tag, end, REQUEST_V2_FIELDS);
  }
  if (strings.length > 0 && strings[0] !== '') {
    throw r.fail('CODEC_ERR_FIRST_SYMBOL', 'symbols[0] must be the empty string');
  }
  const sym: Symbols = {
    strings,
    nul,
    byValue: new Array<Label | undefined>(strings.length).fill(undefined),
    byValueName: new Int32Array(strings.length),
  };
  const series: TimeSeries[] = new Array<TimeSeries>(ranges.length / 2);
  for (let i = 0; i < ranges.length; i += 2) {
    r.series = i >> 1;
    series[i >> 1] = readSeriesV2(r, ranges[i]!, ranges[i + 1]!, sym);
  }
  return { version: 2, series, metadata: EMPTY };
}
