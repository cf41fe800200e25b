/**
 * A cheap first look at a remote-write request: for every series, the values of two labels (an HA pair's cluster and
 * replica labels) and the time range and counts of what it carries, grouped by those two values. Nothing else is
 * decoded: no other label is read, no string but the two values is built, no sample object is allocated. A
 * receiver decides from this whether it needs the request at all (a non-leader's data is answered without being
 * decoded), and decodes in full only what it keeps.
 *
 * What is checked: the protobuf framing of everything walked (lengths, varints, wire types of the fields read),
 * timestamps (as the full decode checks them), UTF-8 of the two values, and for 2.0 the symbol refs read and that
 * symbols[0] is empty. What is not: the other labels (names, order, duplicates, NUL bytes) and values; a full
 * decode of the same bytes still checks all of it.
 */
import type { Reader as ReaderType } from './reader.js';
import { fields, Reader } from './reader.js';
import { internString } from './strings.js';

/** The series of a request that share the two peeked label values (absent or empty values are `undefined`). */
export interface PeekGroup {
  /** Values of the first and second peeked label. */
  readonly values: readonly [string | undefined, string | undefined];
  /** Index of the group's first series in the request. */
  readonly firstSeries: number;
  readonly series: number;
  readonly samples: number;
  readonly histograms: number;
  readonly exemplars: number;
  /**
   * Smallest and greatest timestamp of the group's samples, histograms and exemplars; `minTime > maxTime` when
   * there is none.
   */
  readonly minTime: number;
  readonly maxTime: number;
}

export interface Peek {
  /** Groups in order of first appearance. */
  readonly groups: readonly PeekGroup[];
  /** Request-level metadata entries (remote write 1.0; 2.0 carries metadata inside its series). */
  readonly metadata: number;
}

interface MutableGroup {
  values: [string | undefined, string | undefined];
  firstSeries: number;
  series: number;
  samples: number;
  histograms: number;
  exemplars: number;
  minTime: number;
  maxTime: number;
}

/** Per series while it is walked. */
let first: string | undefined;
let second: string | undefined;
let samples = 0;
let histograms = 0;
let exemplars = 0;
let minTime = Infinity;
let maxTime = -Infinity;

function resetSeries(): void {
  first = undefined;
  second = undefined;
  samples = 0;
  histograms = 0;
  exemplars = 0;
  minTime = Infinity;
  maxTime = -Infinity;
}

function time(t: number): void {
  if (t < minTime) minTime = t;
  if (t > maxTime) maxTime = t;
}

class Grouper {
  private readonly groups: MutableGroup[] = [];
  private last: MutableGroup | undefined;

  add(index: number): void {
    const a = first === '' ? undefined : first;
    const b = second === '' ? undefined : second;
    let g = this.last;
    // Consecutive series almost always share their values: only a change searches.
    if (g === undefined || g.values[0] !== a || g.values[1] !== b) {
      g = this.groups.find((x) => x.values[0] === a && x.values[1] === b);
      if (g === undefined) {
        g = { values: [a, b], firstSeries: index, series: 0, samples: 0, histograms: 0, exemplars: 0, minTime: Infinity, maxTime: -Infinity };
        this.groups.push(g);
      }
      this.last = g;
    }
    g.series++;
    g.samples += samples;
    g.histograms += histograms;
    g.exemplars += exemplars;
    if (minTime < g.minTime) g.minTime = minTime;
    if (maxTime > g.maxTime) g.maxTime = maxTime;
  }

  result(): readonly PeekGroup[] {
    return this.groups;
  }
}

/** The UTF-8 bytes of a label name, to compare against the wire without decoding it. */
const encoded = new Map<string, Uint8Array>();
function nameBytes(name: string): Uint8Array {
  let b = encoded.get(name);
  if (b === undefined) {
    b = new TextEncoder().encode(name);
    if (encoded.size > 64) encoded.clear();
    encoded.set(name, b);
  }
  return b;
}

function equalBytes(buf: Uint8Array, start: number, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== want[i]) return false;
  return true;
}

function sameBytes(buf: Uint8Array, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

/**
 * The last value read by the fast path for each label, and where its bytes are in the request being walked (reset
 * for every request: the positions belong to its buffer).
 */
let lastFirst: string | undefined;
let lastFirstStart = 0;
let lastFirstLen = -1;
let lastSecond: string | undefined;
let lastSecondStart = 0;
let lastSecondLen = -1;

function resetLastValues(): void {
  lastFirst = lastSecond = undefined;
  lastFirstLen = lastSecondLen = -1;
}

function readValue(r: ReaderType, start: number, end: number, what: string): string {
  const s = internString(r.buf, start, end);
  if (s === undefined) throw r.fail('CODEC_ERR_UTF8', `${what} is not valid UTF-8`);
  return s;
}

/** The timestamp of a Sample message (value 1, timestamp 2); Prometheus' layout on the fast path. */
function sampleTime(r: ReaderType, end: number): void {
  const buf = r.buf;
  const at = r.pos;
  const len = buf[at]!;
  if (len >= 11 && len < 0x80 && at + 1 + len <= end && buf[at + 1] === 0x09 && buf[at + 10] === 0x10) {
    r.pos = at + 11;
    const t = r.int64(at + 1 + len, 'sample timestamp');
    if (r.pos === at + 1 + len) {
      time(t);
      return;
    }
    r.pos = at;
  }
  const stop = r.limit(end);
  let t = 0;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x10) t = r.int64(stop, 'sample timestamp');
    else r.skip(tag, stop, SAMPLE_FIELDS);
  }
  time(t);
}

