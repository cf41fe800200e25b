/**
 * The chunk encoder: a batch's float samples as COPY binary rows of `sample_chunk` (runs of at most CHUNK_ROWS
 * samples sorted by series id, never crossing a day). Pure and synchronous; its scratch memory is shared by every
 * flush of the process, which is safe because encoding never awaits.
 */
import { CopyBinaryWriter } from './copy-binary.js';
import { CHUNK_ROWS } from './migrations.js';
import { dayOf } from './time.js';

const RADIX_BITS = 11;
const RADIX = 1 << RADIX_BITS;
/** Keys of the radix sort are Uint32: larger ids (none in practice) take the comparator sort. */
const RADIX_LIMIT = 2 ** 32;

/**
 * Scratch arrays of the chunk encoder, reused across flushes: encoding is synchronous, so one set serves every
 * flush of the process. (Fresh typed arrays per flush are off-heap allocations that V8 counts as external memory;
 * they made garbage collection a seventh of the writer's CPU.) Grown to the largest batch seen, never shrunk.
 */
const scratch = {
  keys: new Uint32Array(0),
  keys2: new Uint32Array(0),
  order: new Int32Array(0),
  order2: new Int32Array(0),
  counts: new Int32Array(RADIX),
  ids: new Float64Array(0),
  start: new Int32Array(0),
  ts: new Float64Array(0),
  vs: new Float64Array(0),
};

function growScratch(n: number, samples: number): void {
  if (scratch.keys.length < n) {
    const size = Math.max(n, scratch.keys.length * 2);
    scratch.keys = new Uint32Array(size);
    scratch.keys2 = new Uint32Array(size);
    scratch.order = new Int32Array(size);
    scratch.order2 = new Int32Array(size);
    scratch.ids = new Float64Array(size);
    scratch.start = new Int32Array(size + 1);
  }
  if (scratch.ts.length < samples) {
    const size = Math.max(samples, scratch.ts.length * 2);
    scratch.ts = new Float64Array(size);
    scratch.vs = new Float64Array(size);
  }
}

/**
 * Positions of `ids[0..n)` in ascending id order (ties in input order), or undefined when they are already
 * ascending. The result is scratch memory, valid until the next call. Ids below 2^32 (all, in practice) are sorted
 * by an LSD radix sort over 11-bit digits, skipping digits above the largest id: measured 0.7 ms for 32,000 ids
 * against 3 ms for a native Float64Array sort of packed (id, position) keys; larger ids fall back to a comparator.
 */
export function sortedOrder(ids: ArrayLike<number>, n: number): Int32Array | undefined {
  growScratch(n, 0);
  let sorted = true;
  let max = 0;
  let min = 0;
  let keys = scratch.keys;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (i > 0 && ids[i - 1]! > id) sorted = false;
    if (id > max) max = id;
    if (id < min) min = id;
    keys[i] = id;
  }
  if (sorted) return undefined;
  let order = scratch.order;
  for (let i = 0; i < n; i++) order[i] = i;
  if (!(max < RADIX_LIMIT && min >= 0)) return order.subarray(0, n).sort((a, b) => ids[a]! - ids[b]! || a - b);
  let keys2 = scratch.keys2;
  let order2 = scratch.order2;
  const counts = scratch.counts;
  for (let shift = 0; shift < 32 && max >>> shift > 0; shift += RADIX_BITS) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(keys[i]! >>> shift) & (RADIX - 1)]!++;
    let sum = 0;
    for (let b = 0; b < RADIX; b++) {
      const c = counts[b]!;
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const d = counts[(k >>> shift) & (RADIX - 1)]!++;
      order2[d] = order[i]!;
      keys2[d] = k;
    }
    [order, order2] = [order2, order];
    [keys, keys2] = [keys2, keys];
  }
  return order;
}

/** Float samples of a batch as flat arrays: series i has id `ids[i]` and samples `ts`/`vs` at [start[i], start[i + 1]). */
export interface FlatSamples {
  readonly n: number;
  readonly ids: ArrayLike<number>;
  readonly start: Int32Array;
  readonly ts: Float64Array;
  readonly vs: Float64Array;
}

/** Several parts' flat samples as one (a single part is returned as it is; several are copied into scratch). */
export function concatFlat(parts: readonly FlatSamples[]): FlatSamples {
  if (parts.length === 1) return parts[0]!;
  let seriesCount = 0;
  let sampleCount = 0;
  for (const p of parts) {
    seriesCount += p.n;
    sampleCount += p.start[p.n]!;
  }
  growScratch(seriesCount, sampleCount);
  const { ids, start, ts, vs } = scratch;
  let n = 0;
  let off = 0;
  for (const p of parts) {
    const m = p.n;
    const len = p.start[m]!;
    for (let i = 0; i < m; i++) {
      ids[n + i] = p.ids[i]!;
      start[n + i] = p.start[i]! + off;
    }
    ts.set(p.ts.subarray(0, len), off);
    vs.set(p.vs.subarray(0, len), off);
    n += m;
    off += len;
  }
  start[n] = off;
  return { n, ids, start, ts, vs };
}

