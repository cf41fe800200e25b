/**
 * PostgreSQL COPY binary format, just what the sample writer and reader need: rows of int8 scalars and
 * int8[]/float8[] arrays. Binary keeps float8 bits exactly (the Prometheus stale marker is a NaN with a payload,
 * which the text format would flatten to the canonical NaN) and skips number formatting and parsing.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const INT8_OID = 20;
const FLOAT8_OID = 701;

/**
 * A growable buffer writer for one COPY stream. Writes through a DataView, which V8 compiles to plain stores
 * (several times faster than Buffer.write*BE with their argument checks), and setFloat64 keeps NaN payloads.
 */
export class CopyBinaryWriter {
  private bytes: Uint8Array;
  private view: DataView;
  private pos = 0;

  /**
   * `reuse`: memory of an earlier stream whose COPY has finished, written over from the start (a fresh buffer per
   * COPY is an off-heap allocation of about 40 bytes per sample, which V8 answers with more garbage collection).
   */
  constructor(initialBytes: number, reuse?: Uint8Array) {
    this.bytes = reuse !== undefined && reuse.length >= Math.max(64, initialBytes) ? reuse : new Uint8Array(Math.max(64, initialBytes));
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
    this.bytes.set(SIGNATURE, 0);
    this.pos = SIGNATURE.length;
    this.view.setInt32(this.pos, 0); // flags
    this.view.setInt32(this.pos + 4, 0); // header extension length
    this.pos += 8;
  }

  beginRow(fields: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, fields);
    this.pos += 2;
  }

  int8(v: number): void {
    this.ensure(12);
    this.view.setInt32(this.pos, 8);
    this.putInt64(this.pos + 4, v);
    this.pos += 12;
  }

  /** An int8[] from `values[from..to)`. */
  int8Array(values: ArrayLike<number>, from: number, to: number): void {
    const n = to - from;
    this.arrayHeader(n, INT8_OID);
    const view = this.view;
    let p = this.pos;
    for (let i = from; i < to; i++) {
      view.setInt32(p, 8);
      this.putInt64(p + 4, values[i]!);
      p += 12;
    }
    this.pos = p;
  }

  float8Array(values: Float64Array, from: number, to: number): void {
    const n = to - from;
    this.arrayHeader(n, FLOAT8_OID);
    const view = this.view;
    let p = this.pos;
    for (let i = from; i < to; i++) {
      view.setInt32(p, 8);
      view.setFloat64(p + 4, values[i]!);
      p += 12;
    }
    this.pos = p;
  }

  /** Finishes the stream and returns its bytes (a view of `memory`). */
  end(): Buffer {
    this.ensure(2);
    this.view.setInt16(this.pos, -1);
    this.pos += 2;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.pos);
  }

  /** The memory written into (reusable by a later stream once this one's COPY has finished). */
  get memory(): Uint8Array {
    return this.bytes;
  }

  /** Safe integers only: split into 32-bit halves, avoiding a BigInt per value on the hot path. */
  private putInt64(p: number, v: number): void {
    const hi = Math.floor(v / 4294967296);
    this.view.setInt32(p, hi);
    this.view.setUint32(p + 4, v - hi * 4294967296);
  }

  private arrayHeader(n: number, oid: number): void {
    const bytes = 20 + 12 * n;
    this.ensure(4 + bytes);
    const view = this.view;
    view.setInt32(this.pos, bytes);
    view.setInt32(this.pos + 4, 1); // dimensions
    view.setInt32(this.pos + 8, 0); // has nulls
    view.setInt32(this.pos + 12, oid);
    view.setInt32(this.pos + 16, n);
    view.setInt32(this.pos + 20, 1); // lower bound
    this.pos += 24;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.pos + extra));
    next.set(this.bytes.subarray(0, this.pos));
    this.bytes = next;
    this.view = new DataView(next.buffer);
  }
}

/** Decodes a binary-format one-dimensional int8[] (no NULLs) into numbers. */
export function decodeInt8Array(b: Buffer): number[] {
  const n = b.readInt32BE(0) === 0 ? 0 : b.readInt32BE(12);
  const out = new Array<number>(n);
  let p = 20;
  for (let i = 0; i < n; i++) {
    out[i] = b.readInt32BE(p + 4) * 4294967296 + b.readUInt32BE(p + 8);
    p += 12;
  }
  return out;
}

/**
 * Decodes a binary-format one-dimensional float8[] (no NULLs), keeping NaN payloads: bytes are copied into the
 * result's memory, because Buffer.readDoubleBE quiets a signalling NaN such as the stale marker.
 */
export function decodeFloat8Array(b: Buffer): Float64Array {
  const n = b.readInt32BE(0) === 0 ? 0 : b.readInt32BE(12);
  const out = new Float64Array(n);
  const bytes = new Uint8Array(out.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  let p = 24;
  for (let i = 0; i < n; i++) {
    const o = i * 8;
    for (let j = 0; j < 8; j++) bytes[o + j] = b[p + (little ? 7 - j : j)]!;
    p += 12;
  }
  return out;
}

/** A float8 from its 8 big-endian bytes (float8send), keeping a NaN payload (no float conversion on the way). */
export function nanFromBits(b: Buffer): number {
  const out = new Float64Array(1);
  const bytes = new Uint8Array(out.buffer);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (let j = 0; j < 8; j++) bytes[j] = b[little ? 7 - j : j]!;
  return out[0]!;
}