// Masks of the fields a walker reads (a read field with another wire type is malformed; the rest is skipped).
const SAMPLE_FIELDS = fields(2);
const HISTOGRAM_FIELDS = fields(15);
const EXEMPLAR_FIELDS = fields(3);

/**
 * The timestamp of a nested message whose timestamp is one varint field (`tag`; `mask` its field number): a Histogram
 * (field 15, the same in 1.0 and 2.0) or an Exemplar (field 3).
 */
function nestedTime(r: ReaderType, end: number, tag: number, mask: number): void {
  const stop = r.limit(end);
  let t = 0;
  while (r.pos < stop) {
    const got = r.uint32(stop);
    if (got === tag) t = r.int64(stop, 'timestamp');
    else r.skip(got, stop, mask);
  }
  time(t);
}

const histogramTime = (r: ReaderType, end: number): void => nestedTime(r, end, 0x78, HISTOGRAM_FIELDS);
const exemplarTime = (r: ReaderType, end: number): void => nestedTime(r, end, 0x18, EXEMPLAR_FIELDS);

// ---------------------------------------------------------------------------------------------------------------
// Remote write 1.0

const LABEL_FIELDS = fields(1, 2);
const SERIES_V1_FIELDS = fields(1, 2, 3, 4);
const WRITE_V1_FIELDS = fields(1, 3);

/**
 * A label in Prometheus' layout: under 128 bytes, holding its name (field 1) then its value (field 2), each with a
 * one-byte length. Returns false for any other layout (the caller then takes {@link peekLabelV1}); otherwise moves
 * past the label, and reads its value only when the name is one of the two wanted. Small, so that the series loop
 * inlines it.
 */
function peekLabelFast(r: ReaderType, end: number, a: Uint8Array, b: Uint8Array): boolean {
  const buf = r.buf;
  const at = r.pos;
  const len = buf[at]!;
  const nameLen = buf[at + 2]!;
  if (len >= 0x80 || buf[at + 1] !== 0x0a || at + 1 + len > end || buf[at + 3 + nameLen] !== 0x12 || buf[at + 4 + nameLen] !== len - 4 - nameLen) return false;
  r.pos = at + 1 + len;
  if (nameLen === a.length || nameLen === b.length) wantedLabel(r, at + 3, nameLen, len - 4 - nameLen, a, b);
  return true;
}

/** The fast path's label whose name has the length of a wanted one: compared, and its value read if it is one. */
function wantedLabel(r: ReaderType, name: number, nameLen: number, valueLen: number, a: Uint8Array, b: Uint8Array): void {
  const buf = r.buf;
  const which = nameLen === a.length && equalBytes(buf, name, nameLen, a) ? 1 : nameLen === b.length && equalBytes(buf, name, nameLen, b) ? 2 : 0;
  if (which === 0) return;
  // Consecutive series almost always carry the same two values: bytes equal to the last ones reuse its string.
  const start = name + nameLen + 2;
  if (which === 1) {
    if (valueLen !== lastFirstLen || !sameBytes(buf, start, lastFirstStart, valueLen)) {
      lastFirst = readValue(r, start, start + valueLen, 'label value');
      lastFirstStart = start;
      lastFirstLen = valueLen;
    }
    first = lastFirst;
  } else {
    if (valueLen !== lastSecondLen || !sameBytes(buf, start, lastSecondStart, valueLen)) {
      lastSecond = readValue(r, start, start + valueLen, 'label value');
      lastSecondStart = start;
      lastSecondLen = valueLen;
    }
    second = lastSecond;
  }
}

/** A label in any layout protobuf allows (repeated fields, long lengths, unknown fields). */
function peekLabelV1(r: ReaderType, end: number, a: Uint8Array, b: Uint8Array): void {
  const buf = r.buf;
  const stop = r.limit(end);
  let which = 0;
  let valueStart = -1;
  let valueEnd = -1;
  while (r.pos < stop) {
    const tag = r.uint32(stop);
    if (tag === 0x0a) {
      const len = r.length(stop);
      which = equalBytes(buf, r.pos, len, a) ? 1 : equalBytes(buf, r.pos, len, b) ? 2 : 0;
      r.pos += len;
    } else if (tag === 0x12) {
      const len = r.length(stop);
      valueStart = r.pos;
      valueEnd = r.pos + len;
      r.pos = valueEnd;
    } else r.skip(tag, stop, LABEL_FIELDS);
  }
  if (which === 0) return;
  const value = valueStart < 0 ? '' : readValue(r, valueStart, valueEnd, 'label value');
  if (which === 1) first = value;
  else second = value;
}

