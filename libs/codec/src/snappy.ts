/**
 * Snappy block format (not the framed stream format), as remote write and remote read use it: a uvarint of the
 * uncompressed length, then literal and copy elements. Written by hand so that the declared length is checked
 * against the caller's cap before anything is allocated, and so that every malformed input ends in a
 * {@link CodecError} (the decoder checks every bound and requires the output to be filled exactly).
 */
import { CodecError } from './errors.js';
import { nativeSnappy } from './internal/native-snappy.js';

/** The largest uncompressed length the format can declare (a uvarint of at most 32 bits). */
const MAX_DECLARED = 0xffffffff;

/**
 * Reads the uncompressed length from a snappy block header without decompressing.
 * Returns the length and the header size in bytes; throws CODEC_ERR_SNAPPY on a bad header.
 */
export function snappyDecodedLength(data: Uint8Array): { readonly length: number; readonly headerBytes: number } {
  let length = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= data.length) throw new CodecError('CODEC_ERR_SNAPPY', 'snappy: truncated length header');
    const b = data[i]!;
    length += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (length > MAX_DECLARED) throw new CodecError('CODEC_ERR_SNAPPY', 'snappy: length header overflows 32 bits');
      return { length, headerBytes: i + 1 };
    }
  }
  throw new CodecError('CODEC_ERR_SNAPPY', 'snappy: length header longer than 5 bytes');
}

/**
 * Decompresses a snappy block. Throws CODEC_ERR_TOO_LARGE (413) when the header declares more than
 * `maxDecodedBytes`, before allocating; CODEC_ERR_SNAPPY (400) when the block is truncated or corrupt.
 */
export function snappyUncompress(data: Uint8Array, maxDecodedBytes: number): Uint8Array {
  const { length, headerBytes } = snappyDecodedLength(data);
  if (length > maxDecodedBytes) {
    throw new CodecError(
      'CODEC_ERR_TOO_LARGE',
      `snappy: declared decoded size ${length} bytes exceeds the limit of ${maxDecodedBytes} bytes`,
    );
  }
  const native = nativeSnappy();
  if (native !== undefined) return nativeUncompress(native, data, length);
  const out = new Uint8Array(length);
  let ip = headerBytes;
  let op = 0;
  const end = data.length;
  while (ip < end) {
    const tag = data[ip++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59; // 1..4 little-endian length bytes follow
        if (ip + extra > end) throw corrupt('truncated literal length');
        len = 0;
        for (let k = 0; k < extra; k++) len += data[ip + k]! * 2 ** (8 * k);
        ip += extra;
      }
      len += 1;
      if (ip + len > end) throw corrupt('literal runs past the input');
      if (op + len > length) throw corrupt('literal overflows the declared length');
      if (len < 16) {
        for (let k = 0; k < len; k++) out[op + k] = data[ip + k]!;
      } else {
        out.set(data.subarray(ip, ip + len), op);
      }
      ip += len;
      op += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (ip >= end) throw corrupt('truncated copy');
      len = ((tag >>> 2) & 7) + 4;
      offset = ((tag >>> 5) << 8) | data[ip]!;
      ip += 1;
    } else if (kind === 2) {
      if (ip + 2 > end) throw corrupt('truncated copy');
      len = (tag >>> 2) + 1;
      offset = data[ip]! | (data[ip + 1]! << 8);
      ip += 2;
    } else {
      if (ip + 4 > end) throw corrupt('truncated copy');
      len = (tag >>> 2) + 1;
      offset = (data[ip]! | (data[ip + 1]! << 8) | (data[ip + 2]! << 16) | (data[ip + 3]! << 24)) >>> 0;
      ip += 4;
    }
    if (offset === 0 || offset > op) throw corrupt('copy offset out of range');
    if (op + len > length) throw corrupt('copy overflows the declared length');
    if (offset >= len) {
      out.copyWithin(op, op - offset, op - offset + len);
    } else {
      // Overlapping copy (a run): byte by byte, each byte may be one this copy just wrote.
      for (let k = 0; k < len; k++) out[op + k] = out[op - offset + k]!;
    }
    op += len;
  }
  if (op !== length) throw corrupt(`decoded ${op} bytes, header declared ${length}`);
  return out;
}

