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
 * Bounded map from series key to series id, least recently used evicted first (a Map iterates in insertion order,
 * so re-inserting on a hit keeps the oldest entry first). Ids never change once interned, so a cached entry
 * cannot go stale.
 */
export class SeriesCache {
  private readonly map = new Map<string, number>();
  hits = 0;
  misses = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): number | undefined {
    const id = this.map.get(key);
    if (id === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, id);
    return id;
  }

  set(key: string, id: number): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    this.map.set(key, id);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) break;
      this.map.delete(oldest.value);
    }
  }
}
