/**
 * String decoding for the hot path. Label names and values repeat across series and across requests (Prometheus
 * sends the same series every scrape interval), so decoded strings are interned in a direct-mapped cache keyed by
 * their UTF-8 bytes: a hit costs one hash pass and one compare pass over the bytes, and no allocation. The cache
 * is bounded (SLOTS x MAX_KEY bytes) and process-wide; a collision simply overwrites the slot.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const fromCharCodes: (...codes: number[]) => string = String.fromCharCode;

/** Set by {@link scan}: FNV-1a hash of the bytes, and whether they hold a non-ASCII byte (1) or a NUL (2). */
export let scanHash = 0;
export let scanFlags = 0;

export const FLAG_NON_ASCII = 1;
export const FLAG_NUL = 2;

/** Hashes `buf[start, end)` and records its flags in {@link scanHash} / {@link scanFlags}. */
export function scan(buf: Uint8Array, start: number, end: number): void {
  let h = 0x811c9dc5 ^ (end - start);
  let flags = 0;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    h = Math.imul(h ^ b, 0x01000193);
    if (b >= 0x80) flags |= FLAG_NON_ASCII;
    else if (b === 0) flags |= FLAG_NUL;
  }
  scanHash = h;
  scanFlags = flags;
}

/** Decodes UTF-8 without the cache; `undefined` when the bytes are not valid UTF-8. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number, flags: number): string | undefined {
  if (start === end) return '';
  if ((flags & FLAG_NON_ASCII) === 0 && end - start <= 256) {
    // ASCII is valid UTF-8, and one native call builds a flat string.
    // apply() passes the typed array as the argument list natively; a spread would go through its iterator.
    // eslint-disable-next-line prefer-spread
    return fromCharCodes.apply(undefined, buf.subarray(start, end) as unknown as number[]);
  }
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch {
    // A TypeError from the fatal decoder is the only way it reports invalid UTF-8; the caller names the problem.
    return undefined;
  }
}

/** A direct-mapped cache of immutable objects keyed by the bytes they were decoded from. */
export class BytesCache<T> {
  private readonly keys: Uint8Array;
  private readonly lengths: Int32Array;
  private readonly values: (T | undefined)[];

  constructor(
    private readonly slots: number,
    readonly maxKey: number,
  ) {
    this.keys = new Uint8Array(slots * maxKey);
    this.lengths = new Int32Array(slots).fill(-1);
    this.values = new Array<T | undefined>(slots).fill(undefined);
  }

  /** The cached value for `buf[start, end)`, given its {@link scanHash}; undefined on a miss. */
  get(buf: Uint8Array, start: number, end: number, hash: number): T | undefined {
    const slot = hash & (this.slots - 1);
    const len = end - start;
    if (this.lengths[slot] !== len) return undefined;
    const keys = this.keys;
    const base = slot * this.maxKey;
    for (let i = 0; i < len; i++) if (keys[base + i] !== buf[start + i]) return undefined;
    return this.values[slot];
  }

  set(buf: Uint8Array, start: number, end: number, hash: number, value: T): void {
    const len = end - start;
    if (len > this.maxKey) return;
    const slot = hash & (this.slots - 1);
    // A loop, not keys.set(buf.subarray(...)): keys are short and a subarray is an allocation.
    const keys = this.keys;
    const base = slot * this.maxKey;
    for (let i = 0; i < len; i++) keys[base + i] = buf[start + i]!;
    this.lengths[slot] = len;
    this.values[slot] = value;
  }

  clear(): void {
    this.lengths.fill(-1);
    this.values.fill(undefined);
  }
}

const stringCache = new BytesCache<string>(1 << 14, 64);

/**
 * Decodes the string `buf[start, end)` through the intern cache. Leaves the bytes' flags in {@link scanFlags};
 * returns `undefined` for invalid UTF-8.
 */
export function internString(buf: Uint8Array, start: number, end: number): string | undefined {
  scan(buf, start, end);
  const flags = scanFlags;
  if (end - start > stringCache.maxKey) return decodeUtf8(buf, start, end, flags);
  const hash = scanHash;
  const hit = stringCache.get(buf, start, end, hash);
  if (hit !== undefined) return hit;
  const s = decodeUtf8(buf, start, end, flags);
  if (s !== undefined) stringCache.set(buf, start, end, hash, s);
  return s;
}

/** Forgets every interned string (benchmarks use it to measure a cold cache). */
export function clearStringCache(): void {
  stringCache.clear();
}

/**
 * Compares two strings by Unicode code point, which is the byte order of their UTF-8 encodings (how Prometheus
 * sorts labels). JavaScript's `<` compares UTF-16 code units, which differs when a surrogate pair meets a BMP
 * character at or above U+E000, so the first differing unit is remapped before comparing.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}
