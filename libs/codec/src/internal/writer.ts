/**
 * The bottom layer of the encoders: a growable byte buffer with protobuf primitives. Nested messages are written
 * in place after a one-byte length placeholder (`fork`); `join` patches the length and, in the rare case the
 * length needs more than one varint byte, shifts the body right. This avoids a separate sizing pass.
 */
import { CodecError } from '../errors.js';

const TWO_32 = 4294967296;
const encoder = new TextEncoder();

export class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(initial = 4096) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Writes an unsigned 32-bit varint (tags, lengths, uint32, enums). */
  uint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    v >>>= 0;
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  private varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo >= 0x80) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** int64 (two's complement for negatives, 10 bytes); `v` must be a safe integer. */
  int64(v: number, what: string): void {
    checkSafe(v, what);
    if (v >= 0 && v < TWO_32) {
      this.varint64(v >>> 0, 0);
      return;
    }
    this.varint64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  uint64(v: number, what: string): void {
    checkSafe(v, what);
    if (v < 0) throw new CodecError('CODEC_ERR_ENCODE', `${what} must not be negative: ${v}`);
    this.varint64(v >>> 0, Math.floor(v / TWO_32) >>> 0);
  }

  /** Zigzag sint64. */
  sint64(v: number, what: string): void {
    checkSafe(v, what);
    // zigzag(v) = 2v for v >= 0, -2v - 1 for v < 0; computed on the halves to stay exact beyond 2^52.
    const neg = v < 0;
    const m = neg ? -v - 1 : v; // non-negative, <= 2^53 - 1
    const lo = m >>> 0;
    const hi = Math.floor(m / TWO_32);
    const zlo = ((lo << 1) | (neg ? 1 : 0)) >>> 0;
    const zhi = ((hi << 1) | (lo >>> 31)) >>> 0;
    this.varint64(zlo, zhi);
  }

  sint32(v: number): void {
    this.uint32(((v << 1) ^ (v >> 31)) >>> 0);
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Starts a length-delimited value: reserves one byte for its length and returns where the body starts. */
  fork(): number {
    this.ensure(1);
    this.pos += 1;
    return this.pos;
  }

  /** Ends a length-delimited value started by {@link fork}. */
  join(bodyStart: number): void {
    const len = this.pos - bodyStart;
    if (len < 0x80) {
      this.buf[bodyStart - 1] = len;
      return;
    }
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    this.ensure(extra);
    const buf = this.buf;
    buf.copyWithin(bodyStart + extra, bodyStart, this.pos);
    let pos = bodyStart - 1;
    let v = len;
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos] = v;
    this.pos += extra;
  }

  /** A length-delimited UTF-8 string. Short ASCII strings are copied by hand; the rest go through TextEncoder. */
  string(s: string): void {
    const n = s.length;
    this.ensure(5 + n * 3);
    if (n < 0x80) {
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[start + i] = c;
      }
      if (i === n) {
        buf[start - 1] = n;
        this.pos = start + n;
        return;
      }
    }
    const start = this.fork();
    const { written } = encoder.encodeInto(s, this.buf.subarray(start));
    this.pos = start + written;
    this.join(start);
  }

  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Appends raw bytes. */
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function checkSafe(v: number, what: string): void {
  if (!Number.isSafeInteger(v)) throw new CodecError('CODEC_ERR_ENCODE', `${what} is not a safe integer: ${v}`);
}

/** True for +0 exactly (the proto3 default that is left off the wire); -0 and NaNs are written. */
export function isPositiveZero(v: number): boolean {
  return Object.is(v, 0);
}
