/**
 * A part as the writer queues it: one pass over the series before queueing validates them, resolves cached series
 * ids and copies the float samples into typed arrays, so a flush touches the series' objects again only for what
 * the cache missed and for histograms, exemplars and metadata.
 */
import type { Label } from '@promha/codec';
import type { WritePart } from '../api.js';
import type { FlatSamples } from './chunks.js';
import { StorageError, StorageErrorCodes } from './errors.js';
import { HAS_NUL, hashLabels, type SeriesCache } from './series-cache.js';

export interface StagedPart extends FlatSamples {
  readonly part: WritePart;
  /** Float samples and histograms. */
  readonly samples: number;
  /** Series id per series of the part; -1 where the cache missed, until the flush interns it. */
  readonly ids: Float64Array;
  readonly misses: number;
  /** Time range of the part's float samples (Infinity/-Infinity without any). */
  readonly minT: number;
  readonly maxT: number;
  /** Time range of the data the fence must cover: float samples and histograms. */
  readonly dataMin: number;
  readonly dataMax: number;
  /** Whether any series has histograms, exemplars or metadata (the flush skips the pass over series without). */
  readonly extras: boolean;
}

/**
 * Stages a part for the writer. Throws a non-retryable StorageError for input PostgreSQL cannot store (NUL in a
 * label), before anything is queued. Ids never change once interned, so resolving them early cannot go stale.
 * The samples are copied while the series' objects are in the CPU cache: the chunk encoder later reads the arrays
 * in id order (a random permutation of arrival order) instead of chasing the objects again.
 */
export function stagePart(part: WritePart, cache: SeriesCache): StagedPart {
  const series = part.series;
  const n = series.length;
  // One allocation for the part's arrays, sized for one sample per series (grown when a series has more): each
  // typed array of its own would be a separate off-heap allocation, which V8 pays for in GC work.
  const memory = new ArrayBuffer(n * 24 + (n + 1) * 4);
  const ids = new Float64Array(memory, 0, n);
  let ts = new Float64Array(memory, n * 8, n);
  let vs = new Float64Array(memory, n * 16, n);
  const start = new Int32Array(memory, n * 24, n + 1);
  let p = 0;
  let samples = 0;
  let misses = 0;
  let minT = Infinity;
  let maxT = -Infinity;
  let histMin = Infinity;
  let histMax = -Infinity;
  let extras = false;
  for (let i = 0; i < n; i++) {
    const s = series[i]!;
    const labels = s.labels;
    // The same array as in an earlier request, under the identity contract (`FrozenLabels`, @promha/codec):
    // already hashed, checked for NUL and matched.
    let id = cache.getByIdentity(labels);
    if (id < 0) {
      const hash = hashLabels(labels);
      if (hash === HAS_NUL) throw nulError(labels, i);
      id = cache.get(labels, hash);
    }
    ids[i] = id;
    if (id < 0) misses++;
    start[i] = p;
    const xs = s.samples;
    const len = xs.length;
    if (p + len > ts.length) {
      const size = Math.max(p + len, ts.length * 2);
      ts = grow(ts, size);
      vs = grow(vs, size);
    }
    for (let k = 0; k < len; k++) {
      const x = xs[k]!;
      const t = x.timestamp;
      ts[p] = t;
      vs[p] = x.value;
      p++;
      if (t < minT) minT = t;
      if (t > maxT) maxT = t;
    }
    const histograms = s.histograms.length;
    samples += len + histograms;
    if (histograms > 0 || s.exemplars.length > 0 || s.metadata !== undefined) {
      extras = true;
      for (const h of s.histograms) {
        if (h.timestamp < histMin) histMin = h.timestamp;
        if (h.timestamp > histMax) histMax = h.timestamp;
      }
      for (const e of s.exemplars) for (const l of e.labels) rejectNul(l, i);
    }
  }
  start[n] = p;
  return {
    part,
    n,
    samples,
    ids,
    misses,
    start,
    ts,
    vs,
    minT,
    maxT,
    dataMin: Math.min(minT, histMin),
    dataMax: Math.max(maxT, histMax),
    extras,
  };
}

/** Float samples of the staged part (series' float samples end at `start[n]`). */
export function floatSamples(p: StagedPart): number {
  return p.start[p.n]!;
}

function grow(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

/** NUL cannot be stored in PostgreSQL text: the whole part is rejected before anything is queued. */
function nulError(labels: readonly Label[], seriesIndex: number): StorageError {
  for (const l of labels) rejectNul(l, seriesIndex);
  return new StorageError(StorageErrorCodes.INVALID_INPUT, `series ${seriesIndex}: a label contains a NUL byte`);
}

function rejectNul(l: Label, seriesIndex: number): void {
  if (l.name.includes('\u0000') || l.value.includes('\u0000')) {
    throw new StorageError(StorageErrorCodes.INVALID_INPUT, `series ${seriesIndex}: label ${JSON.stringify(l.name)} contains a NUL byte`);
  }
}
