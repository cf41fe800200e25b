/**
 * The standby buffer (docs/design.md rule 11): the recent requests of non-leader replicas, kept as their compressed
 * bodies, so that after a takeover this instance can write the new leader's data from the splice point on.
 *
 * Invariants:
 * - an entry is one request body and the (cluster, replica) groups of it that were deduplicated, each with its
 *   data-time range and sample count; the body is shared by its groups and freed when the last group leaves;
 * - per group, entries whose data ends more than `windowMs` of data time before the newest data of that group are
 *   dropped (aged out: normal, not counted as overflow);
 * - over `maxBytes` (bodies plus a fixed overhead per entry), the oldest entries go first and their samples are
 *   counted as overflow: a takeover may then find a hole the buffer cannot fill (the simulator excuses it).
 * No clock is read: ages are in data time, as the leases are.
 */

/** One (cluster, replica) group of a buffered request. */
export interface BufferedGroup {
  readonly cluster: string;
  readonly replica: string;
  readonly minTime: number;
  readonly maxTime: number;
  readonly samples: number;
}

/** A buffered request: its body as received and its content type (the fill decodes it as the live write did). */
export interface BufferedRequest {
  readonly body: Buffer;
  readonly contentType: string | undefined;
}

interface Entry {
  /** Replaced by an empty buffer once freed, so that a queue still listing the entry does not hold the body. */
  body: Buffer;
  readonly contentType: string | undefined;
  readonly bytes: number;
  /** Groups still holding this entry, by group key. */
  readonly groups: Map<string, BufferedGroup>;
}

interface GroupQueue {
  /** Entries in arrival order (may hold entries already freed: skipped lazily). */
  entries: Entry[];
  head: number;
  newest: number;
}

/** What the buffer reports, for metrics. */
export interface StandbyBufferEvents {
  /** Samples of `cluster` dropped because the byte bound was reached. */
  overflow(cluster: string, samples: number): void;
}

/**
 * Bytes counted per entry besides its body: the entry, its group map and one group, measured with 10-label
 * requests of 500 samples (docs/decisions/0007-splice-point.md).
 */
export const ENTRY_OVERHEAD_BYTES = 512;

const FREED = Buffer.alloc(0);

/** A copy with an allocation of its own (not from Node's shared pool, which small `Buffer.from` copies use). */
function ownCopy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

const groupKey = (cluster: string, replica: string): string => `${cluster}\u0000${replica}`;

export class StandbyBuffer {
  private readonly groups = new Map<string, GroupQueue>();
  /** Every live entry in arrival order, for the byte bound (may hold freed entries: skipped lazily). */
  private fifo: Entry[] = [];
  private fifoHead = 0;
  private bytesHeld = 0;
  private samplesHeld = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly windowMs: number,
    private readonly events: StandbyBufferEvents = { overflow: () => undefined },
  ) {}

  bytes(): number {
    return this.bytesHeld;
  }

  samples(): number {
    return this.samplesHeld;
  }

  /** Keeps a request of which `groups` were deduplicated. A bound of 0 bytes keeps nothing. */
  add(request: BufferedRequest, groups: readonly BufferedGroup[]): void {
    if (groups.length === 0 || this.maxBytes <= 0) return;
    // A body that is a view into a larger allocation (a socket read's chunk) would keep all of it alive: keep a copy
    // of exactly its bytes instead (measured: 49 bytes per buffered sample held without the copy, 26 counted).
    const body = request.body.byteLength === request.body.buffer.byteLength ? request.body : ownCopy(request.body);
    const entry: Entry = {
      body,
      contentType: request.contentType,
      bytes: request.body.length + ENTRY_OVERHEAD_BYTES,
      groups: new Map(groups.map((g) => [groupKey(g.cluster, g.replica), g])),
    };
    if (entry.bytes > this.maxBytes) {
      for (const g of groups) this.events.overflow(g.cluster, g.samples);
      return;
    }
    this.bytesHeld += entry.bytes;
    for (const [k, g] of entry.groups) {
      this.samplesHeld += g.samples;
      let q = this.groups.get(k);
      if (q === undefined) {
        q = { entries: [], head: 0, newest: -Infinity };
        this.groups.set(k, q);
      }
      q.entries.push(entry);
      if (g.maxTime > q.newest) q.newest = g.maxTime;
      this.age(k, q);
    }
    this.fifo.push(entry);
    while (this.bytesHeld > this.maxBytes) this.evictOldest();
    this.compact();
  }

  /**
   * Takes out the buffered requests of (cluster, replica) with data at or after `from`, oldest first. Entries up to
   * a window older stay (a takeover of an epoch this instance learns of later, with an earlier splice point, may need
   * them) until they age out or the byte bound drops them; older ones go now (the replica leads: nothing new of it
   * arrives to age them out).
   */
  take(cluster: string, replica: string, from: number): (BufferedRequest & { readonly group: BufferedGroup })[] {
    const k = groupKey(cluster, replica);
    const q = this.groups.get(k);
    if (q === undefined) return [];
    const out: (BufferedRequest & { readonly group: BufferedGroup })[] = [];
    const kept: Entry[] = [];
    for (let i = q.head; i < q.entries.length; i++) {
      const e = q.entries[i]!;
      const g = e.groups.get(k);
      if (g === undefined) continue;
      if (g.maxTime >= from) {
        out.push({ body: e.body, contentType: e.contentType, group: g });
        this.release(e, k);
      } else if (g.maxTime >= from - this.windowMs) kept.push(e);
      else this.release(e, k);
    }
    if (kept.length === 0) this.groups.delete(k);
    else {
      q.entries = kept;
      q.head = 0;
    }
    this.compact();
    return out;
  }

  /** Drops a group's entries that aged out of the data-time window. */
  private age(k: string, q: GroupQueue): void {
    const oldest = q.newest - this.windowMs;
    while (q.head < q.entries.length) {
      const e = q.entries[q.head]!;
      const g = e.groups.get(k);
      if (g !== undefined && g.maxTime >= oldest) break;
      if (g !== undefined) this.release(e, k);
      q.head++;
    }
    if (q.head > 1024 && q.head * 2 > q.entries.length) {
      q.entries = q.entries.slice(q.head);
      q.head = 0;
    }
  }

  private evictOldest(): void {
    while (this.fifoHead < this.fifo.length) {
      const e = this.fifo[this.fifoHead++]!;
      if (e.groups.size === 0) continue;
      for (const [k, g] of [...e.groups]) {
        this.events.overflow(g.cluster, g.samples);
        this.release(e, k);
      }
      return;
    }
  }

  /** Removes group `k` from entry `e`; frees the entry's bytes when no group holds it any more. */
  private release(e: Entry, k: string): void {
    const g = e.groups.get(k);
    if (g === undefined) return;
    e.groups.delete(k);
    this.samplesHeld -= g.samples;
    if (e.groups.size === 0) {
      this.bytesHeld -= e.bytes;
      e.body = FREED;
    }
  }

  private compact(): void {
    while (this.fifoHead < this.fifo.length && this.fifo[this.fifoHead]!.groups.size === 0) this.fifoHead++;
    if (this.fifoHead > 1024 && this.fifoHead * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.fifoHead);
      this.fifoHead = 0;
    }
  }
}
