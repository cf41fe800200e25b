import { SimError } from './errors.js';

/**
 * Remote-write 1.0 bytes for the simulator's own traffic. The fake replicas send what Prometheus 2.42 sends:
 * a snappy block-compressed protobuf `prometheus.WriteRequest`. This is a deliberately small codec limited to
 * what the simulator produces (float samples, labels) and what its in-process fake ingest reads; the real
 * ingest decodes with @promha/codec.
 */
export interface WireLabel {
  readonly name: string;
  readonly value: string;
}
export interface WireSeries {
  readonly labels: readonly WireLabel[];
  readonly samples: readonly {
    readonly value: number;
    readonly timestamp: number;
  }[];
}

class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;
  push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  varint(v: number): void {
    const out: number[] = [];
    // Timestamps exceed 2^32, so shift with division rather than bit operators.
    let n = v;
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    this.push(Uint8Array.from(out));
  }
  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }
  bytesField(field: number, bytes: Uint8Array): void {
    this.tag(field, 2);
    this.varint(bytes.length);
    this.push(bytes);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Protobuf bytes of a remote-write 1.0 WriteRequest. Timestamps must be non-negative integers. */
export function encodeWriteRequestV1(series: readonly WireSeries[]): Uint8Array {
  const req = new Writer();
  for (const s of series) {
    const ts = new Writer();
    for (const l of s.labels) {
      const lw = new Writer();
      lw.bytesField(1, utf8.encode(l.name));
      lw.bytesField(2, utf8.encode(l.value));
      ts.bytesField(1, lw.finish());
    }
    for (const smp of s.samples) {
      const sw = new Writer();
      sw.tag(1, 1);
      const d = new Uint8Array(8);
      new DataView(d.buffer).setFloat64(0, smp.value, true);
      sw.push(d);
      sw.tag(2, 0);
      sw.varint(smp.timestamp);
      ts.bytesField(2, sw.finish());
    }
    req.bytesField(1, ts.finish());
  }
  return req.finish();
}

/** A valid snappy block made of literals only: cheap, and every decoder accepts it. */
export function snappyLiteral(data: Uint8Array): Uint8Array {
  const w = new Writer();
  w.varint(data.length);
  for (let off = 0; off < data.length; off += 65536) {
    const chunk = data.subarray(off, Math.min(data.length, off + 65536));
    const n = chunk.length - 1;
    if (n < 60) w.push(Uint8Array.of(n << 2));
    else if (n < 0x100) w.push(Uint8Array.of(60 << 2, n));
    else w.push(Uint8Array.of(61 << 2, n & 0xff, n >>> 8));
    w.push(chunk);
  }
  return w.finish();
}

/** Snappy block decompression (all element types), bounded by `maxBytes`. */
export function snappyDecode(data: Uint8Array, maxBytes: number): Uint8Array {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = data[pos++];
      if (b === undefined) throw new SimError('SIM_WIRE', 'truncated varint');
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
  };
  const length = varint();
  if (length > maxBytes) throw new SimError('SIM_WIRE', `snappy length ${length} over ${maxBytes}`);
  const out = new Uint8Array(length);
  let o = 0;
  const le = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v += (data[pos++] ?? 0) * 2 ** (8 * i);
    return v;
  };
  while (pos < data.length) {
    const tag = data[pos++]!;
    const type = tag & 3;
    if (type === 0) {
      let len = tag >>> 2;
      if (len >= 60) len = le(len - 59);
      len += 1;
      if (o + len > length || pos + len > data.length) throw new SimError('SIM_WIRE', 'snappy literal out of bounds');
      out.set(data.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (type === 1) {
      len = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | (data[pos++] ?? 0);
    } else {
      len = (tag >>> 2) + 1;
      offset = le(type === 2 ? 2 : 4);
    }
    if (offset === 0 || offset > o || o + len > length) throw new SimError('SIM_WIRE', 'snappy copy out of bounds');
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
  }
  if (o !== length) throw new SimError('SIM_WIRE', 'snappy block shorter than its header');
  return out;
}

/** Decodes the series of a remote-write 1.0 WriteRequest (labels and float samples; other fields skipped). */
export function decodeWriteRequestV1(bytes: Uint8Array): WireSeries[] {
  const fields = (buf: Uint8Array, visit: (field: number, wire: number, r: Reader) => void): void => {
    const r = new Reader(buf);
    while (!r.done()) {
      const key = r.varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      visit(field, wire, r);
    }
  };
  const series: WireSeries[] = [];
  fields(bytes, (field, wire, r) => {
    if (field !== 1 || wire !== 2) return r.skip(wire);
    const labels: WireLabel[] = [];
    const samples: { value: number; timestamp: number }[] = [];
    fields(r.bytes(), (f, w, tr) => {
      if (f === 1 && w === 2) {
        let name = '';
        let value = '';
        fields(tr.bytes(), (lf, lw, lr) => {
          if (lf === 1 && lw === 2) name = utf8d.decode(lr.bytes());
          else if (lf === 2 && lw === 2) value = utf8d.decode(lr.bytes());
          else lr.skip(lw);
        });
        labels.push({ name, value });
      } else if (f === 2 && w === 2) {
        let value = 0;
        let timestamp = 0;
        fields(tr.bytes(), (sf, sw, sr) => {
          if (sf === 1 && sw === 1) value = sr.float64();
          else if (sf === 2 && sw === 0) timestamp = sr.varint();
          else sr.skip(sw);
        });
        samples.push({ value, timestamp });
      } else tr.skip(w);
    });
    series.push({ labels, samples });
  });
  return series;
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new SimError('SIM_WIRE', 'truncated protobuf varint');
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
    throw new SimError('SIM_WIRE', 'protobuf varint too long');
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new SimError('SIM_WIRE', 'protobuf field out of bounds');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float64(): number {
    if (this.pos + 8 > this.buf.length) throw new SimError('SIM_WIRE', 'truncated double');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new SimError('SIM_WIRE', `unsupported protobuf wire type ${wire}`);
  }
}

/** Remote-read request for one query: every series of `metric` in [startMs, endMs], SAMPLES response type. */
export function encodeReadRequest(metric: string, startMs: number, endMs: number): Uint8Array {
  const matcher = new Writer();
  matcher.tag(1, 0);
  matcher.varint(0); // EQ
  matcher.bytesField(2, utf8.encode('__name__'));
  matcher.bytesField(3, utf8.encode(metric));
  const query = new Writer();
  query.tag(1, 0);
  query.varint(startMs);
  query.tag(2, 0);
  query.varint(endMs);
  query.bytesField(3, matcher.finish());
  const req = new Writer();
  req.bytesField(1, query.finish());
  req.tag(2, 0);
  req.varint(0); // SAMPLES
  return req.finish();
}

/** Series of a (decompressed) SAMPLES remote-read response: ReadResponse.results[].timeseries[]. */
export function decodeReadResponse(bytes: Uint8Array): WireSeries[] {
  const out: WireSeries[] = [];
  const results = new Reader(bytes);
  while (!results.done()) {
    const key = results.varint();
    if (key !== ((1 << 3) | 2)) {
      results.skip(key % 8);
      continue;
    }
    const result = new Reader(results.bytes());
    const series = new Writer();
    while (!result.done()) {
      const k = result.varint();
      // QueryResult.timeseries has the same field number and shape as WriteRequest.timeseries.
      if (k === ((1 << 3) | 2)) series.bytesField(1, result.bytes());
      else result.skip(k % 8);
    }
    out.push(...decodeWriteRequestV1(series.finish()));
  }
  return out;
}
