/**
 * Hand-written encoders from the normalized model to remote-write protobuf bytes (1.0 and 2.0). Like Prometheus
 * (and proto3 generally) they leave default values off the wire: empty strings, zero integers, +0.0 floats
 * (-0.0 and every NaN are written, so their bits survive), empty repeated fields. Fields go in field-number order.
 */
import { CodecError } from '../errors.js';
import type { Exemplar, Histogram, Label, MetricMetadata, MetricType, Sample, WriteRequest } from '../model.js';
import { isPositiveZero, Writer } from './writer.js';

const METRIC_TYPE_NUMBERS: Readonly<Record<MetricType, number>> = {
  unknown: 0,
  counter: 1,
  gauge: 2,
  histogram: 3,
  gaugehistogram: 4,
  summary: 5,
  info: 6,
  stateset: 7,
};
const RESET_HINT_NUMBERS = { unknown: 0, yes: 1, no: 2, gauge: 3 } as const;

function writeDoubleField(w: Writer, tag: number, v: number): void {
  if (isPositiveZero(v)) return;
  w.uint32(tag);
  w.double(v);
}

function writeSample(w: Writer, s: Sample): void {
  w.uint32(0x12);
  const at = w.fork();
  writeDoubleField(w, 0x09, s.value);
  if (s.timestamp !== 0) {
    w.uint32(0x10);
    w.int64(s.timestamp, 'sample timestamp');
  }
  w.join(at);
}

function writePackedDoubles(w: Writer, tag: number, values: readonly number[]): void {
  if (values.length === 0) return;
  w.uint32(tag);
  w.uint32(values.length * 8);
  for (const v of values) w.double(v);
}

function writePackedSint64s(w: Writer, tag: number, values: readonly number[]): void {
  if (values.length === 0) return;
  w.uint32(tag);
  const at = w.fork();
  for (const v of values) w.sint64(v, 'histogram bucket delta');
  w.join(at);
}

function writeSpans(w: Writer, tag: number, spans: Histogram['positiveSpans']): void {
  for (const s of spans) {
    w.uint32(tag);
    const at = w.fork();
    if (s.offset !== 0) {
      w.uint32(0x08);
      w.sint32(s.offset);
    }
    if (s.length !== 0) {
      w.uint32(0x10);
      w.uint32(s.length);
    }
    w.join(at);
  }
}

/** Writes a Histogram message (same layout in 1.0 and 2.0) under `tag`. */
export function writeHistogram(w: Writer, tag: number, h: Histogram): void {
  w.uint32(tag);
  const at = w.fork();
  // The count oneofs are always written (a set oneof is on the wire even at zero) so the flavour survives.
  if (h.isFloat) {
    w.uint32(0x11);
    w.double(h.count);
  } else {
    w.uint32(0x08);
    w.uint64(h.count, 'histogram count');
  }
  writeDoubleField(w, 0x19, h.sum);
  if (h.schema !== 0) {
    w.uint32(0x20);
    w.sint32(h.schema);
  }
  writeDoubleField(w, 0x29, h.zeroThreshold);
  if (h.isFloat) {
    w.uint32(0x39);
    w.double(h.zeroCount);
  } else {
    w.uint32(0x30);
    w.uint64(h.zeroCount, 'histogram zero count');
  }
  writeSpans(w, 0x42, h.negativeSpans);
  writePackedSint64s(w, 0x4a, h.negativeDeltas);
  writePackedDoubles(w, 0x52, h.negativeCounts);
  writeSpans(w, 0x5a, h.positiveSpans);
  writePackedSint64s(w, 0x62, h.positiveDeltas);
  writePackedDoubles(w, 0x6a, h.positiveCounts);
  const hint = RESET_HINT_NUMBERS[h.resetHint];
  if (hint !== 0) {
    w.uint32(0x70);
    w.uint32(hint);
  }
  if (h.timestamp !== 0) {
    w.uint32(0x78);
    w.int64(h.timestamp, 'histogram timestamp');
  }
  writePackedDoubles(w, 0x82, h.customValues); // field 16, wire type 2: tag 130 = 0x82 0x01
  w.join(at);
}

// ---------------------------------------------------------------------------------------------------------------
// Remote write 1.0

function writeLabelV1(w: Writer, tag: number, l: Label): void {
  w.uint32(tag);
  const at = w.fork();
  if (l.name !== '') {
    w.uint32(0x0a);
    w.string(l.name);
  }
  if (l.value !== '') {
    w.uint32(0x12);
    w.string(l.value);
  }
  w.join(at);
}

function writeExemplarV1(w: Writer, e: Exemplar): void {
  w.uint32(0x1a);
  const at = w.fork();
  for (const l of e.labels) writeLabelV1(w, 0x0a, l);
  writeDoubleField(w, 0x11, e.value);
  if (e.timestamp !== 0) {
    w.uint32(0x18);
    w.int64(e.timestamp, 'exemplar timestamp');
  }
  w.join(at);
}

