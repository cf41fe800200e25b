import type { Label } from '@promha/codec';

/**
 * Series key: label pairs joined with NUL, which no name or value may contain (checked before a write), so the key
 * is unambiguous. Built only for series the cache missed (to deduplicate them for interning); a hit never builds it.
 */
export function seriesKey(labels: readonly Label[]): string {
  // join() builds one flat string; `+=` would build a tree of cons strings, and the cache keeps the key: every
  // later comparison would read it through an extra indirection, and the tree's root costs 32 bytes more.
  const parts = new Array<string>(labels.length * 2 + 1);
  for (let i = 0; i < labels.length; i++) {
    parts[2 * i] = labels[i]!.name;
    parts[2 * i + 1] = labels[i]!.value;
  }
  parts[labels.length * 2] = '';
  return parts.join('\u0000');
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
 * Hash of a label set over its UTF-16 code units (a NUL stands for each separator, as in {@link seriesKey}).
 * Returns HAS_NUL when a name or value contains a NUL: the writer's validation rides on this pass over the
 * characters instead of a pass of its own.
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

const MIN_SLOTS = 1024;

/**
 * One generation: an open-addressing hash table (linear probing, load <= 1/2, no deletions) of label set → id.
 * An entry's label strings are kept in one append-only array (name, value, name, value, ...), referenced, not
 * copied: names and common values are the same string objects across series (and across requests, from the
 * decoder's string caches), so an entry costs 16 bytes per label plus its unshared strings, and verifying a hit is
 * one `===` per string, usually a pointer comparison (comparing characters of a joined key string in JavaScript
 * cost twice the hashing).
 */
class Generation {
  private slots: Int32Array; // entry index + 1; 0 = empty
  private hashes: Int32Array;
  private ids: Float64Array;
  /** Entry e's strings are strings[starts[e] .. starts[e + 1]). */
  private starts: Int32Array;
  private readonly strings: string[] = [];
  count = 0;
  /**
   * Frozen label arrays (of frozen labels) already matched in this generation → id. The codec hands the same
   * frozen array for the same label set in every request while its label-set cache holds it, and a frozen array
   * can never change, so its identity alone names the series: a hit skips hashing and comparing the strings.
   * Weak keys: an array the decoder dropped costs nothing here. Dropped with the generation.
   */
  readonly byArray = new WeakMap<readonly Label[], number>();
  /** Arrays recorded in `byArray` (at most `capacity`, so the map's own size stays bounded by the cache's). */
  arrays = 0;

  constructor(private readonly capacity: number) {
    const slots = Math.min(MIN_SLOTS, pow2AtLeast(capacity * 2));
    this.slots = new Int32Array(slots);
    this.hashes = new Int32Array(slots >> 1);
    this.ids = new Float64Array(slots >> 1);
    this.starts = new Int32Array((slots >> 1) + 1);
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** Remembers `labels` by identity when it cannot change (a frozen array of frozen labels). */
  remember(labels: readonly Label[], id: number): void {
    if (this.arrays >= this.capacity || !Object.isFrozen(labels)) return;
    for (let j = 0; j < labels.length; j++) if (!Object.isFrozen(labels[j])) return;
    if (this.byArray.has(labels)) return;
    this.byArray.set(labels, id);
    this.arrays++;
  }

  /** The id of `labels` (hash from {@link hashLabels}), or -1. */
  find(labels: readonly Label[], hash: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.matches(e, labels)) return this.ids[e]!;
    }
  }

  private matches(e: number, labels: readonly Label[]): boolean {
    let p = this.starts[e]!;
    if (this.starts[e + 1]! - p !== labels.length * 2) return false;
    const strings = this.strings;
    for (let j = 0; j < labels.length; j++, p += 2) {
      const l = labels[j]!;
      if (strings[p] !== l.name || strings[p + 1] !== l.value) return false;
    }
    return true;
  }

  /** Adds an entry known to be absent; the caller checks `full` first. */
  insert(labels: readonly Label[], hash: number, id: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const e = this.count++;
    this.hashes[e] = hash;
    this.ids[e] = id;
    const strings = this.strings;
    for (const l of labels) strings.push(l.name, l.value);
    this.starts[e + 1] = strings.length;
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
    const starts = new Int32Array((n >> 1) + 1);
    starts.set(this.starts);
    this.starts = starts;
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
 * A lookup hashes the label strings in place and compares them with the entry's strings: a hit allocates nothing.
 * (Building a key string per lookup and probing a Map with it cost about 1.2 us per series, most of the writer's
 * CPU.)
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

  /**
   * The id of `labels` when this very array object was matched in the young generation (see `byArray`), else -1
   * without counting anything: the caller then hashes and calls {@link get}. A hit here counts as a hit. Only
   * arrays that passed {@link hashLabels} (no NUL) and are frozen are remembered, so a hit needs no NUL check.
   */
  getByIdentity(labels: readonly Label[]): number {
    const id = this.young.byArray.get(labels);
    if (id === undefined) return -1;
    this.hits++;
    return id;
  }

  /** The id of `labels`, or -1; `hash` is `hashLabels(labels)` (not HAS_NUL). Counts a hit or a miss. */
  get(labels: readonly Label[], hash: number): number {
    const y = this.young.find(labels, hash);
    if (y >= 0) {
      this.hits++;
      this.young.remember(labels, y);
      return y;
    }
    const o = this.old.find(labels, hash);
    if (o < 0) {
      this.misses++;
      return -1;
    }
    this.hits++;
    this.put(labels, hash, o, true);
    return o;
  }

  /** Records `labels` → `id` (after interning); `hash` is `hashLabels(labels)`. */
  set(labels: readonly Label[], hash: number, id: number): void {
    if (this.max <= 0) return;
    if (this.young.find(labels, hash) >= 0) {
      this.young.remember(labels, id); // interned by a concurrent flush too
      return;
    }
    this.put(labels, hash, id, this.old.find(labels, hash) >= 0);
  }

  private put(labels: readonly Label[], hash: number, id: number, inOld: boolean): void {
    if (this.young.full) {
      this.old = this.young;
      this.young = new Generation(this.half);
      this.promoted = 0;
      inOld = false; // that old generation was just dropped
    }
    this.young.insert(labels, hash, id);
    this.young.remember(labels, id);
    if (inOld) this.promoted++;
  }
}
