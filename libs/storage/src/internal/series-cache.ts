import { isFrozenLabels, memoOf, type Label } from '@promha/codec';

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
 * Hash of a label set over its UTF-16 code units, a NUL standing for each separator between names and values.
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

/** Tables made so far in this process: each table's generation, the number label-set memos name it by. */
let generations = 0;

/**
 * The table: open addressing (linear probing, load <= 1/2, no deletions) of label set → id. An entry's label
 * strings are kept in one append-only array (name, value, name, value, ...), referenced, not copied: names and
 * common values are the same string objects across series (and across requests, from the decoder's string
 * caches), so an entry costs 16 bytes per label plus its unshared strings, and verifying a hit is one `===` per
 * string, usually a pointer comparison (comparing characters of a joined key string in JavaScript cost twice the
 * hashing). Eviction replaces the whole table (see {@link SeriesCache}), so nothing is ever deleted from one.
 */
class Table {
  private slots: Int32Array; // entry index + 1; 0 = empty
  private hashes: Int32Array;
  private ids: Float64Array;
  /** 1 when the entry was hit since the table was built (second chance at the next eviction). */
  private used: Uint8Array;
  /** Entry e's strings are strings[starts[e] .. starts[e + 1]). */
  private starts: Int32Array;
  private readonly strings: string[] = [];
  count = 0;
  /** What label-set memos record: unique in the process, so no memo can name another cache's table. */
  private readonly generation = generations++;

  constructor(private readonly capacity: number) {
    const slots = Math.min(MIN_SLOTS, pow2AtLeast(capacity * 2));
    this.slots = new Int32Array(slots);
    this.hashes = new Int32Array(slots >> 1);
    this.ids = new Float64Array(slots >> 1);
    this.used = new Uint8Array(slots >> 1);
    this.starts = new Int32Array((slots >> 1) + 1);
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  /** The id of entry `e`, marking it used. */
  hit(e: number): number {
    this.used[e] = 1;
    return this.ids[e]!;
  }

  /**
   * The entry `labels` was remembered as by identity, or -1. Kept in the array's memo (`LabelSetMemo`,
   * @promha/codec) with this table's generation: a memo of a table an eviction replaced simply misses.
   */
  byIdentity(labels: readonly Label[]): number {
    const memo = memoOf(labels);
    return memo !== undefined && memo.seriesTable === this.generation ? memo.seriesEntry : -1;
  }

  /** Remembers entry `e` by the identity of `labels` when it cannot change (the identity contract). */
  remember(labels: readonly Label[], e: number): void {
    const memo = memoOf(labels);
    if (memo === undefined || !isFrozenLabels(labels)) return;
    memo.seriesTable = this.generation;
    memo.seriesEntry = e;
  }

  /** The entry of `labels` (hash from {@link hashLabels}), or -1. */
  find(labels: readonly Label[], hash: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]! - 1;
      if (e < 0) return -1;
      if (this.hashes[e] === hash && this.matches(e, labels)) return e;
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

  /** Adds an entry known to be absent, unused; the caller checks `full` first. Returns its index. */
  insert(labels: readonly Label[], hash: number, id: number): number {
    const e = this.reserve(hash, id);
    const strings = this.strings;
    for (const l of labels) strings.push(l.name, l.value);
    this.starts[e + 1] = strings.length;
    return e;
  }

  /**
   * A table of the same capacity with this one's used entries (marks cleared), at most `keepAtMost` of them: the
   * most recently inserted when more were used. Returns it with the number of entries left behind.
   */
  survivors(keepAtMost: number): { readonly table: Table; readonly dropped: number } {
    const next = new Table(this.capacity);
    let used = 0;
    for (let e = 0; e < this.count; e++) used += this.used[e]!;
    let skip = Math.max(0, used - keepAtMost);
    for (let e = 0; e < this.count; e++) {
      if (this.used[e] === 0) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      const n = next.reserve(this.hashes[e]!, this.ids[e]!);
      for (let p = this.starts[e]!; p < this.starts[e + 1]!; p++) next.strings.push(this.strings[p]!);
      next.starts[n + 1] = next.strings.length;
    }
    return { table: next, dropped: this.count - next.count };
  }

  private reserve(hash: number, id: number): number {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    const e = this.count++;
    this.hashes[e] = hash;
    this.ids[e] = id;
    this.starts[e] = this.strings.length;
    this.place(e, hash);
    return e;
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
    const used = new Uint8Array(n >> 1);
    used.set(this.used);
    this.used = used;
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
 * Bounded map from label set to series id: at most `max` series, in one table. Eviction is second chance in
 * batches: a hit marks its entry; when the table is full, the next insert builds a new table of the entries hit
 * since the previous eviction (at most three quarters of the bound, the most recently inserted first) and drops
 * the rest. So a working set that fits the bound is never evicted, whatever order it comes in: Prometheus sends
 * every series once per scrape interval, a cycle, and the two-generation cache this replaced kept only the last
 * half of its bound under a cycle (a cycle longer than half the bound missed, and asked PostgreSQL again, on up
 * to every series). Each eviction frees at least a quarter of the bound, so its O(bound) pass is O(1) per insert.
 * Ids never change once interned, so an entry cannot go stale.
 *
 * A lookup hashes the label strings in place and compares them with the entry's strings: a hit allocates nothing.
 * (Building a key string per lookup and probing a Map with it cost about 1.2 us per series, most of the writer's
 * CPU.)
 */
export class SeriesCache {
  private table: Table;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(readonly max: number) {
    this.table = new Table(Math.max(1, max));
  }

  get size(): number {
    return this.table.count;
  }

  /**
   * The id of `labels` when this very array object was matched before (its memo), else -1 without counting
   * anything: the caller then hashes and calls {@link get}. A hit here counts as a hit. Only arrays that passed
   * {@link hashLabels} (no NUL) and are `FrozenLabels` are remembered, so a hit needs no NUL check.
   */
  getByIdentity(labels: readonly Label[]): number {
    const e = this.table.byIdentity(labels);
    if (e < 0) return -1;
    this.hits++;
    return this.table.hit(e);
  }

  /** The id of `labels`, or -1; `hash` is `hashLabels(labels)` (not HAS_NUL). Counts a hit or a miss. */
  get(labels: readonly Label[], hash: number): number {
    const e = this.table.find(labels, hash);
    if (e < 0) {
      this.misses++;
      return -1;
    }
    this.hits++;
    this.table.remember(labels, e);
    return this.table.hit(e);
  }

  /** Records `labels` → `id` (after interning); `hash` is `hashLabels(labels)`. */
  set(labels: readonly Label[], hash: number, id: number): void {
    if (this.max <= 0) return;
    let e = this.table.find(labels, hash); // interned by a concurrent flush too
    if (e < 0) {
      if (this.table.full) {
        const { table, dropped } = this.table.survivors(Math.floor((this.max * 3) / 4));
        this.table = table;
        this.evictions += dropped;
      }
      e = this.table.insert(labels, hash, id);
    }
    this.table.remember(labels, e);
  }
}