/** A 1.0 TimeSeries message (also the series of a remote-read QueryResult) under `tag`. */
export function writeSeriesV1(
  w: Writer,
  tag: number,
  s: { readonly labels: readonly Label[]; readonly samples: readonly Sample[]; readonly histograms: readonly Histogram[]; readonly exemplars?: readonly Exemplar[] },
): void {
  w.uint32(tag);
  const at = w.fork();
  for (const l of s.labels) writeLabelV1(w, 0x0a, l);
  for (const x of s.samples) writeSample(w, x);
  if (s.exemplars !== undefined) for (const e of s.exemplars) writeExemplarV1(w, e);
  for (const h of s.histograms) writeHistogram(w, 0x22, h);
  w.join(at);
}

function writeStringField(w: Writer, tag: number, s: string): void {
  if (s === '') return;
  w.uint32(tag);
  w.string(s);
}

function writeMetadataV1(w: Writer, m: MetricMetadata): void {
  w.uint32(0x1a);
  const at = w.fork();
  const type = METRIC_TYPE_NUMBERS[m.type];
  if (type !== 0) {
    w.uint32(0x08);
    w.uint32(type);
  }
  writeStringField(w, 0x12, m.metricFamilyName);
  writeStringField(w, 0x22, m.help);
  writeStringField(w, 0x2a, m.unit);
  w.join(at);
}

export function encodeV1(req: WriteRequest): Uint8Array {
  const w = new Writer(256 + req.series.length * 256);
  for (const s of req.series) writeSeriesV1(w, 0x0a, s);
  for (const m of req.metadata) writeMetadataV1(w, m);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Remote write 2.0

class SymbolTable {
  readonly symbols: string[] = [''];
  private readonly refs = new Map<string, number>([['', 0]]);

  ref(s: string): number {
    let r = this.refs.get(s);
    if (r === undefined) {
      r = this.symbols.length;
      this.symbols.push(s);
      this.refs.set(s, r);
    }
    return r;
  }
}

function writeLabelRefs(w: Writer, labels: readonly Label[], table: SymbolTable): void {
  if (labels.length === 0) return;
  w.uint32(0x0a);
  const at = w.fork();
  for (const l of labels) {
    w.uint32(table.ref(l.name));
    w.uint32(table.ref(l.value));
  }
  w.join(at);
}

/**
 * Encodes a 2.0 Request. Series are written first into their own buffer while the symbol table fills, then the
 * symbols (field 4) are written ahead of them (field 5), which is the order Prometheus uses.
 */
export function encodeV2(req: WriteRequest): Uint8Array {
  if (req.metadata.length > 0 && req.series.length === 0) {
    // 2.0 has no place for metadata without a series; refusing beats silently dropping it.
    throw new CodecError('CODEC_ERR_ENCODE', 'remote write 2.0 cannot carry metadata without series');
  }
  const table = new SymbolTable();
  const body = new Writer(256 + req.series.length * 128);
  for (const s of req.series) {
    body.uint32(0x2a);
    const at = body.fork();
    writeLabelRefs(body, s.labels, table);
    for (const x of s.samples) writeSample(body, x);
    for (const h of s.histograms) writeHistogram(body, 0x1a, h);
    for (const e of s.exemplars) {
      body.uint32(0x22);
      const e0 = body.fork();
      writeLabelRefs(body, e.labels, table);
      writeDoubleField(body, 0x11, e.value);
      if (e.timestamp !== 0) {
        body.uint32(0x18);
        body.int64(e.timestamp, 'exemplar timestamp');
      }
      body.join(e0);
    }
    if (s.metadata !== undefined) {
      body.uint32(0x2a);
      const m0 = body.fork();
      const type = METRIC_TYPE_NUMBERS[s.metadata.type];
      const help = table.ref(s.metadata.help);
      const unit = table.ref(s.metadata.unit);
      if (type !== 0) {
        body.uint32(0x08);
        body.uint32(type);
      }
      if (help !== 0) {
        body.uint32(0x18);
        body.uint32(help);
      }
      if (unit !== 0) {
        body.uint32(0x20);
        body.uint32(unit);
      }
      body.join(m0);
    }
    if (s.createdTimestamp !== undefined && s.createdTimestamp !== 0) {
      body.uint32(0x30);
      body.int64(s.createdTimestamp, 'created timestamp');
    }
    body.join(at);
  }
  const w = new Writer(body.pos + 64 + table.symbols.length * 16);
  for (const s of table.symbols) {
    w.uint32(0x22);
    w.string(s);
  }
  w.raw(body.buf.subarray(0, body.pos));
  return w.finish();
}
