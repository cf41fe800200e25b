/**
 * PostgreSQL COPY binary format, just what the sample writer and reader need: rows of int8 scalars and
 * int8[]/float8[] arrays. Binary keeps float8 bits exactly (the Prometheus stale marker is a NaN with a payload,
 * which the text format would flatten to the canonical NaN) and skips number formatting and parsing.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const INT8_OID = 20;
const FLOAT8_OID = 701;

/** A growable buffer writer for one COPY stream. */
export class CopyBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
    this.ensure(SIGNATURE.length + 8);
    SIGNATURE.copy(this.buf, 0);
    this.pos = SIGNATURE.length;
    this.buf.writeInt32BE(0, this.pos); // flags
    this.buf.writeInt32BE(0, this.pos + 4); // header extension length
    this.pos += 8;
  }

  beginRow(fields: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(fields, this.pos);
    this.pos += 2;
  }

  int8(v: number): void {
    this.ensure(12);
    this.buf.writeInt32BE(8, this.pos);
    this.buf.writeBigInt64BE(BigInt(v), this.pos + 4);
    this.pos += 12;
  }

  /** An int8[] from `values[from..to)`. */
  int8Array(values: ArrayLike<number>, from: number, to: number): void {
    const n = to - from;
    this.arrayHeader(n, INT8_OID);
    for (let i = from; i < to; i++) {
      this.buf.writeInt32BE(8, this.pos);
      // Split into two 32-bit halves: avoids a BigInt per element on the hot path. Values are safe integers.
      const v = values[i]!;
      const hi = Math.floor(v / 4294967296);
      this.buf.writeInt32BE(hi, this.pos + 4);
      this.buf.writeUInt32BE(v - hi * 4294967296, this.pos + 8);
      this.pos += 12;
    }
  }

  float8Array(values: Float64Array, from: number, to: number): void {
    const n = to - from;
    this.arrayHeader(n, FLOAT8_OID);
    for (let i = from; i < to; i++) {
      this.buf.writeInt32BE(8, this.pos);
      this.buf.writeDoubleBE(values[i]!, this.pos + 4);
      this.pos += 12;
    }
  }

  /** Finishes the stream and returns its bytes. */
  end(): Buffer {
    this.ensure(2);
    this.buf.writeInt16BE(-1, this.pos);
    this.pos += 2;
    return this.buf.subarray(0, this.pos);
  }

  private arrayHeader(n: number, oid: number): void {
    const bytes = 20 + 12 * n;
    this.ensure(4 + bytes);
    this.buf.writeInt32BE(bytes, this.pos);
    this.buf.writeInt32BE(1, this.pos + 4); // dimensions
    this.buf.writeInt32BE(0, this.pos + 8); // has nulls
    this.buf.writeInt32BE(oid, this.pos + 12);
    this.buf.writeInt32BE(n, this.pos + 16);
    this.buf.writeInt32BE(1, this.pos + 20); // lower bound
    this.pos += 24;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
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