/**
 * Encodes the batch's float samples as chunks: series sorted by id, runs of at most CHUNK_ROWS samples cut only
 * at series boundaries (a series with more samples gets chunks of its own), never crossing a day; each day's
 * chunks carry that day's batch id. Series without samples are skipped. Reads the flat arrays in id order:
 * ids are assigned in label order, so id order is a random permutation of arrival order, and typed arrays are
 * what makes that walk cheap (chasing series -> samples -> sample objects at random cost ~140 ns per series).
 * Writes into `reuse` when it is large enough; `memory` is what was written into, for the next call to reuse.
 */
export function encodeChunks(
  batchOfDay: (day: number) => number,
  flat: FlatSamples,
  reuse?: Uint8Array,
): { readonly bytes: Buffer; readonly memory: Uint8Array } {
  const { n, ids, start, ts, vs } = flat;
  const sampleCount = start[n]!;
  const order = sortedOrder(ids, n);
  const w = new CopyBinaryWriter(64 + sampleCount * 40, reuse);
  const days = new Map<number, ChunkBuilder>();
  const builder = (day: number): ChunkBuilder => {
    let b = days.get(day);
    if (b === undefined) {
      b = new ChunkBuilder(batchOfDay(day), w);
      days.set(day, b);
    }
    return b;
  };
  let lastDay = NaN;
  let lastBuilder: ChunkBuilder | undefined;
  for (let k = 0; k < n; k++) {
    const i = order === undefined ? k : order[k]!;
    const from = start[i]!;
    const to = start[i + 1]!;
    if (from === to) continue;
    const id = ids[i]!;
    const d0 = dayOf(ts[from]!);
    let oneDay = true;
    for (let j = from + 1; j < to && oneDay; j++) oneDay = dayOf(ts[j]!) === d0;
    if (oneDay) {
      (d0 === lastDay ? lastBuilder! : (lastBuilder = builder((lastDay = d0)))).add(id, ts, vs, from, to);
    } else {
      // Rare (a series whose samples cross midnight): per day, the positions of its samples. Values are copied
      // typed array to typed array, never through a JS number[] (double arrays may canonicalize NaN payloads).
      const byDay = new Map<number, number[]>();
      for (let j = from; j < to; j++) {
        const d = dayOf(ts[j]!);
        const list = byDay.get(d);
        if (list === undefined) byDay.set(d, [j]);
        else list.push(j);
      }
      for (const [d, list] of byDay) {
        const dt = new Float64Array(list.length);
        const dv = new Float64Array(list.length);
        list.forEach((j, q) => {
          dt[q] = ts[j]!;
          dv[q] = vs[j]!;
        });
        builder(d).add(id, dt, dv, 0, list.length);
      }
    }
  }
  for (const b of days.values()) b.emit();
  return { bytes: w.end(), memory: w.memory };
}

class ChunkBuilder {
  private readonly series = new Float64Array(CHUNK_ROWS);
  private readonly ts = new Float64Array(CHUNK_ROWS);
  private readonly vs = new Float64Array(CHUNK_ROWS);
  private n = 0;
  private minT = Infinity;
  private maxT = -Infinity;

  constructor(
    private readonly batchId: number,
    private readonly w: CopyBinaryWriter,
  ) {}

  /** Adds one series' samples `[from, to)` of `ts`/`vs`; they start a new chunk unless they fit in this one. */
  add(id: number, ts: ArrayLike<number>, vs: Float64Array, from: number, to: number): void {
    if (this.n > 0 && this.n + (to - from) > CHUNK_ROWS) this.emit();
    for (let i = from; i < to; i++) {
      if (this.n === CHUNK_ROWS) this.emit(); // only reached by a series longer than a chunk: it gets its own
      const t = ts[i]!;
      this.series[this.n] = id;
      this.ts[this.n] = t;
      this.vs[this.n] = vs[i]!;
      if (t < this.minT) this.minT = t;
      if (t > this.maxT) this.maxT = t;
      this.n++;
    }
  }

  emit(): void {
    if (this.n === 0) return;
    const w = this.w;
    w.beginRow(8);
    w.int8(this.batchId);
    w.int8(this.series[0]!);
    w.int8(this.series[this.n - 1]!);
    w.int8(this.minT);
    w.int8(this.maxT);
    w.int8Array(this.series, 0, this.n);
    w.int8Array(this.ts, 0, this.n);
    w.float8Array(this.vs, 0, this.n);
    this.n = 0;
    this.minT = Infinity;
    this.maxT = -Infinity;
  }
}
