import type { Label } from '@promha/codec';

/**
 * Series key: label pairs joined with NUL, which no name or value may contain (checked before a write), so the key
 * is unambiguous. Built only for series the cache misses; a hit never builds it (see {@link SeriesCache.get}).
 */
export function seriesKey(labels: readonly Label[]): string {
  let k = '';
  for (const l of labels) k += `${l.name}\u0000${l.value}\u0000`;
  return k;
}

/** Returned by {@link hashLabels} when a name or value contains a NUL (which PostgreSQL text cannot hold). */
export const HAS_NUL = -1;

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** Final avalanche (murmur3's fmix32): FNV's low bits alone index a power-of-two table poorly. */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // 31 bits: a small integer in V8 on every platform (no heap number per call), and never HAS_NUL.
  return h & 0x7fffffff;
}

/**
 * Hash of a label set over its UTF-16 code units, equal to {@link hashKey} of its {@link seriesKey} (NUL stands
 * for each separator), computed without building the key. Returns HAS_NUL when a name or value contains a NUL:
 * the writer's validation rides on this pass over the characters instead of a pass of its own.
 */
export function hashLabels(labels: readonly Label[]): number {
  let h = FNV_OFFSET;
  for (let j = 0; j < labels.length; j++) {
    const l = labels[j]!;
    const n = l.name;
    for (let i = 0; i < n.length; i++) {
      const c = n.charCodeAt(i);
      if (c === 0) return HAS_NUL;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    h = Math.imul(h, FNV_PRIME); // the separator (h ^ 0 = h)
    const v = l.value;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c === 0) return HAS_NUL;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    h = Math.imul(h, FNV_PRIME);
  }
  return finish(h);
}

/** Hash of a series key; `hashKey(seriesKey(ls)) === hashLabels(ls)` for labels without NUL. */
export function hashKey(key: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  return finish(h);
}

/** Whether `key` is the series key of `labels`, compared in place (no key is built). */
function keyMatches(key: string, labels: readonly Label[]): boolean {
  let p = 0;
  const end = key.length;
  for (let j = 0; j < labels.length; j++) {
    const l = labels[j]!;
    const n = l.name;
    const v = l.value;
    if (p + n.length + v.length + 2 > end) return false;
    for (let i = 0; i < n.length; i++) if (key.charCodeAt(p + i) !== n.charCodeAt(i)) return false;
    p += n.length;
    if (key.charCodeAt(p++) !== 0) return false;
    for (let i = 0; i < v.length; i++) if (key.charCodeAt(p + i) !== v.charCodeAt(i)) return false;
    p += v.length;
    if (key.charCodeAt(p++) !== 0) return false;
  }
  return p === end;
}

const MIN_SLOTS = 1024;

/**
 * One generation: an open-addressing hash table (linear probing, load <= 1/2, no deletions) of series key → id.
 * Entries live in parallel typed arrays and one array of key strings, so an entry costs its key string plus
 * about 28 bytes, against a Map entry plus a cons string per lookup before.
 */
class Generation {
  private slots: Int32Array; // entry index + 1; 0 = empty
  private hashes: Int32Array;
  private ids: Float64Array;
  private keys: string[] = [];
  count = 0;

  constructor(private readonly capacity: number) {
    const slots = Math.min(MIN_SLOTS, pow2AtLeast(capacity * 2));
    this.slots = new Int32Array(slots);
    this.hashes = new Int32Array(slots >> 1);
    this.ids = new Float64Array(slots >> 1);
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Entry index of `labels` (hash from {@link hashLabels}), or -1. */
  findLabels(labels: readonly Label[], hash: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && keyMatches(this.keys[e]!, labels)) return e;
    }
  }

  findKey(key: string, hash: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.keys[e] === key) return e;
    }
  }

  id(e: number): number {
    return this.ids[e]!;
  }

  key(e: number): string {
    return this.keys[e]!;
  }

  /** Adds an entry known to be absent; the caller checks `full` first. */
  insert(key: string, hash: number, id: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const e = this.count++;
    this.hashes[e] = hash;
    this.ids[e] = id;
    this.keys[e] = key;
    this.place(e, hash);
  }

  private place(e: number, hash: number): void {
    const mask = this.slots.length - 1;
    let s = hash & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = e + 1;
  }

  private grow(): void {
    const n = this.slots.length * 2;
    this.slots = new Int32Array(n);
    const hashes = new Int32Array(n >> 1);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const ids = new Float64Array(n >> 1);
    ids.set(this.ids);
    this.ids = ids;
    for (let e = 0; e < this.count; e++) this.place(e, hashes[e]!);
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Bounded map from label set to series id with two generations: lookups hit `young` first; a hit in `old` is
 * copied into `young`. When `young` holds half the bound it becomes `old` and the previous `old` is dropped, which
 * evicts exactly the series not seen for a whole generation (an LRU approximation with O(1) hits and no
 * per-hit reordering). Ids never change once interned, so an entry cannot go stale.
 *
 * A lookup hashes the label strings in place and compares them against the stored key in place: a hit allocates
 * nothing. (Building the key string per lookup and probing a Map with it cost about 1.2 us per series, most of
 * the writer's CPU.)
 */
export class SeriesCache {
  private young: Generation;
  private old: Generation;
  /** Entries of `old` also present in `young` (copied there by a hit): counted once in `size`. */
  private promoted = 0;
  private readonly half: number;
  hits = 0;
  misses = 0;

  constructor(readonly max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
    this.young = new Generation(this.half);
    this.old = new Generation(this.half);
  }

  get size(): number {
    return this.young.count + this.old.count - this.promoted;
  }

  /** The id of `labels`, or -1; `hash` is `hashLabels(labels)` (not HAS_NUL). Counts a hit or a miss. */
  get(labels: readonly Label[], hash: number): number {
    const y = this.young.findLabels(labels, hash);
    if (y >= 0) {
      this.hits++;
      return this.young.id(y);
    }
    const o = this.old.findLabels(labels, hash);
    if (o < 0) {
      this.misses++;
      return -1;
    }
    this.hits++;
    const id = this.old.id(o);
    this.put(this.old.key(o), hash, id, true);
    return id;
  }

  /** Records `key` (a {@link seriesKey}) → `id`; `hash` is `hashKey(key)`. */
  set(key: string, hash: number, id: number): void {
    if (this.max <= 0) return;
    if (this.young.findKey(key, hash) >= 0) return; // interned by a concurrent flush too
    this.put(key, hash, id, this.old.findKey(key, hash) >= 0);
  }

  private put(key: string, hash: number, id: number, inOld: boolean): void {
    if (this.young.full) {
      this.old = this.young;
      this.young = new Generation(this.half);
      this.promoted = 0;
      inOld = false; // that old generation was just dropped
    }
    this.young.insert(key, hash, id);
    if (inOld) this.promoted++;
  }
}
