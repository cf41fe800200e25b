import type { Label } from '@promha/codec';

/**
 * Series key: label pairs joined with NUL, which no name or value may contain (checked before a write), so the key
 * is unambiguous.
 */
export function seriesKey(labels: readonly Label[]): string {
  let k = '';
  for (const l of labels) k += `${l.name}\u0000${l.value}\u0000`;
  return k;
}

/**
 * Bounded map from series key to series id with two generations: lookups hit `young` first; a hit in `old` is
 * promoted to `young`. When `young` holds half the bound it becomes `old` and the previous `old` is dropped, which
 * evicts exactly the series not seen for a whole generation (an LRU approximation with O(1) hits and no
 * per-hit reordering, which cost about a third of the writer's CPU as a Map-based LRU). Ids never change once
 * interned, so an entry cannot go stale.
 */
export class SeriesCache {
  private young = new Map<string, number>();
  private old = new Map<string, number>();
  private readonly half: number;
  hits = 0;
  misses = 0;

  constructor(readonly max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  get(key: string): number | undefined {
    const y = this.young.get(key);
    if (y !== undefined) {
      this.hits++;
      return y;
    }
    const o = this.old.get(key);
    if (o === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.old.delete(key);
    this.put(key, o);
    return o;
  }

  set(key: string, id: number): void {
    if (this.max <= 0) return;
    this.old.delete(key);
    this.put(key, id);
  }

  private put(key: string, id: number): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, id);
  }
}