/** The native decoder on a block whose declared length passed the cap; its refusals become CODEC_ERR_SNAPPY. */
function nativeUncompress(native: NonNullable<ReturnType<typeof nativeSnappy>>, data: Uint8Array, length: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = native.uncompressSync(data, { asBuffer: true, copyOutputData: true });
  } catch (e: unknown) {
    throw corrupt(e instanceof Error ? e.message.toLowerCase() : String(e));
  }
  // The block format fills exactly the declared length; the native decoder checks it too, this states it here.
  if (out.length !== length) throw corrupt(`decoded ${out.length} bytes, header declared ${length}`);
  return out;
}

function corrupt(what: string): CodecError {
  return new CodecError('CODEC_ERR_SNAPPY', `snappy: ${what}`);
}

const BLOCK = 1 << 16; // like the reference implementation: copies never reach back more than 64 KiB
const HASH_BITS = 14;
const table = new Int32Array(1 << HASH_BITS);

/** Compresses `data` into one snappy block (what remote write and remote read put in the HTTP body). */
export function snappyCompress(data: Uint8Array): Uint8Array {
  const n = data.length;
  // Worst case of the format: 32 + n + n/6, plus the 5-byte header.
  const out = new Uint8Array(32 + n + Math.ceil(n / 6) + 5);
  let op = 0;
  let v = n;
  while (v >= 0x80) {
    out[op++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[op++] = v;
  for (let blockStart = 0; blockStart < n; blockStart += BLOCK) {
    op = compressBlock(data, blockStart, Math.min(n, blockStart + BLOCK), out, op);
  }
  return out.slice(0, op);
}

function load32(d: Uint8Array, i: number): number {
  return d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24);
}

function hash(x: number): number {
  return Math.imul(x, 0x1e35a7bd) >>> (32 - HASH_BITS);
}

function compressBlock(d: Uint8Array, start: number, end: number, out: Uint8Array, op: number): number {
  table.fill(-1);
  let lit = start; // start of pending literal bytes
  let i = start;
  const limit = end - 4;
  while (i <= limit) {
    const cur = load32(d, i);
    const h = hash(cur);
    const cand = table[h]!;
    table[h] = i;
    if (cand >= start && load32(d, cand) === cur) {
      let len = 4;
      while (i + len < end && d[cand + len] === d[i + len]) len++;
      if (lit < i) op = emitLiteral(d, lit, i, out, op);
      op = emitCopy(i - cand, len, out, op);
      i += len;
      lit = i;
    } else {
      i++;
    }
  }
  if (lit < end) op = emitLiteral(d, lit, end, out, op);
  return op;
}

function emitLiteral(d: Uint8Array, from: number, to: number, out: Uint8Array, op: number): number {
  const n = to - from - 1;
  if (n < 60) {
    out[op++] = n << 2;
  } else if (n < 0x100) {
    out[op++] = 60 << 2;
    out[op++] = n;
  } else if (n < 0x10000) {
    out[op++] = 61 << 2;
    out[op++] = n & 0xff;
    out[op++] = n >>> 8;
  } else {
    out[op++] = 62 << 2;
    out[op++] = n & 0xff;
    out[op++] = (n >>> 8) & 0xff;
    out[op++] = n >>> 16;
  }
  out.set(d.subarray(from, to), op);
  return op + (to - from);
}

function emitCopy(offset: number, len: number, out: Uint8Array, op: number): number {
  // Copies longer than 64 bytes are split; keep the last piece at >= 4 bytes so a 1-byte-offset form stays legal.
  while (len >= 68) {
    out[op++] = (63 << 2) | 2;
    out[op++] = offset & 0xff;
    out[op++] = offset >>> 8;
    len -= 64;
  }
  if (len > 64) {
    out[op++] = (59 << 2) | 2;
    out[op++] = offset & 0xff;
    out[op++] = offset >>> 8;
    len -= 60;
  }
  if (len < 12 && offset < 2048) {
    out[op++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 0xff;
  } else {
    out[op++] = 2 | ((len - 1) << 2);
    out[op++] = offset & 0xff;
    out[op++] = offset >>> 8;
  }
  return op;
}
