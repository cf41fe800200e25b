/**
 * The bottom layer of the decoders: a cursor over protobuf bytes with bounds-checked primitive reads. Every read
 * checks against `end` (the end of the enclosing message) so that a length prefix can never make a nested decoder
 * read its parent's bytes; every failure is a CodecError naming the series being decoded (`series`, -1 outside).
 */
import { CodecError, type CodecErrorCode } from '../errors.js';

const TWO_32 = 4294967296;

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos = 0;
  /** Index of the series being decoded, for error messages; -1 outside a series. */
  series = -1;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  fail(code: CodecErrorCode, detail: string): CodecError {
    return new CodecError(code, detail, this.series >= 0 ? this.series : undefined);
  }

  malformed(detail: string): CodecError {
    return this.fail('CODEC_ERR_PROTOBUF', `malformed protobuf: ${detail}`);
  }

  /** A varint truncated to its low 32 bits, unsigned (tags, lengths, uint32, enums). */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos < end) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) throw this.malformed('truncated varint');
      const b = buf[pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    throw this.malformed('varint longer than 10 bytes');
  }

  /** A length prefix; checks that the delimited bytes lie inside the enclosing message. */
  length(end: number): number {
    const len = this.uint32(end);
    if (len > end - this.pos) throw this.malformed('length runs past the end of the message');
    return len;
  }

  /** Reads the length prefix of a nested message and returns where that message ends. */
  limit(end: number): number {
    const len = this.length(end);
    return this.pos + len;
  }

  /**
   * A 64-bit varint as its low and high 32-bit halves, kept in `lo`/`hi` (no allocation). Returns nothing; the
   * callers below turn the halves into a safe number or fail.
   */
  lo = 0;
  hi = 0;
  private varint64(end: number): void {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let i = 0;
    for (; i < 10; i++) {
      if (pos >= end) throw this.malformed('truncated varint');
      const b = buf[pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) break;
    }
    if (i === 10) throw this.malformed('varint longer than 10 bytes');
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** int64 as a number; fails when it is not a safe integer. Fast path for small non-negative values. */
  int64(end: number, what: string): number {
    const buf = this.buf;
    const pos = this.pos;
    // Fast path: up to 7 bytes (49 bits), always non-negative and exact. Millisecond timestamps take 6.
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7 && pos + i < end; i++) {
      const b = buf[pos + i]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos + i + 1;
        return value;
      }
      scale *= 128;
    }
    this.varint64(end);
    return this.toSigned(what);
  }

  private toSigned(what: string): number {
    const lo = this.lo;
    const hi = this.hi;
    if (hi & 0x80000000) {
      // Negative two's complement: magnitude = ~value + 1.
      const mlo = ~lo >>> 0;
      const mhi = ~hi >>> 0;
      if (mhi >= 0x200000) throw this.fail('CODEC_ERR_INTEGER_RANGE', `${what} is not a safe integer`);
      return -(mhi * TWO_32 + mlo + 1);
    }
    if (hi >= 0x200000) throw this.fail('CODEC_ERR_INTEGER_RANGE', `${what} is not a safe integer`);
    return hi * TWO_32 + lo;
  }

  uint64(end: number, what: string): number {
    this.varint64(end);
    if (this.hi >= 0x200000) throw this.fail('CODEC_ERR_INTEGER_RANGE', `${what} is not a safe integer`);
    return this.hi * TWO_32 + this.lo;
  }

  /** Zigzag-encoded sint64 as a number; fails when not a safe integer. */
  sint64(end: number, what: string): number {
    this.varint64(end);
    const lo = this.lo;
    const hi = this.hi;
    // value = (n >>> 1) ^ -(n & 1)
    const ulo = ((lo >>> 1) | (hi << 31)) >>> 0;
    const uhi = hi >>> 1;
    if (uhi >= 0x200000) throw this.fail('CODEC_ERR_INTEGER_RANGE', `${what} is not a safe integer`);
    const magnitude = uhi * TWO_32 + ulo;
    return lo & 1 ? -magnitude - 1 : magnitude;
  }

  sint32(end: number): number {
    const n = this.uint32(end);
    return (n >>> 1) ^ -(n & 1);
  }

  double(end: number): number {
    const pos = this.pos;
    if (pos + 8 > end) throw this.malformed('truncated double');
    this.pos = pos + 8;
    return this.view.getFloat64(pos, true);
  }

  bool(end: number): boolean {
    this.varint64(end);
    return (this.lo | this.hi) !== 0;
  }

  /**
   * Skips a field this decoder does not know. `known` is a bit mask of the message's field numbers (< 32): a known
   * field that reaches here came with the wrong wire type, which is an error, not an unknown field.
   */
  skip(tag: number, end: number, known: number): void {
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw this.malformed('field number 0');
    if (field < 32 && (known & (1 << field)) !== 0) throw this.malformed(`field ${field} has wrong wire type ${wire}`);
    switch (wire) {
      case WIRE_VARINT:
        this.varint64(end);
        return;
      case WIRE_I64:
        if (this.pos + 8 > end) throw this.malformed('truncated fixed64');
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.limit(end);
        return;
      case WIRE_I32:
        if (this.pos + 4 > end) throw this.malformed('truncated fixed32');
        this.pos += 4;
        return;
      default:
        throw this.malformed(`unsupported wire type ${wire} (field ${field})`);
    }
  }
}

/** Bit mask of field numbers, for {@link Reader.skip}. */
export function fields(...numbers: readonly number[]): number {
  let mask = 0;
  for (const n of numbers) mask |= 1 << n;
  return mask;
}
