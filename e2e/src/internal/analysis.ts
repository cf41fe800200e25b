/**
 * Pure checks over stored samples: which replica's data was kept when (runs of the `e2e_scraper` value), and the
 * largest hole in a series' data time.
 */

export interface TimedValue {
  readonly timestamp: number;
  readonly value: number;
}

/** A maximal stretch of data time, in time order, in which every sample has the same value. */
export interface Run {
  readonly value: number;
  readonly first: number;
  readonly last: number;
  readonly count: number;
}

/** Splits samples (any order) into runs of equal value, in time order. */
export function runsOf(samples: readonly TimedValue[]): Run[] {
  const sorted = [...samples].sort((a, b) => a.timestamp - b.timestamp);
  const runs: Run[] = [];
  for (const s of sorted) {
    const current = runs.at(-1);
    if (current !== undefined && current.value === s.value) {
      runs[runs.length - 1] = { ...current, last: s.timestamp, count: current.count + 1 };
    } else {
      runs.push({ value: s.value, first: s.timestamp, last: s.timestamp, count: 1 });
    }
  }
  return runs;
}

export interface Gap {
  /** Last sample before the gap. */
  readonly from: number;
  /** First sample after it. */
  readonly to: number;
  readonly ms: number;
}

/** The largest distance between consecutive timestamps (any order); undefined with fewer than two. */
export function largestGap(timestamps: readonly number[]): Gap | undefined {
  const sorted = [...timestamps].sort((a, b) => a - b);
  let best: Gap | undefined;
  for (let i = 1; i < sorted.length; i++) {
    const from = sorted[i - 1]!;
    const to = sorted[i]!;
    if (best === undefined || to - from > best.ms) best = { from, to, ms: to - from };
  }
  return best;
}

/**
 * A query time `near` (ms) such that neither it nor `it - windowMs` coincides with a stored timestamp, so that
 * PromQL's inclusive range bounds and the storage's inclusive read bounds cannot disagree on a boundary sample.
 */
export function offGridTime(near: number, windowMs: number, timestamps: readonly number[]): number {
  const taken = new Set(timestamps);
  let t = near;
  while (taken.has(t) || taken.has(t - windowMs)) t += 1;
  return t;
}