function peekV1(buf: Uint8Array, a: Uint8Array, b: Uint8Array): Peek {
  resetLastValues();
  const r = new Reader(buf);
  const end = buf.length;
  const groups = new Grouper();
  let metadata = 0;
  let index = 0;
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === 0x0a) {
      r.series = index;
      const stop = r.limit(end);
      resetSeries();
      while (r.pos < stop) {
        const t = r.uint32(stop);
        if (t === 0x0a) {
          if (!peekLabelFast(r, stop, a, b)) peekLabelV1(r, stop, a, b);
        } else if (t === 0x12) {
          samples++;
          sampleTime(r, stop);
        } else if (t === 0x22) {
          histograms++;
          histogramTime(r, stop);
        } else if (t === 0x1a) {
          exemplars++;
          exemplarTime(r, stop);
        } else r.skip(t, stop, SERIES_V1_FIELDS);
      }
      groups.add(index);
      r.series = -1;
      index++;
    } else if (tag === 0x1a) {
      metadata++;
      r.pos = r.limit(end);
    } else r.skip(tag, end, WRITE_V1_FIELDS);
  }
  return { groups: groups.result(), metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Remote write 2.0

const SERIES_V2_FIELDS = fields(1, 2, 3, 4);
const REQUEST_V2_FIELDS = fields(4, 5);

function peekV2(buf: Uint8Array, a: Uint8Array, b: Uint8Array): Peek {
  const r = new Reader(buf);
  const end = buf.length;
  // Symbols are only located (start, end); the two names are compared as bytes, values decoded when used.
  let bounds = new Int32Array(128);
  let symbols = 0;
  let refA = -1;
  let refB = -1;
  const ranges: number[] = [];
  while (r.pos < end) {
    const tag = r.uint32(end);
    if (tag === 0x22) {
      const len = r.length(end);
      if (symbols * 2 === bounds.length) {
        const grown = new Int32Array(bounds.length * 2);
        grown.set(bounds);
        bounds = grown;
      }
      bounds[symbols * 2] = r.pos;
      bounds[symbols * 2 + 1] = r.pos + len;
      if (refA < 0 && equalBytes(buf, r.pos, len, a)) refA = symbols;
      else if (refB < 0 && equalBytes(buf, r.pos, len, b)) refB = symbols;
      symbols++;
      r.pos += len;
    } else if (tag === 0x2a) {
      const len = r.length(end);
      ranges.push(r.pos, r.pos + len);
      r.pos += len;
    } else r.skip(tag, end, REQUEST_V2_FIELDS);
  }
  if (symbols > 0 && bounds[1] !== bounds[0]) throw r.fail('CODEC_ERR_FIRST_SYMBOL', 'symbols[0] must be the empty string');
  const values = new Map<number, string>();
  const symbol = (ref: number): string => {
    let s = values.get(ref);
    if (s === undefined) {
      if (ref >= symbols) throw r.fail('CODEC_ERR_SYMBOL_REF', `series label ref ${ref} is out of range (${symbols} symbols)`);
      s = readValue(r, bounds[ref * 2]!, bounds[ref * 2 + 1]!, `symbol ${ref}`);
      values.set(ref, s);
    }
    return s;
  };
  const groups = new Grouper();
  for (let i = 0; i < ranges.length; i += 2) {
    const index = i >> 1;
    r.series = index;
    const stop = ranges[i + 1]!;
    r.pos = ranges[i]!;
    resetSeries();
    // Refs come in (name, value) pairs, possibly split over several fields: `odd` carries the position over.
    let odd = false;
    let name = -1;
    const ref = (x: number): void => {
      if (!odd) name = x;
      else if (name === refA && refA >= 0) first = symbol(x);
      else if (name === refB && refB >= 0) second = symbol(x);
      odd = !odd;
    };
    while (r.pos < stop) {
      const tag = r.uint32(stop);
      if (tag === 0x12) {
        samples++;
        sampleTime(r, stop);
      } else if (tag === 0x0a) {
        const fieldEnd = r.limit(stop);
        while (r.pos < fieldEnd) ref(r.uint32(fieldEnd));
      } else if (tag === 0x08) ref(r.uint32(stop));
      else if (tag === 0x1a) {
        histograms++;
        histogramTime(r, stop);
      } else if (tag === 0x22) {
        exemplars++;
        exemplarTime(r, stop);
      } else r.skip(tag, stop, SERIES_V2_FIELDS);
    }
    if (odd) throw r.fail('CODEC_ERR_ODD_LABEL_REFS', 'series has an odd number of label refs');
    groups.add(index);
    r.series = -1;
  }
  return { groups: groups.result(), metadata: 0 };
}

/** Peeks uncompressed remote-write protobuf bytes of the given version; `labels` are the two label names to group by. */
export function peekProto(bytes: Uint8Array, version: 1 | 2, labels: readonly [string, string]): Peek {
  const a = nameBytes(labels[0]);
  const b = nameBytes(labels[1]);
  return version === 2 ? peekV2(bytes, a, b) : peekV1(bytes, a, b);
}
